// SPDX-License-Identifier: GPL-3.0-or-later
// The control socket's commands, answered from snapshots and from the workers' own threads.
#include "control_handler.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/fmt/fmt.h>

#include "ctlabeld/actions/criteria.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/common/icmp.hpp"
#include "flow_output.hpp"

#ifndef CTLABELD_VERSION
#define CTLABELD_VERSION "0.0.0"
#endif

namespace ctlabeld::app {

namespace {

using Json = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Json& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void key_str(Json& w, const char* key, std::string_view s) {
  w.Key(key);
  str(w, s);
}
void key_u64(Json& w, const char* key, std::uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string proto_name(std::uint8_t p) {
  switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return std::to_string(p);
  }
}

std::string endpoint(const Address& a, std::uint8_t version, std::uint16_t port) {
  const std::string ip = to_string(a, version);
  return version == 6 ? "[" + ip + "]:" + std::to_string(port) : ip + ":" + std::to_string(port);
}

std::string flow_name(const classify::FlowView& f) {
  const FlowTuple& t = f.tuple;
  return proto_name(t.ip_protocol) + " " + endpoint(t.src, t.ip_version, t.src_port) + " -> " +
         endpoint(t.dst, t.ip_version, t.dst_port);
}

// Seconds since the flow's first packet. Live packet times are the wall clock; a flow read from
// a file (whose times lie in the past) gets its span, first to last packet, instead.
double age_of(const classify::FlowView& f) {
  const auto now_us =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const bool live = now_us >= f.last_seen_us && now_us - f.last_seen_us < 86400ULL * 1000000;
  const std::uint64_t until = live ? now_us : f.last_seen_us;
  return until > f.first_seen_us ? static_cast<double>(until - f.first_seen_us) / 1e6 : 0.0;
}

actions::CompileContext criteria_context(std::vector<std::string>* warnings) {
  actions::CompileContext c(&classify::risk_bit_by_name);
  c.warnings = warnings;
  return c;
}

Expected<actions::Criteria> compile_request_criteria(const std::string& text,
                                                     std::vector<std::string>* warnings) {
  return actions::compile_criteria(text, "criteria", criteria_context(warnings));
}

// A labels array from the rule set's names for `bits`.
void labels_json(Json& w, const actions::RuleSet* rules, const LabelBits& bits) {
  w.StartArray();
  if (rules != nullptr) {
    for (const auto& n : rules->label_names(bits)) str(w, n);
  } else {
    for (unsigned b = 0; b < bits.size(); ++b) {
      if (bits.test(b)) str(w, "bit" + std::to_string(b));
    }
  }
  w.EndArray();
}

std::size_t count_true(const std::vector<bool>& v) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), true));
}

// Marks and sinks applied, for `flows` and `explain`: the sinks by the targets that name them.
void applied_json(Json& w, const actions::RuleSet* rules, const enforce::Applied& a) {
  w.Key("mark");
  if (a.mark != 0) {
    str(w, fmt::format("0x{:x}", a.mark));
  } else {
    w.Null();
  }
  w.Key("sets");
  w.StartArray();
  for (const SinkRef& ref : a.sinks) {
    bool named = false;
    if (rules != nullptr) {
      for (const auto& t : rules->parts().targets) {
        if ((t.sinks[0] && *t.sinks[0] == ref) || (t.sinks[1] && *t.sinks[1] == ref)) {
          str(w, t.name);
          named = true;
        }
      }
    }
    if (!named) str(w, fmt::format("sink {}:{}", ref.writer, ref.handle));
  }
  w.EndArray();
}

}  // namespace

std::vector<bool> ControlHandler::ask_workers(
    const std::function<std::shared_ptr<WorkerTask>(std::size_t)>& make) {
  std::vector<std::shared_ptr<WorkerTask>> tasks;
  for (std::size_t i = 0; i < ctx_.workers.size(); ++i) {
    tasks.push_back(make(i));
    ctx_.workers[i]->post(tasks.back());
  }
  const auto deadline = std::chrono::steady_clock::now() + ctx_.worker_timeout;
  std::vector<bool> answered;
  for (auto& t : tasks) answered.push_back(t->wait_until(deadline));
  return answered;
}

control::Reply ControlHandler::status() {
  const StatsReport r = ctx_.report();
  const ConfigState config = ctx_.config();
  const auto now = std::chrono::system_clock::now();
  rapidjson::StringBuffer buf;
  Json w(buf);
  w.StartObject();
  key_str(w, "version", CTLABELD_VERSION);
  key_u64(w, "pid", static_cast<std::uint64_t>(::getpid()));
  key_str(w, "started", iso_time(ctx_.started));
  w.Key("uptime_s");
  w.Uint64(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - ctx_.started).count()));
  key_str(w, "mode", ctx_.dry_run ? "dry run (no labels written)" : "writing conntrack labels");
  key_str(w, "config_file", config.file.empty() ? std::string("(none)") : config.file);
  key_str(w, "config_loaded", config.file.empty() ? std::string("-") : iso_time(config.loaded_at));
  key_u64(w, "reloads", r.reloads);
  key_u64(w, "reload_failures", r.reload_failures);
  w.Key("warnings");
  w.StartArray();
  for (const auto& x : config.warnings) str(w, x);
  w.EndArray();
  key_u64(w, "workers", r.workers.size());
  CounterValues sum{};
  for (const auto& wk : r.workers) {
    for (std::size_t i = 0; i < kWorkerCounterCount; ++i) sum[i] += wk.counters[i];
  }
  w.Key("flows");
  w.StartObject();
  key_u64(w, "active", value_of(sum, WorkerCounter::kFlowsActive));
  key_u64(w, "created", value_of(sum, WorkerCounter::kFlowsCreated));
  key_u64(w, "classified", value_of(sum, WorkerCounter::kVerdicts));
  key_u64(w, "label_updates", value_of(sum, WorkerCounter::kLabelUpdates));
  w.EndObject();
  w.Key("sources");
  w.StartArray();
  for (const auto& s : r.sources) {
    w.StartObject();
    key_str(w, "name", s.name);
    w.Key("up");
    w.Bool(s.up);
    key_u64(w, "packets", s.frames);
    key_u64(w, "bytes", s.bytes);
    key_u64(w, "dropped_queue_full", s.queue_full);
    key_u64(w, "dropped_kernel", s.kernel_drops);
    key_u64(w, "dropped_interface", s.if_drops);
    w.EndObject();
  }
  w.EndArray();
  w.Key("writers");
  w.StartObject();
  if (r.writer) {
    w.Key("conntrack");
    w.StartObject();
    r.writer->for_each_counter([&](std::string_view name, std::uint64_t v) {
      w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
      w.Uint64(v);
    });
    w.EndObject();
  }
  if (!r.sinks.empty()) {
    w.Key("sinks");
    w.StartArray();
    for (const SinkCounters& k : r.sinks) {
      w.StartObject();
      key_str(w, "sink", k.name);
      key_u64(w, "writes", k.writes);
      key_u64(w, "errors", k.errors);
      key_u64(w, "present", k.present);
      key_u64(w, "dropped", k.dropped);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  w.Key("actions");
  w.StartArray();
  for (const auto& [name, f] : action_figures(r)) {
    w.StartObject();
    key_str(w, "action", name);
    for (std::size_t i = 0; i < kActionFigureCount; ++i) {
      const auto& info = kActionFigureInfo[i];
      w.Key(info.name.data(), static_cast<rapidjson::SizeType>(info.name.size()));
      if (static_cast<ActionFigure>(i) == ActionFigure::kLastMatch) {
        str(w, f[i] == 0 ? std::string("never")
                         : iso_time(std::chrono::system_clock::time_point(
                               std::chrono::seconds(static_cast<std::int64_t>(f[i])))));
      } else {
        w.Uint64(f[i]);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  if (server_ != nullptr) {
    const control::ServerCounters c = server_->counters();
    w.Key("control");
    w.StartObject();
    key_u64(w, "clients", c.clients);
    key_u64(w, "accepted", c.accepted);
    key_u64(w, "requests", c.requests);
    key_u64(w, "bad_requests", c.bad_requests);
    key_u64(w, "refused_too_many", c.refused_too_many);
    key_u64(w, "dropped_slow", c.dropped_slow);
    key_u64(w, "timed_out", c.timed_out);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

control::Reply ControlHandler::flows(const std::optional<std::string>& criteria,
                                     std::size_t limit) {
  std::shared_ptr<actions::Criteria> filter;
  if (criteria) {
    auto compiled = compile_request_criteria(*criteria, nullptr);
    if (!compiled) return control::Reply::failure(compiled.errors());
    filter = std::make_shared<actions::Criteria>(std::move(compiled.value()));
  }
  struct Part {
    std::vector<std::string> rows;
    std::size_t bytes = 0;
    std::uint64_t matching = 0;
  };
  // A reply larger than a client's buffer would be refused: rows stop there, on each worker
  // and in the merge, and the reply says it was cut.
  constexpr std::size_t kBudget = defaults::kControlClientOutputBytes - 4096;
  std::vector<std::shared_ptr<Part>> parts;
  const std::vector<bool> answered = ask_workers([&](std::size_t) {
    auto part = std::make_shared<Part>();
    parts.push_back(part);
    auto task = std::make_shared<WorkerTask>();
    auto rules = std::make_shared<const actions::RuleSet*>(nullptr);
    task->begin = [rules](const actions::RuleSet* r, actions::SysSeconds) { *rules = r; };
    task->flow = [part, rules, filter, limit](const classify::FlowView& flow,
                                              const WorkerTask::FlowState& st) {
      static const actions::LocalNetworks kNone;
      const actions::RuleSet* r = *rules;
      if (filter && !filter->matches(flow, r != nullptr ? r->local_networks() : kNone)) return;
      ++part->matching;
      if (part->rows.size() >= limit || part->bytes >= kBudget) return;
      rapidjson::StringBuffer b;
      Json w(b);
      w.StartObject();
      key_str(w, "flow", flow_name(flow));
      key_str(w, "app", st.classified ? flow.verdict->app : std::string_view("(classifying)"));
      key_str(w, "protocol", flow.verdict->protocol);
      key_str(w, "hostname", flow.verdict->hostname);
      key_str(w, "detected_by", flow.verdict->detected_by);
      w.Key("actions");
      w.StartArray();
      if (st.actions != nullptr && r != nullptr) {
        for (const auto a : *st.actions) str(w, r->action_name(a));
      }
      w.EndArray();
      w.Key("labels");
      labels_json(w, r, st.applied.labels);
      applied_json(w, r, st.applied);
      key_u64(w, "packets", flow.packets);
      key_u64(w, "bytes", flow.bytes);
      w.Key("age_s");
      w.Double(age_of(flow));
      key_str(w, "iface", flow.iface);
      w.EndObject();
      part->rows.emplace_back(b.GetString(), b.GetSize());
      part->bytes += b.GetSize() + 1;
    };
    return task;
  });
  // Parts are read only from workers that answered: a late one may still be writing its own.
  std::string rows;
  std::uint64_t matching = 0;
  std::size_t shown = 0;
  bool truncated = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!answered[i]) continue;
    const auto& p = parts[i];
    matching += p->matching;
    for (const auto& row : p->rows) {
      if (shown >= limit || rows.size() + row.size() + 1 > kBudget) {
        truncated = shown < limit;
        break;
      }
      if (!rows.empty()) rows += ',';
      rows += row;
      ++shown;
    }
  }
  std::string out = R"({"flows":[)" + rows + "]";
  out += fmt::format(R"(,"shown":{},"matching":{},"workers_answered":"{} of {}")", shown, matching,
                     count_true(answered), ctx_.workers.size());
  if (truncated) {
    out += fmt::format(
        R"(,"note":"cut at {} KiB, a client's buffer; narrow it with criteria or --limit")",
        kBudget / 1024);
  }
  out += '}';
  return out;
}

control::Reply ControlHandler::explain(const control::ExplainTarget& target) {
  struct Part {
    std::vector<std::string> flows;
  };
  std::vector<std::shared_ptr<Part>> parts;
  constexpr std::size_t kMaxExplained = 20;
  const std::vector<bool> answered = ask_workers([&](std::size_t) {
    auto part = std::make_shared<Part>();
    parts.push_back(part);
    auto task = std::make_shared<WorkerTask>();
    struct Ctx {
      const actions::RuleSet* rules = nullptr;
      actions::SysSeconds now{};
    };
    auto ctx = std::make_shared<Ctx>();
    task->begin = [ctx](const actions::RuleSet* r, actions::SysSeconds now) {
      ctx->rules = r;
      ctx->now = now;
    };
    task->flow = [part, ctx, target](const classify::FlowView& flow,
                                     const WorkerTask::FlowState& st) {
      const FlowTuple& t = flow.tuple;
      if (!control::explain_matches(target, t.ip_protocol, t.src, t.src_port, t.dst, t.dst_port))
        return;
      if (part->flows.size() >= kMaxExplained) return;
      const actions::RuleSet* rules = ctx->rules;
      rapidjson::StringBuffer b;
      Json w(b);
      // {"<flow>":{...}}: a member of the reply's "flows" object, so each flow is a section.
      w.StartObject();
      w.Key(flow_name(flow).c_str());
      w.StartObject();
      key_str(w, "app", st.classified ? flow.verdict->app : std::string_view("(classifying)"));
      key_str(w, "protocol", flow.verdict->protocol);
      key_str(w, "hostname", flow.verdict->hostname);
      key_str(w, "detected_by", flow.verdict->detected_by);
      key_u64(w, "packets", flow.packets);
      w.Key("labels_applied");
      labels_json(w, rules, st.applied.labels);
      applied_json(w, rules, st.applied);
      if (rules == nullptr) {
        key_str(w, "rules", "none loaded");
        w.EndObject();
        w.EndObject();
        part->flows.emplace_back(b.GetString() + 1, b.GetSize() - 2);  // without the braces
        return;
      }
      const actions::RuleTrace trace = rules->explain(flow, ctx->now);
      if (!trace.exemption.empty()) key_str(w, "exempt", trace.exemption);
      if (!st.classified) {
        key_str(w, "note",
                "no verdict yet: the rules are evaluated at the verdict; this shows them on what "
                "is known now");
      }
      w.Key("actions");
      w.StartArray();
      for (const auto& a : trace.actions) {
        w.StartObject();
        key_str(w, "action", a.name);
        key_str(w, "outcome", a.outcome);
        std::string decided, seen, criteria;
        std::vector<std::string> steps;
        for (const auto& [text, ct] : a.criteria) {
          if (!criteria.empty()) criteria += " | ";
          criteria += text;
          for (const auto& s : ct.steps) {
            steps.push_back(s.expression + " -> " + (s.result ? "true" : "false") + " (" + s.seen +
                            ")");
          }
          if (!ct.steps.empty()) {
            const auto& d = ct.steps[ct.deciding];
            decided = d.expression + " is " + (d.result ? "true" : "false");
            seen = d.seen;
          }
        }
        key_str(w, "criteria", criteria.empty() ? std::string("-") : criteria);
        key_str(w, "decided_by", decided.empty() ? std::string("-") : decided);
        key_str(w, "seen", seen.empty() ? std::string("-") : seen);
        if (!a.exemption.empty()) key_str(w, "exemption", a.exemption);
        if (!a.window.empty()) key_str(w, "time_of_day", a.window);
        w.Key("evaluated");
        w.StartArray();
        for (const auto& s : steps) str(w, s);
        w.EndArray();
        std::string targets;
        for (const auto& tt : a.targets) {
          if (!targets.empty()) targets += "; ";
          std::string state;
          if (!a.matched) {
            state = "not applied: the action did not match";
          } else if (!tt.active) {
            state = tt.wish;
          } else {
            // Applied when every part of its wish is in the enforcer's applied state.
            const auto& ap = st.applied;
            const bool on = (ap.labels & tt.bits) == tt.bits &&
                            (ap.mark & tt.mark_mask) == tt.mark &&
                            (!tt.sink || std::find(ap.sinks.begin(), ap.sinks.end(), *tt.sink) !=
                                             ap.sinks.end());
            state = tt.wish + (on ? ": applied" : ": not applied yet (waiting for the writer)");
          }
          targets += tt.name + " (" + tt.type + "): " + state;
        }
        key_str(w, "targets", targets.empty() ? std::string("-") : targets);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      w.EndObject();
      part->flows.emplace_back(b.GetString() + 1, b.GetSize() - 2);  // without the braces
    };
    return task;
  });
  std::string flows;
  std::size_t n = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!answered[i]) continue;
    for (const auto& f : parts[i]->flows) {
      if (!flows.empty()) flows += ',';
      flows += f;
      ++n;
    }
  }
  if (n == 0) {
    return control::Reply::failure(
        fmt::format("no live flow matches (searched {} of {} workers); check the address and "
                    "port, or list flows with: ctlabeld ctl flows",
                    count_true(answered), ctx_.workers.size()));
  }
  return fmt::format(R"({{"flows":{{{}}},"explained":{},"workers_answered":"{} of {}"}})", flows, n,
                     count_true(answered), ctx_.workers.size());
}

control::Reply ControlHandler::reload() {
  const ReloadResult r = ctx_.reload();
  if (!r.ok) {
    Errors errors = r.errors;
    errors.push_back("reload of " + r.file + " failed with " + std::to_string(r.errors.size()) +
                     " error(s); the previous rules stay in force");
    for (const auto& w : r.warnings) errors.push_back("warning: " + w);
    return control::Reply::failure(std::move(errors));
  }
  rapidjson::StringBuffer buf;
  Json w(buf);
  w.StartObject();
  key_str(w, "reloaded", r.file);
  key_u64(w, "actions", r.actions);
  w.Key("warnings");
  w.StartArray();
  for (const auto& x : r.warnings) str(w, x);
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

control::Reply ControlHandler::watch(unsigned slot, const std::optional<std::string>& criteria) {
  std::optional<actions::Criteria> filter;
  if (criteria) {
    auto compiled = compile_request_criteria(*criteria, nullptr);
    if (!compiled) return control::Reply::failure(compiled.errors());
    filter = std::move(compiled.value());
  }
  if (ctx_.watch == nullptr) return control::Reply::failure("watch is not available");
  ctx_.watch->set(slot, std::move(filter));
  rapidjson::StringBuffer buf;
  Json w(buf);
  w.StartObject();
  key_str(w, "watching", criteria ? *criteria : std::string("every flow"));
  key_str(w, "events", "verdict, effect_applied, effect_cleared, flow_end");
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void ControlHandler::unwatch(unsigned slot) noexcept {
  try {
    if (ctx_.watch != nullptr) ctx_.watch->set(slot, std::nullopt);
  } catch (...) {
    // Out of memory: the slot keeps its old filter until reused (its events go nowhere).
  }
}

}  // namespace ctlabeld::app
