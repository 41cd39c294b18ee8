#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# time_of_day live: client -- router -- server in network namespaces, ctlabeld capturing in the
# router. The zoom action has a time_of_day window (UTC) that opens at the next minute boundary
# at least 8 s away. One long-lived TLS connection with a Zoom SNI is classified before the
# boundary and must carry no label then; within 2 s after the boundary it must carry 'zoom',
# set by the worker's re-evaluation at the window edge (its verdict does not change then).
# Usage: time_window_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation: test/integration/lib.sh's enter_sandbox (that namespace is the router).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack python3 openssl ip
enter_sandbox 140 "$0" "$CTLABELD" "$REPO"

# ---- inside: this network namespace is the router ----
PEER=$REPO/test/integration/tls_peer.py
C=ctl-tod-client S=ctl-tod-server CLIENT_IP=10.203.1.2
write_connlabel $'0 zoom\n1 other\n'
add_host $C r-c 10.203.1
add_host $S r-s 10.203.2
sysctl -qw net.ipv4.ip_forward=1
load_nft "$REPO/etc/ctlabeld/ctlabeld.nft"
start_tls_server $S

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
start_ctlabeld "$LOG" -c "$WORK/actions.json" -i r-c --flows "$WORK/flows.jsonl" --stats-file "$WORK/stats.json" --stats-interval 1 -l info
await_capturing "$LOG" r-c || finish

# One connection that lives past the boundary (a line every 100 ms, bounded by its seconds).
ip netns exec $C python3 "$PEER" tls 10.203.2.2 us04web.zoom.us $((OPEN - $(date -u +%s) + 12)) > "$WORK/zoom.out" 2>&1 &
client=$!
PIDS+=("$client")
PORT=$(client_port "$WORK/zoom.out")
[ -n "$PORT" ] || fatal "the TLS client did not connect: $(cat "$WORK/zoom.out")"
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

[ $FAILS -ne 0 ] && { echo "--- ctlabeld log"; tail -n 30 "$LOG"; }
finish
