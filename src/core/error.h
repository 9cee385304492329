// Errors that carry context: every failure names what it was doing ("model.safetensors: tensor 'x'
// ..."). Inside the engine errors are exceptions; the CLI maps them to exit code 2 and the server
// to HTTP errors.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace osprey {

enum class ErrorKind {
  kInvalidInput,  // malformed file, bad parameter, bad request: the user can fix it
  kUnsupported,   // well-formed but not implemented (unknown architecture, dtype, component)
  kIo,            // file missing or unreadable
  kInternal,      // a bug in Osprey
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void invalid_input(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::kInvalidInput, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void unsupported(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::kUnsupported, fmt::format(f, std::forward<Args>(args)...));
}

// Re-throws `e` with `context` prepended, keeping its kind: "file.gguf: <original message>".
[[noreturn]] void rethrow_with_context(const std::exception& e, const std::string& context);

}  // namespace osprey

#define OSPREY_CHECK(cond, ...)                                               \
  do {                                                                        \
    if (!(cond)) ::osprey::fail(::osprey::ErrorKind::kInternal, __VA_ARGS__); \
  } while (0)
