#include "apps/interrupts.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>

#include "apps/options.h"
#include "runtime/check.h"

namespace tl::app {

namespace {

// Signal-handler state: the one place a global is needed (a handler gets no
// argument). Lock-free atomics are async-signal-safe.
std::atomic<int> g_signals_received{0};
std::atomic<int> g_first_signal{0};
struct sigaction g_previous_int, g_previous_term;

void on_stop_signal(int sig) {
  if (g_signals_received.fetch_add(1) == 0) {
    g_first_signal.store(sig);
    static const char msg[] =
        "\ntrain_cifar: stopping at the end of this training step, to save where it is "
        "(press Ctrl-C again to quit at once, without saving)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    return;
  }
  static const char msg[] = "\ntrain_cifar: interrupted again: quitting at once, without saving\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  ::_exit(130);
}

}  // namespace

RaiseHook raise_hook_from_environment() {
  RaiseHook hook;
  const char* env = std::getenv("TL_TEST_RAISE_AT_STEP");
  if (!env) return hook;
  const std::string text = env;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) fail("TL_TEST_RAISE_AT_STEP: expected <step>:<SIG>[,<SIG>...], got ", text);
  hook.step = parse_int("TL_TEST_RAISE_AT_STEP", text.substr(0, colon), 1);
  for (size_t pos = colon + 1; pos <= text.size();) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string name = text.substr(pos, comma - pos);
    if (name == "INT") hook.signals.push_back(SIGINT);
    else if (name == "TERM") hook.signals.push_back(SIGTERM);
    else if (name == "KILL") hook.signals.push_back(SIGKILL);
    else fail("TL_TEST_RAISE_AT_STEP: unknown signal '", name, "' (INT, TERM or KILL)");
    pos = comma + 1;
  }
  return hook;
}


InterruptHandler::InterruptHandler() {
  g_signals_received = 0;
  g_first_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read or write in progress continues; the loop checks the flag
  sigaction(SIGINT, &action, &g_previous_int);
  sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptHandler::~InterruptHandler() {
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

int InterruptHandler::requested() { return g_first_signal.load(); }

}  // namespace tl::app
