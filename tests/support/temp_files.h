// Whether a failed or finished write left a temporary file behind: the
// writers name theirs "<target>.tmp.<pid>" (weights/atomic_write.cpp), so
// the tests look for any file that starts with "<target>.tmp".
#pragma once

#include <filesystem>
#include <string>

namespace tl::test {

inline bool temp_file_left_beside(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path p(target);
  const std::string prefix = p.filename().string() + ".tmp";
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(p.parent_path().empty() ? "." : p.parent_path(), ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace tl::test
