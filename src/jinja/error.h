// Template errors, named like Jinja2's exceptions ("UndefinedError: 'x' is undefined") so that a
// message can be compared with what Jinja2 says, plus the template line where we know it.
#pragma once

#include <string>

#include "core/error.h"

namespace osprey::jinja {

class TemplateError : public Error {
 public:
  TemplateError(std::string type, std::string message, int line = 0)
      : Error(ErrorKind::kInvalidInput, compose(type, message, line)),
        type_(std::move(type)),
        message_(std::move(message)),
        line_(line) {}
  const std::string& type() const { return type_; }
  const std::string& message() const { return message_; }
  int line() const { return line_; }
  TemplateError with_line(int line) const { return TemplateError(type_, message_, line); }

 private:
  static std::string compose(const std::string& type, const std::string& message, int line) {
    std::string s = type + ": " + message;
    if (line > 0) s += " (template line " + std::to_string(line) + ")";
    return s;
  }
  std::string type_, message_;
  int line_;
};

[[noreturn]] inline void raise(std::string type, std::string message) {
  throw TemplateError(std::move(type), std::move(message));
}
[[noreturn]] inline void type_error(std::string message) {
  raise("TypeError", std::move(message));
}

}  // namespace osprey::jinja
