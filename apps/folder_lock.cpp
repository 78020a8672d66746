#include "apps/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "runtime/check.h"

namespace tl::app {

FolderLock::FolderLock(const std::string& dir, const std::string& flag) {
  const std::string path = (std::filesystem::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(flag, " ", dir, ": cannot create its lock file ", path, ": ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : std::string();
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    if (err == EWOULDBLOCK)
      fail(flag, " ", dir, ": another run (PID ", holder.empty() ? "unknown" : holder,
           ") is writing to this folder; wait for it to end, or choose another ", flag);
    fail(flag, " ", dir, ": cannot lock ", path, ": ", std::strerror(err));
  }
  // Ours now: record who holds it, for the error message of a second run.
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    // The lock holds without the PID; only the other run's message is poorer.
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (removing it would race a new locker)
}

void remove_stale_temp_files(const std::string& dir, std::ostream& log) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    bool ours = false;
    for (const char* output : {"last.h5.tmp", "metrics.csv.tmp", "metrics.json.tmp", "curves.svg.tmp"})
      ours = ours || name.rfind(output, 0) == 0;
    if (!ours || !entry.is_regular_file(ec)) continue;
    if (fs::remove(entry.path(), ec))
      log << "Removed " << entry.path().string() << ": a temporary file left by an interrupted run\n";
  }
}

}  // namespace tl::app
