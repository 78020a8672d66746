// A fixture for LayeringCheckCatchesAnUpwardInclude: a kernel that includes
// the engine, which tests/check_layering.cmake must refuse.
#include "engine/tensor.h"
