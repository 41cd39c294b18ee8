#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Hash flooding, live (issue 15 item 6): client -- router -- server in namespaces, ctlabeld
# capturing in the router with one worker. From the client namespace, tcpreplay sends a flood of
# spoofed SYNs at one victim (bench/gen_pcap collide: crafted to pile into one probe cluster under
# ctlabeld's old unkeyed flow hash) through the router, while real TLS connections with a Zoom SNI
# cross it. Every real connection must get labels=zoom, ctlabeld must have seen the flood, and it
# must have kept up (ring and kernel drops under 5% of the flood). With the old hash the worker
# fell to about 2 k packets/s on such a flood, its rings overflowed and real connections went
# unlabelled.
# Usage: hash_flood.sh CTLABELD GEN_PCAP REPO_ROOT. Exit 77 (skipped) when not root.
# Environment: HASH_FLOOD_FLOWS (default 150000), HASH_FLOOD_PPS (default 30000), HASH_REAL
# (real connections, default 30). Everything is bounded: the flood by its size, each connection
# by its duration, the whole test by enter_sandbox's limit.
set -u
USAGE="usage: $0 CTLABELD GEN_PCAP REPO_ROOT"
CTLABELD=$(readlink -f "${1:?$USAGE}")
GEN=$(readlink -f "${2:?$USAGE}")
REPO=$(readlink -f "${3:?$USAGE}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack python3 openssl ip tcpreplay tcprewrite
[ -x "$GEN" ] || { echo "SKIP: no gen_pcap at $GEN (bench not built)"; exit 77; }
[ -f "$REPO/../shared/pcaps/synscan.pcap" ] || { echo "SKIP: ../shared/pcaps/synscan.pcap missing"; exit 77; }
enter_sandbox 280 "$0" "$CTLABELD" "$GEN" "$REPO"

# ---- inside: this network namespace is the router ----
FLOOD=${HASH_FLOOD_FLOWS:-150000}
PPS=${HASH_FLOOD_PPS:-30000}
REAL=${HASH_REAL:-30}
PEER=$REPO/test/integration/tls_peer.py
C=ctl-hf-client S=ctl-hf-server
write_connlabel $'0 zoom\n'

# The flood, crafted against the old hash for ctlabeld's default table (max_flows 262144).
(cd "$REPO" && "$GEN" collide "$WORK/collide.pcap" --flows "$FLOOD" --pcaps ../shared/pcaps) > "$WORK/gen.log" 2>&1 \
  || { fail "gen_pcap collide: $(tail -3 "$WORK/gen.log")"; finish; }

add_host $C r-c 10.203.1
add_host $S r-s 10.203.2
sysctl -qw net.ipv4.ip_forward=1
# The flood goes from spoofed 198.18.0.0/15 (behind the client) to 10.0.0.1 (behind the server,
# which drops it): the router forwards and tracks every SYN.
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.r-c.rp_filter=0 2>/dev/null
ip route add 198.18.0.0/15 via 10.203.1.2
ip route add 10.0.0.0/24 via 10.203.2.2
load_nft "$REPO/etc/ctlabeld/ctlabeld.nft"
mac_of() { ip ${2:+-n "$2"} -o link show dev "$1" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
ROUTER_MAC=$(mac_of r-c) CLIENT_MAC=$(mac_of eth0 $C)
[ -n "$ROUTER_MAC" ] && [ -n "$CLIENT_MAC" ] || { fail "no MAC address for r-c or the client's eth0"; finish; }
tcprewrite --enet-dmac="$ROUTER_MAC" --enet-smac="$CLIENT_MAC" \
  -i "$WORK/collide.pcap" -o "$WORK/flood.pcap" || { fail "tcprewrite"; finish; }

start_tls_server $S

write_actions "$WORK/actions.json" "$ZOOM_TARGET_MEMBER" "$ZOOM_ACTION_MEMBER"
LOG=$WORK/ctlabeld.log STATS=$WORK/stats.json
start_ctlabeld "$LOG" -c "$WORK/actions.json" -i r-c --workers 1 --stats-file "$STATS" --stats-interval 1 -l info
await_capturing "$LOG" || finish
poll 5 test -s "$STATS" || { fail "no stats file"; finish; }

labels_of_port() {  # labels= of the real connection from client port $1 ("<absent>": none)
  # An exact lookup (-G): listing a table that holds the flood would take seconds per call.
  conntrack -G -p tcp -s 10.203.1.2 -d 10.203.2.2 --sport "$1" --dport 443 -o labels 2>/dev/null | awk '
    { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); found = 1; exit }
      print ""; found = 1; exit }
    END { if (!found) print "<absent>" }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }
# One checker for all real connections: every 200 ms it looks up each one not yet labelled (its
# port from the client's first line). Generous limit: on a loaded 2-core machine, with the flood,
# a Python client can take seconds to start. Bounded by 60 s.
check_labels() {
  local end=$((SECONDS + 60)) i pending port
  while [ $SECONDS -lt $end ]; do
    pending=0
    for ((i = 0; i < REAL; ++i)); do
      [ -e "$WORK/real-$i.labelled" ] && continue
      pending=1
      if [ ! -s "$WORK/real-$i.port" ]; then
        awk '/^port /{print $2; exit}' "$WORK/real-$i.out" 2>/dev/null > "$WORK/real-$i.port"
      fi
      port=$(cat "$WORK/real-$i.port")
      [ -n "$port" ] && has_label "$port" zoom && touch "$WORK/real-$i.labelled"
    done
    [ $pending -eq 0 ] && return 0
    sleep 0.2
  done
}

# The flood, and the real connections while it runs: one new connection every 150 ms, each
# exchanging a line every 100 ms for 3 s. Each connection's label is checked while it is open
# (a closed connection's entry may leave the table before the flood ends).
seconds=$(( (FLOOD + PPS - 1) / PPS ))
echo "flood: $FLOOD colliding SYNs at $PPS packets/s (~${seconds}s); $REAL real TLS connections (SNI us04web.zoom.us) meanwhile"
ip netns exec $C timeout $((seconds * 4 + 30)) tcpreplay -q -i eth0 --pps="$PPS" "$WORK/flood.pcap" > "$WORK/tcpreplay.log" 2>&1 &
REPLAY=$!
PIDS+=("$REPLAY")
poll 10 stat_at_least "$STATS" 'sum(i["packets"] for i in s["interfaces"])' 1000 || fail "the flood does not reach ctlabeld"
CLIENTS=()
for ((i = 0; i < REAL; ++i)); do : > "$WORK/real-$i.out"; done
check_labels &
CHECKER=$!
for ((i = 0; i < REAL; ++i)); do
  ip netns exec $C python3 "$PEER" tls 10.203.2.2 us04web.zoom.us 3 > "$WORK/real-$i.out" 2>&1 &
  CLIENTS+=($!)
  sleep 0.15
done
replay_running=0
kill -0 "$REPLAY" 2>/dev/null && replay_running=1
wait "${CLIENTS[@]}" "$CHECKER"
wait "$REPLAY"; replay_rc=$?
[ $replay_rc -eq 0 ] || fail "tcpreplay exited $replay_rc: $(tail -3 "$WORK/tcpreplay.log")"
[ $replay_running -eq 1 ] && ok "the flood was still running when the last real connection started" \
  || note "the flood ended before the last real connection started (raise HASH_FLOOD_FLOWS)"

# Every real connection labelled.
labelled=0 missing=()
for ((i = 0; i < REAL; ++i)); do
  if [ -e "$WORK/real-$i.labelled" ]; then
    labelled=$((labelled + 1))
  else
    port=$(cat "$WORK/real-$i.port" 2>/dev/null)
    missing+=("#$i port=${port:-none} labels='$( [ -n "$port" ] && labels_of_port "$port")' $(tail -1 "$WORK/real-$i.out")")
  fi
done
[ $labelled -eq "$REAL" ] && ok "all $REAL real connections got labels=zoom during the flood" \
  || fail "$labelled of $REAL real connections labelled; missing: ${missing[*]}"

# ctlabeld saw the flood and kept up with it.
touch "$WORK/mark"; poll 5 test "$STATS" -nt "$WORK/mark"
packets=$(stat_of "$STATS" 'sum(i["packets"] for i in s["interfaces"])')
drops=$(stat_of "$STATS" 'sum(i["dropped_queue_full"] + i["dropped_kernel"] for i in s["interfaces"])')
created=$(stat_of "$STATS" 's["flows"]["created"]')
echo "ctlabeld: $packets packets, $created flows created, $drops ring+kernel drops; $(grep -m1 -o 'Actual: [0-9]* packets[^,]*' "$WORK/tcpreplay.log")"
[ "$packets" -ge $((FLOOD * 9 / 10)) ] && ok "ctlabeld captured the flood ($packets packets)" \
  || fail "ctlabeld captured only $packets packets of a $FLOOD-SYN flood"
[ "$drops" -ge 0 ] && [ "$drops" -le $((FLOOD / 20)) ] && ok "ctlabeld kept up: $drops drops (limit $((FLOOD / 20)))" \
  || fail "ctlabeld fell behind the flood: $drops ring+kernel drops"
[ "$created" -ge $((FLOOD * 9 / 10)) ] && ok "the flood's flows were tracked ($created created)" \
  || fail "only $created flows created for a $FLOOD-flow flood"

# The router forwarded the flood (it tracks the SYNs), so the flood went through it.
tracked=$(conntrack -C 2>/dev/null || echo 0)
[ "$tracked" -ge $((FLOOD * 9 / 10)) ] && ok "the router forwarded and tracks the flood ($tracked conntrack entries)" \
  || fail "the router tracks only $tracked connections: the flood did not go through it"

kill -TERM "$CTL"; wait "$CTL"; rc=$?
[ $rc -eq 0 ] && ok "ctlabeld exited 0 on SIGTERM" || fail "ctlabeld exited $rc"
[ "$FAILS" -ne 0 ] && { echo "--- ctlabeld log"; tail -n 20 "$LOG"; }
finish
