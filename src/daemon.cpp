// Daemon wiring: config -> writer -> workers -> pipeline, and the main thread's signal loop.
#include "daemon.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "ctlabeld/actions/config.hpp"
#include "ctlabeld/classify/classifier.hpp"
#include "ctlabeld/common/defaults.hpp"
#include "ctlabeld/conntrack/label_map.hpp"
#include "ctlabeld/conntrack/label_writer.hpp"
#include "pipeline.hpp"
#include "privileges.hpp"
#include "rules_holder.hpp"
#include "sd_notify.hpp"
#include "stats.hpp"

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

// Refuses a file others could have written (the daemon acts on it with CAP_NET_ADMIN), then loads
// it.
Expected<actions::LoadedConfig> load_config(const std::string& path) {
  if (auto perms = check_config_permissions(path); !perms) {
    return Expected<actions::LoadedConfig>::failure(perms.errors());
  }
  return actions::load_config_file(path, make_resolver, classify::risk_bit_by_name);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
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

// A classifier rule file: the command line's, else the config's, else the installed default when
// it exists. "" (or "none" on the command line) turns the file off.
std::string rule_file(const std::optional<std::string>& option,
                      const std::optional<std::string>& setting, const char* installed) {
  if (option) return *option == "none" ? std::string() : *option;
  if (setting) return *setting;
  return file_exists(installed) ? std::string(installed) : std::string();
}

unsigned default_workers() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
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

  // The config: the given file, else the default one if present. Reading a capture needs none.
  std::string config_path = opt.config_file;
  if (!opt.config_given && file_exists(defaults::kConfigFile) &&
      (opt.read_files.empty() || opt.check)) {
    config_path = defaults::kConfigFile;
  }
  if (config_path.empty() && (opt.check || opt.read_files.empty())) {
    std::fprintf(stderr,
                 "ctlabeld: no actions file: %s does not exist; pass one with -c FILE "
                 "(an example ships as etc/ctlabeld/actions.json)\n",
                 defaults::kConfigFile);
    return 1;
  }
  std::optional<actions::LoadedConfig> config;
  if (!config_path.empty()) {
    auto loaded = load_config(config_path);
    if (!loaded) {
      print_errors(loaded.errors());
      std::fprintf(stderr, "ctlabeld: %s: %zu error(s); nothing was started\n", config_path.c_str(),
                   loaded.errors().size());
      return 1;
    }
    config = std::move(loaded.value());
  }
  if (opt.check) {
    std::fputs(config->rules->summary().c_str(), stdout);
    // The application rules the daemon would load, checked as it would: syntax, then the
    // application names against nDPI.
    if (const std::string path =
            rule_file(opt.app_rules_file, config->settings.app_rules_file, defaults::kAppRulesFile);
        !path.empty()) {
      auto rules = classify::AppRules::load(path);
      if (rules) {
        classify::ClassifierConfig ccfg;
        ccfg.max_flows = 1;
        ccfg.app_rules = rules.value();
        if (auto c = classify::Classifier::create(ccfg); !c) {
          print_errors(c.errors());
          return 1;
        }
        std::printf("%s: OK (%zu host names, %zu networks)\n", path.c_str(),
                    rules.value()->host_count(), rules.value()->network_count());
      } else {
        print_errors(rules.errors());
        return 1;
      }
    }
    std::printf("%s: OK\n", config_path.c_str());
    return 0;
  }
  if (!opt.log_level.empty()) {
    // the command line wins over the config's log_level
  } else if (config && !config->settings.log_level.empty()) {
    if (!valid_level(config->settings.log_level)) {
      spdlog::error("{}: ctlabeld.log_level '{}' is not a log level; using info", config_path,
                    config->settings.log_level);
    } else {
      spdlog::set_level(spdlog::level::from_str(config->settings.log_level));
    }
  }

  const actions::DaemonSettings settings = config ? config->settings : actions::DaemonSettings{};
  const bool live = opt.read_files.empty();
  std::vector<std::string> sources = live ? opt.interfaces : opt.read_files;
  if (live && sources.empty()) sources = settings.interfaces;
  if (live && sources.empty()) {
    std::fprintf(
        stderr,
        "ctlabeld: nothing to capture: give -i DEV (an interface, \"any\" or \"nflog:N\"), "
        "set \"ctlabeld\": {\"interfaces\": [...]} in %s, or read a file with -r FILE\n",
        config_path.c_str());
    return 1;
  }

  // Keep only CAP_NET_ADMIN and CAP_NET_RAW from here on; it must happen before any thread exists.
  if (auto dropped = drop_capabilities(); !dropped) {
    print_errors(dropped.errors());
    return 1;
  }
  // Block the signals before any thread starts: only this thread takes them.
  const sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<conntrack::LabelWriter> writer;
  if (!opt.dry_run) {
    auto started = conntrack::LabelWriter::start(conntrack::WriterOptions{});
    if (!started) {
      print_errors(started.errors());
      return 1;
    }
    writer = std::move(started.value());
    const conntrack::SelfCheck check = conntrack::self_check();
    if (!check.message.empty()) {
      if (check.labels_usable_known && !check.labels_usable)
        spdlog::warn("{}", check.message);
      else
        spdlog::info("{}", check.message);
    }
  }

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
  if (config) rules.publish(config->rules);

  classify::ClassifierConfig ccfg;
  ccfg.max_dpi_packets = opt.max_dpi_packets.value_or(settings.max_dpi_packets);
  ccfg.max_flows = opt.max_flows.value_or(settings.max_flows);
  ccfg.tcp_idle = settings.tcp_idle;
  ccfg.udp_idle = settings.udp_idle;
  ccfg.other_idle = settings.other_idle;
  ccfg.protos_file = rule_file(opt.protos_file, settings.protos_file, defaults::kProtosFile);
  if (const std::string path =
          rule_file(opt.app_rules_file, settings.app_rules_file, defaults::kAppRulesFile);
      !path.empty()) {
    auto loaded = classify::AppRules::load(path);
    if (!loaded) {
      print_errors(loaded.errors());
      return 1;
    }
    ccfg.app_rules = loaded.value();
    // One table for every worker: a client's STUN and its peer-to-peer flows meet on different
    // workers (they share an endpoint, not a host pair).
    ccfg.endpoints = std::make_shared<classify::EndpointTable>();
    spdlog::info("application rules: {} ({} host names, {} networks)", path,
                 ccfg.app_rules->host_count(), ccfg.app_rules->network_count());
  }

  const unsigned worker_count =
      opt.workers.value_or(settings.workers != 0 ? settings.workers : default_workers());
  std::vector<std::unique_ptr<Worker>> workers;
  // The pipeline owns the names; workers read them through this reference for flow output.
  auto source_names = std::make_unique<std::vector<std::string>>(sources);
  for (unsigned w = 0; w < worker_count; ++w) {
    auto classifier = classify::Classifier::create(ccfg);
    if (!classifier) {
      print_errors(classifier.errors());
      return 1;
    }
    workers.push_back(std::make_unique<Worker>(w, std::move(classifier.value()), rules,
                                               writer.get(), flows.get(), *source_names));
  }

  PipelineOptions popt;
  popt.live = live;
  popt.live_options.bpf_filter = settings.bpf_filter;
  popt.live_options.promiscuous = settings.promiscuous;
  popt.live_options.snaplen = settings.snaplen;
  popt.live_options.buffer_bytes = settings.buffer_bytes;
  Pipeline pipeline(sources, std::move(workers), popt);

  const auto started_at = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - started_at).count(); };
  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
  auto report = [&] { return gather(pipeline, writer.get(), elapsed(), reloads, reload_failures); };
  // The learned-endpoint table is shared by the workers: its counters are reported once.
  auto endpoint_summary = [endpoints = ccfg.endpoints]() -> std::string {
    if (!endpoints) return {};
    const classify::EndpointTableStats s = endpoints->stats();
    return fmt::format(
        "learned endpoints: learned {}  hits {}  evicted {}  contended {}  (table of {})\n",
        s.learned, s.hits, s.evicted, s.contended, endpoints->capacity());
  };
  const std::string stats_file = opt.stats_file.empty() ? settings.stats_file : opt.stats_file;
  const auto stats_interval =
      opt.stats_interval ? std::chrono::seconds(*opt.stats_interval) : settings.stats_interval;

  pipeline.start();
  if (live) {
    spdlog::info("ctlabeld started: {} source(s), {} worker(s), {}", sources.size(), worker_count,
                 opt.dry_run ? "dry run (no labels written)" : "writing conntrack labels");
    sd_notify("READY=1\nSTATUS=capturing");
  }

  int exit_status = 0;
  auto next_stats = Clock::now() + stats_interval;
  bool stopping = false;
  while (!stopping && !pipeline.finished()) {
    // Reading files: poll often so the end of input is noticed at once.
    const timespec wait{0, (live ? 100 : 5) * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stopping = true;
    } else if (sig == SIGHUP) {
      sd_notify("RELOADING=1");
      if (config_path.empty()) {
        spdlog::warn("SIGHUP: no actions file to reload (started without -c)");
      } else {
        // Built and validated here, off the packet path; the workers switch at their next batch.
        auto loaded = load_config(config_path);
        if (loaded) {
          rules.publish(loaded->rules);
          ++reloads;
          spdlog::info("reloaded {}: {} action(s)", config_path, loaded->rules->action_count());
        } else {
          ++reload_failures;
          for (const auto& e : loaded.errors()) spdlog::error("{}", e);
          spdlog::error("reload of {} failed with {} error(s); the previous rules stay in force",
                        config_path, loaded.errors().size());
        }
      }
      sd_notify("READY=1");
    } else if (sig == SIGUSR1) {
      spdlog::info("statistics:\n{}{}", format_summary(report()), endpoint_summary());
    }
    if (live && Clock::now() >= next_stats) {
      next_stats = Clock::now() + stats_interval;
      const StatsReport r = report();
      if (stats_file.empty())
        spdlog::info("statistics:\n{}{}", format_summary(r), endpoint_summary());
      if (!stats_file.empty()) {
        if (auto st = write_stats_file(stats_file, r); !st) spdlog::warn("{}", st.errors().front());
      }
    }
  }
  if (live) sd_notify("STOPPING=1");
  // Shut down in pipeline order: capture, workers (ending every flow), then the writer.
  pipeline.stop();
  if (flows) flows->flush();
  if (writer) writer->stop();
  const StatsReport final_report = report();
  if (!stats_file.empty()) {
    if (auto st = write_stats_file(stats_file, final_report); !st)
      spdlog::warn("{}", st.errors().front());
  }
  if (!live) {
    std::fputs(format_summary(final_report).c_str(), stderr);
    std::fputs(endpoint_summary().c_str(), stderr);
    for (const auto& e : pipeline.file_errors()) {
      std::fprintf(stderr, "ctlabeld: %s\n", e.c_str());
      exit_status = 1;
    }
  } else {
    spdlog::info("stopped");
  }
  return exit_status;
}

}  // namespace ctlabeld::app
