// The --device flag every app takes, and the Context it opens. The library
// says what went wrong in its own terms ("no usable GPU (...)"); this is
// where the flag's name and the way out are added.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/context.h"

namespace tl::app {

// "cpu", "cuda", or "auto" (the GPU when one is usable, else the CPU).
// Anything else is an error naming the flag.
Device device_from_flag(const std::string& value);

// A Context on `device`. When the GPU cannot be opened the error names
// --device cuda and suggests --device cpu.
std::unique_ptr<Context> open_context(Device device, uint64_t seed = 0);

}  // namespace tl::app
