// Just enough JSON for the apps: writing flat objects (run configuration,
// metrics) and reading back a flat object of strings, numbers, booleans and
// arrays of strings (a checkpoint's configuration, read by evaluate/predict).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tl::app {

// Builds `{"key": value, ...}` in insertion order.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add(const std::string& key, const std::vector<std::string>& values);
  JsonObject& add_raw(const std::string& key, const std::string& json);  // nested JSON
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string json_quote(const std::string& s);

// A parsed flat object: scalars as their text (strings unquoted), arrays of
// strings separately. Throws tl::Error naming `what` on malformed input.
struct JsonFlat {
  std::map<std::string, std::string> scalars;
  std::map<std::string, std::vector<std::string>> string_arrays;
  const std::string& get(const std::string& key, const std::string& what) const;
};
JsonFlat parse_json_flat(const std::string& text, const std::string& what);

}  // namespace tl::app
