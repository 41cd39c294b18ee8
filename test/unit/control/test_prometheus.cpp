// SPDX-License-Identifier: GPL-3.0-or-later
// The metrics file: conventional names, escaping, every mistake reported, and promtool's verdict.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/stat.h>

#include "ctlabeld/control/prometheus.hpp"

using namespace ctlabeld::control;

namespace {

// A family list shaped like the daemon's statistics (interfaces, workers, apps, actions).
std::vector<MetricFamily> sample_families() {
  return {
      {"packets",
       "Packets captured, per source.",
       MetricType::kCounter,
       "",
       {{{{"source", "eth0"}}, 1234}, {{{"source", "nflog:5"}}, 0}}},
      {"received",
       "Bytes captured, per source.",
       MetricType::kCounter,
       "bytes",
       {{{{"source", "eth0"}}, 76040}}},
      {"drops",
       "Packets lost, per source and reason.",
       MetricType::kCounter,
       "",
       {{{{"source", "eth0"}, {"reason", "ring_full"}}, 3},
        {{{"source", "eth0"}, {"reason", "kernel"}}, 0}}},
      {"flows_active",
       "Flows tracked now, per worker.",
       MetricType::kGauge,
       "",
       {{{{"worker", "0"}}, 11}, {{{"worker", "1"}}, 2}}},
      {"action_matches",
       "Flows an action matched.",
       MetricType::kCounter,
       "",
       {{{{"action", "zoom \"video\"\\path\nx"}}, 19}}},
      {"label_latency_p99",
       "Label latency, 99th percentile.",
       MetricType::kGauge,
       "seconds",
       {{{}, 0.005119}}},
      {"uptime", "Time since start.", MetricType::kGauge, "seconds", {{{}, 14.627}}},
  };
}

std::string run(const std::string& command) {
  std::string out;
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  out += "\nexit=" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return out;
}

}  // namespace

TEST_CASE("exposed names follow Prometheus' conventions") {
  CHECK(exposed_name({"packets", "", MetricType::kCounter, "", {}}) == "ctlabeld_packets_total");
  CHECK(exposed_name({"received", "", MetricType::kCounter, "bytes", {}}) ==
        "ctlabeld_received_bytes_total");
  CHECK(exposed_name({"uptime", "", MetricType::kGauge, "seconds", {}}) ==
        "ctlabeld_uptime_seconds");
  CHECK(exposed_name({"wait_seconds", "", MetricType::kGauge, "seconds", {}}) ==
        "ctlabeld_wait_seconds");
  CHECK(exposed_name({"writes_total", "", MetricType::kCounter, "", {}}) ==
        "ctlabeld_writes_total");
}

TEST_CASE("the exposition text, exactly") {
  auto text = format_prometheus(sample_families());
  REQUIRE(text);
  CHECK(*text ==
        "# HELP ctlabeld_packets_total Packets captured, per source.\n"
        "# TYPE ctlabeld_packets_total counter\n"
        "ctlabeld_packets_total{source=\"eth0\"} 1234\n"
        "ctlabeld_packets_total{source=\"nflog:5\"} 0\n"
        "# HELP ctlabeld_received_bytes_total Bytes captured, per source.\n"
        "# TYPE ctlabeld_received_bytes_total counter\n"
        "ctlabeld_received_bytes_total{source=\"eth0\"} 76040\n"
        "# HELP ctlabeld_drops_total Packets lost, per source and reason.\n"
        "# TYPE ctlabeld_drops_total counter\n"
        "ctlabeld_drops_total{source=\"eth0\",reason=\"ring_full\"} 3\n"
        "ctlabeld_drops_total{source=\"eth0\",reason=\"kernel\"} 0\n"
        "# HELP ctlabeld_flows_active Flows tracked now, per worker.\n"
        "# TYPE ctlabeld_flows_active gauge\n"
        "ctlabeld_flows_active{worker=\"0\"} 11\n"
        "ctlabeld_flows_active{worker=\"1\"} 2\n"
        "# HELP ctlabeld_action_matches_total Flows an action matched.\n"
        "# TYPE ctlabeld_action_matches_total counter\n"
        "ctlabeld_action_matches_total{action=\"zoom \\\"video\\\"\\\\path\\nx\"} 19\n"
        "# HELP ctlabeld_label_latency_p99_seconds Label latency, 99th percentile.\n"
        "# TYPE ctlabeld_label_latency_p99_seconds gauge\n"
        "ctlabeld_label_latency_p99_seconds 0.005119\n"
        "# HELP ctlabeld_uptime_seconds Time since start.\n"
        "# TYPE ctlabeld_uptime_seconds gauge\n"
        "ctlabeld_uptime_seconds 14.627\n");
}

TEST_CASE("special values") {
  std::vector<MetricFamily> f{{"x", "h", MetricType::kGauge, "", {}}};
  f[0].samples = {{{{"k", "nan"}}, std::nan("")},
                  {{{"k", "inf"}}, std::numeric_limits<double>::infinity()},
                  {{{"k", "big"}}, 1e20},
                  {{{"k", "neg"}}, -2}};
  auto text = format_prometheus(f);
  REQUIRE(text);
  CHECK(text->find("ctlabeld_x{k=\"nan\"} NaN\n") != std::string::npos);
  CHECK(text->find("ctlabeld_x{k=\"inf\"} +Inf\n") != std::string::npos);
  CHECK(text->find("ctlabeld_x{k=\"big\"} 1e+20\n") != std::string::npos);
  CHECK(text->find("ctlabeld_x{k=\"neg\"} -2\n") != std::string::npos);
}

TEST_CASE("every mistake in the families is reported") {
  std::vector<MetricFamily> f{
      {"9lives", "h", MetricType::kGauge, "", {}},
      {"ok",
       "h",
       MetricType::kGauge,
       "",
       {{{{"__reserved", "v"}}, 1}, {{{"a", "1"}, {"a", "2"}}, 1}}},
      {"dup", "h", MetricType::kGauge, "", {{{{"a", "1"}}, 1}, {{{"a", "1"}}, 2}}},
      {"ok", "h", MetricType::kGauge, "", {}},
  };
  auto text = format_prometheus(f);
  REQUIRE_FALSE(text);
  CHECK(
      text.errors() ==
      ctlabeld::Errors{
          "metric '9lives' (unit ''): names use letters, digits and '_', not starting with a digit",
          "metric ctlabeld_ok: label name '__reserved' is not valid (letters, digits, '_'; not "
          "starting with '__')",
          "metric ctlabeld_ok: label 'a' appears twice in one sample",
          "metric ctlabeld_dup: two samples with the labels {a=\"1\"}",
          "metric ctlabeld_ok is declared twice"});
}

TEST_CASE("the file is written atomically, readable by others, and promtool accepts it") {
  char dir[] = "/tmp/ctlabeld-prom-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/ctlabeld.prom";
  auto text = format_prometheus(sample_families());
  REQUIRE(text);
  REQUIRE(write_text_file_atomically(path, *text, "--metrics-file"));
  REQUIRE(write_text_file_atomically(path, *text, "--metrics-file"));  // replaces
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK(::access((path + ".tmp").c_str(), F_OK) != 0);
  std::ifstream in(path);
  std::stringstream read;
  read << in.rdbuf();
  CHECK(read.str() == *text);

  // promtool (Debian's prometheus package) is the reference parser and linter.
  const std::string out = run("promtool check metrics < " + path);
  INFO(out);
  CHECK(out == "\nexit=0");

  // A symlink planted at a predictable temporary name is never followed: the temporary name is
  // random and created exclusively (common/file_policy), so the decoy keeps its content.
  const std::string decoy = std::string(dir) + "/decoy";
  { std::ofstream(decoy) << "decoy\n"; }
  REQUIRE(::symlink(decoy.c_str(), (path + ".tmp").c_str()) == 0);
  REQUIRE(write_text_file_atomically(path, *text, "--metrics-file"));
  std::ifstream decoy_in(decoy);
  std::stringstream decoy_read;
  decoy_read << decoy_in.rdbuf();
  CHECK(decoy_read.str() == "decoy\n");
  ::unlink(decoy.c_str());
  ::unlink((path + ".tmp").c_str());
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST_CASE("promtool rejects what breaks the conventions (the check can fail)") {
  char dir[] = "/tmp/ctlabeld-prom-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/bad.prom";
  {
    std::ofstream out(path);
    out << "# HELP ctlabeld_packets Packets.\n# TYPE ctlabeld_packets counter\nctlabeld_packets "
           "1\n";
  }
  const std::string out = run("promtool check metrics < " + path);
  INFO(out);
  CHECK(out.find("counter metrics should have \"_total\" suffix") != std::string::npos);
  CHECK(out.find("exit=0") == std::string::npos);
  ::unlink(path.c_str());
  ::rmdir(dir);
}
