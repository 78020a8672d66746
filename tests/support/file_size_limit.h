// Simulating a full disk in a test: run a piece of code in a child process
// whose files cannot grow past a given size.
//
// RLIMIT_FSIZE with SIGXFSZ ignored makes a write past the limit fail with
// EFBIG, as a write to a full disk fails with ENOSPC: the code under test
// sees the same failed write(2). It needs no privileges, no mounted file
// system and no root (and works as root in CI). The child leaves through
// exit(), not _exit(), so atexit handlers (HDF5's library shutdown) run too:
// a crash there shows up as a signal in the result.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>

namespace tl::test {

struct ChildResult {
  bool exited = false;  // exited normally (not killed by a signal)
  int exit_code = -1;   // 0: fn returned; 1: fn threw
  int signal = 0;       // the signal that killed it, if any
  std::string error;    // what() of the exception fn threw
};

inline ChildResult run_with_file_size_limit(rlim_t limit_bytes, const std::function<void()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = fork();
  if (pid < 0) return {};
  if (pid == 0) {
    close(fds[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit rl{};
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = limit_bytes;
    setrlimit(RLIMIT_FSIZE, &rl);
    int code = 0;
    try {
      fn();
    } catch (const std::exception& e) {
      const std::string message = e.what();
      code = write(fds[1], message.data(), message.size()) < 0 ? 2 : 1;
    }
    close(fds[1]);
    std::exit(code);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.error.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return r;
}

}  // namespace tl::test
