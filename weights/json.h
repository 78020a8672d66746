// A small JSON reader for the files tl reads from other programs (Keras's
// config.json inside a .keras archive). Whole document in memory, strict
// RFC 8259 syntax, nesting limited so hostile input cannot exhaust the stack;
// every error names `what` and the byte offset. Fuzz-friendly: any input
// either parses or throws tl::Error.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tl {

struct JsonMember;  // an object's (key, value), defined below

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  // File order kept. A struct, not std::pair: a vector may hold an incomplete
  // type, but std::pair<std::string, JsonValue> needs JsonValue complete here
  // (clang's libstdc++ check refuses it).
  std::vector<JsonMember> object;

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
  // The member `key` of an object; nullptr when absent or not an object.
  const JsonValue* get(const std::string& key) const;
  // The string member `key`, or "" when absent or not a string.
  std::string get_string(const std::string& key) const;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

// Parses `text`. Throws tl::Error "<what>: <problem> at byte N".
JsonValue parse_json(const std::string& text, const std::string& what);

}  // namespace tl
