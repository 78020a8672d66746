#include "runtime/check.h"

namespace tl::detail {

void throw_check_failure(const char* expr, const char* file, int line,
                         const std::string& message) {
  std::ostringstream os;
  os << message << (message.empty() ? "" : " ") << "(check failed: " << expr << " at "
     << file << ":" << line << ")";
  throw Error(os.str());
}

}  // namespace tl::detail
