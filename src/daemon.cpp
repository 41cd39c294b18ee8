// SPDX-License-Identifier: GPL-3.0-or-later
// Daemon wiring: config -> writer -> workers -> pipeline, and the main thread's signal loop.
#include "daemon.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <cstring>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/capture/source.hpp"
#include "ctlabeld/classify/app_rules.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/conntrack/label_map.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"
#include "pipeline.hpp"
#include "privileges.hpp"
#include "rules_holder.hpp"
#include "sd_notify.hpp"
#include "stats.hpp"
#include "writers.hpp"

namespace ctlabeld::app {

namespace {

using Clock = std::chrono::steady_clock;

void setup_logging(const std::string& level_name) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("ctlabeld", sink);
  // Under systemd the journal stamps every line: no second timestamp.
  const bool journal =
      std::getenv("JOURNAL_STREAM") != nullptr || std::getenv("INVOCATION_ID") != nullptr;
  logger->set_pattern(journal ? "%l: [%n] %v" : "%Y-%m-%d %H:%M:%S.%e %l: [%n] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
  if (!level_name.empty()) spdlog::set_level(spdlog::level::from_str(level_name));
}

bool valid_level(const std::string& name) {
  return name.empty() || name == "off" || spdlog::level::from_str(name) != spdlog::level::off;
}

Expected<std::unique_ptr<LabelResolver>> make_resolver(const std::string& path, unsigned max_bits) {
  std::string notice;
  auto map = conntrack::LabelMap::load(path, max_bits, &notice);
  if (!map) return Expected<std::unique_ptr<LabelResolver>>::failure(map.errors());
  if (!notice.empty()) spdlog::info("{}", notice);
  return std::unique_ptr<LabelResolver>(std::move(map.value()));
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A classifier rule file: the command line's, else the config's, else the installed default when
// it exists. "" (or "none" on the command line) turns the file off.
std::string rule_file(const std::optional<std::string>& option,
                      const std::optional<std::string>& setting, const char* installed) {
  if (option) return *option == "none" ? std::string() : *option;
  if (setting) return *setting;
  return file_exists(installed) ? std::string(installed) : std::string();
}

// The loader reads the file through the file policy: one open, checked on its descriptor (owner,
// mode, regular file, size), so a file others could have written is refused. --strict, and
// nDPI's own names for the name checks (with --protos, else the file's).
// `sinks`: where sink targets are bound (the daemon's writers); null binds nothing (--check,
// and the first load at start-up, before the capabilities are dropped).
Expected<actions::LoadedConfig> load_config(const std::string& path, const Options& opt,
                                            SinkBinder* sinks = nullptr) {
  actions::LoadOptions options;
  options.strict = opt.strict;
  options.sinks = sinks;
  options.ndpi_names = [&opt](const std::optional<std::string>& protos_file) {
    actions::NdpiNames names;
    auto known =
        classify::known_names(rule_file(opt.protos_file, protos_file, defaults::kProtosFile));
    if (known) {
      names.protocols = std::move(known->protocols);
      names.categories = std::move(known->categories);
    }
    return names;  // a bad protos file is reported where the classifiers load it
  };
  return actions::load_config_file(path, make_resolver, classify::risk_bit_by_name, options);
}

// --check: what each capture source can tell the MAC criteria.
std::string mac_note(const std::string& source) {
  if (source.rfind("nflog:", 0) == 0) {
    return source +
           ": the sender's MAC only where the input device has one (NFLOG's hardware address); "
           "no destination MAC; iface_nfq_src/iface_nfq_dst from NFLOG's indev/outdev";
  }
  if (source == "any") {
    return source + ": no MAC addresses (Linux cooked capture); iface_nfq_src/dst unknown";
  }
  return source +
         ": both MACs on Ethernet links, none on raw-IP links (tun, wireguard, PPP); "
         "iface_nfq_src is " +
         source + ", iface_nfq_dst unknown";
}

void print_errors(const Errors& errors) {
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
}

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  return set;
}

// During start-up the signals are blocked (so SIGHUP or SIGUSR1 cannot kill the daemon before
// its loop runs: they wait for it); a SIGINT or SIGTERM already pending ends start-up here.
bool stop_requested() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  const timespec now{0, 0};
  const int sig = sigtimedwait(&stop, nullptr, &now);
  if (sig != SIGINT && sig != SIGTERM) return false;
  spdlog::info("received {} during start-up: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  return true;
}

// Every write to stdout checked: a --check summary cut short by a full disk is an error.
bool stdout_ok() { return std::fflush(stdout) == 0 && std::ferror(stdout) == 0; }

unsigned default_workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// What start-up decided before any thread exists.
struct Startup {
  std::string config_path;  // empty: no actions file (reading captures without -c)
  std::optional<actions::LoadedConfig> config;
  actions::DaemonSettings settings;  // the one settings struct: config keys, then the options
  bool live = false;
  std::vector<std::string> sources;  // interfaces, or the files to read
  HashSecrets secrets;               // keys of the flow tables' and the worker routing's hashes
  std::shared_ptr<const classify::AppRules> app_rules;  // null: none
  // Learned endpoints, one table for every worker: a client's STUN and its peer-to-peer flows
  // meet on different workers (they share an endpoint, not a host pair).
  std::shared_ptr<classify::EndpointTable> endpoints;
};

// Step 1: the actions file (the given one, else the default one if present; reading a capture
// needs none). Returns an exit status when start-up ends here (--check, errors).
std::optional<int> load_startup_config(const Options& opt, Startup& s) {
  s.config_path = opt.config_file;
  if (!opt.config_given && file_exists(defaults::kConfigFile) &&
      (opt.read_files.empty() || opt.check)) {
    s.config_path = defaults::kConfigFile;
  }
  if (s.config_path.empty() && (opt.check || opt.read_files.empty())) {
    std::fprintf(stderr,
                 "ctlabeld: no actions file: %s does not exist; pass one with -c FILE "
                 "(an example ships as etc/ctlabeld/actions.json)\n",
                 defaults::kConfigFile);
    return 1;
  }
  if (!s.config_path.empty()) {
    auto loaded = load_config(s.config_path, opt);
    if (!loaded) {
      print_errors(loaded.errors());
      std::fprintf(stderr, "ctlabeld: %s: %zu error(s); nothing was started\n",
                   s.config_path.c_str(), loaded.errors().size());
      return 1;
    }
    s.config = std::move(loaded.value());
    if (!opt.check) {
      for (const auto& w : s.config->warnings) spdlog::warn("{}", w);
    }
  }
  if (opt.check) {
    for (const auto& w : s.config->warnings) std::printf("warning: %s\n", w.c_str());
    if (!s.config->name_mappings.empty()) {
      std::printf("Netify names matched as nDPI's:\n");
      for (const auto& m : s.config->name_mappings) std::printf("  %s\n", m.c_str());
    }
    const auto& sources = opt.interfaces.empty() ? s.config->settings.interfaces : opt.interfaces;
    for (const auto& source : sources) std::printf("capture %s\n", mac_note(source).c_str());
    std::fputs(s.config->rules->summary().c_str(), stdout);
    // The application rules the daemon would load, checked as it would: syntax, then the
    // application names against nDPI.
    if (const std::string path = rule_file(opt.app_rules_file, s.config->settings.app_rules_file,
                                           defaults::kAppRulesFile);
        !path.empty()) {
      auto rules = classify::AppRules::load(path);
      if (!rules) {
        print_errors(rules.errors());
        return 1;
      }
      classify::ClassifierConfig ccfg;
      ccfg.max_flows = 1;
      ccfg.app_rules = rules.value();
      if (auto c = classify::Classifier::create(ccfg); !c) {
        print_errors(c.errors());
        return 1;
      }
      std::printf("%s: OK (%zu host names, %zu networks)\n", path.c_str(),
                  rules.value()->host_count(), rules.value()->network_count());
    }
    std::printf("%s: OK\n", s.config_path.c_str());
    if (!stdout_ok()) {
      std::fprintf(stderr, "ctlabeld: --check: writing the summary failed: %s\n",
                   std::strerror(errno));
      return 1;
    }
    return 0;
  }
  return std::nullopt;
}

// Step 2: the settings. The config's "ctlabeld" keys fill the struct; each command-line option
// overrides the field it names.
actions::DaemonSettings effective_settings(const Options& opt, const Startup& s) {
  actions::DaemonSettings settings = s.config ? s.config->settings : actions::DaemonSettings{};
  if (!opt.log_level.empty()) settings.log_level = opt.log_level;
  if (opt.workers) settings.workers = *opt.workers;
  if (opt.max_dpi_packets) settings.max_dpi_packets = *opt.max_dpi_packets;
  if (opt.max_flows) settings.max_flows = *opt.max_flows;
  settings.protos_file = rule_file(opt.protos_file, settings.protos_file, defaults::kProtosFile);
  settings.app_rules_file =
      rule_file(opt.app_rules_file, settings.app_rules_file, defaults::kAppRulesFile);
  if (!opt.stats_file.empty()) settings.stats_file = opt.stats_file;
  if (opt.stats_interval) settings.stats_interval = std::chrono::seconds(*opt.stats_interval);
  if (!opt.interfaces.empty()) settings.interfaces = opt.interfaces;
  if (settings.workers == 0) settings.workers = default_workers();
  return settings;
}

// The config's log level applies unless -l gave one (already set up by then).
void apply_config_log_level(const Options& opt, const Startup& s) {
  if (!opt.log_level.empty() || s.settings.log_level.empty()) return;
  if (!valid_level(s.settings.log_level)) {
    spdlog::error("{}: ctlabeld.log_level '{}' is not a log level; using info", s.config_path,
                  s.settings.log_level);
    return;
  }
  spdlog::set_level(spdlog::level::from_str(s.settings.log_level));
}

// Step 3: what to capture. False (after saying why) when there is nothing.
bool choose_sources(const Options& opt, Startup& s) {
  s.live = opt.read_files.empty();
  s.sources = s.live ? s.settings.interfaces : opt.read_files;
  if (s.live && s.sources.empty()) {
    std::fprintf(
        stderr,
        "ctlabeld: nothing to capture: give -i DEV (an interface, \"any\" or \"nflog:N\"), "
        "set \"ctlabeld\": {\"interfaces\": [...]} in %s, or read a file with -r FILE\n",
        s.config_path.c_str());
    return false;
  }
  return true;
}

// Step 3b: the hash secrets: random per start, so nobody can craft flows that collide in the
// flow tables or crowd onto one worker. --hash-seed fixes them (tests and benchmarks).
bool draw_hash_secrets(const Options& opt, Startup& s) {
  auto secrets = opt.hash_seed ? Expected<HashSecrets>(hash_secrets_from_seed(*opt.hash_seed))
                               : random_hash_secrets();
  if (!secrets) {
    print_errors(secrets.errors());
    return false;
  }
  if (opt.hash_seed && s.live) {
    spdlog::warn(
        "--hash-seed {}: the flow-hash secrets are fixed, so flows can be crafted to "
        "collide; use it for tests only",
        *opt.hash_seed);
  }
  s.secrets = secrets.value();
  return true;
}

// Step 3c: the application rules (classify/app_rules.hpp), shared by every worker.
bool load_app_rules(Startup& s) {
  const std::string path = s.settings.app_rules_file.value_or("");
  if (path.empty()) return true;
  auto loaded = classify::AppRules::load(path);
  if (!loaded) {
    print_errors(loaded.errors());
    return false;
  }
  s.app_rules = loaded.value();
  s.endpoints = std::make_shared<classify::EndpointTable>();
  spdlog::info("application rules: {} ({} host names, {} networks)", path,
               s.app_rules->host_count(), s.app_rules->network_count());
  return true;
}

// The learned-endpoint table is shared by the workers: its counters are reported once.
std::string endpoint_summary(const Startup& s) {
  if (!s.endpoints) return {};
  const classify::EndpointTableStats st = s.endpoints->stats();
  return fmt::format(
      "learned endpoints: learned {}  hits {}  evicted {}  contended {}  (table of {})\n",
      st.learned, st.hits, st.evicted, st.contended, s.endpoints->capacity());
}

// Step 4: the label writer and its start-up self-check (none in a dry run).
Expected<std::unique_ptr<conntrack::LabelWriter>> start_writer(bool dry_run) {
  if (dry_run) return std::unique_ptr<conntrack::LabelWriter>();
  auto started = conntrack::LabelWriter::start(conntrack::WriterOptions{});
  if (!started) return started;
  const conntrack::SelfCheck check = conntrack::self_check();
  if (!check.message.empty()) {
    if (check.labels_usable_known && !check.labels_usable)
      spdlog::warn("{}", check.message);
    else
      spdlog::info("{}", check.message);
  }
  return started;
}

classify::ClassifierConfig classifier_config(const Startup& s) {
  classify::ClassifierConfig c;
  c.max_dpi_packets = s.settings.max_dpi_packets;
  c.max_flows = s.settings.max_flows;
  c.tcp_idle = s.settings.tcp_idle;
  c.udp_idle = s.settings.udp_idle;
  c.other_idle = s.settings.other_idle;
  c.protos_file = s.settings.protos_file.value_or("");
  c.app_rules = s.app_rules;
  c.endpoints = s.endpoints;
  c.source_names = s.sources;
  c.hash_secret = s.secrets.flows;
  return c;
}

PipelineOptions pipeline_options(const Startup& s) {
  PipelineOptions p;
  p.live = s.live;
  p.routing_secret = s.secrets.routing;
  p.live_options.bpf_filter = s.settings.bpf_filter;
  p.live_options.promiscuous = s.settings.promiscuous;
  p.live_options.snaplen = s.settings.snaplen;
  p.live_options.buffer_bytes = s.settings.buffer_bytes;
  return p;
}

// Step 4b: the sink targets (nftset, ipset, log) are bound to their writers, which check or
// create their sets. That starts writer threads, so it happens after the capabilities were
// dropped: the file is loaded again, now binding for real (its warnings that the first load
// printed already are not repeated).
bool bind_sinks(const Options& opt, Startup& s, SinkWriters& sinks) {
  if (!s.config || opt.dry_run || !s.config->rules->parts().targets.size()) return true;
  auto loaded = load_config(s.config_path, opt, &sinks);
  if (!loaded) {
    print_errors(loaded.errors());
    return false;
  }
  for (const auto& w : loaded->warnings) {
    const auto& before = s.config->warnings;
    if (std::find(before.begin(), before.end(), w) == before.end()) spdlog::warn("{}", w);
  }
  s.config = std::move(loaded.value());
  return true;
}

// Step 5: one worker per thread, each with its own classifier and enforcer.
Expected<std::vector<std::unique_ptr<Worker>>> make_workers(const Startup& s,
                                                            const RulesHolder& rules,
                                                            conntrack::LabelWriter* writer,
                                                            FlowOutput* flows,
                                                            const SinkTable* sinks) {
  using Result = Expected<std::vector<std::unique_ptr<Worker>>>;
  std::vector<std::unique_ptr<Worker>> workers;
  const classify::ClassifierConfig config = classifier_config(s);
  for (unsigned w = 0; w < s.settings.workers; ++w) {
    auto classifier = classify::Classifier::create(config);
    if (!classifier) return Result::failure(classifier.errors());
    workers.push_back(std::make_unique<Worker>(w, std::move(classifier.value()), rules, writer,
                                               flows, Worker::WallClock{}, sinks));
  }
  return workers;
}

// SIGHUP: build and check the new rules here, off the packet path; the workers switch (and
// re-evaluate their flows, unless reprocess_flows is false) at their next batch. On failure the old
// rules stay.
void reload(const std::string& config_path, const Options& opt, RulesHolder& rules,
            SinkBinder* sinks, std::uint64_t& reloads, std::uint64_t& reload_failures) {
  if (config_path.empty()) {
    spdlog::warn("SIGHUP: no actions file to reload (started without -c)");
    return;
  }
  auto loaded = load_config(config_path, opt, sinks);
  if (loaded) {
    for (const auto& w : loaded->warnings) spdlog::warn("{}", w);
    rules.publish(loaded->rules);
    ++reloads;
    spdlog::info("reloaded {}: {} action(s){}", config_path, loaded->rules->action_count(),
                 loaded->reprocess_flows ? ""
                                         : " (reprocess_flows is false: flows already classified "
                                           "keep their labels until their own verdict changes)");
    return;
  }
  ++reload_failures;
  for (const auto& e : loaded.errors()) spdlog::error("{}", e);
  spdlog::error("reload of {} failed with {} error(s); the previous rules stay in force",
                config_path, loaded.errors().size());
}

void write_stats(const std::string& path, const StatsReport& report) {
  if (auto st = write_stats_file(path, report); !st) spdlog::warn("{}", st.errors().front());
}

// Step 6: the main thread owns the signals until the input ends or a stop is asked for.
void signal_loop(const Options& opt, const Startup& s, const sigset_t& signals, Pipeline& pipeline,
                 RulesHolder& rules, SinkBinder* sinks, std::uint64_t& reloads,
                 std::uint64_t& reload_failures, const std::function<StatsReport()>& report) {
  auto next_stats = Clock::now() + s.settings.stats_interval;
  bool stopping = false;
  while (!stopping && !pipeline.finished()) {
    // Reading files: poll often so the end of input is noticed at once.
    const timespec wait{0, (s.live ? 100 : 5) * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stopping = true;
    } else if (sig == SIGHUP) {
      sd_notify("RELOADING=1");
      reload(s.config_path, opt, rules, sinks, reloads, reload_failures);
      sd_notify("READY=1");
    } else if (sig == SIGUSR1) {
      spdlog::info("statistics:\n{}{}", format_summary(report()), endpoint_summary(s));
    }
    if (s.live && Clock::now() >= next_stats) {
      next_stats = Clock::now() + s.settings.stats_interval;
      const StatsReport r = report();
      if (s.settings.stats_file.empty())
        spdlog::info("statistics:\n{}{}", format_summary(r), endpoint_summary(s));
      else
        write_stats(s.settings.stats_file, r);
    }
  }
}

}  // namespace

int run(const Options& opt) {
  if (!valid_level(opt.log_level)) {
    std::fprintf(
        stderr,
        "ctlabeld: --log-level '%s' is not one of trace, debug, info, warn, error, critical, off\n",
        opt.log_level.c_str());
    return 2;
  }
  setup_logging(opt.log_level);
  // Block the signals before anything else (they are handled by the loop below, or by
  // stop_requested() between start-up steps); threads started later inherit the mask.
  const sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Startup s;
  if (const auto done = load_startup_config(opt, s)) return *done;
  if (stop_requested()) return 0;
  s.settings = effective_settings(opt, s);
  apply_config_log_level(opt, s);
  if (!choose_sources(opt, s)) return 1;
  if (!draw_hash_secrets(opt, s)) return 1;
  if (!load_app_rules(s)) return 1;

  // Mistakes no retry could fix end start-up here, before anything says "started".
  for (const auto& source : s.sources) {
    if (auto st = capture::check_source(source, s.live); !st) {
      print_errors(st.errors());
      return 1;
    }
  }

  // Keep only CAP_NET_ADMIN and CAP_NET_RAW from here on; it must happen before any thread exists.
  if (auto dropped = drop_capabilities(); !dropped) {
    print_errors(dropped.errors());
    return 1;
  }
  auto writer = start_writer(opt.dry_run);
  if (!writer) {
    print_errors(writer.errors());
    return 1;
  }
  if (stop_requested()) return 0;
  SinkWriters sinks;
  if (!bind_sinks(opt, s, sinks)) return 1;
  SinkBinder* binder = opt.dry_run ? nullptr : &sinks;
  const SinkTable* sink_table = opt.dry_run ? nullptr : &sinks;
  std::unique_ptr<FlowOutput> flows;
  if (!opt.flows_file.empty()) {
    auto opened = FlowOutput::open(opt.flows_file);
    if (!opened) {
      print_errors(opened.errors());
      return 1;
    }
    flows = std::move(opened.value());
  }
  RulesHolder rules;
  if (s.config) rules.publish(s.config->rules);
  auto workers = make_workers(s, rules, writer->get(), flows.get(), sink_table);
  if (!workers) {
    print_errors(workers.errors());
    return 1;
  }
  if (stop_requested()) return 0;
  Pipeline pipeline(s.sources, std::move(workers.value()), pipeline_options(s));

  const auto started_at = Clock::now();
  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
  const std::function<StatsReport()> report = [&] {
    const double elapsed = std::chrono::duration<double>(Clock::now() - started_at).count();
    StatsReport r = gather(pipeline, writer->get(), elapsed, reloads, reload_failures);
    r.sinks = sinks.counters();
    return r;
  };

  pipeline.start();
  if (s.live) {
    spdlog::info("ctlabeld started: {} source(s), {} worker(s), {}", s.sources.size(),
                 s.settings.workers,
                 opt.dry_run ? "dry run (no labels written)" : "writing conntrack labels");
    sd_notify("READY=1\nSTATUS=capturing");
  }
  signal_loop(opt, s, signals, pipeline, rules, binder, reloads, reload_failures, report);

  // Shut down in pipeline order: capture, workers (ending every flow and handing over every
  // waiting change), then the writer.
  if (s.live) sd_notify("STOPPING=1");
  pipeline.stop();
  int exit_status = 0;
  if (flows) {
    if (auto st = flows->finish(); !st) {
      if (s.live) spdlog::error("{}", st.errors().front());
      if (!s.live) std::fprintf(stderr, "ctlabeld: %s\n", st.errors().front().c_str());
      exit_status = 1;
    }
  }
  if (*writer) (*writer)->stop();
  sinks.stop();
  const StatsReport final_report = report();
  if (!s.settings.stats_file.empty()) write_stats(s.settings.stats_file, final_report);
  if (s.live) {
    spdlog::info("stopped");
    return exit_status;
  }
  std::fputs(format_summary(final_report).c_str(), stderr);
  std::fputs(endpoint_summary(s).c_str(), stderr);
  for (const auto& e : pipeline.file_errors()) {
    std::fprintf(stderr, "ctlabeld: %s\n", e.c_str());
    exit_status = 1;
  }
  return exit_status;
}

}  // namespace ctlabeld::app
