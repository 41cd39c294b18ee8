#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ctmark end to end: client -- router -- server in network namespaces, the client masqueraded
# (IPv4) behind the router's WAN address; ctlabeld runs live in the router on the WAN side, so
# every IPv4 write is found by its reply tuple (NAT). A ctmark target (mark 1, shift 8, mask
# 0xff00) on Zoom connections feeds `ct mark and 0xff00 == 0x100 ip dscp set cs5`: the server
# sees DSCP CS5 on the Zoom connection (IPv4 and IPv6) and on nothing else; bits outside the
# mask, set by an nft rule on every new connection, survive; no label storage is needed (no
# ctlabel target, no label rule). Reloads that change the mark or remove the action rewrite or
# clear the bits on the live connection; a reload with overlapping ctmark targets is refused.
# Usage: ctmark_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation as e2e_router.sh: the script re-runs itself under `unshare --mount --net` (the
# router), with a private /etc overlay and /run/netns, so everything vanishes with it.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare nft conntrack tcpdump python3 openssl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-ctmark-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 240 unshare --mount --propagation private --net -- bash "$0" "$CTLABELD" "$REPO"
  exit $?
fi

# ---- inside: this network namespace is the router ----
PEER=$REPO/test/integration/tls_peer.py
C=ctl-mark-client S=ctl-mark-server
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
printf '0 zoom\n' | tee /etc/connlabel.conf /etc/xtables/connlabel.conf > "$WORK/connlabel.conf"

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
poll() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

ip link set lo up
ip netns add $C; ip netns add $S
ip link add r-c type veth peer name eth0 netns $C
ip link add r-s type veth peer name eth0 netns $S
ip addr add 10.202.1.1/24 dev r-c; ip addr add fd00:202:1::1/64 dev r-c nodad; ip link set r-c up
ip addr add 10.202.2.1/24 dev r-s; ip addr add fd00:202:2::1/64 dev r-s nodad; ip link set r-s up
for ns in $C $S; do ip -n $ns link set eth0 up; ip -n $ns link set lo up; done
ip -n $C addr add 10.202.1.2/24 dev eth0; ip -n $C addr add fd00:202:1::2/64 dev eth0 nodad
ip -n $S addr add 10.202.2.2/24 dev eth0; ip -n $S addr add fd00:202:2::2/64 dev eth0 nodad
ip -n $C route add default via 10.202.1.1; ip -n $C -6 route add default via fd00:202:1::1
ip -n $S route add default via 10.202.2.1; ip -n $S -6 route add default via fd00:202:2::1
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# Someone else's mark bits (0x00ff0000) on every new connection, the DSCP rules that consume
# ctlabeld's bits (0x0000ff00), and the masquerade. No label rule: labels have no storage.
nft -f - <<'NFT' || { fail "loading the test ruleset"; exit 1; }
table inet ctmark_test {
  chain foreign {
    type filter hook prerouting priority mangle - 1; policy accept;
    ct state new ct mark set ct mark or 0x00ff0000
  }
  chain dscp {
    type filter hook postrouting priority mangle; policy accept;
    ct mark and 0x0000ff00 == 0x00000100 counter ip dscp set cs5
    ct mark and 0x0000ff00 == 0x00000100 counter ip6 dscp set cs5
  }
  chain nat {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "r-s" meta nfproto ipv4 masquerade
  }
}
NFT

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $S python3 "$PEER" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
poll 10 grep -q ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }

actions() {  # actions FILE MARK WITH_ACTION(1|0) [EXTRA_TARGETS_JSON EXTRA_ACTIONS_JSON]
  local action=''
  [ "$3" = 1 ] && action='"video": { "criteria": "app == '"'"'zoom'"'"';", "targets": [ "ctmark.video" ] }'
  cat > "$1" <<JSON
{
  "target_globals": { "ctlabel": { "connlabel_conf": "$WORK/connlabel.conf" } },
  "target_defaults": { "ctmark": { "mask": "0xff00", "shift": 8 } },
  "targets": { "ctmark.video": { "target_type": "ctmark", "mark": "$2" }${4:-} },
  "actions": { $action${5:-} }
}
JSON
}
# The conntrack mark of the entry whose original tuple is the client's (any family), source port $1.
mark_of_port() {
  conntrack -L -f "$2" -o extended 2>/dev/null | awk -v p="sport=$1" -v src="src=$3" '
    index($0, src " ") && $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^mark=/) { printf "0x%08x\n", substr($f, 6); exit } }'
}
has_mark() { [ "$(mark_of_port "$1" "$2" "$3")" = "$4" ]; }
# The IPv4 port the server sees (after masquerade): the reply tuple's destination port.
nat_port() {
  conntrack -L -f ipv4 -o extended 2>/dev/null | awk -v p="sport=$1" '
    index($0, "src=10.202.1.2 ") && $0 ~ (p " ") { n = 0; for (f = 1; f <= NF; f++) if ($f ~ /^dport=/ && ++n == 2) { print substr($f, 7); exit } }'
}
client_port() { poll 10 grep -q '^port ' "$1" && awk '/^port /{print $2; exit}' "$1"; }
# Packets at the server from "$1" (e.g. "10.202.2.1.4321 >"), by DSCP CS5: "marked unmarked".
tos_counts() {
  awk -v from="$1" '
    / IP6 / { if (index($0, from)) { if (index($0, "class 0xa0")) m++; else u++ } next }
    /^[0-9:.]+ IP \(tos/ { tos = $4; sub(",", "", tos); next }
    index($0, from) { if (tos == "0xa0") m++; else u++ }
    END { printf "%d %d\n", m, u }' "$2"
}
dscp_counter() {  # packets counted by the IPv4 (1) or IPv6 (2) rule
  nft list chain inet ctmark_test dscp | awk -v n="$1" '/counter packets/ { if (++i == n) { for (f = 1; f <= NF; f++) if ($f == "packets") { print $(f + 1); exit } } }'
}

actions "$WORK/actions.json" 1 1
ip netns exec $S tcpdump -i eth0 -n -v -l --immediate-mode 'tcp port 443' > "$WORK/dump.txt" 2> "$WORK/tcpdump.err" &
TCPDUMP=$!
poll 10 grep -q listening "$WORK/tcpdump.err" || fail "tcpdump did not start"
"$CTLABELD" -c "$WORK/actions.json" -i r-s --stats-file "$WORK/stats.json" --stats-interval 1 -l info 2> "$WORK/ctlabeld.log" &
CTL=$!
PIDS+=($CTL)
poll 10 grep -q "r-s: capturing" "$WORK/ctlabeld.log" || { fail "ctlabeld did not start capturing: $(tail -3 "$WORK/ctlabeld.log")"; exit 1; }

ip netns exec $C python3 "$PEER" tls 10.202.2.2 us04web.zoom.us 5 > "$WORK/zoom4.out" 2>&1 &
z4=$!
ip netns exec $C python3 "$PEER" tls fd00:202:2::2 us04web.zoom.us 5 > "$WORK/zoom6.out" 2>&1 &
z6=$!
ip netns exec $C python3 "$PEER" tls 10.202.2.2 www.example.org 5 > "$WORK/other4.out" 2>&1 &
o4=$!
ip netns exec $C python3 "$PEER" tls fd00:202:2::2 www.example.org 5 > "$WORK/other6.out" 2>&1 &
o6=$!
Z4=$(client_port "$WORK/zoom4.out"); Z6=$(client_port "$WORK/zoom6.out")
O4=$(client_port "$WORK/other4.out"); O6=$(client_port "$WORK/other6.out")
if poll 10 has_mark "$Z4" ipv4 10.202.1.2 0x00ff0100; then ok "NAT'd IPv4 Zoom connection (port $Z4): ct mark 0x00ff0100 (ours 0x100 under 0xff00, foreign 0x00ff0000 kept)"
else fail "IPv4 Zoom connection has ct mark '$(mark_of_port "$Z4" ipv4 10.202.1.2)', want 0x00ff0100"; fi
if poll 10 has_mark "$Z6" ipv6 fd00:202:1::2 0x00ff0100; then ok "IPv6 Zoom connection (port $Z6): ct mark 0x00ff0100"
else fail "IPv6 Zoom connection has ct mark '$(mark_of_port "$Z6" ipv6 fd00:202:1::2)', want 0x00ff0100"; fi
S4=$(nat_port "$Z4"); SO4=$(nat_port "$O4")
wait $z4 $z6 $o4 $o6
has_mark "$O4" ipv4 10.202.1.2 0x00ff0000 && ok "the other IPv4 TLS connection: ct mark 0x00ff0000 (foreign bits only)" \
  || fail "other IPv4 TLS mark '$(mark_of_port "$O4" ipv4 10.202.1.2)'"
has_mark "$O6" ipv6 fd00:202:1::2 0x00ff0000 && ok "the other IPv6 TLS connection: ct mark 0x00ff0000" \
  || fail "other IPv6 TLS mark '$(mark_of_port "$O6" ipv6 fd00:202:1::2)'"
sleep 0.3; kill -INT $TCPDUMP; wait $TCPDUMP 2>/dev/null
read -r zm4 zu4 <<< "$(tos_counts "10.202.2.1.$S4 >" "$WORK/dump.txt")"
read -r om4 ou4 <<< "$(tos_counts "10.202.2.1.$SO4 >" "$WORK/dump.txt")"
read -r zm6 zu6 <<< "$(tos_counts "fd00:202:1::2.$Z6 >" "$WORK/dump.txt")"
read -r om6 ou6 <<< "$(tos_counts "fd00:202:1::2.$O6 >" "$WORK/dump.txt")"
[ "$zm4" -gt 0 ] && ok "server saw $zm4 IPv4 Zoom packets with DSCP CS5 (tos 0xa0; $zu4 before the mark)" || fail "no CS5 on IPv4 Zoom packets ($zu4 unmarked, server port $S4)"
[ "$zm6" -gt 0 ] && ok "server saw $zm6 IPv6 Zoom packets with DSCP CS5 (class 0xa0; $zu6 before the mark)" || fail "no CS5 on IPv6 Zoom packets ($zu6 unmarked)"
[ "$om4" -eq 0 ] && [ "$ou4" -gt 0 ] && ok "other IPv4 TLS: $ou4 packets, none CS5" || fail "other IPv4 TLS marked=$om4 unmarked=$ou4"
[ "$om6" -eq 0 ] && [ "$ou6" -gt 0 ] && ok "other IPv6 TLS: $ou6 packets, none CS5" || fail "other IPv6 TLS marked=$om6 unmarked=$ou6"
c4=$(dscp_counter 1); c6=$(dscp_counter 2)
[ "${c4:-0}" -gt 0 ] && [ "${c6:-0}" -gt 0 ] && ok "the nft rules' counters: $c4 IPv4 and $c6 IPv6 packets" || fail "dscp counters ipv4=${c4:-?} ipv6=${c6:-?}"
poll 5 grep -q '"nat_reply_hits":[1-9]' "$WORK/stats.json" && ok "IPv4 writes found by the reply tuple: $(grep -o '"nat_reply_hits":[0-9]*' "$WORK/stats.json")" \
  || fail "no nat_reply_hits in the stats: $(grep -o '"conntrack":{[^}]*}' "$WORK/stats.json")"
grep -q '"enospc":0' "$WORK/stats.json" && ok "no ENOSPC: mark-only writes need no label storage" || fail "ENOSPC in the stats: $(grep -o '"conntrack":{[^}]*}' "$WORK/stats.json")"

# Reloads on a live connection.
reloads_above() { [ "$(grep -c "reloaded" "$WORK/ctlabeld.log")" -gt "$1" ]; }
reload_to() {  # reload_to WHAT MARK WITH_ACTION [EXTRA_TARGETS EXTRA_ACTIONS]
  local n
  n=$(grep -c "reloaded" "$WORK/ctlabeld.log")
  actions "$WORK/actions.json" "$2" "$3" "${4:-}" "${5:-}"
  kill -HUP $CTL
  poll 5 reloads_above "$n" || fail "reload ($1) not logged: $(tail -2 "$WORK/ctlabeld.log")"
}
ip netns exec $C python3 "$PEER" tls 10.202.2.2 zoomfrn99mmr.zoom.us 30 > "$WORK/live4.out" 2>&1 &
live4=$!
ip netns exec $C python3 "$PEER" tls fd00:202:2::2 zoomfrn99mmr.zoom.us 30 > "$WORK/live6.out" 2>&1 &
live6=$!
L4=$(client_port "$WORK/live4.out"); L6=$(client_port "$WORK/live6.out")
poll 10 has_mark "$L4" ipv4 10.202.1.2 0x00ff0100 || fail "live IPv4 connection not marked: '$(mark_of_port "$L4" ipv4 10.202.1.2)'"
poll 10 has_mark "$L6" ipv6 fd00:202:1::2 0x00ff0100 || fail "live IPv6 connection not marked: '$(mark_of_port "$L6" ipv6 fd00:202:1::2)'"
reload_to "mark changed" 2 1
poll 5 has_mark "$L4" ipv4 10.202.1.2 0x00ff0200 && poll 5 has_mark "$L6" ipv6 fd00:202:1::2 0x00ff0200 \
  && ok "reload changing the mark to 2: both live connections now 0x00ff0200" \
  || fail "after the mark change: ipv4 '$(mark_of_port "$L4" ipv4 10.202.1.2)' ipv6 '$(mark_of_port "$L6" ipv6 fd00:202:1::2)', want 0x00ff0200"
reload_to "action removed" 2 0
poll 5 has_mark "$L4" ipv4 10.202.1.2 0x00ff0000 && poll 5 has_mark "$L6" ipv6 fd00:202:1::2 0x00ff0000 \
  && ok "reload removing the action: our bits cleared on both live connections, the foreign ones kept (0x00ff0000)" \
  || fail "after removing the action: ipv4 '$(mark_of_port "$L4" ipv4 10.202.1.2)' ipv6 '$(mark_of_port "$L6" ipv6 fd00:202:1::2)', want 0x00ff0000"
reload_to "restored" 1 1
poll 5 has_mark "$L4" ipv4 10.202.1.2 0x00ff0100 && ok "restoring the action marks the live connection again" \
  || fail "after restoring: '$(mark_of_port "$L4" ipv4 10.202.1.2)'"
# Two targets writing different values to the same bits of one flow: refused, the old rules stay.
n=$(grep -c "failed with" "$WORK/ctlabeld.log")
actions "$WORK/actions.json" 1 1 ', "ctmark.bulk": { "target_type": "ctmark", "mark": "0x3" }' \
  ', "bulk": { "criteria": "dst_port == 443;", "targets": [ "ctmark.bulk" ] }'
kill -HUP $CTL
poll 5 grep -q "write different values to mark bits 0x0000ff00" "$WORK/ctlabeld.log" \
  && ok "a reload with overlapping ctmark targets is refused: $(grep -o 'actions.bulk.targets\[0\]: ctmark target[^;]*' "$WORK/ctlabeld.log" | head -1 | cut -c1-120)..." \
  || fail "overlapping ctmark targets not refused: $(tail -3 "$WORK/ctlabeld.log")"
sleep 0.5
has_mark "$L4" ipv4 10.202.1.2 0x00ff0100 && ok "after the refused reload the live connection keeps 0x00ff0100" || fail "refused reload changed the mark: '$(mark_of_port "$L4" ipv4 10.202.1.2)'"
kill $live4 $live6 2>/dev/null; wait $live4 $live6 2>/dev/null

start=$(date +%s%N); kill -TERM $CTL; wait $CTL; rc=$?; ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 0 ] && ok "SIGTERM: exit 0 after ${ms} ms" || fail "SIGTERM: exit $rc"

if [ $FAILS -ne 0 ]; then
  echo "--- ctlabeld log"; tail -n 30 "$WORK/ctlabeld.log"
  echo "0 passed, $FAILS failed"; exit 1
fi
echo "--- stats (conntrack)"; grep -o '"conntrack":{[^}]*}' "$WORK/stats.json"
echo "1 passed, 0 failed"
