// Writing a whole file so that a failure never damages what was there.
//
// The bytes go to a temporary file beside the target ("<path>.tmp.<pid>"), are
// flushed to the disk (fsync), and the temporary file is renamed over the
// target (atomic on POSIX file systems); the directory is synced so the
// rename itself survives a power cut. On any failure (disk full, a
// file-size limit, a target that is a directory, an I/O error) the temporary
// file is removed, the target is left exactly as it was, and tl::Error says
// in one line which file, which step and why (the system's own words).
//
// Used for the HDF5 files (weights/hdf5.h builds them in memory, then hands
// the image to TempFile) and for the apps' metrics files.
#pragma once

#include <cstddef>
#include <string>

namespace tl {

// The temporary name a write to `path` goes through.
std::string temp_path_for(const std::string& path);

// An open, empty temporary file for `path`. Created at construction, so an
// unwritable directory is reported before any work is done; commit() writes
// the bytes and renames the file over `path`; destroyed without commit()
// (an exception on the way), it removes the temporary file.
class TempFile {
 public:
  explicit TempFile(const std::string& path);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  // Writes `size` bytes, fsyncs, closes and renames. Throws tl::Error (and
  // removes the temporary file) on failure; call at most once.
  void commit(const void* data, size_t size);

 private:
  [[noreturn]] void fail_and_discard(const std::string& step, int error);
  std::string path_, temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// TempFile(path).commit(data, size).
void write_bytes_atomically(const std::string& path, const void* data, size_t size);

}  // namespace tl
