// Error handling for the whole engine.
//
// Two kinds of failure, two tools:
//  * tl::Error: something a user can cause (a bad file, a wrong shape, a
//    missing data set). The message names the file / layer / flag and says
//    what to do. The apps catch it and print one line.
//  * TL_CHECK: an always-on invariant check (never `assert`, which Release
//    builds drop). It throws tl::Error with the expression and file:line, so a
//    broken invariant is a clear message and never memory corruption.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
// Builds a message from any streamable arguments: fail("shape ", s, " bad").
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_check_failure(const char* expr, const char* file, int line,
                                      const std::string& message);
}  // namespace detail

// Throws tl::Error built from the arguments.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(detail::concat(args...));
}

}  // namespace tl

// TL_CHECK(cond, "message parts", ...): throws tl::Error naming the
// condition, the place and the message when cond is false.
#define TL_CHECK(cond, ...)                                                        \
  do {                                                                             \
    if (!(cond))                                                                   \
      ::tl::detail::throw_check_failure(#cond, __FILE__, __LINE__,                 \
                                        ::tl::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
