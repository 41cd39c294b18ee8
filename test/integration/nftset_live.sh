#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# End to end, the nftset target: client -- router -- server in network namespaces; ctlabeld runs
# live in the router with an actions file whose Zoom action names an nftset target (type
# [local_addr, ip_proto, other_port, other_addr]) consumed by
#   ip saddr . ip protocol . th dport . ip daddr @blocks.v4 drop
# (and the ip6 rule on blocks.v6). The client's first Zoom connection puts its element in the
# set, so its second connection to that server cannot connect while TLS to another server passes
# (the action also names a ctlabel, a log and an ipset target, as Netify's documented example);
# the element leaves the set when the flow ends in ctlabeld's table and when a reload removes the
# action; the same over IPv6; a managed set is created with the target's key; a target whose set
# does not exist is one warning line with the fix while the action's ctlabel target still labels.
# Usage: nftset_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation as e2e_router.sh: the script re-runs itself under `unshare --mount --net` (that
# namespace is the router; /etc gets a private overlay, /run/netns a private tmpfs).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare nft conntrack python3 openssl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-nftset-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 280 unshare --mount --propagation private --net -- bash "$0" "$CTLABELD" "$REPO"
  exit $?
fi

# ---- inside: this network namespace is the router ----
PEER=$REPO/test/integration/tls_peer.py
C=ctl-nfs-client S=ctl-nfs-server
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
ip addr add 10.202.1.1/24 dev r-c; ip -6 addr add fd00:1::1/64 dev r-c nodad; ip link set r-c up
ip addr add 10.202.2.1/24 dev r-s; ip -6 addr add fd00:2::1/64 dev r-s nodad; ip link set r-s up
ip -n $C addr add 10.202.1.2/24 dev eth0; ip -n $C -6 addr add fd00:1::2/64 dev eth0 nodad
ip -n $C link set eth0 up; ip -n $C link set lo up
# Two server addresses per family: the "Zoom" server (.2) and another TLS server (.3).
ip -n $S addr add 10.202.2.2/24 dev eth0; ip -n $S addr add 10.202.2.3/24 dev eth0
ip -n $S -6 addr add fd00:2::2/64 dev eth0 nodad; ip -n $S -6 addr add fd00:2::3/64 dev eth0 nodad
ip -n $S link set eth0 up; ip -n $S link set lo up
ip -n $C route add default via 10.202.1.1; ip -n $C -6 route add default via fd00:1::1
ip -n $S route add default via 10.202.2.1; ip -n $S -6 route add default via fd00:2::1
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nft -f "$REPO/etc/ctlabeld/ctlabeld.nft" || { fail "nft -f etc/ctlabeld/ctlabeld.nft"; exit 1; }
# The consumer: Netify's documented rule for a [local_addr, ip_proto, other_port, other_addr]
# set, on forwarded traffic from the LAN side. The sets are made here (not managed).
nft -f - <<'NFT' || { fail "loading the consumer rules"; exit 1; }
table inet nfa {
  set blocks.v4 { type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags timeout; }
  set blocks.v6 { type ipv6_addr . inet_proto . inet_service . ipv6_addr; flags timeout; }
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip saddr . ip protocol . th dport . ip daddr @blocks.v4 counter drop
    ip6 saddr . meta l4proto . th dport . ip6 daddr @blocks.v6 counter drop
  }
}
NFT

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $S python3 "$PEER" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
# tls_peer.py serves IPv4 only: the same TLS echo on [::]:443 (IPv6 only), bounded by the test.
ip netns exec $S python3 - "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server6.log" 2>&1 <<'PY' &
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", 443))
srv.listen(16)
print("ready", flush=True)
def handle(conn):
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            while True:
                data = tls.recv(4096)
                if not data:
                    return
                tls.sendall(data)
    except (ssl.SSLError, OSError):
        return
while True:
    conn, _ = srv.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
PY
PIDS+=($!)
poll 10 grep -q ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }
poll 10 grep -q ready "$WORK/server6.log" || { fail "IPv6 TLS server did not start"; exit 1; }

actions() {  # actions FILE WITH_NFTSET_TARGETS(1|0)
  local targets='"ctlabel.zoom"'
  # As Netify's documented example: log, ipset, ctlabel and nftset targets on one action.
  [ "$2" = 1 ] && targets='"log.zoom", "ipset.zoom", "ctlabel.zoom", "nftset.blocks", "nftset.made", "nftset.absent"'
  cat > "$1" <<JSON
{
  "version": 1,
  "target_globals": { "ctlabel": { "connlabel_conf": "$WORK/connlabel.conf" } },
  "target_defaults": {
    "ctlabel": { "log_errors": false },
    "nftset": { "table_name": "nfa", "table_family": "inet", "ttl": 900 },
    "log": { "path": "$WORK/logs", "interval": 1 },
    "ipset": { "set_family": "ipv4", "ttl": 900 }
  },
  "targets": {
    "log.zoom": { "target_type": "log", "prefix": "nfa-flows" },
    "ipset.zoom": { "target_type": "ipset", "set_name": "nfa-zoom", "type": "hash:ip,port,ip",
                    "managed": true },
    "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] },
    "nftset.blocks": { "target_type": "nftset", "set_name": "blocks", "set_family": "*",
                       "type": [ "local_addr", "ip_proto", "other_port", "other_addr" ] },
    "nftset.made": { "target_type": "nftset", "set_name": "made", "set_family": "ipv4",
                     "type": [ "other_addr" ], "managed": true, "max_elements": 1024, "ttl": 60 },
    "nftset.absent": { "target_type": "nftset", "set_name": "absent", "set_family": "ipv4",
                       "type": [ "other_addr" ] }
  },
  "actions": {
    "zoom": { "criteria": "app == 'zoom';", "targets": [ $targets ] }
  },
  "ctlabeld": { "local_networks": [ "10.202.1.0/24", "fd00:1::/64" ], "tcp_idle": 4 }
}
JSON
}
in_set() {  # in_set SET TEXT: the set lists TEXT
  nft list set inet nfa "$1" 2>/dev/null | grep -qF "$2"
}
not_in_set() { ! in_set "$@"; }
labels_of_port() {  # labels= of the TCP entry whose original source port is $1
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" '
    $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }
client_port() { poll 10 grep -q '^port ' "$1" && awk '/^port /{print $2; exit}' "$1"; }
# connects SERVER SNI NAME: a short TLS connection that completes (prints its port, exits 0).
connects() {
  ip netns exec $C timeout 10 python3 "$PEER" tls "$1" "$2" 1 > "$WORK/$3.out" 2>&1 && grep -q '^port ' "$WORK/$3.out"
}

mkdir -p "$WORK/logs"
actions "$WORK/actions.json" 1
LOG=$WORK/ctlabeld.log
"$CTLABELD" -c "$WORK/actions.json" -i r-c --stats-file "$WORK/stats.json" --stats-interval 1 -l info 2> "$LOG" &
CTL=$!
PIDS+=($CTL)
poll 10 grep -q "r-c: capturing" "$LOG" || fail "ctlabeld did not start capturing: $(tail -3 "$LOG")"

# Start-up self-checks: the missing set is one warning line naming the fix; the managed set exists.
n=$(grep -c "targets.nftset.absent: nftset: nft set 'inet nfa absent.v4' does not exist: create it with \`nft add table inet nfa; nft add set inet nfa absent.v4 '{ type ipv4_addr; flags timeout; size 65536; }'\`, or set \"managed\": true in the target; until then this target adds no IPv4 flows" "$LOG")
[ "$n" = 1 ] && ok "missing set: one warning line with the fix" || { fail "missing set warned $n times"; grep absent "$LOG"; }
nft list set inet nfa made.v4 2>/dev/null | grep -q "type ipv4_addr" && nft list set inet nfa made.v4 | grep -q "size 1024" \
  && ok "managed set made.v4 created with the target's key and size" || fail "managed set made.v4 missing: $(nft list table inet nfa)"

# IPv4: the first Zoom connection is classified; its element enters the set.
ip netns exec $C timeout 30 python3 "$PEER" tls 10.202.2.2 us04web.zoom.us 20 > "$WORK/zoom1.out" 2>&1 &
Z1=$!
p1=$(client_port "$WORK/zoom1.out")
ELEM4="10.202.1.2 . tcp . 443 . 10.202.2.2"
poll 10 in_set blocks.v4 "$ELEM4 timeout 15m" && ok "Zoom connection (port $p1): element '$ELEM4' in blocks.v4" \
  || fail "no element in blocks.v4: $(nft list set inet nfa blocks.v4)"
poll 5 in_set made.v4 "10.202.2.2" && ok "managed set made.v4 holds the server address" || fail "made.v4: $(nft list set inet nfa made.v4)"
poll 5 has_label "$p1" zoom && ok "the same action's ctlabel target still labels (labels=zoom) beside the missing set" \
  || fail "Zoom connection labels='$(labels_of_port "$p1")'"
# The log target on the same action lists the flow (files of 1 s intervals).
logged_port() {
  python3 - "$WORK/logs" "$1" <<'PY' 2>/dev/null
import glob, json, os, sys
for path in glob.glob(os.path.join(sys.argv[1], "nfa-flows-*.json")):
    for r in json.load(open(path))["flows"]:
        if str(r["src_port"]) == sys.argv[2] and r["target"] == "log.zoom":
            sys.exit(0)
sys.exit(1)
PY
}
poll 10 logged_port "$p1" && ok "the same action's log target lists the Zoom flow" || fail "no log record for port $p1: $(ls "$WORK/logs")"
# And its ipset target (hash:ip,port,ip: local address, protocol:other port, other address).
if command -v ipset >/dev/null; then
  poll 10 sh -c "ipset list nfa-zoom.v4 2>/dev/null | grep -q '^10.202.1.2,tcp:443,10.202.2.2 '" \
    && ok "the same action's ipset target holds the flow's member in nfa-zoom.v4" \
    || fail "nfa-zoom.v4: $(ipset list nfa-zoom.v4 2>&1 | tail -3)"
fi
if connects 10.202.2.2 us04web.zoom.us zoom2; then fail "second connection to the Zoom server connected"
else ok "the client's second connection to the Zoom server fails (dropped by the set)"; fi
connects 10.202.2.3 www.example.org other && ok "TLS to another server passes" || fail "TLS to the other server failed: $(cat "$WORK/other.out")"
[ "$(nft list chain inet nfa forward | grep -c 'counter packets [1-9]')" -ge 1 ] && ok "the set rule's counter counted drops" || fail "no drops counted"

# Flow end: the client gives up. Both ends would retransmit for minutes (the client into the
# drop, the server its unacknowledged data), which keeps the flow alive, as it should; so both
# namespaces stop sending on that path; ctlabeld's table then expires the flow (tcp_idle 4 s)
# and the element is removed.
quiet() {  # quiet NS RULE
  ip netns exec "$1" nft add table ip quiet
  ip netns exec "$1" nft add chain ip quiet out '{ type filter hook output priority 0; policy accept; }'
  ip netns exec "$1" nft add rule ip quiet out "$2" drop
}
quiet $C "ip daddr 10.202.2.2 tcp dport 443"
quiet $S "ip saddr 10.202.2.2 tcp sport 443"
kill $Z1 2>/dev/null; wait $Z1 2>/dev/null
poll 25 not_in_set blocks.v4 "$ELEM4" && ok "element removed when the flow ended in ctlabeld's table" \
  || fail "element still in blocks.v4 after the flow ended: $(nft list set inet nfa blocks.v4) $(cat "$WORK/stats.json")"
ip netns exec $C nft delete table ip quiet; ip netns exec $S nft delete table ip quiet
poll 15 connects 10.202.2.2 www.example.org after-end && ok "a new connection to that server connects again" || fail "still blocked after the flow ended"

# IPv6: the same through blocks.v6 (the rule reads `ip6 saddr . meta l4proto . th dport . ip6 daddr`).
ip netns exec $C timeout 30 python3 "$PEER" tls fd00:2::2 us04web.zoom.us 20 > "$WORK/zoom6.out" 2>&1 &
Z6=$!
client_port "$WORK/zoom6.out" > /dev/null
ELEM6="fd00:1::2 . tcp . 443 . fd00:2::2"
poll 10 in_set blocks.v6 "$ELEM6" && ok "IPv6 Zoom connection: element '$ELEM6' in blocks.v6" || fail "blocks.v6: $(nft list set inet nfa blocks.v6)"
if connects fd00:2::2 us04web.zoom.us zoom6b; then fail "second IPv6 connection to the Zoom server connected"
else ok "the second IPv6 connection to the Zoom server fails"; fi
connects fd00:2::3 www.example.org other6 && ok "IPv6 TLS to another server passes" || fail "IPv6 TLS to the other server failed: $(cat "$WORK/other6.out")"

# Reload without the nftset targets: the live flow's element leaves the set.
n=$(grep -c "reloaded" "$LOG")
actions "$WORK/actions.json" 0
kill -HUP $CTL
poll 5 bash -c "[ \$(grep -c reloaded '$LOG') -gt $n ]" || fail "reload not logged"
poll 5 not_in_set blocks.v6 "$ELEM6" && ok "reload removing the action's nftset target removes the live flow's element" \
  || fail "element still in blocks.v6 after the reload: $(nft list set inet nfa blocks.v6)"
poll 10 connects fd00:2::2 www.example.org after-reload && ok "after the reload the IPv6 server is reachable again" || fail "still blocked after the reload"
kill $Z6 2>/dev/null; wait $Z6 2>/dev/null

# The stats name every set with its counters.
poll 5 grep -q '"nftset inet nfa blocks.v4"' "$WORK/stats.json" && ok "stats list the set blocks.v4" || fail "stats: $(head -c 400 "$WORK/stats.json")"
python3 - "$WORK/stats.json" <<'PY' && ok "stats: blocks.v4 and blocks.v6 counted writes, none present, no errors" || fail "stats counters: $(grep -o '"nftset[^}]*}' "$WORK/stats.json" | head -3)"
import json, sys
doc = json.load(open(sys.argv[1]))
found = {}
def walk(v):
    if isinstance(v, dict):
        if str(v.get("name", "")).startswith("nftset "):
            found[v["name"]] = v
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(doc)
for name in ("nftset inet nfa blocks.v4", "nftset inet nfa blocks.v6"):
    s = found[name]
    assert s["writes"] >= 2 and s["present"] == 0 and s["errors"] == 0, (name, s)
PY

start=$(date +%s%N); kill -TERM $CTL; wait $CTL; rc=$?; ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 0 ] && ok "SIGTERM: exit 0 after ${ms} ms" || fail "SIGTERM: exit $rc"

if [ $FAILS -ne 0 ]; then
  echo "--- ctlabeld log"; tail -n 40 "$LOG"
  echo "0 passed, $FAILS failed"; exit 1
fi
echo "1 passed, 0 failed"
