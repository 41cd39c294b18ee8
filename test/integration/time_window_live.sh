#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# time_of_day live: client -- router -- server in network namespaces, ctlabeld capturing in the
# router. The zoom action has a time_of_day window (UTC) that opens at the next minute boundary
# at least 8 s away. One long-lived TLS connection with a Zoom SNI is classified before the
# boundary and must carry no label then; within 2 s after the boundary it must carry 'zoom',
# set by the worker's re-evaluation at the window edge (its verdict does not change then).
# Usage: time_window_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation as in e2e_router.sh: the script re-runs itself under `unshare --mount --net` (that
# namespace is the router) with private /etc (overlay) and /run/netns (tmpfs).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare nft conntrack python3 openssl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-tod-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 140 unshare --mount --propagation private --net -- bash "$0" "$CTLABELD" "$REPO"
  exit $?
fi

# ---- inside: this network namespace is the router ----
PEER=$REPO/test/integration/tls_peer.py
C=ctl-tod-client S=ctl-tod-server
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
trap cleanup EXIT
mkdir -p "$WORK/upper" "$WORK/work" /run/netns
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/upper,workdir=$WORK/work" /etc || exit 1
mount -t tmpfs tmpfs /run/netns || exit 1
mkdir -p /etc/xtables
printf '0 zoom\n1 other\n' | tee /etc/connlabel.conf /etc/xtables/connlabel.conf > "$WORK/connlabel.conf"

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
# poll SECONDS COMMAND...: run COMMAND every 100 ms until it succeeds or time runs out.
poll() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

ip link set lo up
ip netns add $C; ip netns add $S
ip link add r-c type veth peer name eth0 netns $C
ip link add r-s type veth peer name eth0 netns $S
ip addr add 10.203.1.1/24 dev r-c; ip link set r-c up
ip addr add 10.203.2.1/24 dev r-s; ip link set r-s up
ip -n $C addr add 10.203.1.2/24 dev eth0; ip -n $C link set eth0 up; ip -n $C link set lo up
ip -n $S addr add 10.203.2.2/24 dev eth0; ip -n $S link set eth0 up; ip -n $S link set lo up
ip -n $C route add default via 10.203.1.1
ip -n $S route add default via 10.203.2.1
sysctl -qw net.ipv4.ip_forward=1
nft -f "$REPO/etc/ctlabeld/ctlabeld.nft" || { fail "nft -f etc/ctlabeld/ctlabeld.nft"; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $S python3 "$PEER" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
poll 10 grep -q ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }

labels_of_port() {  # labels= of the TCP entry whose original source port is $1
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" '
    index($0, "src=10.203.1.2") && $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }
client_port() { poll 10 grep -q '^port ' "$1" && awk '/^port /{print $2; exit}' "$1"; }

# The window opens at the next minute boundary at least 8 s away (time_of_day has minute
# resolution): enough to start the daemon and classify the connection before it.
now=$(date -u +%s)
OPEN=$(( (now / 60 + 1) * 60 ))
[ $((OPEN - now)) -lt 8 ] && OPEN=$((OPEN + 60))
DAY=$(date -u -d "@$OPEN" +%a | tr 'A-Z' 'a-z')
START=$(date -u -d "@$OPEN" +%H:%M)
END=$(date -u -d "@$((OPEN + 600))" +%H:%M)  # may run past midnight: the model handles that
echo "window: $DAY $START-$END UTC, opening in $((OPEN - now)) s"
cat > "$WORK/actions.json" <<JSON
{
  "version": 1,
  "reprocess_flows": true,
  "timezone": "UTC",
  "target_globals": { "ctlabel": { "max_bits": 127, "connlabel_conf": "$WORK/connlabel.conf" } },
  "targets": { "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
  "actions": {
    "zoom": {
      "criteria": "app == 'zoom';",
      "targets": [ "ctlabel.zoom" ],
      "time_of_day": [ { "day": [ "$DAY" ], "time_start": "$START", "time_end": "$END", "policy": "inclusive" } ]
    }
  }
}
JSON
LOG=$WORK/ctlabeld.log
"$CTLABELD" -c "$WORK/actions.json" -i r-c --flows "$WORK/flows.jsonl" --stats-file "$WORK/stats.json" --stats-interval 1 -l info 2> "$LOG" &
CTL=$!
PIDS+=("$CTL")
poll 10 grep -q "r-c: capturing" "$LOG" || { fail "ctlabeld did not start capturing on r-c: $(tail -3 "$LOG")"; exit 1; }

# One connection that lives past the boundary (a line every 100 ms, bounded by its seconds).
ip netns exec $C python3 "$PEER" tls 10.203.2.2 us04web.zoom.us $((OPEN - $(date -u +%s) + 12)) > "$WORK/zoom.out" 2>&1 &
client=$!
PIDS+=("$client")
PORT=$(client_port "$WORK/zoom.out")
[ -n "$PORT" ] || { fail "the TLS client did not connect: $(cat "$WORK/zoom.out")"; exit 1; }
[ "$(date -u +%s)" -lt "$OPEN" ] || fail "setup took past the boundary; the test cannot tell the edge from the verdict"

# Before the boundary: no label, checked every 100 ms until 1 s before it.
early=''
while [ "$(date -u +%s)" -lt $((OPEN - 1)) ]; do
  l=$(labels_of_port "$PORT")
  [ -n "$l" ] && { early=$l; break; }
  sleep 0.1
done
[ -z "$early" ] && ok "before $START UTC the connection has no label" || fail "the connection had labels='$early' before the window opened"
if ! conntrack -L -o extended 2>/dev/null | grep -q "sport=$PORT "; then fail "no conntrack entry for port $PORT"; fi

# After the boundary: 'zoom' within 2 s, though the connection's verdict does not change.
while [ "$(date -u +%s)" -lt "$OPEN" ]; do sleep 0.02; done
seen=''
deadline=$(( OPEN * 1000000000 + 3000000000 ))
while [ "$(date -u +%s%N)" -lt $deadline ]; do
  if has_label "$PORT" zoom; then seen=$(date -u +%s%N); break; fi
  sleep 0.05
done
if [ -n "$seen" ]; then
  ms=$(( (seen - OPEN * 1000000000) / 1000000 ))
  [ $ms -le 2000 ] && ok "the window opened at $START:00 UTC and the connection had labels=zoom $ms ms later, with no verdict change" \
    || fail "labels=zoom only $ms ms after the boundary (want <= 2000)"
else
  fail "no zoom label within 3 s of the boundary: labels='$(labels_of_port "$PORT")'"
fi
poll 3 grep -q '"window_edges": *[1-9]' "$WORK/stats.json" && ok "statistics count the edge: $(grep -o '"window_edges": *[0-9]*' "$WORK/stats.json" | head -1)" \
  || fail "window_edges not counted in $WORK/stats.json"

kill $client 2>/dev/null; wait $client 2>/dev/null
kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
# --flows has the connection's line from its final verdict, with the labels evaluated then:
# none, so the verdict came before the boundary and the label above came from the window edge.
line=$(grep -m1 "\"src_port\":$PORT," "$WORK/flows.jsonl" 2>/dev/null)
first=$(printf '%s' "$line" | grep -o '"first_seen":[0-9]*' | cut -d: -f2)
if printf '%s' "$line" | grep -q '"app":"zoom"' && printf '%s' "$line" | grep -q '"labels":\[\]' && [ "${first:-$OPEN}" -lt "$OPEN" ]; then
  ok "the connection's final verdict (app zoom, first packet $((OPEN - first)) s before the boundary) was evaluated with the window closed: labels []"
else
  fail "the connection's --flows line does not show a Zoom verdict made before the window opened: ${line:-none}"
fi

if [ $FAILS -ne 0 ]; then
  echo "--- ctlabeld log"; tail -n 30 "$LOG"
  echo "0 passed, $FAILS failed"; exit 1
fi
echo "1 passed, 0 failed"
