#include "weights/json.h"

#include <cstdlib>

#include "runtime/check.h"

namespace tl {
namespace {

// Deeper than any configuration a program writes; stops stack exhaustion.
constexpr int kMaxDepth = 256;

class Parser {
 public:
  Parser(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  JsonValue document() {
    JsonValue v = value(0);
    skip_space();
    if (i_ != s_.size()) error("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& problem) const {
    fail(what_, ": malformed JSON: ", problem, " at byte ", i_);
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++i_;
  }
  void literal(const char* word) {
    for (const char* p = word; *p; ++p) {
      if (peek() != *p) error(std::string("expected '") + word + "'");
      ++i_;
    }
  }

  JsonValue value(int depth) {
    if (depth > kMaxDepth) error("nested deeper than " + std::to_string(kMaxDepth));
    skip_space();
    JsonValue v;
    const char c = peek();
    if (c == '{') {
      v.kind = JsonValue::Kind::Object;
      ++i_;
      skip_space();
      if (peek() == '}') return ++i_, v;
      for (;;) {
        skip_space();
        if (peek() != '"') error("expected a member name");
        std::string key = string_body();
        skip_space();
        expect(':');
        v.object.push_back(JsonMember{std::move(key), value(depth + 1)});
        skip_space();
        if (peek() == ',') { ++i_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Kind::Array;
      ++i_;
      skip_space();
      if (peek() == ']') return ++i_, v;
      for (;;) {
        v.array.push_back(value(depth + 1));
        skip_space();
        if (peek() == ',') { ++i_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.string = string_body();
      return v;
    }
    if (c == 't') return literal("true"), v.kind = JsonValue::Kind::Bool, v.boolean = true, v;
    if (c == 'f') return literal("false"), v.kind = JsonValue::Kind::Bool, v;
    if (c == 'n') return literal("null"), v;
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    // Python's json writes NaN / Infinity; Keras configs never hold them.
    error(i_ < s_.size() ? "unexpected character" : "unexpected end of input");
  }

  JsonValue number() {
    const size_t start = i_;
    auto digits = [&] {
      const size_t from = i_;
      while (peek() >= '0' && peek() <= '9') ++i_;
      if (i_ == from) error("expected a digit");
    };
    if (peek() == '-') ++i_;
    if (peek() == '0') ++i_;
    else digits();
    if (peek() == '.') { ++i_; digits(); }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      digits();
    }
    JsonValue v;
    v.kind = JsonValue::Kind::Number;
    v.number = std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
    return v;
  }

  unsigned hex4() {
    unsigned u = 0;
    for (int k = 0; k < 4; ++k, ++i_) {
      const char h = peek();
      u <<= 4;
      if (h >= '0' && h <= '9') u |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') u |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= static_cast<unsigned>(h - 'A' + 10);
      else error("bad \\u escape");
    }
    return u;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) out += static_cast<char>(0xC0 | (cp >> 6)), out += static_cast<char>(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
      out += static_cast<char>(0xE0 | (cp >> 12)), out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
          out += static_cast<char>(0x80 | (cp & 0x3F));
    else
      out += static_cast<char>(0xF0 | (cp >> 18)), out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), out += static_cast<char>(0x80 | (cp & 0x3F));
  }

  std::string string_body() {
    expect('"');
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) error("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = peek();
      ++i_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && peek() == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == 'u') {
            i_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: --i_, error("bad escape");
      }
    }
  }

  const std::string& s_;
  const std::string& what_;
  size_t i_ = 0;
};

}  // namespace

const JsonValue* JsonValue::get(const std::string& key) const {
  if (kind != Kind::Object) return nullptr;
  for (const auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

std::string JsonValue::get_string(const std::string& key) const {
  const JsonValue* v = get(key);
  return v && v->is_string() ? v->string : "";
}

JsonValue parse_json(const std::string& text, const std::string& what) { return Parser(text, what).document(); }

}  // namespace tl
