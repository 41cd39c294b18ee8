#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Zoom beyond nDPI 4.2, live through the router: two clients and a server in network namespaces,
# ctlabeld in the router with the shipped files installed in /etc/ctlabeld and no setting at all
# (the application rules are on by default). The server is on no Zoom list. These get labels=zoom
# and leave the router with tos 0xa0 (DSCP CS5):
#   - TLS with SNI zoom.us (nDPI 4.2 alone: plain TLS);
#   - UDP to the server's port 8801 whose payloads start with the SFU bytes 01 00 03;
#   - STUN carrying attribute 0x0101 to the server's port 3478, and then UDP from the same local
#     port to the second client (peer-to-peer media, named by the learned endpoint).
# These get neither: UDP to port 8801 with random payload, TLS with SNI my-zoom.us.
# Usage: e2e_zoom.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation: test/integration/lib.sh's enter_sandbox (that namespace is the router).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack tcpdump python3 openssl ip
enter_sandbox 240 "$0" "$CTLABELD" "$REPO"

# ---- inside: this network namespace is the router ----
TLS=$REPO/test/integration/tls_peer.py
ZOOM=$REPO/test/integration/zoom_peer.py
C=ctl-zoom-client P=ctl-zoom-peer S=ctl-zoom-server CLIENT_IP=10.202.1.2
# What `cmake --install` puts in /etc/ctlabeld, and a connlabel.conf that names zoom.
write_connlabel $'0 zoom\n'
mkdir -p /etc/ctlabeld
rm -f /etc/ctlabeld/*
cp "$REPO/etc/ctlabeld/actions.json" "$REPO/etc/ctlabeld/app_rules.conf" "$REPO/etc/ctlabeld/protos.txt" /etc/ctlabeld/

add_host $C r-c 10.202.1
add_host $P r-p 10.202.3
add_host $S r-s 10.202.2
sysctl -qw net.ipv4.ip_forward=1
load_nft "$REPO/etc/ctlabeld/ctlabeld.nft"

start_tls_server $S
ip netns exec $S python3 "$ZOOM" server > "$WORK/zoom-server.log" 2>&1 &
PIDS+=($!)
ip netns exec $P python3 "$ZOOM" peer 50123 > "$WORK/peer.log" 2>&1 &
PIDS+=($!)
for log in zoom-server peer; do
  poll 10 grep -qs ready "$WORK/$log.log" || fatal "$log did not start: $(tail -2 "$WORK/$log.log")"
done

# tcpdump where the packets leave the router: at the server and at the peer.
ip netns exec $S tcpdump -i eth0 -n -v -l --immediate-mode 'tcp port 443 or udp' > "$WORK/dump-server.txt" 2> "$WORK/tcpdump-server.err" &
DUMP_S=$!
ip netns exec $P tcpdump -i eth0 -n -v -l --immediate-mode 'udp' > "$WORK/dump-peer.txt" 2> "$WORK/tcpdump-peer.err" &
DUMP_P=$!
PIDS+=($DUMP_S $DUMP_P)
poll 10 grep -qs listening "$WORK/tcpdump-server.err" || fail "tcpdump at the server did not start"
poll 10 grep -qs listening "$WORK/tcpdump-peer.err" || fail "tcpdump at the peer did not start"

# No -c, no --app-rules, no --protos: the installed defaults. Debug shows the verdict lines.
start_ctlabeld "$WORK/ctlabeld.log" -i r-c -l debug
await_capturing "$WORK/ctlabeld.log" r-c || finish
grep -q "application rules: /etc/ctlabeld/app_rules.conf" "$WORK/ctlabeld.log" && ok "the installed application rules were loaded by default" \
  || fail "the default application rules were not loaded: $(grep -m3 -i 'rules\|error' "$WORK/ctlabeld.log")"

# labels= of the UDP entry from 10.202.1.2:$1 to the peer.
labels_to_peer() {
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" '
    index($0, "src=10.202.1.2") && index($0, "dst=10.202.3.2") && $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
peer_has_label() { [ "$(labels_to_peer "$1")" = "$2" ]; }
# Packets in dump $2 from 10.202.1.2 port $1 to destination $3 (address.port prefix), by TOS:
# prints "marked unmarked".
tos_counts() {
  awk -v from="10.202.1.2.$1 > $3" '
    /^[0-9:.]+ IP \(tos/ { tos = $4; sub(",", "", tos); next }
    index($0, from) { if (tos == "0xa0") m++; else u++ }
    END { printf "%d %d\n", m, u }' "$2"
}

run() {  # run NAME COMMAND...: start a client in the client namespace, output in $WORK/NAME.out
  local name=$1; shift
  ip netns exec $C "$@" > "$WORK/$name.out" 2>&1 &
  PIDS+=($!)
  eval "${name}_PID=$!"
}
run zoomsni python3 "$TLS" tls 10.202.2.2 zoom.us 6
run mysni python3 "$TLS" tls 10.202.2.2 my-zoom.us 6
run sfu python3 "$ZOOM" sfu 10.202.2.2 8801 6
run random python3 "$ZOOM" random 10.202.2.2 8801 6
run p2p python3 "$ZOOM" stun-p2p 10.202.2.2 10.202.3.2 50123 5
ZOOMSNI=$(client_port "$WORK/zoomsni.out"); MYSNI=$(client_port "$WORK/mysni.out")
SFU=$(client_port "$WORK/sfu.out"); RANDOM_PORT=$(client_port "$WORK/random.out")
P2P=$(client_port "$WORK/p2p.out")

if poll 10 has_label "$ZOOMSNI" zoom; then ok "TLS with SNI zoom.us (port $ZOOMSNI) has labels=zoom"
else fail "TLS with SNI zoom.us (port $ZOOMSNI) has labels='$(labels_of_port "$ZOOMSNI")'"; fi
if poll 10 has_label "$SFU" zoom; then ok "UDP to 8801 with the SFU bytes (port $SFU) has labels=zoom"
else fail "UDP to 8801 with the SFU bytes (port $SFU) has labels='$(labels_of_port "$SFU")'"; fi
if poll 10 has_label "$P2P" zoom; then ok "STUN with attribute 0x0101 (port $P2P) has labels=zoom"
else fail "STUN with attribute 0x0101 (port $P2P) has labels='$(labels_of_port "$P2P")'"; fi
if poll 10 peer_has_label "$P2P" zoom; then ok "UDP from the same port to the other client has labels=zoom"
else fail "UDP from port $P2P to the other client has labels='$(labels_to_peer "$P2P")'"; fi
wait $zoomsni_PID $mysni_PID $sfu_PID $random_PID $p2p_PID
grep -q "stun answers [1-9]" "$WORK/p2p.out" || fail "the STUN server never answered: $(cat "$WORK/p2p.out")"
[ "$(labels_of_port "$MYSNI")" = "" ] && ok "TLS with SNI my-zoom.us has no label" || fail "TLS with SNI my-zoom.us labels='$(labels_of_port "$MYSNI")'"
[ "$(labels_of_port "$RANDOM_PORT")" = "" ] && ok "UDP to 8801 with random payload has no label" || fail "random UDP labels='$(labels_of_port "$RANDOM_PORT")'"

sleep 0.3
kill -INT $DUMP_S $DUMP_P; wait $DUMP_S $DUMP_P 2>/dev/null
marked() {  # marked NAME PORT DUMP DEST: at least one packet with tos 0xa0 after the label
  local m u
  read -r m u <<< "$(tos_counts "$2" "$3" "$4")"
  [ "$m" -gt 0 ] && ok "$1: $m packets arrived with tos 0xa0 ($u before the label)" || fail "$1: no packet with tos 0xa0 ($u unmarked)"
}
unmarked() {  # unmarked NAME PORT DUMP DEST: packets arrived, none with tos 0xa0
  local m u
  read -r m u <<< "$(tos_counts "$2" "$3" "$4")"
  [ "$m" -eq 0 ] && [ "$u" -gt 0 ] && ok "$1: $u packets, none with tos 0xa0" || fail "$1: marked=$m unmarked=$u"
}
marked "TLS zoom.us" "$ZOOMSNI" "$WORK/dump-server.txt" 10.202.2.2.443
marked "UDP SFU" "$SFU" "$WORK/dump-server.txt" 10.202.2.2.8801
marked "STUN" "$P2P" "$WORK/dump-server.txt" 10.202.2.2.3478
marked "peer-to-peer UDP" "$P2P" "$WORK/dump-peer.txt" 10.202.3.2.50123
unmarked "TLS my-zoom.us" "$MYSNI" "$WORK/dump-server.txt" 10.202.2.2.443
unmarked "UDP random" "$RANDOM_PORT" "$WORK/dump-server.txt" 10.202.2.2.8801

# Why, in the debug log: one line per verdict with detected_by.
explain() {  # explain NAME PATTERN: the debug line matching PATTERN must exist
  local line
  line=$(grep -m1 -E "$2" "$WORK/ctlabeld.log")
  [ -n "$line" ] && ok "$1: ${line#*\] }" || fail "$1: no debug line matching '$2'"
}
explain "log, SNI" "10\.202\.1\.2:$ZOOMSNI -> 10\.202\.2\.2:443: app zoom, protocol tls, detected_by host"
explain "log, SFU" "10\.202\.1\.2:$SFU -> 10\.202\.2\.2:8801: app zoom, .*detected_by payload \(zoom-media"
explain "log, STUN" "10\.202\.1\.2:$P2P -> 10\.202\.2\.2:3478: app zoom, protocol stun, detected_by payload \(zoom-stun.*teaches"
explain "log, peer-to-peer" "10\.202\.1\.2:$P2P -> 10\.202\.3\.2:50123: app zoom, .*detected_by endpoint"

kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
[ $FAILS -ne 0 ] && { echo "--- ctlabeld log"; grep -v "^.*debug: \[ctlabeld\] classify: .* 10\.202\.1\.1" "$WORK/ctlabeld.log" | tail -n 40; }
finish
