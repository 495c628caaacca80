#include "datasets/python_literal.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "datasets/text.h"

namespace lrec::data {

PythonLiteralError::PythonLiteralError(size_t offset, const std::string& message)
    : std::runtime_error(fmt::format("{} (at byte {})", message, offset)), offset(offset) {}

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 256;  // deeper nesting is an error, never a stack overflow

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  // Parses one value into *out, or only checks it when out is null.
  void value(json* out, int depth) {
    if (depth > kMaxDepth) error("nesting deeper than 256 levels");
    skip_space();
    if (pos_ >= text_.size()) error("unexpected end of the text, a value was expected");
    const char c = text_[pos_];
    if (c == '{') {
      braces(out, depth, nullptr);
    } else if (c == '[') {
      sequence(']', out, depth);
    } else if (c == '(') {
      sequence(')', out, depth);
    } else if (string_starts()) {
      std::string s = string_literal();
      if (out) *out = std::move(s);
    } else if (is_digit(c) || c == '-' || c == '+' || c == '.') {
      number(out);
    } else if (is_alpha(c)) {
      word(out);
    } else {
      error(fmt::format("unexpected character '{}'", c));
    }
  }

  // A top-level dict keeping only `keep`'s keys.
  void dict_fields(json& out, const std::vector<std::string_view>& keep) {
    skip_space();
    if (pos_ >= text_.size() || text_[pos_] != '{') error("expected a dict starting with '{'");
    braces(&out, 0, &keep);
    if (!out.is_object()) error("expected a dict, found a set");
  }

  void expect_end() {
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the value");
  }

 private:
  [[noreturn]] void error(const std::string& message) const { throw PythonLiteralError(pos_, message); }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  // A quote, possibly after a u/b/r prefix of up to two letters.
  bool string_starts() const {
    for (size_t i = pos_; i < text_.size() && i < pos_ + 3; ++i) {
      const char c = text_[i];
      if (c == '\'' || c == '"') return true;
      if (std::string_view("uUbBrR").find(c) == std::string_view::npos) return false;
    }
    return false;
  }

  // Adjacent literals concatenate, as in Python: 'a' "b" == 'ab'.
  std::string string_literal() {
    std::string out;
    do {
      string_piece(out);
      skip_space();
    } while (string_starts());
    return out;
  }

  void string_piece(std::string& out) {
    bool raw = false;
    while (text_[pos_] != '\'' && text_[pos_] != '"') raw |= (text_[pos_++] | 0x20) == 'r';
    const char quote = text_[pos_];
    const bool triple = text_.substr(pos_, 3) == std::string(3, quote);
    pos_ += triple ? 3 : 1;
    const size_t start = pos_;
    // Find the closing quote; a backslash always protects the next character, even in raw strings.
    while (true) {
      if (pos_ >= text_.size()) error("a string has no closing quote");
      const char c = text_[pos_];
      if (c == '\\') {
        pos_ += 2;
      } else if (c == quote && (!triple || text_.substr(pos_, 3) == std::string(3, quote))) {
        break;
      } else if (c == '\n' && !triple) {
        error("a line break inside a single-quoted string");
      } else {
        ++pos_;
      }
    }
    const std::string_view body = text_.substr(start, pos_ - start);
    pos_ += triple ? 3 : 1;
    if (raw) {
      out.append(body);
      return;
    }
    // Python 2 wrote byte strings with \xHH escapes of UTF-8 bytes ('Caf\xc3\xa9'), Python 3 writes
    // code points ('Caf\xe9'). Take the bytes when they form valid UTF-8, else the code points.
    std::string decoded;
    decode(body, start, /*hex_as_bytes=*/true, decoded);
    if (!is_valid_utf8(decoded)) {
      decoded.clear();
      decode(body, start, /*hex_as_bytes=*/false, decoded);
    }
    out += decoded;
  }

  void decode(std::string_view body, size_t offset, bool hex_as_bytes, std::string& out) const {
    static constexpr std::string_view kEscaped = "\\'\"abfnrtv";
    static constexpr std::string_view kMeaning = "\\'\"\a\b\f\n\r\t\v";
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] != '\\') {
        out += body[i];
        continue;
      }
      const char e = body[++i];
      auto hex = [&](size_t digits) {
        uint32_t v = 0;
        if (!parse_hex(body, i + 1, digits, v)) {
          throw PythonLiteralError(offset + i, fmt::format("\\{} needs {} hex digits", e, digits));
        }
        i += digits;
        return v;
      };
      if (const size_t k = kEscaped.find(e); k != std::string_view::npos) {
        out += kMeaning[k];
      } else if (e == '\n') {  // backslash-newline continues the line
      } else if (e == 'x') {
        const uint32_t v = hex(2);
        if (hex_as_bytes) {
          out += static_cast<char>(v);
        } else {
          append_utf8(out, v);
        }
      } else if (e == 'u') {
        append_utf8(out, surrogate_pair(body, i, hex(4)));
      } else if (e == 'U') {
        append_utf8(out, hex(8));
      } else if (e == 'N') {
        throw PythonLiteralError(offset + i, "\\N{...} escapes are not supported");
      } else if (e >= '0' && e <= '7') {  // up to three octal digits
        uint32_t v = 0;
        size_t k = 0;
        for (; k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7'; ++k) {
          v = v * 8 + static_cast<uint32_t>(body[i + k] - '0');
        }
        i += k - 1;
        append_utf8(out, v);
      } else {  // Python keeps unknown escapes as they are
        out += '\\';
        out += e;
      }
    }
  }

  static bool parse_hex(std::string_view text, size_t pos, size_t digits, uint32_t& value) {
    value = 0;
    for (size_t k = pos; k < pos + digits; ++k) {
      if (k >= text.size() || !is_hex(text[k])) return false;
      const char h = text[k];
      value = value * 16 + static_cast<uint32_t>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return true;
  }

  // JSON writes characters outside the BMP as two \u escapes; join them into one code point.
  static uint32_t surrogate_pair(std::string_view body, size_t& i, uint32_t high) {
    uint32_t low = 0;
    if (high < 0xD800 || high > 0xDBFF || body.substr(i + 1, 2) != "\\u" || !parse_hex(body, i + 3, 4, low) ||
        low < 0xDC00 || low > 0xDFFF) {
      return high;
    }
    i += 6;
    return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
  }

  void number(json* out) {
    const size_t start = pos_;
    if (peek() == '-' || peek() == '+') ++pos_;
    bool is_float = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (is_digit(c)) {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E') {
        is_float = true;
        ++pos_;
        if ((c == 'e' || c == 'E') && (peek() == '-' || peek() == '+')) ++pos_;
      } else {
        break;
      }
    }
    std::string_view digits = text_.substr(start, pos_ - start);
    if (!is_float && (peek() == 'L' || peek() == 'l')) ++pos_;  // Python 2 long: 123L
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    if (!is_float) {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && end == digits.data() + digits.size()) {
        if (out) *out = v;
        return;
      }
    }
    double d = 0;
    // "1." and ".5" are valid Python floats; from_chars needs a digit on both sides of the point.
    std::string fixed;
    if (digits.starts_with('-')) {
      fixed += '-';
      digits.remove_prefix(1);
    }
    if (digits.starts_with('.')) fixed += '0';
    fixed += digits;
    if (fixed.ends_with('.')) fixed += '0';
    if (!parse_double(fixed, d)) {
      pos_ = start;
      error(fmt::format("malformed number '{}'", digits));
    }
    if (out) *out = d;
  }

  void word(json* out) {
    const size_t start = pos_;
    while (pos_ < text_.size() && (is_alpha(text_[pos_]) || is_digit(text_[pos_]))) ++pos_;
    const std::string_view w = text_.substr(start, pos_ - start);
    json v;
    if (w == "True" || w == "true") {
      v = true;
    } else if (w == "False" || w == "false") {
      v = false;
    } else if (w == "None" || w == "null") {
      v = nullptr;
    } else {
      pos_ = start;
      error(fmt::format("'{}' is not a literal (only True, False and None are; nothing is evaluated)", w));
    }
    if (out) *out = std::move(v);
  }

  // [a, b] and (a, b); a trailing comma is allowed; "(x)" without a comma is just x, as in Python.
  void sequence(char close, json* out, int depth) {
    ++pos_;
    json items = json::array();
    bool comma = false;
    while (true) {
      skip_space();
      if (peek() == close) break;
      json item;
      value(out ? &item : nullptr, depth + 1);
      if (out) items.push_back(std::move(item));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        comma = true;
      } else if (peek() != close) {
        error(fmt::format("expected ',' or '{}'", close));
      }
    }
    ++pos_;
    if (!out) return;
    *out = (close == ')' && !comma && items.size() == 1) ? std::move(items[0]) : std::move(items);
  }

  // {k: v, ...} (a dict) or {a, b} (a set). With `keep`, a dict keeps only those keys.
  void braces(json* out, int depth, const std::vector<std::string_view>* keep) {
    ++pos_;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      if (out) *out = json::object();
      return;
    }
    json first;
    value(&first, depth + 1);
    skip_space();
    if (peek() != ':') {  // a set: its first element is already read
      json items = json::array({std::move(first)});
      sequence_rest(out ? &items : nullptr, depth);
      if (out) *out = std::move(items);
      return;
    }
    if (out) *out = json::object();
    json key = std::move(first);
    while (true) {
      ++pos_;  // the ':'
      const std::string name = key.is_string() ? key.get<std::string>() : key.dump();
      const bool wanted = out && (!keep || std::find(keep->begin(), keep->end(), name) != keep->end());
      json item;
      value(wanted ? &item : nullptr, depth + 1);
      if (wanted) (*out)[name] = std::move(item);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
        if (peek() == '}') break;
        value(&key, depth + 1);
        skip_space();
        if (peek() != ':') error("expected ':' after a dict key");
      } else if (peek() != '}') {
        error("expected ',' or '}' in a dict");
      } else {
        break;
      }
    }
    ++pos_;
  }

  // The elements of a set after the first one, up to the closing brace.
  void sequence_rest(json* items, int depth) {
    while (true) {
      skip_space();
      if (peek() == '}') break;
      if (peek() != ',') error("expected ',' or '}' in a set");
      ++pos_;
      skip_space();
      if (peek() == '}') break;
      json item;
      value(items ? &item : nullptr, depth + 1);
      if (items) items->push_back(std::move(item));
    }
    ++pos_;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

nlohmann::json parse_python_literal(std::string_view text) {
  Parser parser(text);
  nlohmann::json out;
  parser.value(&out, 0);
  parser.expect_end();
  return out;
}

nlohmann::json parse_python_dict_fields(std::string_view text, const std::vector<std::string_view>& keys) {
  Parser parser(text);
  nlohmann::json out;
  parser.dict_fields(out, keys);
  parser.expect_end();
  return out;
}

}  // namespace lrec::data
