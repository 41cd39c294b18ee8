// SPDX-License-Identifier: GPL-3.0-or-later
// getopt_long over the documented options; every mistake says which option and why.
#include "options.hpp"

#include <getopt.h>

#include <charconv>
#include <cstring>

namespace ctlabeld::app {

namespace {

enum LongOnly : int {
  kCheck = 1000,
  kFlows,
  kProtos,
  kAppRules,
  kVersion,
  kWorkers,
  kStatsFile,
  kStatsInterval,
  kMaxDpiPackets,
  kMaxFlows,
  kStrict,
  kHashSeed,
  kMetricsFile,
  kSocket,
};

template <typename T>
bool parse_number(const char* text, T& out) {
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && ptr == end && end != text;
}

}  // namespace

const char* usage_text() {
  return R"(Usage: ctlabeld [OPTIONS]
       ctlabeld ctl [--socket PATH] [--json] COMMAND   (ask the running daemon; ctl --help)
Classify connections with nDPI and label them in conntrack (connlabel bits), so nftables
rules can match them with `ct label NAME`.

  -c, --config FILE       actions file (Netify flow-actions format)
                          [default: /etc/ctlabeld/actions.json]
  -i, --interface DEV     capture on DEV: an interface, "any", or "nflog:N" (repeatable)
  -r, --read FILE         read a pcap/pcapng file as fast as possible, then exit (repeatable);
                          prints a summary on stderr
  -n, --dry-run           classify and evaluate actions, but write no conntrack labels
      --check             validate the config (and connlabel.conf), print its warnings, the
                          Netify names mapped to nDPI's and a summary; exit 0 if valid, 1 with
                          every error otherwise
      --strict            treat what Netify tolerates (undefined targets and labels, '*'
                          interface tests, names nDPI cannot detect) as errors, not warnings
      --flows FILE|-      write one JSON object per flow (JSON Lines) to FILE or stdout
      --protos FILE       nDPI protocols file to load (nDPI's format); "none": no file
                          [default: the config's protos_file, else
                          /etc/ctlabeld/protos.txt when it exists]
      --app-rules FILE    application rules after nDPI (Zoom's host names, networks,
                          payload checks, learned endpoints); "none": no rules
                          [default: the config's app_rules_file, else
                          /etc/ctlabeld/app_rules.conf when it exists]
  -l, --log-level LEVEL   trace, debug, info, warn, error, critical or off [default: info]
      --workers N         classification threads [default: number of cores]
      --stats-file PATH   write statistics as JSON to PATH every interval (atomically)
      --stats-interval S  seconds between statistics reports [default: 60]
      --metrics-file PATH write the statistics in Prometheus text format to PATH every
                          interval (atomically; for node_exporter's textfile collector)
      --socket PATH       the control socket for `ctlabeld ctl`; "none": no socket
                          [default: the config's control_socket, else
                          /run/ctlabeld/ctlabeld.sock; reading files (-r): none unless given]
      --max-dpi-packets N give up on nDPI after N packets of a flow [default: 32]
      --max-flows N       flows tracked per worker before the least recently used is
                          evicted [default: 262144]
      --hash-seed N       derive the flow-hash secrets from N instead of drawing them at
                          random, so flows land in the same table slots and workers every
                          run. For tests and benchmarks only: whoever knows N can craft
                          flows that collide [default: random per start]
      --version           print the version and exit
  -h, --help              print this help and exit

Signals: SIGHUP reloads the config, SIGUSR1 logs statistics, SIGTERM/SIGINT stop.
The control socket answers `ctlabeld ctl status|flows|explain|watch|reload` (ctl --help).
Examples:
  ctlabeld -r capture.pcap -n --flows -        classify a capture, print flows
  ctlabeld --check -c /etc/ctlabeld/actions.json
  ctlabeld -i eth0                             label live traffic on eth0
See ctlabeld(8) and README.md.
)";
}

Expected<Options> parse_options(int argc, char** argv) {
  static const option kLong[] = {
      {"config", required_argument, nullptr, 'c'},
      {"interface", required_argument, nullptr, 'i'},
      {"read", required_argument, nullptr, 'r'},
      {"dry-run", no_argument, nullptr, 'n'},
      {"check", no_argument, nullptr, kCheck},
      {"strict", no_argument, nullptr, kStrict},
      {"flows", required_argument, nullptr, kFlows},
      {"protos", required_argument, nullptr, kProtos},
      {"app-rules", required_argument, nullptr, kAppRules},
      {"log-level", required_argument, nullptr, 'l'},
      {"workers", required_argument, nullptr, kWorkers},
      {"stats-file", required_argument, nullptr, kStatsFile},
      {"stats-interval", required_argument, nullptr, kStatsInterval},
      {"max-dpi-packets", required_argument, nullptr, kMaxDpiPackets},
      {"max-flows", required_argument, nullptr, kMaxFlows},
      {"hash-seed", required_argument, nullptr, kHashSeed},
      {"metrics-file", required_argument, nullptr, kMetricsFile},
      {"socket", required_argument, nullptr, kSocket},
      {"version", no_argument, nullptr, kVersion},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  Errors errors;
  opterr = 0;
  optind = 0;  // 0, not 1: glibc then fully re-initialises (parse_options may run more than once)
  int c;
  while ((c = getopt_long(argc, argv, ":c:i:r:nl:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'c':
        o.config_file = optarg;
        o.config_given = true;
        break;
      case 'i': o.interfaces.emplace_back(optarg); break;
      case 'r': o.read_files.emplace_back(optarg); break;
      case 'n': o.dry_run = true; break;
      case kCheck: o.check = true; break;
      case kStrict: o.strict = true; break;
      case kFlows: o.flows_file = optarg; break;
      case kProtos: o.protos_file = optarg; break;
      case kAppRules: o.app_rules_file = optarg; break;
      case 'l': o.log_level = optarg; break;
      case kStatsFile: o.stats_file = optarg; break;
      case kMetricsFile: o.metrics_file = optarg; break;
      case kSocket: o.socket = optarg; break;
      case kVersion: o.show_version = true; break;
      case 'h': o.show_help = true; break;
      case kWorkers: {
        unsigned n = 0;
        if (!parse_number(optarg, n) || n == 0 || n > 256) {
          errors.push_back(std::string("--workers: '") + optarg +
                           "' is not a number from 1 to 256");
        }
        o.workers = n;
        break;
      }
      case kStatsInterval: {
        unsigned n = 0;
        if (!parse_number(optarg, n) || n == 0) {
          errors.push_back(std::string("--stats-interval: '") + optarg +
                           "' is not a whole number of seconds above 0");
        }
        o.stats_interval = n;
        break;
      }
      case kMaxDpiPackets: {
        unsigned n = 0;
        if (!parse_number(optarg, n) || n == 0 || n > 255) {
          errors.push_back(std::string("--max-dpi-packets: '") + optarg +
                           "' is not a number from 1 to 255");
        }
        o.max_dpi_packets = n;
        break;
      }
      case kMaxFlows: {
        std::size_t n = 0;
        if (!parse_number(optarg, n) || n == 0 || n > 100000000) {
          errors.push_back(std::string("--max-flows: '") + optarg +
                           "' is not a number from 1 to 100000000");
        }
        o.max_flows = n;
        break;
      }
      case kHashSeed: {
        std::uint64_t n = 0;
        if (!parse_number(optarg, n)) {
          errors.push_back(std::string("--hash-seed: '") + optarg +
                           "' is not a whole number from 0 to 18446744073709551615");
        }
        o.hash_seed = n;
        break;
      }
      case ':':
        errors.push_back(std::string("option ") + argv[optind - 1] + " needs a value (see --help)");
        break;
      default:
        errors.push_back(std::string("unknown option ") + argv[optind - 1] + " (see --help)");
        break;
    }
  }
  for (int i = optind; i < argc; ++i) {
    errors.push_back(std::string("unexpected argument '") + argv[i] +
                     "' (to read a file use -r FILE; see --help)");
  }
  if (!errors.empty()) return Expected<Options>::failure(std::move(errors));
  return o;
}

}  // namespace ctlabeld::app
