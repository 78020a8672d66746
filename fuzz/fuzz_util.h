// Shared by the libFuzzer drivers in fuzz/ (docs/fuzzing.md).
//
// The contract every driver checks: bad input is a tl::Error (the apps turn
// it into one clear line and exit 1). Anything else is a finding: a crash,
// an ASan/UBSan report, a timeout, memory blow-up, an exception of another
// type (its message would reach the user as "stoi" or "basic_string"), or a
// broken property (a value we wrote that we cannot read back, an image
// larger than the limit, a label out of range).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include "runtime/check.h"

namespace tl::fuzz {

// A broken property: print what and where, then abort (libFuzzer keeps the
// input as crash-<sha1>).
[[noreturn]] inline void die(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "\n==tl-fuzz== PROPERTY VIOLATED at %s:%d: %s\n", file, line, what.c_str());
  std::fflush(stderr);
  std::abort();
}
#define TL_FUZZ_REQUIRE(cond, ...)                                                         \
  do {                                                                                     \
    if (!(cond))                                                                           \
      ::tl::fuzz::die(__FILE__, __LINE__,                                                  \
                      ::tl::detail::concat("" #cond " " __VA_OPT__(, ) __VA_ARGS__));      \
  } while (0)

// TL_FUZZ_LENIENT=1: an exception that is not a tl::Error is printed (the
// first few) and tolerated instead of aborting, so that a long run can look
// past a finding that is known and not fixed yet. Crashes and sanitizer
// reports stay fatal. scripts/fuzz.sh --lenient sets it; never in CI.
inline bool lenient() {
  static const bool on = [] {
    const char* v = std::getenv("TL_FUZZ_LENIENT");
    return v != nullptr && v[0] == '1';
  }();
  return on;
}

// TL_FUZZ_TRACE=1: print each tl::Error's message (why an input was refused),
// e.g. when replaying one file by hand.
inline bool trace() {
  static const bool on = [] {
    const char* v = std::getenv("TL_FUZZ_TRACE");
    return v != nullptr && v[0] == '1';
  }();
  return on;
}

// Runs `body`; a tl::Error is the expected answer to bad input and returns
// false; true when the body ran to the end. Any other exception is a finding.
template <typename Body>
bool expect_tl_error_only(const char* step, Body&& body) {
  try {
    body();
    return true;
  } catch (const tl::Error& e) {
    if (trace()) std::fprintf(stderr, "==tl-fuzz== %s: tl::Error: %s\n", step, e.what());
    return false;
  } catch (const std::exception& e) {
    const std::string what = std::string(step) + " threw " + typeid(e).name() + " (not tl::Error): " + e.what();
    if (!lenient()) die(__FILE__, __LINE__, what);
    static int shown = 0;
    if (shown++ < 5) std::fprintf(stderr, "==tl-fuzz== tolerated (TL_FUZZ_LENIENT): %s\n", what.c_str());
    return false;
  }
  // Anything not derived from std::exception escapes and terminates: a finding too.
}

// One scratch folder per process (several fuzz jobs may run at once), on
// tmpfs when there is one: the readers under test take paths, not bytes.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    if (const char* t = std::getenv("TL_FUZZ_TMPDIR")) base = t;
    std::string tmpl = (base / "tl-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("tl-fuzz: mkdtemp");
      std::abort();
    }
    static const std::string made = tmpl;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(made, ignored);
    });
    return fs::path(tmpl);
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "tl-fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace tl::fuzz
