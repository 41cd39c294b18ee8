// SPDX-License-Identifier: GPL-3.0-or-later
// --flows: one JSON object per flow (JSON Lines), shared by every worker.
#pragma once

#include "ctlabeld/common/json_text.hpp"

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/classify/flow_view.hpp"
#include "ctlabeld/common/expected.hpp"

namespace ctlabeld::app {

struct FlowLine {
  const classify::FlowView* flow;  // its verdict and iface included
  std::vector<std::string> actions;
  std::vector<std::string> labels;
};

// Appends `line` as one JSON object (no trailing newline) to `out`.
void format_flow_json(const FlowLine& line, std::string& out);
using ctlabeld::append_json_string;  // common/json_text.hpp
using ctlabeld::append_tuple_json;

class FlowOutput {
 public:
  // "-" is stdout.
  static Expected<std::unique_ptr<FlowOutput>> open(const std::string& path);
  ~FlowOutput();
  // Writes one complete line; safe from several threads. After the first failed write (disk
  // full, closed pipe) nothing more is written: finish() reports it.
  void write(const std::string& json_line);
  void flush();
  // Flushes and closes (a file) or flushes (stdout), checking every result. A failure names the
  // output, the error and how many lines were written before it.
  [[nodiscard]] Status finish();

 private:
  FlowOutput(std::FILE* f, bool owned, std::string name)
      : file_(f), owned_(owned), name_(std::move(name)) {}
  void fail(int err);  // with mutex_ held
  std::mutex mutex_;
  std::FILE* file_;
  bool owned_;
  std::string name_;
  std::uint64_t lines_ = 0;
  int error_ = 0;  // errno of the first failure
};

}  // namespace ctlabeld::app
