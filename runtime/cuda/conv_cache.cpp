#include "runtime/cuda/conv_cache.h"

#include <sstream>

namespace tl::cuda {

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward: return "forward";
    case ConvPass::kBackwardData: return "backward-data";
    case ConvPass::kBackwardFilter: return "backward-filter";
  }
  return "?";
}

std::string ConvKey::str() const {
  std::ostringstream os;
  os << conv_pass_name(pass) << " N" << batch << " " << in_h << "x" << in_w << "x" << in_c
     << " -> " << out_c << " k" << kernel_h << "x" << kernel_w << " s" << stride << " p" << pad
     << (bf16 ? " bf16" : tf32 ? " tf32" : " fp32") << (aligned ? "" : " unaligned")
     << (deterministic ? " deterministic" : "");
  return os.str();
}

const std::vector<ConvAlgo>* ConvAlgoCache::find(const ConvKey& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

const std::vector<ConvAlgo>& ConvAlgoCache::insert(const ConvKey& key,
                                                   std::vector<ConvAlgo> ranked) {
  ++measurements_;
  auto& slot = entries_[key];
  slot = std::move(ranked);
  return slot;
}

std::string ConvAlgoCache::summary() const {
  std::ostringstream os;
  for (const auto& [key, ranked] : entries_) {
    os << key.str() << ": ";
    if (ranked.empty()) {
      os << "no usable algorithm\n";
      continue;
    }
    const ConvAlgo& a = ranked.front();
    os << "algo " << a.algo << ", math " << static_cast<int>(a.math) << ", workspace "
       << a.workspace << " B, " << a.time_ms << " ms (" << ranked.size() << " candidates)\n";
  }
  return os.str();
}

}  // namespace tl::cuda
