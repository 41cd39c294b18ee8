#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Bounded fuzzing of the five libFuzzer targets (criteria parser, actions-file loader, packet
# path, capture files against libpcap, control-socket requests), seeded from test/fuzz/seeds,
# test/data/config and the shared captures. Builds with clang into build-fuzz, runs each target for FUZZ_SECONDS (default
# 60), prints executions and coverage per target, and fails if any target crashes (the
# reproducer is left in build-fuzz/artifacts/).
# Usage: scripts/fuzz.sh [TARGET...]   (default: fuzz_criteria fuzz_config fuzz_packet fuzz_pcap_file
#   fuzz_control_request)
# Environment: FUZZ_SECONDS, FUZZ_JOBS (build parallelism, default 2), BUILD_DIR (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build=${BUILD_DIR:-build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_criteria fuzz_config fuzz_packet fuzz_pcap_file fuzz_control_request)
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (apt install clang libclang-rt-14-dev)" >&2; exit 1; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCTLABELD_FUZZ=ON -DCTLABELD_TESTS=ON > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target "${targets[@]}" fuzz_packet_seeds

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$PWD/test/fuzz/ubsan.supp
mkdir -p "$build/artifacts"

seeds_of() {  # the read-only seed directories of a target
  case $1 in
    fuzz_criteria) echo test/fuzz/seeds/criteria ;;
    fuzz_config) echo test/data/config/good test/data/config/bad ;;
    fuzz_control_request) echo test/fuzz/seeds/control ;;
    fuzz_packet)
      if [ ! -d "$build/seeds-packet" ]; then
        shopt -s nullglob
        local caps=(../shared/pcaps/*.pcap ../shared/pcaps/*.pcapng)
        [ ${#caps[@]} -gt 0 ] || { echo "fuzz.sh: no captures in ../shared/pcaps to seed fuzz_packet" >&2; exit 1; }
        "$build/test/fuzz/fuzz_packet_seeds" "$build/seeds-packet" "${caps[@]}" >&2
      fi
      echo "$build/seeds-packet" ;;
    fuzz_pcap_file)
      # The first 16 KiB of every shared classic pcap (a cut file is a good seed too).
      if [ ! -d "$build/seeds-pcap" ]; then
        mkdir -p "$build/seeds-pcap"
        for f in ../shared/pcaps/*.pcap; do head -c 16384 "$f" > "$build/seeds-pcap/$(basename "$f")"; done
      fi
      echo "$build/seeds-pcap" ;;
    *) echo "fuzz.sh: unknown target $1" >&2; exit 1 ;;
  esac
}
max_len_of() {
  case $1 in fuzz_criteria) echo 512 ;; fuzz_config) echo 4096 ;; fuzz_control_request) echo 4200 ;; fuzz_pcap_file) echo 16384 ;; *) echo 8192 ;; esac
}

failed=0
summary=()
for t in "${targets[@]}"; do
  read -r -a seeds <<< "$(seeds_of "$t")"
  corpus=$build/corpus-${t#fuzz_}
  mkdir -p "$corpus"
  log=$build/$t.log
  echo "== $t: ${seconds}s, corpus $corpus, seeds ${seeds[*]}"
  set +e
  "$build/test/fuzz/$t" -max_total_time="$seconds" -max_len="$(max_len_of "$t")" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$corpus" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    failed=1
    echo "FAIL: $t exited $rc; reproducer(s):"; ls -1 "$build/artifacts/$t-"* 2>/dev/null || true
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5
    echo "(full log: $log; reproduce with $build/test/fuzz/$t ARTIFACT)"
  fi
  line=$(printf '%-14s %s  execs %s  %s  %s' "$t" "$([ $rc -eq 0 ] && echo ok || echo CRASH)" "${execs:-?}" "${cov:-cov: ?}" "${corp:-}")
  echo "$line"
  summary+=("$line")
done
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $failed
