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
  // False when the pattern does not match, and also when the search would exceed the step
  // budget left (see FlowBudget): that search counts as no match and budget_exceeded() grows.
  [[nodiscard]] bool search(std::string_view text) const noexcept;
  [[nodiscard]] const std::string& pattern() const noexcept { return pattern_; }

  // Cost. The VM advances every live thread once per text byte and a program of n instructions
  // has at most n threads, so one search costs at most (len + 1) * n steps: the worst case is
  // known from the compiled size alone.
  [[nodiscard]] std::size_t instructions() const noexcept { return program_.size(); }
  [[nodiscard]] std::uint64_t worst_case_steps(std::size_t text_len) const noexcept {
    return (static_cast<std::uint64_t>(text_len) + 1) * program_.size();
  }
  // The longest text a criteria regex sees: a host name (nDPI 4.2 keeps 79 bytes of it).
  static constexpr std::size_t kMaxTextBytes = 80;
  // Steps one flow's evaluation may spend in regexes, all of them together (about 50 us on this
  // project's VM; real patterns use a few hundred), and the worst-case cost of one regex above
  // which --check warns: one that could spend the whole budget alone (about 50 instructions).
  static constexpr std::uint64_t kStepsPerFlow = 4096;
  static constexpr std::uint64_t kWarnSteps = kStepsPerFlow;

  // While one lives on a thread, every search on that thread draws on one budget of
  // kStepsPerFlow steps (RuleSet::evaluate opens one per flow). Without one, each search has
  // its own budget.
  class FlowBudget {
   public:
    FlowBudget() noexcept;
    ~FlowBudget();
    FlowBudget(const FlowBudget&) = delete;
    FlowBudget& operator=(const FlowBudget&) = delete;
  };
  // Searches cut short by the budget since start, over all threads.
  [[nodiscard]] static std::uint64_t budget_exceeded() noexcept;

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
