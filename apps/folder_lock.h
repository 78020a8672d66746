// One writer per output folder: two train_cifar runs on one folder would
// overwrite each other's checkpoints and delete each other's temporary
// files, so the second one is refused at once.
#pragma once

#include <iosfwd>
#include <string>

namespace tl::app {

// Holds an exclusive flock(2) on <dir>/.lock (which records the holder's PID)
// for its lifetime; the kernel drops it when the process ends, however it
// ends. A second run on the same folder gets tl::Error at once, naming
// `flag`, the folder and the other run's PID.
class FolderLock {
 public:
  FolderLock(const std::string& dir, const std::string& flag);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes temporary files an interrupted or killed run left in `dir`
// (last.h5.tmp*, metrics.*.tmp*, curves.svg.tmp*). Only safe under the
// folder's lock: no other run can be writing them.
void remove_stale_temp_files(const std::string& dir, std::ostream& log);

}  // namespace tl::app
