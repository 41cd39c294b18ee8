// SPDX-License-Identifier: GPL-3.0-or-later
// A small case-insensitive regular-expression engine for 'rx:' criteria: compiled once at load
// to a Pike VM program and matched without allocating or locking. glibc's regexec allocates per
// call and serialises threads on a lock inside regex_t; std::regex allocates too — neither fits
// an evaluation that must allocate nothing on every worker at once.
//
// Syntax (POSIX extended, the subset that flow criteria use): literals, '.', '[...]' and
// '[^...]' with ranges and [:alpha:]-style classes, '^', '$', '*', '+', '?', '{m}', '{m,}',
// '{m,n}', '|', '(...)', and the escapes \. \d \D \w \W \s \S. Matching is a search (like
// regexec): the pattern may match anywhere unless anchored. No back-references.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ctlabeld::actions {

class Regex {
 public:
  // Largest compiled program; bounds the VM's on-stack thread lists.
  static constexpr std::size_t kMaxInstructions = 1024;

  // On failure returns false and sets `error` to a message naming the problem and its offset.
  [[nodiscard]] bool compile(std::string_view pattern, std::string& error);
  [[nodiscard]] bool search(std::string_view text) const noexcept;
  [[nodiscard]] const std::string& pattern() const noexcept { return pattern_; }

  enum class Op : std::uint8_t { kChar, kAny, kClass, kSplit, kJmp, kBol, kEol, kMatch };
  struct Inst {
    Op op = Op::kMatch;
    unsigned char ch = 0;  // kChar: lowercase byte
    std::uint16_t x = 0;   // kSplit/kJmp target; kClass: class index
    std::uint16_t y = 0;   // kSplit second target
  };

 private:
  std::string pattern_;
  std::vector<Inst> program_;
  std::vector<std::bitset<256>> classes_;
};

}  // namespace ctlabeld::actions
