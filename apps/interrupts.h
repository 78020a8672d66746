// Ctrl-C and SIGTERM during training: the first one asks the run to stop at
// the next step boundary (train() then saves a checkpoint that resumes
// exactly there), a second one quits at once.
#pragma once

#include <cstdint>
#include <vector>

namespace tl::app {

// While alive, the first SIGINT or SIGTERM only asks the run to stop (train()
// stops at the next step boundary and saves); a second one exits at once
// with status 130. The previous handlers are restored on destruction.
class InterruptHandler {
 public:
  InterruptHandler();
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;
  static int requested();  // the first signal received (0: none)
};

// A hidden hook for the tests: TL_TEST_RAISE_AT_STEP="<step>:<SIG>[,<SIG>...]"
// makes train() raise those signals (INT, TERM, KILL) in-process right after
// that optimiser step, so interrupts are tested deterministically, not by
// timing. step is -1 when the variable is unset.
struct RaiseHook {
  int64_t step = -1;
  std::vector<int> signals;
};
RaiseHook raise_hook_from_environment();

}  // namespace tl::app
