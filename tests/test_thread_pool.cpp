// tl's CPU thread pool (runtime/thread_pool.h): every index exactly once,
// chunks fixed by the loop's length and the thread count alone, errors
// carried back to the caller, nested loops and concurrent callers served
// without a deadlock, workers that went to sleep woken again, and bad
// environment values refused with the variable's name.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/check.h"
#include "runtime/thread_pool.h"

namespace tl {
namespace {

// Restores the thread count a test changed (each test case runs in its own
// process under CTest, but not when the binary is run by hand).
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : saved_(cpu_threads()) { set_cpu_threads(threads); }
  ~ThreadCount() { set_cpu_threads(saved_); }

 private:
  int saved_;
};

// Sets an environment variable for the test's duration.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) saved_ = old, had_ = true;
    setenv(name, value, 1);
  }
  ~EnvVar() { had_ ? setenv(name_, saved_.c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::string saved_;
  bool had_ = false;
};

TEST(ThreadPool, EveryIndexExactlyOnce) {
  const ThreadCount threads(3);
  for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{13}, int64_t{1000}, int64_t{1} << 18}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, true, [&](int64_t begin, int64_t end) {
      ASSERT_LE(0, begin);
      ASSERT_LT(begin, end);
      ASSERT_LE(end, n);
      for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
  }
  int calls = 0;
  parallel_for(0, true, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0) << "an empty loop calls nothing";
}

// The ranges handed out are the same every time (whichever thread runs
// them): what makes per-chunk partial sums repeatable.
TEST(ThreadPool, ChunksDependOnlyOnLengthAndThreadCount) {
  const ThreadCount threads(2);
  const int64_t n = 1001;
  auto ranges_of_one_run = [&] {
    std::mutex m;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    parallel_for(n, true, [&](int64_t begin, int64_t end) {
      const std::lock_guard<std::mutex> lock(m);
      ranges.emplace_back(begin, end);
    });
    std::sort(ranges.begin(), ranges.end());
    return ranges;
  };
  const auto first = ranges_of_one_run();
  ASSERT_EQ(first.size(), 8u) << "4 chunks per thread";
  for (size_t c = 0; c < first.size(); ++c) {
    EXPECT_EQ(first[c].first, int64_t(c) * n / 8);
    EXPECT_EQ(first[c].second, int64_t(c + 1) * n / 8);
  }
  for (int run = 0; run < 20; ++run) ASSERT_EQ(ranges_of_one_run(), first);
}

TEST(ThreadPool, NotWorthThreadsRunsTheWholeRangeInTheCaller) {
  const ThreadCount threads(4);
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  parallel_for(5000, false, [&](int64_t begin, int64_t end) {
    ++calls;
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 5000);
    EXPECT_EQ(std::this_thread::get_id(), caller);
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, OneThreadRunsEverythingInTheCaller) {
  const ThreadCount threads(1);
  EXPECT_EQ(cpu_threads(), 1);
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  parallel_for(int64_t{1} << 20, true, [&](int64_t begin, int64_t end) {
    ++calls;
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(end - begin, int64_t{1} << 20);
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, UsesTheOtherThreads) {
  const ThreadCount threads(2);
  // Each chunk waits a little, so the worker is awake long before the
  // caller could have taken every chunk itself.
  std::mutex m;
  std::vector<std::thread::id> ran_on;
  parallel_for(8, true, [&](int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::lock_guard<std::mutex> lock(m);
    ran_on.push_back(std::this_thread::get_id());
  });
  std::sort(ran_on.begin(), ran_on.end());
  EXPECT_EQ(std::unique(ran_on.begin(), ran_on.end()) - ran_on.begin(), 2);
}

TEST(ThreadPool, AnExceptionReachesTheCallerAfterEveryChunkFinished) {
  const ThreadCount threads(3);
  std::atomic<int> finished{0};
  try {
    parallel_for(12, true, [&](int64_t begin, int64_t) {
      if (begin == 0) throw std::runtime_error("chunk 0 failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      finished.fetch_add(1);
    });
    FAIL() << "the chunk's exception was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "chunk 0 failed");
  }
  EXPECT_EQ(finished.load(), 11) << "the caller returned while chunks still ran";
  // The pool is usable afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(100, true, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum.fetch_add(i);
  });
  EXPECT_EQ(sum.load(), 4950);
}

TEST(ThreadPool, ANestedLoopRunsInItsChunksThread) {
  const ThreadCount threads(2);
  EXPECT_FALSE(in_parallel_region());
  std::atomic<int64_t> total{0};
  parallel_for(4, true, [&](int64_t begin, int64_t end) {
    EXPECT_TRUE(in_parallel_region());
    const auto outer = std::this_thread::get_id();
    for (int64_t i = begin; i < end; ++i)
      parallel_for(1000, true, [&](int64_t b, int64_t e) {
        EXPECT_EQ(std::this_thread::get_id(), outer);
        total.fetch_add(e - b);
      });
  });
  EXPECT_EQ(total.load(), 4000);
  EXPECT_FALSE(in_parallel_region());
}

// Two threads of a program using tl at once (two Contexts): the second
// runs its loop serially while the pool serves the first; no deadlock, and
// every answer right.
TEST(ThreadPool, TwoCallingThreadsAtOnce) {
  const ThreadCount threads(2);
  auto work = [](int64_t salt) {
    int64_t wrong = 0;
    for (int round = 0; round < 300; ++round) {
      const int64_t n = 2000 + round;
      std::vector<int64_t> v(static_cast<size_t>(n), 0);
      parallel_for(n, true, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) v[static_cast<size_t>(i)] = i * salt;
      });
      for (int64_t i = 0; i < n; ++i) wrong += v[static_cast<size_t>(i)] != i * salt;
    }
    return wrong;
  };
  int64_t wrong_a = -1, wrong_b = -1;
  std::thread a([&] { wrong_a = work(3); });
  std::thread b([&] { wrong_b = work(7); });
  a.join();
  b.join();
  EXPECT_EQ(wrong_a, 0);
  EXPECT_EQ(wrong_b, 0);
}

// Workers idle past their spin go to sleep; the next loop must wake them
// (and still be right), many times over.
TEST(ThreadPool, SleepingWorkersWakeForTheNextLoop) {
  const ThreadCount threads(3);
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(std::chrono::microseconds(cpu_spin_microseconds() + 2000));
    std::vector<int> hits(64, 0);
    parallel_for(64, true, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)] += 1;
    });
    ASSERT_EQ(std::count(hits.begin(), hits.end(), 1), 64) << "round " << round;
  }
}

// Short loops back to back whose chunk counts change from one to the next,
// with a third thread keeping a core busy so that the pool's threads are
// preempted at every point of their claim loop. A first version of the pool
// kept the chunk count outside the claim word: a worker preempted between
// reading the old job's exhausted counter and the new job's count could
// claim a chunk that did not exist, running a chunk twice and leaving the
// caller waiting forever (found under load in bench_e2e). That version hung
// in about a third of the runs of 100,000 such loops; this runs 800,000
// (~2 s; the chance that it would pass is then about 2.5%). A hang is
// reported as a failure by the watchdog below.
TEST(ThreadPool, ChangingChunkCountsUnderPreemption) {
  const ThreadCount threads(2);
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  auto loops = std::async(std::launch::async, [] {
    int64_t wrong = 0;
    for (int64_t round = 0; round < 800000; ++round) {
      const int64_t n = 1 + round * 7 % 9;
      std::atomic<int> hits[9] = {};
      parallel_for(n, true, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        // About a microsecond of work (the fence keeps the loop).
        for (int k = 0; k < 200; ++k) std::atomic_signal_fence(std::memory_order_seq_cst);
      });
      for (int64_t i = 0; i < n; ++i) wrong += hits[i].load() != 1;
    }
    return wrong;
  });
  if (loops.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    std::fprintf(stderr, "ThreadPool.ChangingChunkCountsUnderPreemption: no progress in 120 s "
                         "(a lost chunk or wake-up)\n");
    std::_Exit(1);  // the pool's threads are stuck: nothing to clean up
  }
  stop.store(true);
  busy.join();
  EXPECT_EQ(loops.get(), 0) << "chunks that ran twice or never";
}

// A child of fork() has none of its parent's worker threads: its loops must
// still run (on a pool of its own) and its exit must not wait for the
// parent's workers (the checkpoint tests fork to simulate a full disk).
TEST(ThreadPool, AForkedChildMakesItsOwnPool) {
  const ThreadCount threads(2);
  std::atomic<int64_t> before{0};
  parallel_for(1000, true, [&](int64_t b, int64_t e) { before.fetch_add(e - b); });
  ASSERT_EQ(before.load(), 1000);  // the parent's workers exist now
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::atomic<int64_t> sum{0};
    parallel_for(1000, true, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
    std::exit(sum.load() == 1000 ? 0 : 3);  // runs the static destructors, as a child's exit does
  }
  int status = -1;
  for (int waited_ms = 0; waited_ms < 30000; waited_ms += 10) {
    if (waitpid(child, &status, WNOHANG) == child) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!WIFEXITED(status)) kill(child, SIGKILL);
  ASSERT_TRUE(WIFEXITED(status)) << "the child hung (in its loop or at exit)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ThreadPool, PartsEachRunOnce) {
  const ThreadCount threads(2);
  std::vector<std::atomic<int>> runs(5);
  parallel_parts(5, [&](int64_t p) { runs[static_cast<size_t>(p)].fetch_add(1); });
  for (auto& r : runs) EXPECT_EQ(r.load(), 1);
}

TEST(ThreadPool, ThreadCountFromTheEnvironment) {
  {
    const EnvVar tl_threads("TL_NUM_THREADS", "3");
    const EnvVar omp_threads("OMP_NUM_THREADS", "5");
    EXPECT_EQ(detail::threads_from_environment(), 3) << "TL_NUM_THREADS comes first";
  }
  {
    const EnvVar tl_threads("TL_NUM_THREADS", "");
    const EnvVar omp_threads("OMP_NUM_THREADS", "4,2");
    EXPECT_EQ(detail::threads_from_environment(), 4) << "OMP_NUM_THREADS's first level";
  }
  for (const char* bad : {"0", "-2", "two", "3x", "99999"}) {
    const EnvVar tl_threads("TL_NUM_THREADS", bad);
    try {
      detail::threads_from_environment();
      ADD_FAILURE() << "TL_NUM_THREADS=" << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("TL_NUM_THREADS"), std::string::npos) << e.what();
    }
  }
  {
    const EnvVar spin("TL_SPIN_US", "0");
    EXPECT_EQ(detail::spin_from_environment(), 0);
  }
  const EnvVar spin("TL_SPIN_US", "soon");
  EXPECT_THROW(detail::spin_from_environment(), Error);
  EXPECT_THROW(set_cpu_threads(0), Error);
}

}  // namespace
}  // namespace tl
