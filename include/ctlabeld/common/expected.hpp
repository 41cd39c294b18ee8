// SPDX-License-Identifier: GPL-3.0-or-later
// A value or a list of errors: start-up and configuration paths return this (C++20 has no
// std::expected). Every message is complete on its own: where, what, and how to fix it.
#pragma once

#include <cassert>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ctlabeld {

using Errors = std::vector<std::string>;

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  static Expected failure(Errors errors) {
    assert(!errors.empty());
    return Expected(std::move(errors), 0);
  }
  static Expected failure(std::string error) { return failure(Errors{std::move(error)}); }

  [[nodiscard]] bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  [[nodiscard]] const Errors& errors() const noexcept { return errors_; }
  // All errors joined one per line, for printing.
  [[nodiscard]] std::string error_text() const {
    std::string out;
    for (const auto& e : errors_) {
      out += e;
      out += '\n';
    }
    return out;
  }

 private:
  Expected(Errors errors, int) : errors_(std::move(errors)) {}
  std::optional<T> value_;
  Errors errors_;
};

// For operations that produce no value.
struct Unit {};
using Status = Expected<Unit>;
inline Status ok_status() { return Status(Unit{}); }

// Runs `step(i)` (returning a Status) for every i below `count` and returns all their errors
// together: one failure stops none of the others and hides none of their messages.
template <typename Step>
Status run_all(std::size_t count, Step step) {
  Errors errors;
  for (std::size_t i = 0; i < count; ++i) {
    if (auto done = step(i); !done) {
      errors.insert(errors.end(), done.errors().begin(), done.errors().end());
    }
  }
  if (!errors.empty()) return Status::failure(std::move(errors));
  return ok_status();
}

}  // namespace ctlabeld
