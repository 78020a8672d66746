#include "apps/json.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "runtime/check.h"

namespace tl::app {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, json_quote(value));
  return *this;
}

JsonObject& JsonObject::add(const std::string& key, double value) {
  if (!std::isfinite(value)) return add_raw(key, "null");  // JSON has no NaN
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  fields_.emplace_back(key, buf);
  return *this;
}

JsonObject& JsonObject::add(const std::string& key, int64_t value) {
  fields_.emplace_back(key, std::to_string(value));
  return *this;
}

JsonObject& JsonObject::add(const std::string& key, bool value) {
  fields_.emplace_back(key, value ? "true" : "false");
  return *this;
}

JsonObject& JsonObject::add(const std::string& key, const std::vector<std::string>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + json_quote(values[i]);
  fields_.emplace_back(key, s + "]");
  return *this;
}

JsonObject& JsonObject::add_raw(const std::string& key, const std::string& json) {
  fields_.emplace_back(key, json);
  return *this;
}

std::string JsonObject::str() const {
  std::string s = "{";
  for (size_t i = 0; i < fields_.size(); ++i)
    s += (i ? ", " : "") + json_quote(fields_[i].first) + ": " + fields_[i].second;
  return s + "}";
}

const std::string& JsonFlat::get(const std::string& key, const std::string& what) const {
  auto it = scalars.find(key);
  if (it == scalars.end()) fail(what, ": no \"", key, "\" in its configuration");
  return it->second;
}

namespace {

struct Parser {
  const std::string& s;
  const std::string& what;
  size_t i = 0;

  [[noreturn]] void error(const char* msg) const { fail(what, ": malformed JSON (", msg, " at offset ", i, ")"); }
  void skip() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool eat(char c) {
    skip();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  // The 4 hex digits after "\u" (i at the 'u'); tl writes only ASCII, so the
  // code point is kept as its low byte. Anything else is a tl::Error (std::stoi
  // used to throw std::invalid_argument on "\uzzzz": found by fuzz/).
  char unicode_escape() {
    if (i + 4 >= s.size()) error("a \\u escape needs four hex digits");
    int code = 0;
    for (size_t k = i + 1; k <= i + 4; ++k) {
      const char c = s[k];
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) error("a \\u escape needs four hex digits");
      code = code * 16 + digit;
    }
    return static_cast<char>(code);
  }

  std::string string() {
    skip();
    if (i >= s.size() || s[i] != '"') error("expected a string");
    ++i;
    std::string out;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) {
        const char e = s[++i];
        if (e == 'n') out += '\n';
        else if (e == 't') out += '\t';
        else if (e == 'u') out += unicode_escape(), i += 4;
        else out += e;
        ++i;
      } else {
        out += s[i++];
      }
    }
    if (i >= s.size()) error("unterminated string");
    ++i;
    return out;
  }
  std::string scalar() {
    skip();
    const size_t start = i;
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
           !std::isspace(static_cast<unsigned char>(s[i])))
      ++i;
    if (i == start) error("expected a value");
    return s.substr(start, i - start);
  }
};

}  // namespace

JsonFlat parse_json_flat(const std::string& text, const std::string& what) {
  Parser p{text, what};
  JsonFlat out;
  if (!p.eat('{')) p.error("expected '{'");
  if (p.eat('}')) return out;
  do {
    const std::string key = p.string();
    if (!p.eat(':')) p.error("expected ':'");
    p.skip();
    if (p.i < text.size() && text[p.i] == '"') {
      out.scalars[key] = p.string();
    } else if (p.eat('[')) {
      std::vector<std::string> items;
      if (!p.eat(']')) {
        do items.push_back(p.string());
        while (p.eat(','));
        if (!p.eat(']')) p.error("expected ']'");
      }
      out.string_arrays[key] = std::move(items);
    } else {
      out.scalars[key] = p.scalar();
    }
  } while (p.eat(','));
  if (!p.eat('}')) p.error("expected '}'");
  return out;
}

}  // namespace tl::app
