#include "apps/device_flag.h"

#include "runtime/check.h"
#include "runtime/cuda/device_count.h"

namespace tl::app {

Device device_from_flag(const std::string& value) {
  if (value == "cpu") return Device::CPU;
  if (value == "cuda") return Device::CUDA;  // open_context says why when it cannot
  if (value == "auto") return cuda::device_count() > 0 ? Device::CUDA : Device::CPU;
  fail("--device: expected cpu, cuda or auto, got '", value, "'");
}

std::unique_ptr<Context> open_context(Device device, uint64_t seed) {
  try {
    return std::make_unique<Context>(device, seed);
  } catch (const Error& e) {
    if (device != Device::CUDA) throw;
    fail("--device cuda: ", e.what(), " (--device cpu runs on the CPU)");
  }
}

}  // namespace tl::app
