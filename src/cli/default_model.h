// The model a command uses when none is named: the demo model trained by tools/train-demo-model and
// committed under models/osprey-kjv-demo.
#pragma once

#include <string>

namespace osprey::cli {

inline constexpr const char* kDefaultModelName = "osprey-kjv-demo";

// The demo model's folder: models/osprey-kjv-demo next to the binary's build folder
// (build/<dir>/osprey
// -> ../../models, the repository's layout), or else under the current directory. Throws Error(kIo)
// naming the places it looked when neither holds it.
std::string default_model_path();

}  // namespace osprey::cli
