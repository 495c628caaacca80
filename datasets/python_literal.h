// A parser for the Python literals of Amazon 2014 (SNAP) metadata files, where each line is a dict
// printed by Python: {'asin': '0000031852', 'title': 'Girls Ballet Tutu', 'price': 3.99, ...}.
// It reads the literal grammar only and never evaluates anything:
//   dict {k: v, ...}, list [...], tuple (...), set {a, b}: dicts become JSON objects (keys as strings),
//   the others JSON arrays;
//   strings in single or double quotes (also triple-quoted, with u/b/r prefixes and adjacent-literal
//   concatenation), with the escapes \\ \' \" \n \t \r \a \b \f \v \0-\777 \xHH \uXXXX \UXXXXXXXX and
//   backslash-newline;
//   integers, floats (with exponents, inf/nan excepted), True/False/None; JSON's true/false/null too, so
//   that the 2018 metadata that LlamaRec mixes with 2014 ratings also reads.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lrec::data {

struct PythonLiteralError : std::runtime_error {
  PythonLiteralError(size_t offset, const std::string& message);
  size_t offset;  // byte offset of the problem in the text
};

// Parses a whole literal (surrounding whitespace allowed). Throws PythonLiteralError.
nlohmann::json parse_python_literal(std::string_view text);

// Parses a top-level dict but keeps only the entries whose key is in `keys`; the other values are
// checked for syntax and skipped without being built (metadata lines carry long "related" lists).
nlohmann::json parse_python_dict_fields(std::string_view text, const std::vector<std::string_view>& keys);

}  // namespace lrec::data
