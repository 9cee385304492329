#include "core/error.h"

namespace osprey {

void rethrow_with_context(const std::exception& e, const std::string& context) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) {
    throw Error(err->kind(), context + ": " + err->what());
  }
  throw Error(ErrorKind::kInternal, context + ": " + e.what());
}

}  // namespace osprey
