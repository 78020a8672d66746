// When the trainer's step runs eagerly, is captured into a CUDA graph or
// replays it (layers/step_graph_schedule.h): the decisions, checked on the
// CPU with plain keys standing for the batch shape and the rest.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layers/step_graph_schedule.h"

namespace tl::test {
namespace {

// A run of steps: each letter is a step's key (F: a full batch, S: the
// smaller last batch of an epoch), and `stale` marks the steps before
// which the graph went out of date. Returns one letter per step: E eager,
// C captured (then replayed), R replayed.
std::string decisions(const std::string& keys, const std::vector<int>& stale = {}) {
  StepGraphSchedule<char> schedule(/*warmup=*/1);
  bool have_graph = false;
  char graph_key = 0;
  std::string out;
  for (int i = 0; i < static_cast<int>(keys.size()); ++i) {
    for (int s : stale)
      if (s == i) have_graph = false;  // the runner drops an out-of-date graph
    const char key = keys[i];
    switch (schedule.next(key, have_graph && graph_key == key)) {
      case StepAction::kReplay: out += 'R'; break;
      case StepAction::kCapture:
        schedule.captured();
        have_graph = true;
        graph_key = key;
        out += 'C';
        break;
      case StepAction::kEager: out += 'E'; break;
    }
  }
  return out;
}

TEST(StepGraphSchedule, TheFirstStepWarmsUpTheSecondIsCaptured) {
  EXPECT_EQ(decisions("FFFFF"), "ECRRR");
}

TEST(StepGraphSchedule, ASmallerLastBatchEachEpochRunsEagerlyAndIsNeverCaptured) {
  // Three epochs of four full batches and a smaller one.
  EXPECT_EQ(decisions("FFFFS" "FFFFS" "FFFFS"), "ECRRE" "RRRRE" "RRRRE");
}

TEST(StepGraphSchedule, ALastingChangeOfShapeIsCapturedAfterOneEagerStep) {
  EXPECT_EQ(decisions("FFFGGGG"), "ECREC" "RR");
}

TEST(StepGraphSchedule, AnOutOfDateGraphIsCapturedAgainAfterOneEagerStep) {
  EXPECT_EQ(decisions("FFFFFF", {3}), "ECRECR");
  // Out of date just before a smaller batch: the run of full steps starts over.
  EXPECT_EQ(decisions("FFFSFFF", {3}), "ECREEC" "R");
}

TEST(StepGraphSchedule, AWarmUpOfTwoNeedsTwoEagerStepsInARow) {
  StepGraphSchedule<int> schedule(/*warmup=*/2);
  EXPECT_EQ(schedule.next(1, false), StepAction::kEager);
  EXPECT_EQ(schedule.next(2, false), StepAction::kEager);  // another key: the run restarts
  EXPECT_EQ(schedule.next(2, false), StepAction::kEager);
  EXPECT_EQ(schedule.next(2, false), StepAction::kCapture);
}

}  // namespace
}  // namespace tl::test
