// SPDX-License-Identifier: GPL-3.0-or-later
// JSON Lines for --flows. Written by hand: one flat object, and the escaping is the only care.
#include "flow_output.hpp"

#include <cerrno>
#include <cstring>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "ctlabeld/common/file_policy.hpp"

namespace ctlabeld::app {

namespace {

// "key":"value", (the value escaped)
void key_string(std::string& out, std::string_view key, std::string_view value) {
  append_json_member(key, value, out);
}

void key_array(std::string& out, std::string_view key, const std::vector<std::string>& values) {
  out += '"';
  out += key;
  out += "\":[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out += ',';
    out += '"';
    append_json_string(values[i], out);
    out += '"';
  }
  out += "],";
}

std::string seconds(std::uint64_t us) {
  return fmt::format("{}.{:06d}", us / 1000000, us % 1000000);
}

}  // namespace

void format_flow_json(const FlowLine& line, std::string& out) {
  const classify::FlowView& r = *line.flow;
  const classify::Verdict& v = *r.verdict;
  const FlowTuple& t = r.tuple;
  out += '{';
  append_tuple_json(t, out);
  key_string(out, "app", v.app);
  key_string(out, "protocol", v.protocol);
  key_string(out, "category", v.category);
  key_string(out, "hostname", v.hostname);
  key_string(out, "confidence", v.confidence);
  key_string(out, "detected_by", v.detected_by);
  fmt::format_to(std::back_inserter(out), "\"guessed\":{},\"risk_score\":{},", v.guessed,
                 v.risk_score);
  key_string(out, "iface", r.iface);
  fmt::format_to(std::back_inserter(out),
                 "\"packets\":{},\"bytes\":{},\"first_seen\":{},\"last_seen\":{},", r.packets,
                 r.bytes, seconds(r.first_seen_us), seconds(r.last_seen_us));
  key_array(out, "actions", line.actions);
  key_array(out, "labels", line.labels);
  out.back() = '}';
}

Expected<std::unique_ptr<FlowOutput>> FlowOutput::open(const std::string& path) {
  if (path == "-") return std::unique_ptr<FlowOutput>(new FlowOutput(stdout, false, "stdout"));
  // Through the file policy: a link planted at the path is not followed into another file.
  auto fd = files::open_write(path, "--flows");
  if (!fd) {
    return Expected<std::unique_ptr<FlowOutput>>::failure(
        fd.errors().front() +
        "; check the directory exists and is writable, or use '-' for stdout");
  }
  std::FILE* f = ::fdopen(fd->get(), "w");
  if (f == nullptr) {
    return Expected<std::unique_ptr<FlowOutput>>::failure("--flows " + path +
                                                          ": fdopen: " + std::strerror(errno));
  }
  (void)fd->release();  // the FILE owns it now
  return std::unique_ptr<FlowOutput>(new FlowOutput(f, true, path));
}

FlowOutput::~FlowOutput() {
  if (file_ != nullptr) (void)finish();
}

void FlowOutput::fail(int err) {
  if (error_ != 0) return;
  error_ = err != 0 ? err : EIO;
  spdlog::error("--flows {}: write failed after {} line(s): {}; no more flows are written", name_,
                lines_, std::strerror(error_));
}

void FlowOutput::write(const std::string& json_line) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_ != 0 || file_ == nullptr) return;
  errno = 0;
  if (std::fwrite(json_line.data(), 1, json_line.size(), file_) != json_line.size() ||
      std::fputc('\n', file_) == EOF) {
    fail(errno);
    return;
  }
  ++lines_;
}

void FlowOutput::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_ == nullptr) return;
  errno = 0;
  if (std::fflush(file_) != 0) fail(errno);
}

Status FlowOutput::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_ != nullptr) {
    errno = 0;
    if (std::fflush(file_) != 0 || std::ferror(file_) != 0) fail(errno);
    if (owned_) {
      errno = 0;
      if (std::fclose(file_) != 0) fail(errno);
    }
    file_ = nullptr;
  }
  if (error_ != 0) {
    return Status::failure("--flows " + name_ + ": write failed after " + std::to_string(lines_) +
                           " line(s): " + std::strerror(error_) +
                           "; the output holds only part of them (free space, or write elsewhere)");
  }
  return ok_status();
}

}  // namespace ctlabeld::app
