#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Flow flood: a 2 M-flow SYN scan (bench/gen_pcap flood) through `ctlabeld -r -n`. Asserts no
# crash, that evictions are counted (every flow beyond the tables' capacity is evicted), and that
# peak RSS follows --max-flows, not the number of flows seen: the same table size over a scan five
# times smaller costs about the same memory, and a table five times smaller costs less.
# Usage: flood.sh CTLABELD GEN_PCAP REPO_ROOT
# Environment: FLOOD_FLOWS (default 2000000); FLOOD_DIR keeps the generated captures (about
# 170 MB) there for the next run, else they go to a temporary directory removed at the end.
set -u
USAGE="usage: $0 CTLABELD GEN_PCAP REPO_ROOT"
CTLABELD=$(readlink -f "${1:?$USAGE}")
GEN=$(readlink -f "${2:?$USAGE}")
REPO=$(readlink -f "${3:?$USAGE}")
. "$REPO/test/integration/lib.sh"  # bookkeeping only: no namespaces, no root
FLOWS=${FLOOD_FLOWS:-2000000}
SMALL_FLOWS=$((FLOWS / 5))
WORKERS=2
[ -x "$CTLABELD" ] || { echo "FAIL: no ctlabeld at $CTLABELD"; exit 1; }
[ -x "$GEN" ] || { echo "SKIP: no gen_pcap at $GEN (bench not built)"; exit 77; }
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time (package time) missing"; exit 77; }
[ -f "$REPO/../shared/pcaps/synscan.pcap" ] || { echo "SKIP: ../shared/pcaps/synscan.pcap missing"; exit 77; }

if [ -n "${FLOOD_DIR:-}" ]; then
  WORK=$FLOOD_DIR
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d /tmp/ctlabeld-flood-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi

generate() {  # generate FLOWS OUT
  [ -s "$2" ] && return 0
  (cd "$REPO" && "$GEN" flood "$2" --flows "$1" --pcaps ../shared/pcaps) > "$2.log" 2>&1 || {
    echo "FAIL: gen_pcap flood: $(tail -3 "$2.log")"; exit 1; }
}
generate "$FLOWS" "$WORK/flood-$FLOWS.pcap"
generate "$SMALL_FLOWS" "$WORK/flood-$SMALL_FLOWS.pcap"

# run NAME PCAP MAX_FLOWS: sets RSS_KB, CREATED, EVICTED, EXPIRED, SECONDS_TAKEN
run() {
  local name=$1 pcap=$2 max=$3
  local stats=$WORK/$name.json timev=$WORK/$name.time
  rm -f "$stats"
  /usr/bin/time -v -o "$timev" timeout 600 "$CTLABELD" -r "$pcap" -n --max-flows "$max" --workers $WORKERS \
    --stats-file "$stats" -l warn > "$WORK/$name.out" 2> "$WORK/$name.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    fail "$name: ctlabeld exited $rc: $(tail -5 "$WORK/$name.err")"
    RSS_KB=0 CREATED=0 EVICTED=0 EXPIRED=0 SECONDS_TAKEN=0
    return
  fi
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timev")
  SECONDS_TAKEN=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$timev")
  read -r CREATED EVICTED EXPIRED < <(python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["flows"]
print(f["created"], f["evicted"], f["expired"])' "$stats")
  echo "  $name: $(basename "$pcap"), --max-flows $max x $WORKERS workers: peak RSS $((RSS_KB / 1024)) MiB," \
       "flows created $CREATED, evicted $EVICTED, expired $EXPIRED, wall $SECONDS_TAKEN"
}

run big "$WORK/flood-$FLOWS.pcap" 100000
BIG_RSS=$RSS_KB BIG_CREATED=$CREATED BIG_EVICTED=$EVICTED BIG_EXPIRED=$EXPIRED
run small_table "$WORK/flood-$FLOWS.pcap" 20000
SMALL_TABLE_RSS=$RSS_KB SMALL_TABLE_EVICTED=$EVICTED
run fewer_flows "$WORK/flood-$SMALL_FLOWS.pcap" 100000
FEWER_RSS=$RSS_KB

[ "$BIG_CREATED" -eq "$FLOWS" ] && ok "all $FLOWS flows were tracked" || fail "flows created $BIG_CREATED, expected $FLOWS"
# Each worker ends with a full table; everything else left through eviction (or idle expiry,
# which a 10 s scan under 300 s TCP timeouts should not reach).
expect_gone=$((FLOWS - WORKERS * 100000))
gone=$((BIG_EVICTED + BIG_EXPIRED))
if [ "$BIG_EVICTED" -gt 0 ] && [ "$gone" -ge $((expect_gone * 99 / 100)) ] && [ "$gone" -le "$expect_gone" ]; then
  ok "evictions counted: $BIG_EVICTED evicted + $BIG_EXPIRED expired, expected about $expect_gone (flows - workers x max_flows)"
else
  fail "evicted $BIG_EVICTED + expired $BIG_EXPIRED, expected about $expect_gone"
fi
expect_small=$((FLOWS - WORKERS * 20000))
[ "$SMALL_TABLE_EVICTED" -ge $((expect_small * 99 / 100)) ] && ok "--max-flows 20000: $SMALL_TABLE_EVICTED evicted (about $expect_small expected)" \
  || fail "--max-flows 20000: evicted $SMALL_TABLE_EVICTED, expected about $expect_small"
# Bounded by max_flows: five times fewer flows seen, same table: within 15 %.
if [ "$BIG_RSS" -gt 0 ] && [ "$FEWER_RSS" -gt 0 ] && [ $((BIG_RSS * 100)) -le $((FEWER_RSS * 115)) ]; then
  ok "RSS does not grow with flows seen: $((FEWER_RSS / 1024)) MiB after $SMALL_FLOWS flows, $((BIG_RSS / 1024)) MiB after $FLOWS (same --max-flows)"
else
  fail "RSS grew with flows seen: $((FEWER_RSS / 1024)) MiB after $SMALL_FLOWS flows vs $((BIG_RSS / 1024)) MiB after $FLOWS"
fi
# Scales with max_flows: a table a fifth the size must cost clearly less.
if [ "$SMALL_TABLE_RSS" -gt 0 ] && [ "$SMALL_TABLE_RSS" -lt "$BIG_RSS" ]; then
  ok "RSS follows --max-flows: $((SMALL_TABLE_RSS / 1024)) MiB at 20000, $((BIG_RSS / 1024)) MiB at 100000" \
     "(~$(( (BIG_RSS - SMALL_TABLE_RSS) * 1024 / (WORKERS * 80000) )) bytes per tracked flow)"
else
  fail "RSS at --max-flows 20000 ($((SMALL_TABLE_RSS / 1024)) MiB) is not below 100000's ($((BIG_RSS / 1024)) MiB)"
fi

finish
