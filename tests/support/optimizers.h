// Optimisers the tests build the same way: Adam (lr 1e-3, Keras's other
// defaults) over every parameter of a model, in one group.
#pragma once

#include <memory>
#include <vector>

#include "engine/optimizer.h"
#include "layers/module.h"

namespace tl::test {

inline std::unique_ptr<Adam> make_adam(Module& model) {
  AdamGroup group;
  for (auto& nt : model.named_parameters()) group.params.push_back(nt.tensor);
  group.hyper.lr = 1e-3f;
  return std::make_unique<Adam>(std::vector<AdamGroup>{group});
}

}  // namespace tl::test
