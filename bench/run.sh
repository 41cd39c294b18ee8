#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One-command benchmark of ctlabeld against ndpiReader and the bare read+hash limit (issue 6).
#
#   bench/run.sh           full run: ~2.5 M-packet files, RUNS=5 (a few minutes on 2 cores)
#   QUICK=1 bench/run.sh   short run for CI: ~250 k-packet files, RUNS=1, 200 MB live transfer
#   bench/run.sh first     issue 2's first figure: ctlabeld -r -n vs ndpiReader -i on all shared pcaps
#   bench/run.sh latency   only the live label-latency run (root); with BASELINE also the baseline's
#   BASELINE=REF bench/run.sh baseline
#                          only the before/after figure: the mixed file, 1 worker, packets/s and
#                          peak RSS of this build and of commit REF, measured in the same run
#
# Run from the repository root after the README's set-up (Release build in build/).
# Environment: RUNS (runs per figure; the median is reported with min/max), BUILD (build dir,
# default build), PCAPS (default ../shared/pcaps), WORKERS (max workers, default nproc),
# LIVE=0 skips the live-capture section (it needs root and network namespaces),
# CTLABELD_ARGS (extra arguments for every ctlabeld run), BASELINE (a git ref: ctlabeld at that
# commit is built in bench/out/baseline-<sha>/ from `git archive`, a Release build of the ctlabeld
# target only, reused while present; its 1-worker mixed figure and peak RSS are measured beside
# this build's, runs interleaved so the machine's noise hits both alike).
# OLD_CTLABELD (a build from before the keyed flow hash: the hash-flooding rows then show its
# ratio too).
# Generated captures go to bench/out/ (git-ignored) and are reused while gen_pcap is unchanged.
#
# Sections: mixed file (limit, ndpiReader, ctlabeld with 1..WORKERS workers); elephant file;
# flow-record memory (SYN flood, --max-dpi-packets 1); hash flooding (colliding vs random spoofed
# SYNs, flow_hash_bench); actions_bench and label_write_bench when
# built; live (root): bulk TCP client -> router -> server namespaces made and removed here,
# ctlabeld -n CPU on the router interface vs nflog with `ct packets < 32`, then a labelling run
# whose stats give the label latency. Then every figure beside issue 6's target, PASS/MISS.
set -euo pipefail

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then RUNS=${RUNS:-1}; else RUNS=${RUNS:-5}; fi
BUILD=${BUILD:-build}
PCAPS=${PCAPS:-../shared/pcaps}
WORKERS=${WORKERS:-$(nproc)}
LIVE=${LIVE:-1}
read -r -a EXTRA <<<"${CTLABELD_ARGS:-}"
if [[ $QUICK == 1 ]]; then
  PACKETS=250000 FLOOD_FLOWS=200000 LIVE_MB=200
else
  PACKETS=2500000 FLOOD_FLOWS=2000000 LIVE_MB=1024
fi
HASH_FLOWS=100000  # the hash-flooding section's floods (issue 15: 100 k SYNs)

CTLABELD=$BUILD/src/ctlabeld
GEN=$BUILD/bench/gen_pcap
LIMIT=$BUILD/bench/read_hash_limit
OUT=bench/out
TMP=$(mktemp -d /tmp/ctlabeld-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

die() { echo "bench/run.sh: $*" >&2; exit 1; }

[[ -f bench/run.sh ]] || die "run me from the repository root (bench/run.sh)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install time"
command -v ndpiReader >/dev/null || die "ndpiReader is missing: apt-get install libndpi-bin"
for bin in "$GEN" "$LIMIT"; do
  [[ -x $bin ]] || die "$bin is missing: build first (cmake --build $BUILD -j2)"
done
HAVE_CTLABELD=1
[[ -x $CTLABELD ]] || { HAVE_CTLABELD=0; echo "warning: $CTLABELD is missing; its rows will read n/a" >&2; }
mkdir -p "$OUT"

# --- helpers ---------------------------------------------------------------------------------

# "median min max" of the numbers on stdin.
stats() {
  sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) exit 1
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s %s %s\n", m, a[1], a[NR] }'
}
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
field() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }  # "key value" lines

# measure NAME CMD...: runs CMD $RUNS times under /usr/bin/time. Leaves NAME.wall/NAME.rss
# (one line per run) and NAME.out/NAME.err (the last run) in $TMP. Returns 1 if any run failed.
measure() {
  local name=$1
  shift
  : >"$TMP/$name.wall"
  : >"$TMP/$name.rss"
  for ((i = 0; i < RUNS; ++i)); do
    if ! /usr/bin/time -f '%e %M' -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
      local cmd="$*"
      echo "  $name failed: ${cmd:0:160}$( ((${#cmd} > 160)) && echo ...)" >&2
      tail -n 5 "$TMP/$name.err" | sed 's/^/    /' >&2
      return 1
    fi
    read -r wall rss <"$TMP/$name.time"
    echo "$wall" >>"$TMP/$name.wall"
    echo "$rss" >>"$TMP/$name.rss"
  done
}
wall_of() { stats <"$TMP/$1.wall"; }         # median min max, seconds
rss_of() { stats <"$TMP/$1.rss" | cut -d' ' -f3; }  # the largest peak RSS seen, KiB

# The figures table: figure, measured, target, verdict.
ROWS=()
row() { ROWS+=("$(printf '%-58s %-26s %-12s %s' "$1" "$2" "$3" "$4")"); }
# check FIGURE VALUE OP TARGET [SHOWN]: PASS/MISS for VALUE OP TARGET; n/a when VALUE is empty.
check() {
  local figure=$1 value=$2 op=$3 target=$4 shown=${5:-$2}
  if [[ -z $value ]]; then row "$figure" "n/a" "$op $target" "n/a"; return; fi
  if awk "BEGIN { exit !($value $op $target) }"; then
    row "$figure" "$shown" "$op $target" PASS
  else
    row "$figure" "$shown" "$op $target" MISS
  fi
}
print_rows() {
  printf '%-58s %-26s %-12s %s\n' "figure" "measured" "target" "result"
  printf '%s\n' "${ROWS[@]}"
}

ctlabeld_run() {  # ctlabeld_run NAME WORKERS FILE [ARGS...]
  local name=$1 workers=$2 file=$3
  shift 3
  measure "$name" "$CTLABELD" -r "$file" -n --workers "$workers" -l warn "${EXTRA[@]}" "$@"
}
# From ctlabeld's summary on stderr: "flows: created=N ..." (before the counters list: "flows: N (...)").
ctlabeld_flows() { sed -n -E 's/^flows: (created=)?([0-9]+).*/\2/p' "$TMP/$1.err" | head -n1; }

# gen_mode FILE MODE OPTIONS...: generates FILE unless it exists and is newer than gen_pcap.
gen_mode() {
  local file=$1 mode=$2
  shift 2
  if [[ ! -s $file || $GEN -nt $file || ! -s $file.info ]]; then
    "$GEN" "$mode" "$file" --pcaps "$PCAPS" "$@" >"$file.info.tmp" 2>"$TMP/gen.err" || {
      cat "$TMP/gen.err" >&2
      die "gen_pcap $mode failed"
    }
    mv "$file.info.tmp" "$file.info"
  fi
  cat "$file.info"
}

machine() {
  echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)," \
    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
  echo "ndpiReader: $(ndpiReader -h 2>&1 | sed -n 's/.*Welcome to //p' | head -n1)"
  echo "ctlabeld: $( ((HAVE_CTLABELD)) && "$CTLABELD" --version 2>&1 | head -n1 || echo missing)," \
    "git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "runs per figure: $RUNS (median, [min..max])"
}

fmt_wall() { read -r m lo hi <<<"$1"; printf '%ss [%s..%s]' "$m" "$lo" "$hi"; }
median() { cut -d' ' -f1 <<<"$1"; }

# --- issue 2: the first throughput figure -----------------------------------------------------

first_throughput() {
  local list=$TMP/playlist.txt f files=() skipped=()
  machine
  # Both tools get the same files: those ctlabeld accepts on their own (it refuses a file of an
  # unsupported link type outright, e.g. PPI or PPP).
  : >"$list"
  for f in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
    if ((HAVE_CTLABELD)) && ! "$CTLABELD" -r "$f" -n -l off >/dev/null 2>&1; then
      skipped+=("$(basename "$f")")
      continue
    fi
    echo "$f" >>"$list"
    files+=(-r "$f")
  done
  echo "files: $(wc -l <"$list") shared pcaps from $PCAPS (left out, ctlabeld refuses them: ${skipped[*]:-none})"
  measure limit "$LIMIT" $(cat "$list") || die "read_hash_limit failed"
  local packets
  packets=$(field "$TMP/limit.out" packets)
  measure ndpi ndpiReader -i "$list" -q || die "ndpiReader failed"
  local nd
  nd=$(wall_of ndpi)
  echo "packets (libpcap count): $packets"
  echo "ndpiReader -i PLAYLIST -q:  $(fmt_wall "$nd")  $(calc "$packets / $(median "$nd")" 0) packets/s"
  if ((HAVE_CTLABELD)) &&
    measure ctl "$CTLABELD" "${files[@]}" -n -l warn "${EXTRA[@]}"; then
    local ct
    ct=$(wall_of ctl)
    echo "ctlabeld -r ... -n:          $(fmt_wall "$ct")  $(calc "$packets / $(median "$ct")" 0) packets/s"
    echo "ratio (ctlabeld packets/s / ndpiReader packets/s): $(calc "$(median "$nd") / $(median "$ct")")x"
    echo "ctlabeld's own summary (last run):"
    grep -E '^(packets|flows):' "$TMP/ctl.err" | sed 's/^/  /'
  else
    echo "ctlabeld: n/a"
  fi
  echo "(wall time of the whole process, start-up included: on ~57 k packets it weighs a lot)"
}

if [[ ${1:-} == first ]]; then
  first_throughput
  exit 0
fi

# --- before/after: this build against BASELINE ------------------------------------------------

# Prints the path of ctlabeld built at $BASELINE (building it first when needed).
build_baseline() {
  local sha dir
  sha=$(git rev-parse --verify --quiet "$BASELINE^{commit}") || die "BASELINE=$BASELINE is not a commit"
  dir=$OUT/baseline-${sha:0:12}
  if [[ ! -x $dir/build/src/ctlabeld ]]; then
    echo "  building ctlabeld at $BASELINE (${sha:0:12}) in $dir/ (log: $dir/build.log)" >&2
    rm -rf "$dir"
    mkdir -p "$dir/src"
    git archive "$sha" | tar -x -C "$dir/src"
    { cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DCTLABELD_TESTS=OFF &&
      cmake --build "$dir/build" -j"$(nproc)" --target ctlabeld; } >"$dir/build.log" 2>&1 ||
      die "the baseline build failed: see $dir/build.log"
  fi
  echo "$dir/build/src/ctlabeld"
}

# compare_baseline FILE PACKETS: RUNS interleaved runs of both binaries, 1 worker. Sets
# BASE_SPEED (this build's packets/s / the baseline's) and BASE_RSS (peak RSS ratio, medians).
BASE_SPEED="" BASE_RSS=""
compare_baseline() {
  local file=$1 packets=$2 base who bin wall rss i
  base=$(build_baseline)
  for who in base cur; do : >"$TMP/$who.wall"; : >"$TMP/$who.rss"; done
  for ((i = 0; i < RUNS; ++i)); do
    for who in base cur; do
      bin=$CTLABELD
      [[ $who == base ]] && bin=$base
      /usr/bin/time -f '%e %M' -o "$TMP/$who.time" "$bin" -r "$file" -n --workers 1 -l warn \
        "${EXTRA[@]}" >/dev/null 2>"$TMP/$who.err" || die "$bin -r $file failed: $(tail -n 3 "$TMP/$who.err")"
      read -r wall rss <"$TMP/$who.time"
      echo "$wall" >>"$TMP/$who.wall"
      echo "$rss" >>"$TMP/$who.rss"
    done
  done
  local bw cw br cr
  bw=$(stats <"$TMP/base.wall") cw=$(stats <"$TMP/cur.wall")
  br=$(stats <"$TMP/base.rss" | cut -d' ' -f1) cr=$(stats <"$TMP/cur.rss" | cut -d' ' -f1)
  echo "  baseline $BASELINE, 1 worker: $(fmt_wall "$bw")  $(calc "$packets / $(median "$bw")" 0) packets/s, peak RSS $((br / 1024)) MiB"
  echo "  this build,  1 worker: $(fmt_wall "$cw")  $(calc "$packets / $(median "$cw")" 0) packets/s, peak RSS $((cr / 1024)) MiB"
  BASE_SPEED=$(calc "$(median "$bw") / $(median "$cw")" 3)
  BASE_RSS=$(calc "$cr / $br" 3)
  echo "  this build vs baseline: packets/s x$BASE_SPEED, peak RSS x$BASE_RSS (medians of $RUNS interleaved runs)"
}

if [[ ${1:-} == baseline ]]; then
  [[ -n ${BASELINE:-} ]] || die "bench/run.sh baseline needs BASELINE=<git ref>"
  ((HAVE_CTLABELD)) || die "$CTLABELD is missing: build first"
  machine
  MIXED=$OUT/mixed-$PACKETS.pcap
  gen_mode "$MIXED" mixed --packets "$PACKETS"
  echo
  echo "== mixed file: $(field "$MIXED.info" packets) packets, this build vs $BASELINE"
  compare_baseline "$MIXED" "$(field "$MIXED.info" packets)"
  exit 0
fi

# --- live runs (namespaces): functions, and `bench/run.sh latency` --------------------------

# Live capture CPU: bulk TCP client -> router -> server in namespaces made here; ctlabeld -n in
# the router, once on the router's interface and once on nflog with `ct packets < 32`.
LIVE_IF="" LIVE_NFLOG="" MARK_LAT_P50="" MARK_LAT_P99="" LAT_P99="" LAT_P50=""
live_cleanup() {
  for ns in ctlb-c ctlb-r ctlb-s; do ip netns del "$ns" 2>/dev/null || true; done
}
# CPU nanoseconds of all of a process's threads (schedstat: finer than the 10 ms of /proc/PID/stat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
# Packets ctlabeld counted on its sources, from its stats file.
stats_packets() { grep -o '"interfaces":\[.*\]' "$1" | grep -o '"packets":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'; }
# live_cpu SOURCE: ctlabeld user+sys CPU seconds while LIVE_MB of TCP cross the router.
live_cpu() {
  local src=$1 stats=$TMP/live-stats.json pid ctl tick0 tick1
  rm -f "$stats"
  # Live mode needs an actions file; a private one keeps the bench away from /etc.
  printf '0 zoom\n' >"$TMP/connlabel.conf"
  sed "s|/etc/xtables/connlabel.conf|$TMP/connlabel.conf|" etc/ctlabeld/actions.json >"$TMP/actions.json"
  ip netns exec ctlb-r "$CTLABELD" -i "$src" -n -c "$TMP/actions.json" -l warn \
    --stats-file "$stats" --stats-interval 1 \
    "${EXTRA[@]}" >"$TMP/live.out" 2>"$TMP/live.err" &
  ctl=$!
  local tries=0
  while [[ ! -s $stats ]] && ((tries++ < 100)) && kill -0 "$ctl" 2>/dev/null; do sleep 0.1; done
  if [[ ! -s $stats ]]; then
    kill "$ctl" 2>/dev/null || true
    wait "$ctl" 2>/dev/null || true
    echo "  ctlabeld -i $src did not start:" >&2
    tail -n 5 "$TMP/live.err" | sed 's/^/    /' >&2
    return 1
  fi
  rm -f "$TMP/sink.out"
  ip netns exec ctlb-s python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.2.2", 5001)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b)
print(n)' >"$TMP/sink.out" &
  pid=$!
  tries=0
  while [[ ! -s $TMP/sink.out ]] && ((tries++ < 100)); do sleep 0.1; done
  tick0=$(cpu_ns "$ctl")
  local sent=1
  ip netns exec ctlb-c bash -c "head -c ${LIVE_MB}M /dev/zero >/dev/tcp/10.77.2.2/5001" || sent=0
  if ((sent)); then wait "$pid" || true; else kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  tick1=$(cpu_ns "$ctl")
  touch "$TMP/mark"  # wait for the next stats write, so the file holds the transfer's packets
  tries=0
  while [[ ! $stats -nt $TMP/mark ]] && ((tries++ < 30)); do sleep 0.1; done
  local seen
  seen=$(stats_packets "$stats")
  kill -TERM "$ctl"
  tries=0
  while kill -0 "$ctl" 2>/dev/null && ((tries++ < 50)); do sleep 0.1; done
  if kill -0 "$ctl" 2>/dev/null; then
    echo "  ctlabeld -i $src did not stop within 5 s of SIGTERM: killed" >&2
    kill -KILL "$ctl" 2>/dev/null || true
  fi
  wait "$ctl" 2>/dev/null || true
  local received
  received=$(tail -n1 "$TMP/sink.out")
  if ((!sent)) || [[ ! $received =~ ^[0-9]+$ ]] || ((received == 0)); then
    echo "  -i $src: the bulk transfer failed" >&2
    return 1
  fi
  echo "  -i $src: $received bytes received; ctlabeld saw $seen packets, used" \
    "$(calc "($tick1 - $tick0) / 1e9" 4) CPU s" >&2
  calc "($tick1 - $tick0) / 1e9 / ($received / 1073741824)" 5
}
# live_labels: ctlabeld writes labels (no -n) for LABEL_FLOWS short TCP connections; the label
# latency comes from its stats file: "label_latency":{..."p50_us":N,"p99_us":N,...}.
LABEL_FLOWS=${LABEL_FLOWS:-400}  # enough that p99 is not just the single worst sample
# With "ctmark" as the second argument the target is a ctmark (mark 0x100 under 0xff00) instead:
# the same histogram then times mark writes.
live_labels() {  # live_labels [BINARY] [ctmark]: sets LAT_P50/LAT_P99 (default binary: this build's)
  local bin=${1:-$CTLABELD} kind=${2:-ctlabel}
  local stats=$TMP/label-stats.json ctl sink tries=0
  local target='"ctlabel.bench": { "target_type": "ctlabel", "labels": [ "bench" ] }'
  [[ $kind == ctmark ]] && target='"ctlabel.bench": { "target_type": "ctmark", "mark": "0x100", "mask": "0xff00" }'
  printf '0 bench\n' >"$TMP/connlabel.conf"
  cat >"$TMP/label-actions.json" <<JSON
{
  "version": 1,
  "target_globals": { "ctlabel": { "max_bits": 127, "connlabel_conf": "$TMP/connlabel.conf" } },
  "targets": { $target },
  "actions": { "bench": { "criteria": "dst_port == 5001;", "targets": [ "ctlabel.bench" ] } }
}
JSON
  # Label storage for new connections (see etc/ctlabeld/ctlabeld.nft); bit 0 = "bench".
  ip netns exec ctlb-r nft -f - <<'NFT'
table inet ctlabeld_bench_labels {
  chain label_enable {
    ct label set 0
  }
}
NFT
  rm -f "$stats"
  ip netns exec ctlb-r "$bin" -i ctlb-r0 -c "$TMP/label-actions.json" -l warn \
    --stats-file "$stats" --stats-interval 1 "${EXTRA[@]}" >"$TMP/label.out" 2>"$TMP/label.err" &
  ctl=$!
  while [[ ! -s $stats ]] && ((tries++ < 100)) && kill -0 "$ctl" 2>/dev/null; do sleep 0.1; done
  if [[ ! -s $stats ]]; then
    kill "$ctl" 2>/dev/null || true
    wait "$ctl" 2>/dev/null || true
    echo "  label run: ctlabeld did not start:"
    tail -n 5 "$TMP/label.err" | sed 's/^/    /'
    return 1
  fi
  rm -f "$TMP/sink2.out"
  ip netns exec ctlb-s python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.2.2", 5001)); s.listen(64); print("ready", flush=True)
while True:
    c, _ = s.accept()
    while c.recv(1 << 20): pass
    c.close()' >"$TMP/sink2.out" &
  sink=$!
  tries=0
  while [[ ! -s $TMP/sink2.out ]] && ((tries++ < 100)); do sleep 0.1; done
  ip netns exec ctlb-c bash -c \
    "for i in \$(seq $LABEL_FLOWS); do head -c 64K /dev/zero >/dev/tcp/10.77.2.2/5001; done" || true
  touch "$TMP/mark"  # wait for the next stats write
  tries=0
  while [[ ! $stats -nt $TMP/mark ]] && ((tries++ < 30)); do sleep 0.1; done
  kill "$sink" 2>/dev/null || true
  kill -TERM "$ctl" 2>/dev/null || true
  tries=0
  while kill -0 "$ctl" 2>/dev/null && ((tries++ < 50)); do sleep 0.1; done
  kill -KILL "$ctl" 2>/dev/null || true
  wait "$ctl" "$sink" 2>/dev/null || true
  # (conntrack -L -o labels prints label names only with a connlabel.conf in /etc, which this
  # script leaves alone; ctlabeld's own count of acknowledged writes is reported instead.)
  echo "  $kind run: $LABEL_FLOWS connections of 64 KiB, ctlabeld wrote ${kind#ct}s for" \
    "$(grep -oE '"written":[0-9]+' "$stats" | head -n1 | cut -d: -f2) of them"
  echo "  stats: $(grep -oE '"(label_latency|conntrack)":\{[^}]*\}' "$stats" | tr '\n' ' ')"
  LAT_P99=$(grep -oE '"label_latency":\{[^}]*\}' "$stats" | grep -oE '"p99_us":[0-9.]+' | cut -d: -f2 || true)
  LAT_P50=$(grep -oE '"label_latency":\{[^}]*\}' "$stats" | grep -oE '"p50_us":[0-9.]+' | cut -d: -f2 || true)
}
# The client -- router -- server namespaces of the live runs (removed by live_cleanup).
live_setup() {
  for ns in ctlb-c ctlb-r ctlb-s; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip link add ctlb-c0 netns ctlb-c type veth peer name ctlb-r0 netns ctlb-r
  ip link add ctlb-r1 netns ctlb-r type veth peer name ctlb-s0 netns ctlb-s
  ip -n ctlb-c addr add 10.77.1.2/24 dev ctlb-c0
  ip -n ctlb-r addr add 10.77.1.1/24 dev ctlb-r0
  ip -n ctlb-r addr add 10.77.2.1/24 dev ctlb-r1
  ip -n ctlb-s addr add 10.77.2.2/24 dev ctlb-s0
  ip -n ctlb-c link set ctlb-c0 up
  ip -n ctlb-r link set ctlb-r0 up
  ip -n ctlb-r link set ctlb-r1 up
  ip -n ctlb-s link set ctlb-s0 up
  ip -n ctlb-c route add default via 10.77.1.1
  ip -n ctlb-s route add default via 10.77.2.1
  ip netns exec ctlb-r sysctl -qw net.ipv4.ip_forward=1
  ip netns exec ctlb-r sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
  ip netns exec ctlb-r nft -f - <<'EOF'
table inet ctlabeld_bench {
  chain forward {
  type filter hook forward priority filter; policy accept;
  ct packets < 32 log group 7
  }
}
EOF
}
# After a label run of this build: the same run with the baseline, then this build again (the
# spread between this build's two runs is the machine's noise). LAT_P50/LAT_P99 keep this build's
# first run, for the check row.
labels_vs_baseline() {
  local cur_p99=$LAT_P99 cur_p50=$LAT_P50 base_p99 base_p50
  echo "  -- the same with BASELINE=$BASELINE"
  live_labels "$(build_baseline)" || true
  base_p99=$LAT_P99 base_p50=$LAT_P50
  echo "  -- this build again"
  live_labels || true
  echo "  label latency p50/p99 (us): this build ${cur_p50:-?}/${cur_p99:-?} then" \
    "${LAT_P50:-?}/${LAT_P99:-?}, baseline $BASELINE ${base_p50:-?}/${base_p99:-?}"
  LAT_P99=$cur_p99 LAT_P50=$cur_p50
}
if [[ ${1:-} == latency ]]; then
  # Only the live label runs: this build, and with BASELINE also the baseline between two runs
  # of this build (the spread between those two is the machine's noise).
  ((HAVE_CTLABELD)) || die "$CTLABELD is missing: build first"
  [[ $EUID -eq 0 ]] || die "bench/run.sh latency needs root (network namespaces)"
  machine
  trap 'live_cleanup; rm -rf "$TMP"' EXIT
  live_cleanup
  live_setup
  echo "== label latency, $LABEL_FLOWS connections per run"
  live_labels || true
  [[ -n ${BASELINE:-} ]] && labels_vs_baseline
  echo "== ctmark latency (this build), $LABEL_FLOWS connections"
  live_labels "$CTLABELD" ctmark || true
  exit 0
fi

# --- issue 6 ---------------------------------------------------------------------------------

machine
echo
echo "== generating captures in $OUT/ (gen_pcap, deterministic)"
MIXED=$OUT/mixed-$PACKETS.pcap
ELEPHANT=$OUT/elephant-$PACKETS.pcap
FLOOD=$OUT/flood-$FLOOD_FLOWS.pcap
FLOOD_SMALL=$OUT/flood-1000.pcap
gen_mode "$MIXED" mixed --packets "$PACKETS"
gen_mode "$ELEPHANT" elephant --packets "$PACKETS"
gen_mode "$FLOOD" flood --flows "$FLOOD_FLOWS" >/dev/null
gen_mode "$FLOOD_SMALL" flood --flows 1000 >/dev/null
MIXED_PACKETS=$(field "$MIXED.info" packets)
MIXED_FLOWS=$(field "$MIXED.info" flows)
EL_PACKETS=$(field "$ELEPHANT.info" packets)

echo
echo "== mixed file: $MIXED_PACKETS packets, $MIXED_FLOWS flows"
measure limit_mixed "$LIMIT" "$MIXED" || die "read_hash_limit failed"
measure ndpi_mixed ndpiReader -i "$MIXED" -q || die "ndpiReader failed"
LIM_M=$(wall_of limit_mixed)
ND_M=$(wall_of ndpi_mixed)
ND_M_RSS=$(rss_of ndpi_mixed)
echo "  read+hash limit:  $(fmt_wall "$LIM_M")  $(calc "$MIXED_PACKETS / $(median "$LIM_M")" 0) packets/s"
# The same limit hashing with SipHash-1-3 (ctlabeld's keyed flow hash): the keyed hash's cost.
LIM_SIP=""
if measure limit_mixed_sip "$LIMIT" --siphash "$MIXED"; then
  LIM_SIP=$(wall_of limit_mixed_sip)
  echo "  read+hash limit, SipHash-1-3: $(fmt_wall "$LIM_SIP")" \
    "($(calc "($(median "$LIM_SIP") - $(median "$LIM_M")) * 1e9 / $MIXED_PACKETS" 1) ns per packet more)"
fi
echo "  ndpiReader -q:    $(fmt_wall "$ND_M")  $(calc "$MIXED_PACKETS / $(median "$ND_M")" 0) packets/s," \
  "peak RSS $((ND_M_RSS / 1024)) MiB"

declare -A CT_WALL CT_RSS
if ((HAVE_CTLABELD)); then
  for ((w = 1; w <= WORKERS; ++w)); do
    if ctlabeld_run "ctl_mixed_$w" "$w" "$MIXED"; then
      CT_WALL[$w]=$(wall_of "ctl_mixed_$w")
      CT_RSS[$w]=$(rss_of "ctl_mixed_$w")
      flows=$(ctlabeld_flows "ctl_mixed_$w")
      flows=${flows:-$MIXED_FLOWS}
      m=$(median "${CT_WALL[$w]}")
      echo "  ctlabeld $w worker(s): $(fmt_wall "${CT_WALL[$w]}")" \
        "$(calc "$MIXED_PACKETS / $m" 0) packets/s, $(calc "$flows / $m" 0) flows/s ($flows flows)," \
        "peak RSS $((CT_RSS[$w] / 1024)) MiB ($(calc "${CT_RSS[$w]} / 1024 / ($flows / 100000)" 1) MiB per 100 k flows)"
    fi
  done
fi

if [[ -n ${BASELINE:-} ]] && ((HAVE_CTLABELD)); then
  echo
  echo "== mixed file, this build vs BASELINE=$BASELINE"
  compare_baseline "$MIXED" "$MIXED_PACKETS"
fi

# The machine's own ceiling for two threads: two independent single-worker runs at once against
# one alone. On a virtual machine two vCPUs rarely give twice the work of one (shared caches,
# memory bandwidth, the host's other guests); the scaling row is judged against this too.
CEILING=""
if ((HAVE_CTLABELD)) && ((WORKERS > 1)); then
  : >"$TMP/pair.wall"
  for ((i = 0; i < RUNS; ++i)); do
    start=$(date +%s.%N)
    for ((j = 0; j < WORKERS; ++j)); do
      "$CTLABELD" -r "$MIXED" -n --workers 1 -l warn "${EXTRA[@]}" >/dev/null 2>&1 &
    done
    wait
    end=$(date +%s.%N)
    calc "$end - $start" 3 >>"$TMP/pair.wall"
    echo >>"$TMP/pair.wall"
  done
  PAIR=$(stats <"$TMP/pair.wall")
  CEILING=$(calc "$WORKERS * $(median "${CT_WALL[1]}") / $(median "$PAIR")")
  echo "  machine ceiling: $WORKERS independent 1-worker runs at once: $(fmt_wall "$PAIR")," \
    "so $WORKERS cores give at most ${CEILING}x one core's work here"
fi

echo
echo "== elephant file: $EL_PACKETS packets"
measure limit_el "$LIMIT" "$ELEPHANT" || die "read_hash_limit failed"
measure ndpi_el ndpiReader -i "$ELEPHANT" -q || die "ndpiReader failed"
LIM_E=$(wall_of limit_el)
ND_E=$(wall_of ndpi_el)
echo "  read+hash limit:  $(fmt_wall "$LIM_E")  $(calc "$EL_PACKETS / $(median "$LIM_E")" 0) packets/s"
echo "  ndpiReader -q:    $(fmt_wall "$ND_E")  $(calc "$EL_PACKETS / $(median "$ND_E")" 0) packets/s," \
  "peak RSS $(($(rss_of ndpi_el) / 1024)) MiB"
CT_E=""
if ((HAVE_CTLABELD)) && ((WORKERS > 1)) && ctlabeld_run ctl_el_1 1 "$ELEPHANT"; then
  echo "  ctlabeld 1 worker(s): $(fmt_wall "$(wall_of ctl_el_1)") $(calc "$EL_PACKETS / $(median "$(wall_of ctl_el_1)")" 0) packets/s," \
    "peak RSS $(($(rss_of ctl_el_1) / 1024)) MiB"
fi
if ((HAVE_CTLABELD)) && ctlabeld_run ctl_el "$WORKERS" "$ELEPHANT"; then
  CT_E=$(wall_of ctl_el)
  echo "  ctlabeld $WORKERS worker(s): $(fmt_wall "$CT_E") $(calc "$EL_PACKETS / $(median "$CT_E")" 0) packets/s," \
    "peak RSS $(($(rss_of ctl_el) / 1024)) MiB"
fi

# Memory per classified flow record: a SYN flood with --max-dpi-packets 1 makes every flow give
# up after its first packet, so nDPI's state is freed and only ctlabeld's record stays.
# (RSS of FLOOD_FLOWS flows - RSS of 1000 flows) / (FLOOD_FLOWS - 1000), same options.
echo
echo "== flow records: $FLOOD_FLOWS one-packet flows, --max-dpi-packets 1, 1 worker"
REC_BYTES=""
if ((HAVE_CTLABELD)); then
  rec_args=(--max-dpi-packets 1 --max-flows $((FLOOD_FLOWS * 2)))
  if ctlabeld_run ctl_flood 1 "$FLOOD" "${rec_args[@]}" && ctlabeld_run ctl_flood_small 1 "$FLOOD_SMALL" "${rec_args[@]}"; then
    big=$(rss_of ctl_flood) small=$(rss_of ctl_flood_small)
    REC_BYTES=$(calc "($big - $small) * 1024 / ($FLOOD_FLOWS - 1000)" 0)
    echo "  peak RSS $((big / 1024)) MiB vs $((small / 1024)) MiB: $REC_BYTES bytes per flow record" \
      "(table and allocator overhead included); wall $(fmt_wall "$(wall_of ctl_flood)")"
    grep -E '^flows:' "$TMP/ctl_flood.err" | sed 's/^/  /' || true
  fi
fi

# Hash flooding (issue 15 item 6): spoofed SYNs at one victim, crafted to collide under the old
# unkeyed flow hash, against the same number of random spoofed SYNs. ctlabeld's own packets/s
# (its summary: packet processing, start-up excluded), runs interleaved, medians. OLD_CTLABELD, if
# set, is a build from before the keyed hash, run the same way for contrast.
echo
echo "== hash flooding: $HASH_FLOWS spoofed SYNs at one victim, colliding (old hash) vs random, 1 worker"
HASH_RANDOM=$OUT/random-$HASH_FLOWS.pcap
HASH_COLLIDE=$OUT/collide-$HASH_FLOWS.pcap
gen_mode "$HASH_RANDOM" random --flows "$HASH_FLOWS" >/dev/null
gen_mode "$HASH_COLLIDE" collide --flows "$HASH_FLOWS" | sed -n 's/^  \(crafted\|one SYN\)/  \1/p'
pps_of() { sed -n 's/.*packets\/s: \([0-9]*\).*/\1/p' "$1" | tail -n1; }
HASH_RATIO="" HASH_OLD_RATIO=""
hash_flood() {  # hash_flood TAG BINARY: sets REPLY to "random_pps collide_pps ratio"
  local tag=$1 bin=$2 i kind
  : >"$TMP/$tag-random.pps"
  : >"$TMP/$tag-collide.pps"
  for ((i = 0; i < RUNS; ++i)); do
    for kind in random collide; do
      local file=$HASH_RANDOM
      [[ $kind == collide ]] && file=$HASH_COLLIDE
      "$bin" -r "$file" -n --workers 1 -l warn "${EXTRA[@]}" >/dev/null 2>"$TMP/$tag.err" || {
        echo "  $bin -r $file failed: $(tail -n 2 "$TMP/$tag.err")" >&2
        return 1
      }
      pps_of "$TMP/$tag.err" >>"$TMP/$tag-$kind.pps"
    done
  done
  local r c
  r=$(median "$(stats <"$TMP/$tag-random.pps")")
  c=$(median "$(stats <"$TMP/$tag-collide.pps")")
  REPLY="$r $c $(calc "$r / ($c > 0 ? $c : 1)")"
}
if ((HAVE_CTLABELD)) && hash_flood new "$CTLABELD"; then
  read -r r c HASH_RATIO <<<"$REPLY"
  echo "  ctlabeld (keyed hash): random $r packets/s, colliding $c packets/s: random/colliding = ${HASH_RATIO}x" \
    "(runs: random $(tr '\n' ' ' <"$TMP/new-random.pps")| colliding $(tr '\n' ' ' <"$TMP/new-collide.pps"))"
fi
if [[ -n ${OLD_CTLABELD:-} && -x ${OLD_CTLABELD:-} ]] && hash_flood old "$OLD_CTLABELD"; then
  read -r r c HASH_OLD_RATIO <<<"$REPLY"
  echo "  $OLD_CTLABELD (old hash): random $r packets/s, colliding $c packets/s: ${HASH_OLD_RATIO}x"
fi
HASH_TABLE_OLD="" HASH_NS=""
if [[ -x $BUILD/bench/flow_hash_bench ]]; then
  "$BUILD/bench/flow_hash_bench" table "$HASH_RANDOM" "$HASH_COLLIDE" >"$TMP/fhb.out" || echo "  flow_hash_bench table failed"
  echo "  flow table alone (find+insert per packet, fastest of 5): keyed hash" \
    "$(field "$TMP/fhb.out" keyed_random_ns) vs $(field "$TMP/fhb.out" keyed_collide_ns) ns" \
    "(ratio $(field "$TMP/fhb.out" keyed_ratio)); old hash $(field "$TMP/fhb.out" old_random_ns)" \
    "vs $(field "$TMP/fhb.out" old_collide_ns) ns (ratio $(field "$TMP/fhb.out" old_ratio)," \
    "$(awk '$1 == "old_probe_evicted" { print $3 }' "$TMP/fhb.out") flows evicted at the probe bound)"
  HASH_TABLE_OLD=$(field "$TMP/fhb.out" old_ratio)
  "$BUILD/bench/flow_hash_bench" hash "$MIXED" >"$TMP/fhh.out" || echo "  flow_hash_bench hash failed"
  HASH_NS="$(field "$TMP/fhh.out" keyed_ns_per_packet) vs $(field "$TMP/fhh.out" old_ns_per_packet)"
  echo "  hash cost per packet over the mixed file's $(field "$TMP/fhh.out" keys) packets:" \
    "SipHash-1-3 $(field "$TMP/fhh.out" keyed_ns_per_packet) ns, old unkeyed hash" \
    "$(field "$TMP/fhh.out" old_ns_per_packet) ns"
fi

LAT_P99="" LAT_P50=""  # set by the live label run

echo
echo "== other benchmarks"
WRITES=""
if [[ -x $BUILD/bench/actions_bench ]]; then
  echo "-- $BUILD/bench/actions_bench"
  "$BUILD/bench/actions_bench" 2>&1 | sed 's/^/  /' || echo "  actions_bench failed"
else
  echo "  $BUILD/bench/actions_bench not built: skipped"
fi
if [[ -x $BUILD/bench/label_write_bench ]]; then
  if [[ $EUID -eq 0 ]]; then
    echo "-- $BUILD/bench/label_write_bench"
    "$BUILD/bench/label_write_bench" >"$TMP/lwb.out" 2>&1 || echo "  label_write_bench failed"
    sed 's/^/  /' "$TMP/lwb.out"
    # Accepts "writes/s: N", "writes/s N" or "N writes/s"; the largest such figure counts.
    WRITES=$(grep -oiE '(writes/s[:= ]+[0-9.]+|[0-9.]+ *writes/s)' "$TMP/lwb.out" | grep -oE '[0-9.]+' | sort -g | tail -n1 || true)
  else
    echo "  label_write_bench needs root (network namespaces): skipped"
  fi
else
  echo "  $BUILD/bench/label_write_bench not built: skipped"
fi

# ctmark writes (issue 11): the same writer with a masked mark and no labels, then paced writes
# whose submit-to-ack p99 is the writer's share of the ctmark latency.
MARK_WRITES="" MARK_P99=""
if [[ -x $BUILD/bench/label_write_bench && $EUID -eq 0 ]]; then
  echo "-- $BUILD/bench/label_write_bench 100000 mark"
  "$BUILD/bench/label_write_bench" 100000 mark >"$TMP/lwbm.out" 2>&1 || echo "  label_write_bench mark failed"
  sed 's/^/  /' "$TMP/lwbm.out"
  MARK_WRITES=$(sed -n 's/.* = \([0-9.]*\) marks\/s.*/\1/p' "$TMP/lwbm.out" | head -n1)
  MARK_P99=$(sed -n 's/^ctmark write latency.* p99 \([0-9]*\) us.*/\1/p' "$TMP/lwbm.out" | sort -g | tail -n1)
fi

# nftset and ipset writers (issue 11): element adds per second, 100 k distinct flows, each in a
# private network namespace the bench program makes itself.
SET_ADDS_NFT="" SET_ADDS_IPSET=""
for tool in nftset_bench ipset_bench; do
  if [[ ! -x $BUILD/bench/$tool ]]; then
    echo "  $BUILD/bench/$tool not built: skipped"
  elif [[ $EUID -ne 0 ]]; then
    echo "  $tool needs root (network namespaces): skipped"
  else
    echo "-- $BUILD/bench/$tool"
    "$BUILD/bench/$tool" >"$TMP/$tool.out" 2>&1 || echo "  $tool failed"
    sed 's/^/  /' "$TMP/$tool.out"
  fi
done
SET_ADDS_NFT=$(sed -n 's/^nftset element adds\/s[^:]*: \([0-9.]*\) adds\/s.*/\1/p' "$TMP/nftset_bench.out" 2>/dev/null || true)
SET_ADDS_IPSET=$(sed -n 's/^ipset adds\/s[^:]*: \([0-9.]*\) adds\/s.*/\1/p' "$TMP/ipset_bench.out" 2>/dev/null || true)
# The ipset target's writer (queue, writer thread, members counted per flow).
IPSET_SINK_ADDS=$(sed -n 's/^ipset sink writer adds\/s[^:]*: \([0-9.]*\) adds\/s.*/\1/p' "$TMP/ipset_bench.out" 2>/dev/null || true)
IPSET_SINK_P99=$(sed -n 's/^ipset sink writer p99 submit->ack: \([0-9]*\) us.*/\1/p' "$TMP/ipset_bench.out" 2>/dev/null || true)
IPSET_SINK_RSS=$(sed -n 's/^ipset sink writer RSS per 100k members: \([0-9]*\) KiB.*/\1/p' "$TMP/ipset_bench.out" 2>/dev/null || true)
# The nftset target's writer thread (SetSinkWriter): p99 submit -> kernel ack, RSS of its state.
SET_NFT_P99=$(sed -n 's/^nftset p99 submit->kernel ack[^:]*: \([0-9]*\) (p50 \([0-9]*\)).*/\1/p' "$TMP/nftset_bench.out" 2>/dev/null || true)
SET_NFT_P50=$(sed -n 's/^nftset p99 submit->kernel ack[^:]*: \([0-9]*\) (p50 \([0-9]*\)).*/\2/p' "$TMP/nftset_bench.out" 2>/dev/null || true)
SET_NFT_RSS=$(sed -n 's/^nftset sink writer RSS per 100 k members tracked: \([0-9.]*\) MiB.*/\1/p' "$TMP/nftset_bench.out" 2>/dev/null || true)
SET_NFT_SINK=$(sed -n 's/^sink writer: .*: \([0-9.]*\) adds\/s$/\1/p' "$TMP/nftset_bench.out" 2>/dev/null || true)

if ((HAVE_CTLABELD)) && [[ $LIVE == 1 ]]; then
  echo
  echo "== live capture CPU: $LIVE_MB MiB of bulk TCP through a router namespace"
  if [[ $EUID -ne 0 ]]; then
    echo "  needs root: skipped (LIVE=0 silences this)"
  else
    trap 'live_cleanup; rm -rf "$TMP"' EXIT
    live_cleanup
    live_setup
    LIVE_IF=$(live_cpu ctlb-r0) || LIVE_IF=""
    LIVE_NFLOG=$(live_cpu nflog:7) || LIVE_NFLOG=""
    live_labels || true
    [[ -n ${BASELINE:-} ]] && labels_vs_baseline
    saved_p50=$LAT_P50 saved_p99=$LAT_P99
    live_labels "$CTLABELD" ctmark || true
    MARK_LAT_P50=$LAT_P50 MARK_LAT_P99=$LAT_P99 LAT_P50=$saved_p50 LAT_P99=$saved_p99
    live_cleanup
    echo "  interface: ${LIVE_IF:-n/a} CPU s per GiB; nflog:7: ${LIVE_NFLOG:-n/a} CPU s per GiB"
  fi
fi

# --- the table -------------------------------------------------------------------------------

echo
echo "== figures vs issue 6's targets"
nd_m=$(median "$ND_M")
lim_m=$(median "$LIM_M")
lim_e=$(median "$LIM_E")
ct1=${CT_WALL[1]:-}
ctn=${CT_WALL[$WORKERS]:-}
v=""; [[ -n $ct1 ]] && v=$(calc "$nd_m / $(median "$ct1")")
check "ctlabeld -r -n packets/s vs ndpiReader, mixed, 1 worker" "$v" ">=" 5.0 "${v:+${v}x}"
v=""; [[ -n $ct1 && -n $ctn && $WORKERS -gt 1 ]] && v=$(calc "$(median "$ct1") / $(median "$ctn")")
check "$WORKERS workers vs 1 worker, mixed" "$v" ">=" 1.7 "${v:+${v}x}${CEILING:+ (machine ceiling ${CEILING}x)}"
v=""; max_rss=""
for w in "${!CT_RSS[@]}"; do
  if ((CT_RSS[$w] > ${max_rss:-0})); then max_rss=${CT_RSS[$w]}; fi
done
[[ -n $max_rss ]] && v=$(calc "$max_rss / $ND_M_RSS" 3)
check "peak RSS vs ndpiReader, mixed (largest over 1..$WORKERS workers)" "$v" "<=" 0.2 \
  "${v:+$v ($((max_rss / 1024)) vs $((ND_M_RSS / 1024)) MiB)}"
v=""; [[ -n $ctn ]] && v=$(calc "$(median "$ctn") / $lim_m")
check "mixed time vs read+hash limit ($WORKERS workers)" "$v" "<=" 3.0 "${v:+${v}x}"
v=""; [[ -n $CT_E ]] && v=$(calc "$(median "$CT_E") / $lim_e")
check "elephant time vs read+hash limit ($WORKERS workers)" "$v" "<=" 1.5 "${v:+${v}x}"
check "memory per classified flow record (bytes)" "$REC_BYTES" "<=" 200
check "label writes/s (label_write_bench)" "$WRITES" ">=" 100000
if [[ -n ${BASELINE:-} ]]; then
  # "No worse", within the noise of a shared machine: 3%.
  check "1-worker mixed packets/s vs BASELINE=$BASELINE" "$BASE_SPEED" ">=" 0.97 "${BASE_SPEED:+x$BASE_SPEED}"
  check "1-worker mixed peak RSS vs BASELINE=$BASELINE" "$BASE_RSS" "<=" 1.03 "${BASE_RSS:+x$BASE_RSS}"
fi
check "ctmark writes/s, 100 k entries (label_write_bench mark)" "$MARK_WRITES" ">=" 100000
check "p99 ctmark write, submit to ack (paced 1 k/s and 20 k/s, worst)" "$MARK_P99" "<" 1000
check "p99 ctmark latency after the deciding packet (us, live)" "$MARK_LAT_P99" "<" 1000 \
  "${MARK_LAT_P99:+$MARK_LAT_P99 (p50 ${MARK_LAT_P50:-?})}"
check "nftset element adds/s, batched, 100 k flows (nftset_bench)" "$SET_ADDS_NFT" ">=" 100000
[[ -n $SET_NFT_SINK ]] && row "  nftset adds/s through the sink writer thread, 100 k at once" "$SET_NFT_SINK" "" "info"
check "nftset p99 submit->kernel ack, sink writer (us, 10 k/s)" "$SET_NFT_P99" "<" 1000 \
  "${SET_NFT_P99:+$SET_NFT_P99 (p50 ${SET_NFT_P50:-?})}"
[[ -n $SET_NFT_RSS ]] && row "  nftset sink writer RSS per 100 k members tracked (MiB)" "$SET_NFT_RSS" "reported" "info"
check "ipset adds/s, 100 k flows (ipset_bench)" "$SET_ADDS_IPSET" ">=" 100000
check "ipset adds/s through the target's sink writer, 100 k flows" "$IPSET_SINK_ADDS" ">=" 100000
check "ipset p99 submit->kernel ack, sink writer (us)" "$IPSET_SINK_P99" "<" 1000
[[ -n $IPSET_SINK_RSS ]] && row "ipset sink writer RSS per 100 k members tracked" "$IPSET_SINK_RSS KiB" "" "info"
check "p99 label latency after the deciding packet (us, live)" "$LAT_P99" "<" 1000 \
  "${LAT_P99:+$LAT_P99 (p50 ${LAT_P50:-?})}"
v=""; [[ -n $LIVE_IF && -n $LIVE_NFLOG ]] && v=$(calc "$LIVE_IF / ($LIVE_NFLOG > 0 ? $LIVE_NFLOG : 1e-9)" 1)
check "hash flood: random/colliding packets/s, keyed hash (1 worker)" "$HASH_RATIO" "<=" 1.5 \
  "${HASH_RATIO:+${HASH_RATIO}x}${HASH_OLD_RATIO:+ (old build ${HASH_OLD_RATIO}x)}"
[[ -n $HASH_TABLE_OLD ]] && row "  contrast: old hash in today's bounded table, table alone" "${HASH_TABLE_OLD}x" "" "info"
[[ -n $HASH_NS ]] && row "  flow hash ns/packet, SipHash-1-3 vs old (mixed)" "$HASH_NS" "" "info"
check "live CPU per bulk GiB, interface vs nflog head capture" "$v" ">=" 20 "${v:+${v}x less}"
print_rows
echo
echo "Times are wall seconds of the whole process (start-up included), median of $RUNS run(s)."
echo "packets/s = packets in the file / wall time; RSS = peak resident set (/usr/bin/time %M)."
