// Small text helpers for the raw-file parsers: trimming, field splitting, strict number parsing,
// encoding repair and quoting lines in error messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lrec::data {

std::string_view trim(std::string_view text);  // ASCII whitespace at both ends

// Splits on every occurrence of `separator` (not empty). Reuses `fields`.
void split(std::string_view line, std::string_view separator, std::vector<std::string_view>& fields);

// Whole-field parses (after trimming); false on any junk, overflow or an empty field.
bool parse_int(std::string_view text, int64_t& value);
bool parse_double(std::string_view text, double& value);

bool is_valid_utf8(std::string_view text);

// Text from files documented as latin-1 (MovieLens u.item, movies.dat). Bytes that already form valid
// UTF-8 are kept (some copies of these files were re-encoded to UTF-8); otherwise each byte is a
// latin-1 code point and is re-encoded as UTF-8.
std::string to_utf8(std::string_view text);

// Appends the UTF-8 encoding of a code point (U+FFFD for values that are not scalar values).
void append_utf8(std::string& out, uint32_t code_point);

// A line for an error message, in double quotes, cut after `max_chars` bytes.
std::string quote_line(std::string_view line, size_t max_chars = 200);

}  // namespace lrec::data
