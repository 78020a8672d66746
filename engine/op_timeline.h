// Where a training step's time goes, op by op: the "per-op split" that says
// which kernels are worth making faster (bench_e2e --profile).
//
// A timeline is a sequence of marks. Each mark closes a segment: the work
// queued since the previous mark belongs to the mark's label. The engine
// marks as it goes when a Context carries a timeline
// (Context::set_timeline): every op that records an autograd node marks
// "forward <op>" (the node is attached when its kernels have been
// launched), backward() marks "backward <op>" after each node and
// "backward gradient sums" after the sums of gradients that meet at one
// tensor, and the training step marks its own stages. Work that marks
// nothing (an op with no gradient to record) counts towards the next mark.
//
// On the CPU a mark reads the clock (the kernels have finished when an op
// returns). On a GPU it records a CUDA event on the stream, so the host
// never waits; finish() waits once and measures between the events. Each
// mark costs ~1 us of launch time on a GPU: fine for a profile, not free,
// so a timeline is off unless a tool sets one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tl {

class Context;

class OpTimeline {
 public:
  // Starts the timeline on ctx's device (the first segment starts here).
  explicit OpTimeline(Context& ctx);
  ~OpTimeline();
  OpTimeline(const OpTimeline&) = delete;
  OpTimeline& operator=(const OpTimeline&) = delete;

  void mark(const std::string& label);

  struct Row {
    std::string label;
    double ms = 0;       // total over all segments with this label
    int64_t count = 0;   // segments
  };
  // Waits for the device, then the total per label, largest first. The
  // timeline keeps running: a later finish() includes earlier segments.
  std::vector<Row> finish();

 private:
  struct Events;  // CUDA events (op_timeline.cpp); null on the CPU
  Context& ctx_;
  std::vector<std::string> labels_;  // segment i ends at mark i
  std::vector<std::chrono::steady_clock::time_point> times_;  // CPU: marks 0..n (0 = start)
  std::unique_ptr<Events> events_;
};

}  // namespace tl
