// Atomic whole-file writes (see atomic_write.h), with POSIX calls so that
// every failure is seen with its errno: std::ofstream would report a full
// disk only as "badbit", and close() errors (NFS, quotas) not at all.
#include "weights/atomic_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "runtime/check.h"

namespace tl {
namespace {

// The system's words for an errno, plus what it usually means here.
std::string describe_errno(int error) {
  const std::string text = std::error_code(error, std::generic_category()).message();
  switch (error) {
    case ENOSPC: return text + " (disk full: free some space and run again)";
    case EDQUOT: return text + " (disk full for this user: free some space and run again)";
    case EFBIG: return text + " (disk full, or a file-size limit: see ulimit -f)";
    case EACCES:
    case EPERM:
    case EROFS: return text + " (is the directory writable?)";
    default: return text;
  }
}

// Best effort: makes the rename durable. A failure here is not worth
// failing the write for (the data itself is already synced).
void sync_directory_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::filesystem::path dir = parent.empty() ? std::filesystem::path(".") : parent;
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

// Unique per process: two writers of one file (two runs on one folder,
// before train_cifar's folder lock refuses the second) never share, and so
// never delete, each other's temporary file.
std::string temp_path_for(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

TempFile::TempFile(const std::string& path) : path_(path), temp_path_(temp_path_for(path)) {
  // O_TRUNC: a stale temporary file left by a killed run is simply reused.
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0)
    fail("cannot write '", path_, "': cannot create its temporary file '", temp_path_, "': ",
         describe_errno(errno), "; does the directory exist and is it writable?");
}

TempFile::~TempFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(temp_path_.c_str());
}

void TempFile::fail_and_discard(const std::string& step, int error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
  std::string what = "cannot write '" + path_ + "': " + step + " failed: " + describe_errno(error);
  std::error_code ec;
  what += std::filesystem::is_regular_file(path_, ec) ? "; the previous '" + path_ + "' is unchanged"
                                                      : "; nothing was written";
  throw Error(what);
}

void TempFile::commit(const void* data, size_t size) {
  TL_CHECK(!committed_ && fd_ >= 0, "TempFile::commit called twice for ", path_);
  const auto* bytes = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd_, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    // A short write (n >= 0) is retried; the next call reports the reason.
    if (n < 0) fail_and_discard("writing '" + temp_path_ + "' (" + std::to_string(done) + " of " +
                                    std::to_string(size) + " bytes written)",
                                errno);
    done += static_cast<size_t>(n);
  }
  // fsync before rename: after a crash the new name never points at data
  // that had not reached the disk. A full disk can also first show here.
  if (::fsync(fd_) != 0 && errno != EINVAL) fail_and_discard("syncing '" + temp_path_ + "' to the disk", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_and_discard("closing '" + temp_path_ + "'", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
    fail_and_discard("renaming '" + temp_path_ + "' to it", errno);
  committed_ = true;
  sync_directory_of(path_);
}

void write_bytes_atomically(const std::string& path, const void* data, size_t size) {
  TempFile(path).commit(data, size);
}

}  // namespace tl
