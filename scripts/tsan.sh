#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ThreadSanitizer run of the threaded parts: builds with -DCTLABELD_SANITIZE=thread into
# build-tsan, then runs test_app (the SPSC ring), the end-to-end router test (live capture thread,
# workers, label writer, reloads, signals), the conntrack fault test (the writer's error paths
# under the live daemon), `ctlabeld -r` with 2 workers over single captures and all of them, and
# the control socket's tests (its thread, the watch queue's producers, 100 hostile clients).
# Not test_conntrack_writer: its kernel sandbox setns()es back into the original mount namespace,
# which the kernel refuses to a multithreaded process, and TSan's runtime always runs a
# background thread (the test aborts in ~KernelSandbox; no race involved).
# Every TSan report is written to build-tsan/tsan-reports/ and fails the run.
# Usage: scripts/tsan.sh   (as root for the kernel tests; they are skipped otherwise)
# Environment: TSAN_JOBS (build parallelism, default 2), BUILD_DIR (default build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-tsan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTLABELD_SANITIZE=thread -DCTLABELD_TESTS=ON \
  > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "${TSAN_JOBS:-2}" --target ctlabeld test_app test_control test_control_socket \
  flowlog_unit_test

reports=$PWD/$build/tsan-reports
rm -rf "$reports"; mkdir -p "$reports"
# log_path: reports from every process (the daemon under the e2e script too) land in files.
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:log_path=$reports/tsan"
status=0
run() {  # run NAME COMMAND...: runs, reports its exit status
  echo "== $1"
  local name=$1; shift
  local start=$SECONDS
  if "$@" > "$build/tsan-$name.log" 2>&1; then echo "   ok ($((SECONDS - start)) s)"
  else
    local rc=$?
    # 77: skipped (not root)
    if [ $rc -eq 77 ]; then echo "   skipped: $(tail -1 "$build/tsan-$name.log")"
    else echo "   FAILED (exit $rc), log $build/tsan-$name.log:"; tail -n 15 "$build/tsan-$name.log"; status=1; fi
  fi
}
run test_app "$build/test/unit/app/test_app"
run test_control "$build/test/unit/control/test_control"
run test_control_socket "$build/test/unit/control/test_control_socket"
# The log writer: its thread against bind/counters/sync from the test thread and a file reader.
run flowlog_unit_test "$build/test/unit/flowlog/flowlog_unit_test"
run e2e_router test/integration/e2e_router.sh "$build/src/ctlabeld" .
run reliability_faults test/reliability/faults.sh "$build/src/ctlabeld" .
for pcap in zoom.pcap teams.pcap quic.pcap gnutella.pcap ip_fragmented_garbage.pcap; do
  [ -f "../shared/pcaps/$pcap" ] || continue
  run "read_$pcap" "$build/src/ctlabeld" -r "../shared/pcaps/$pcap" -n --workers 2 --flows /dev/null
done
# Every capture in one run (someip_sd_sample.pcap is PPI, a link type ctlabeld rejects by design).
read_args=()
for f in ../shared/pcaps/*.pcap; do [[ $f == *someip_sd_sample* ]] || read_args+=(-r "$f"); done
run read_all_in_one "$build/src/ctlabeld" -n --workers 2 --flows /dev/null "${read_args[@]}"

shopt -s nullglob
found=("$reports"/tsan*)
if [ ${#found[@]} -gt 0 ]; then
  echo "== ThreadSanitizer reported ${#found[@]} problem file(s):"
  for f in "${found[@]}"; do echo "--- $f"; grep -E '^WARNING|^SUMMARY|^    #[0-3] ' "$f" | head -20; done
  status=1
else
  echo "== no ThreadSanitizer reports"
fi
exit $status
