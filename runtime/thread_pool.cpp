// The pool behind parallel_for (runtime/thread_pool.h).
//
// One loop at a time ("a job"). The caller publishes the job, wakes the
// workers that sleep, and claims chunks itself; every thread claims chunks
// from one counter until none is left; the caller then waits until every
// claimed chunk has finished. Waiting, for the workers (the next job) and
// for the caller (the last chunks), is a bounded spin, then a sleep on a
// condition variable (the textbook pattern: the condition is checked under
// the mutex the waker takes before it notifies, so no wake-up is lost).
//
// The claim word holds, in one atomic, the job's number (high 32 bits), its
// chunk count (16 bits) and the next chunk to hand out (low 16): a claim is
// one compare-and-swap that checks all three at once. A worker that wakes
// late, after its job has ended and another has begun, cannot claim a chunk
// of the wrong job (its compare-and-swap fails), and a worker that did claim
// a chunk keeps the caller, and so the job's task, alive until the chunk is
// done. (The count must live in the same word: read from a separate
// variable, a late worker could pair the new job's count with the old job's
// exhausted counter and claim a chunk that does not exist, which is how a
// first version of this pool double-ran chunks under load.)
#include "runtime/thread_pool.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TL_CPU_RELAX() _mm_pause()
#else
#define TL_CPU_RELAX() std::this_thread::yield()
#endif

#include "runtime/check.h"

namespace tl {

namespace {

// Chunks per thread: more than one, so that a thread that is late (not yet
// awake, or descheduled on a busy machine) holds up at most a fraction of
// a loop while the others take its share.
constexpr int64_t kChunksPerThread = 4;

// The default spin before sleeping, in microseconds (bench/RESULTS.md,
// "CPU threads": measured against sleeping at once and against spinning long).
constexpr int kDefaultSpinMicroseconds = 50;

// The most chunks a loop is cut into (the claim word has 16 bits for them);
// parallel_parts with more parts hands each chunk a range of parts.
constexpr int64_t kMaxChunks = 0xffff;

thread_local bool tl_in_chunk = false;

// A positive integer from the environment variable `name`, or 0 when unset;
// anything else is an error naming the variable.
int env_count(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  // OMP_NUM_THREADS may be a list ("4,2": per nesting level): the first counts.
  const bool list_ok = std::string(name) == "OMP_NUM_THREADS" && *end == ',';
  if ((*end != '\0' && !list_ok) || value < 1 || value > 4096)
    fail(name, "='", text, "' is not a thread count: set a whole number from 1 to 4096, or "
         "unset it");
  return static_cast<int>(value);
}

}  // namespace

int detail::threads_from_environment() {
  if (const int n = env_count("TL_NUM_THREADS")) return n;
  if (const int n = env_count("OMP_NUM_THREADS")) return n;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int detail::spin_from_environment() {
  const char* text = std::getenv("TL_SPIN_US");
  if (!text || !*text) return kDefaultSpinMicroseconds;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > 1000000)
    fail("TL_SPIN_US='", text, "' is not a spin time: set microseconds from 0 to 1000000");
  return static_cast<int>(value);
}

namespace {

// Spins until ready() or `micros` have passed; returns ready().
template <typename Ready>
bool spin_until(Ready ready, int micros) {
  if (ready()) return true;
  if (micros <= 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      TL_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

class ThreadPool {
 public:
  ThreadPool(int threads, int spin_micros) : spin_micros_(spin_micros) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }

  ~ThreadPool() {
    stop_.store(true);
    wake_workers();
    for (std::thread& t : workers_) t.join();
  }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs the job to its end; false when the pool is busy with another
  // caller's job (the caller then runs it serially).
  bool run(int64_t n, int64_t chunks, const detail::ChunkTask& task) {
    std::unique_lock<std::mutex> lock(dispatch_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    // Publish the job: its fields first, then the claim word, then the
    // generation that wakes the workers.
    n_.store(n);
    const uint32_t total = static_cast<uint32_t>(chunks);
    task_.store(&task);
    error_ = nullptr;
    finished_.store(0);
    const uint64_t job = ++job_ & 0xffffffffu;
    claim_.store(job << 32 | uint64_t{total} << 16);
    wake_workers();

    help(job);
    // Every chunk is claimed; wait for those still running on workers.
    const auto all_done = [&] { return finished_.load() == total; };
    if (!spin_until(all_done, spin_micros_)) {
      std::unique_lock<std::mutex> sleeping(sleep_mutex_);
      job_done_.wait(sleeping, all_done);
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  // Claims and runs chunks of job `job` until none is left.
  void help(uint64_t job) {
    const bool was_in_chunk = tl_in_chunk;
    tl_in_chunk = true;
    job &= 0xffffffffu;
    for (;;) {
      uint64_t claim = claim_.load();
      int64_t chunk = -1, chunks = 0;
      while ((claim >> 32) == job && (claim & 0xffff) < ((claim >> 16) & 0xffff)) {
        if (claim_.compare_exchange_weak(claim, claim + 1)) {
          chunk = static_cast<int64_t>(claim & 0xffff);
          chunks = static_cast<int64_t>((claim >> 16) & 0xffff);
          break;
        }
      }
      if (chunk < 0) break;
      // Chunk c covers [c n / chunks, (c + 1) n / chunks): fixed by n and
      // the chunk count only, whoever runs it.
      const int64_t n = n_.load();
      const detail::ChunkTask* task = task_.load();
      try {
        task->call(task->callable, chunk * n / chunks, (chunk + 1) * n / chunks);
      } catch (...) {
        const std::lock_guard<std::mutex> guard(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (finished_.fetch_add(1) + 1 == chunks) {
        // The job's last chunk: its caller may be asleep, waiting for it.
        const std::lock_guard<std::mutex> lock(sleep_mutex_);
        job_done_.notify_one();
      }
    }
    tl_in_chunk = was_in_chunk;
  }

  // Starts a new generation: spinning workers see it, sleeping ones are woken.
  void wake_workers() {
    bool someone_sleeps = false;
    {
      const std::lock_guard<std::mutex> lock(sleep_mutex_);
      generation_.fetch_add(1);
      someone_sleeps = sleepers_ > 0;
    }
    if (someone_sleeps) new_generation_.notify_all();
  }

  void work() {
    // `seen` is read before stop_ and the job are looked at: whatever is
    // published after it changes the generation, so the wait below returns.
    for (uint32_t seen = generation_.load();; seen = generation_.load()) {
      if (stop_.load()) return;
      help(job_.load());  // claims nothing when that job has no chunk left
      const auto new_job = [&] { return generation_.load() != seen; };
      if (!spin_until(new_job, spin_micros_)) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        ++sleepers_;
        new_generation_.wait(lock, new_job);
        --sleepers_;
      }
    }
  }

  const int spin_micros_;
  std::vector<std::thread> workers_;
  std::mutex dispatch_;  // one job at a time

  // The job: written by its caller before the claim word is set, read by
  // the threads that claim its chunks, after their claim succeeded.
  std::atomic<int64_t> n_{0};
  std::atomic<const detail::ChunkTask*> task_{nullptr};
  std::exception_ptr error_;  // the first chunk's exception (under error_mutex_)
  std::mutex error_mutex_;

  std::atomic<uint64_t> job_{0};        // the current job's number
  std::atomic<uint64_t> claim_{0};      // job << 32 | chunk count << 16 | next chunk
  std::atomic<uint32_t> finished_{0};   // chunks of the current job done
  std::atomic<uint32_t> generation_{0}; // bumped per job (and to stop), under sleep_mutex_
  std::atomic<bool> stop_{false};

  // Sleeping: workers until the generation changes, the caller until its
  // job's last chunk is done.
  std::mutex sleep_mutex_;
  std::condition_variable new_generation_, job_done_;
  int sleepers_ = 0;  // workers asleep (under sleep_mutex_)
};

// The process's pool, made on first use. After fork() the child has none
// of the parent's threads, only a copy of the pool object that describes
// them: it must never be used (its workers would never come) nor destroyed
// (joining threads that do not exist, destroying condition variables they
// "wait" on). So the pool remembers the process that made it, and a child
// leaves the copy alone and makes its own on first use.
struct PoolHolder {
  std::mutex mutex;
  std::unique_ptr<ThreadPool> pool;
  pid_t owner = 0;  // the process that made `pool`
  int threads = 0;  // 0: not chosen yet
  int spin = -1;

  void forget_if_inherited() {
    if (pool && owner != getpid()) (void)pool.release();  // the parent's: leaked on purpose
  }
  ~PoolHolder() { forget_if_inherited(); }
};
PoolHolder& holder() {
  static PoolHolder h;
  return h;
}

ThreadPool* pool() {
  PoolHolder& h = holder();
  const std::lock_guard<std::mutex> lock(h.mutex);
  if (h.threads == 0) h.threads = detail::threads_from_environment();
  if (h.spin < 0) h.spin = detail::spin_from_environment();
  h.forget_if_inherited();
  if (!h.pool && h.threads > 1) {
    h.pool = std::make_unique<ThreadPool>(h.threads, h.spin);
    h.owner = getpid();
  }
  return h.pool.get();
}

}  // namespace

int cpu_threads() {
  ThreadPool* p = pool();
  return p ? p->threads() : 1;
}

void set_cpu_threads(int threads) {
  if (threads < 1 || threads > 4096)
    fail("set_cpu_threads: ", threads, " is not a thread count (1 to 4096)");
  PoolHolder& h = holder();
  const std::lock_guard<std::mutex> lock(h.mutex);
  if (h.threads == threads) return;
  h.forget_if_inherited();
  h.pool.reset();  // joins the old workers
  h.threads = threads;
}

int cpu_spin_microseconds() {
  pool();
  return holder().spin;
}

bool in_parallel_region() { return tl_in_chunk; }

namespace detail {

int64_t chunks_for(int64_t n) {
  if (tl_in_chunk) return 1;  // nested: this thread runs it
  const int threads = cpu_threads();
  if (threads <= 1) return 1;
  return std::min<int64_t>(n, threads * kChunksPerThread);
}

void run_chunks(int64_t n, int64_t chunks, const ChunkTask& task) {
  ThreadPool* p = tl_in_chunk ? nullptr : pool();
  chunks = std::min(chunks, kMaxChunks);  // the claim word's 16 bits
  if (p && p->run(n, chunks, task)) return;
  // Serially, in the same chunks, so results do not depend on whether the
  // pool was free.
  for (int64_t c = 0; c < chunks; ++c) task.call(task.callable, c * n / chunks, (c + 1) * n / chunks);
}

}  // namespace detail

}  // namespace tl
