// What the ops and the optimiser need to know while a training step is being
// captured into a CUDA graph (layers/training_step_graph.h).
//
// A graph replays the captured kernels with the arguments they were launched
// with. Most of a step's arguments are the same every step (tensor
// addresses, shapes, the BN momentum), but a few host values change from
// step to step: the random stream of each dropout, and the optimiser's
// learning rate and bias corrections. Captured as plain kernel arguments
// they would be frozen at their capture-time values. So, while a capture is
// in progress (Context::capture() is not null):
//  - a random op takes its stream as an offset from a base that lies in
//    device memory (random_base), and counts the streams it used here
//    instead of advancing the Context; before each replay the base is set to
//    the Context's stream position and the position advanced by the count,
//    so replay k draws exactly the streams an eager step k would have;
//  - the optimiser launches its update reading its per-tensor descriptors
//    from a fixed device buffer, and registers a before_replay action that
//    does what its eager step() does on the host (advance the step counts,
//    compute the descriptors from the current learning rates) and uploads
//    them there.
// Host state must not change during a capture (nothing runs then): what an
// eager step changes on the host, a before_replay action changes instead,
// once per replay, the first one included.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tl {

class Context;

struct StepCapture {
  // Device memory holding the stream position of the step being replayed
  // (one uint64).
  const uint64_t* random_base = nullptr;
  // Random streams the captured step draws, offsets 0 .. random_streams - 1.
  uint64_t random_streams = 0;
  // Host work each replay does, in this order, before the graph is launched.
  std::vector<std::function<void(Context&)>> before_replay;
  // Checks, run before each replay, that the host objects still hold the
  // tensors the graph was captured with (a checkpoint loaded into the
  // optimiser replaces its state tensors, say). Each returns "" or why the
  // graph is out of date; the owner then captures the step again.
  std::vector<std::function<std::string()>> out_of_date;
};

}  // namespace tl
