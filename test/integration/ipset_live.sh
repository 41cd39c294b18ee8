#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The ipset target live: client -- router -- server in network namespaces (IPv4 and IPv6),
# ctlabeld capturing in the router with an ipset target (hash:ip,port,ip, managed, ttl 4 s)
# consumed by iptables-nft `-m set` rules that reset NEW connections to a member. A first Zoom
# connection puts its member in the set and lives on; the client's second Zoom connection is
# refused while TLS to another port passes; the member outlives its ttl while the flow lives
# (the writer re-adds it), leaves when the flow ends and on a reload that drops the target; a
# target whose set does not exist logs one warning with the fix and the Zoom label still lands;
# after `kill -9` the ttl takes the member out. Usage: ipset_live.sh CTLABELD REPO_ROOT.
# Exit 77 (skipped) when not root or a tool is missing.
#
# Isolation as in e2e_router.sh: the script re-runs itself under `unshare --mount --net` (that
# namespace is the router) with private /etc (overlay) and /run/netns (tmpfs).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare nft ipset conntrack python3 openssl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
# iptables-nft (Debian's default iptables) matches ipsets through xt_set; legacy iptables too.
IPT='' IP6T=''
for v in iptables-nft iptables-legacy; do
  if command -v $v >/dev/null && command -v ${v/iptables/ip6tables} >/dev/null; then
    IPT=$v IP6T=${v/iptables/ip6tables}; break
  fi
done
[ -n "$IPT" ] || { echo "SKIP: no iptables with -m set (install the Debian package iptables)"; exit 77; }
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-ipset-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 170 unshare --mount --propagation private --net -- bash "$0" "$CTLABELD" "$REPO"
  exit $?
fi

# ---- inside: this network namespace is the router ----
C=ctl-ips-client S=ctl-ips-server
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
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
ip addr add 10.204.1.1/24 dev r-c; ip addr add fd00:204:1::1/64 dev r-c nodad; ip link set r-c up
ip addr add 10.204.2.1/24 dev r-s; ip addr add fd00:204:2::1/64 dev r-s nodad; ip link set r-s up
for ns in $C $S; do ip -n $ns link set lo up; done
ip -n $C addr add 10.204.1.2/24 dev eth0; ip -n $C addr add fd00:204:1::2/64 dev eth0 nodad
ip -n $S addr add 10.204.2.2/24 dev eth0; ip -n $S addr add fd00:204:2::2/64 dev eth0 nodad
ip -n $C link set eth0 up; ip -n $S link set eth0 up
ip -n $C route add default via 10.204.1.1; ip -n $C -6 route add default via fd00:204:1::1
ip -n $S route add default via 10.204.2.1; ip -n $S -6 route add default via fd00:204:2::1
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nft -f "$REPO/etc/ctlabeld/ctlabeld.nft" || { fail "nft -f etc/ctlabeld/ctlabeld.nft"; exit 1; }

# TLS echo on 443 and 8443 (both families); the client holds a connection for SECONDS and
# prints "port N" once connected, "refused" when the router resets it.
cat > "$WORK/peer.py" <<'PY'
import socket, ssl, sys, threading, time
def serve(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
    def handle(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                while True:
                    data = tls.recv(4096)
                    if not data: return
                    tls.sendall(data)
        except (ssl.SSLError, OSError): return
    def listen(port):
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("::", port)); srv.listen(16)
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    for port in (443, 8443): threading.Thread(target=listen, args=(port,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(300)
def client(host, port, sni, seconds):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, int(port)), timeout=5)
    except OSError as e:
        print("refused", e, flush=True); return
    print(f"port {raw.getsockname()[1]}", flush=True)
    with ctx.wrap_socket(raw, server_hostname=sni) as tls:
        end = time.time() + float(seconds)
        while time.time() < end:
            tls.sendall(b"ping\n"); tls.recv(4096); time.sleep(0.1)
    print("done", flush=True)
if sys.argv[1] == "server": serve(sys.argv[2], sys.argv[3])
else: client(*sys.argv[2:6])
PY
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $S python3 "$WORK/peer.py" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
poll 10 grep -q ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }
# connect NAME HOST PORT SNI SECONDS: a client in the background, its output in $WORK/NAME.out.
connect() {
  ip netns exec $C python3 "$WORK/peer.py" client "$2" "$3" "$4" "$5" > "$WORK/$1.out" 2>&1 &
  PIDS+=($!)
  eval "PID_$1=$!"
}
connected() { poll 6 grep -qs '^port ' "$WORK/$1.out"; }
refused() { poll 6 grep -qs '^refused' "$WORK/$1.out"; }

write_actions() {  # $1: the targets of the zoom action
  cat > "$WORK/actions.json" <<JSON
{
  "version": 1,
  "target_globals": { "ctlabel": { "max_bits": 127, "connlabel_conf": "$WORK/connlabel.conf" } },
  "target_defaults": { "ipset": { "managed": true, "ttl": 4 } },
  "targets": {
    "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] },
    "ipset.zoom": { "target_type": "ipset", "set_name": "ctl.zoom", "type": "hash:ip,port,ip" },
    "ipset.missing": { "target_type": "ipset", "set_name": "ctl.none", "set_family": "ipv4", "managed": false }
  },
  "actions": { "zoom": { "criteria": "app == 'zoom';", "targets": [ $1 ] } },
  "ctlabeld": { "local_networks": [ "10.204.1.0/24", "fd00:204:1::/64" ] }
}
JSON
}
write_actions '"ctlabel.zoom", "ipset.zoom", "ipset.missing"'
STARTS=0
start_daemon() {  # each start logs to its own file, so a poll does not see the last start's lines
  STARTS=$((STARTS + 1))
  LOG=$WORK/ctlabeld-$STARTS.log
  "$CTLABELD" -c "$WORK/actions.json" -i r-c --stats-file "$WORK/stats.json" --stats-interval 1 -l info 2> "$LOG" &
  CTL=$!
  PIDS+=("$CTL")
  poll 10 grep -qs "r-c: capturing" "$LOG" || { fail "ctlabeld did not start capturing on r-c: $(tail -3 "$LOG")"; exit 1; }
}
start_daemon

# The missing set: one warning naming the fix; the daemon runs on.
fix="ipset create ctl.none.v4 hash:ip family inet maxelem 65536 timeout 0"
n=$(grep -c "targets.ipset.missing: ipset: ipset ctl.none.v4 does not exist: create it with \`$fix\`" "$LOG")
[ "$n" = 1 ] && ok "missing set: one warning with the fix \`$fix\`" || fail "missing set: $n warnings: $(grep -i 'ctl.none' "$LOG")"
ipset list -n | grep -qx ctl.zoom.v4 && ipset list -n | grep -qx ctl.zoom.v6 && ok "managed sets ctl.zoom.v4 and .v6 exist" \
  || fail "managed sets missing: $(ipset list -n | tr '\n' ' ')"

# The consumers: reset NEW TCP connections whose (source, protocol:destination port,
# destination) is a member (flags for packets from the LAN side, as --check prints them). The
# rule needs its set: the daemon made it (managed).
for fam in 4 6; do
  tool=$IPT; [ $fam = 6 ] && tool=$IP6T
  $tool -I FORWARD -p tcp -m conntrack --ctstate NEW -m set --match-set ctl.zoom.v$fam src,dst,dst \
    -j REJECT --reject-with tcp-reset || { fail "$tool -m set rule for ctl.zoom.v$fam"; exit 1; }
done
ok "consumer rules through $IPT/$IP6T: $($IPT -S FORWARD | grep -- '-m set')"

member4="10.204.1.2,tcp:443,10.204.2.2"
member6="fd00:204:1::2,tcp:443,fd00:204:2::2"
labels_of_port() {  # labels= of the TCP entry whose original source port is $1
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" '
    $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }
timeout_of() { ipset list "$1" | awk -v m="$2" '$1 == m { for (f = 2; f < NF; f++) if ($f == "timeout") print $(f + 1) }'; }

# ---- IPv4: the first Zoom connection becomes a member and lives on ----
connect zoom1 10.204.2.2 443 us04web.zoom.us 14
connected zoom1 || { fail "first Zoom connection: $(cat "$WORK/zoom1.out")"; exit 1; }
PORT1=$(awk '/^port /{print $2; exit}' "$WORK/zoom1.out")
T0=$SECONDS
poll 5 ipset test ctl.zoom.v4 "$member4" 2>/dev/null && ok "the Zoom flow's member $member4 is in ctl.zoom.v4 (timeout $(timeout_of ctl.zoom.v4 "$member4") s)" \
  || fail "no member $member4: $(ipset list ctl.zoom.v4 | tail -3)"
poll 5 has_label "$PORT1" zoom && ok "the missing set does not stop the label: labels=zoom on port $PORT1" \
  || fail "no zoom label on port $PORT1: '$(labels_of_port "$PORT1")'"
connect other1 10.204.2.2 8443 www.example.org 2
connected other1 && ok "other TLS (port 8443) passes" || fail "other TLS refused: $(cat "$WORK/other1.out")"
connect zoom2 10.204.2.2 443 us04web.zoom.us 2
refused zoom2 && ok "the client's second Zoom connection is refused by the -m set rule" \
  || fail "second Zoom connection not refused: $(cat "$WORK/zoom2.out")"
grep -q '^done' "$WORK/zoom1.out" && fail "the first connection ended early"
[ "$(ipset list ctl.zoom.v4 | grep -c ',tcp:8443,')" = 0 ] && ok "no member for the other TLS flow" || fail "the other TLS flow got a member"

# ---- the member outlives its 4 s ttl while the flow lives ----
while [ $((SECONDS - T0)) -lt 9 ]; do sleep 0.2; done
ipset test ctl.zoom.v4 "$member4" 2>/dev/null && ok "after $((SECONDS - T0)) s (ttl 4) the live flow's member is still there (timeout $(timeout_of ctl.zoom.v4 "$member4") s: re-added)" \
  || fail "the member expired while its flow lives"

# ---- IPv6 ----
connect zoom6 fd00:204:2::2 443 us04web.zoom.us 50
connected zoom6 || fail "IPv6 Zoom connection: $(cat "$WORK/zoom6.out")"
poll 5 ipset test ctl.zoom.v6 "$member6" 2>/dev/null && ok "IPv6: member $member6 in ctl.zoom.v6" \
  || fail "IPv6: no member $member6: $(ipset list ctl.zoom.v6 | tail -3)"
connect zoom6b fd00:204:2::2 443 us04web.zoom.us 2
refused zoom6b && ok "IPv6: the second Zoom connection is refused" || fail "IPv6: second Zoom connection not refused: $(cat "$WORK/zoom6b.out")"
connect other6 fd00:204:2::2 8443 www.example.org 2
connected other6 && ok "IPv6: other TLS passes" || fail "IPv6: other TLS refused: $(cat "$WORK/other6.out")"

# ---- flow end: the first connection closes (FIN); ctlabeld ends the flow and removes it ----
poll 8 grep -q '^done' "$WORK/zoom1.out" || fail "first connection did not finish: $(cat "$WORK/zoom1.out")"
ended=$SECONDS
if poll 30 bash -c "! ipset test ctl.zoom.v4 $member4 2>/dev/null"; then
  ok "the flow ended: its member left ctl.zoom.v4 $((SECONDS - ended)) s after the FIN (closed TCP idle 10 s)"
else
  fail "the ended flow's member is still in ctl.zoom.v4"
fi
connect zoom3 10.204.2.2 443 us04web.zoom.us 40
connected zoom3 && ok "with the member gone, a new Zoom connection passes" || fail "zoom3 refused: $(cat "$WORK/zoom3.out")"
poll 5 ipset test ctl.zoom.v4 "$member4" 2>/dev/null || fail "zoom3's member did not appear"

# ---- the stats name the sets with their counters ----
poll 3 grep -q '"name":"ipset ctl.zoom.v4"' "$WORK/stats.json" && ok "stats: $(grep -o '{"name":"ipset ctl.zoom.v4"[^}]*' "$WORK/stats.json" | head -1 | cut -c1-120)" \
  || fail "no ipset counters in the stats: $(grep -o '"sinks":[^]]*' "$WORK/stats.json")"

# ---- reload: the action no longer names the ipset target; live flows' members leave ----
write_actions '"ctlabel.zoom"'
kill -HUP $CTL
poll 5 bash -c "! ipset test ctl.zoom.v4 $member4 2>/dev/null && ! ipset test ctl.zoom.v6 $member6 2>/dev/null" \
  && ok "reload without the target: the live flows' members left both sets" \
  || fail "after the reload: v4 $(ipset test ctl.zoom.v4 $member4 2>&1 | tail -1); v6 $(ipset test ctl.zoom.v6 $member6 2>&1 | tail -1)"
grep -q '^refused' "$WORK/zoom3.out" && fail "zoom3 was cut"

# ---- the fix the warning gave works; the ttl is the backstop when the daemon dies ----
$fix || fail "the fix \`$fix\` failed"
write_actions '"ctlabel.zoom", "ipset.zoom", "ipset.missing"'
kill -HUP $CTL
poll 5 ipset test ctl.none.v4 10.204.2.2 2>/dev/null && ok "after the fix and a reload, ctl.none.v4 holds the live Zoom flow's other address" \
  || fail "ctl.none.v4 stays empty after the fix: $(ipset list ctl.none.v4 | tail -2)"
poll 5 ipset test ctl.zoom.v4 "$member4" 2>/dev/null || fail "the reload with the target did not add zoom3's member again"
kill -9 $CTL; wait $CTL 2>/dev/null
killed=$SECONDS
if poll 8 bash -c "! ipset test ctl.zoom.v4 $member4 2>/dev/null"; then
  ok "after kill -9 the member expired by its ttl ($((SECONDS - killed)) s)"
else
  fail "the member outlived the killed daemon by more than 8 s"
fi
# Logged at start and at the first reload (still missing), not after the fix.
n=$(grep -c 'ctl.none.v4 does not exist' "$LOG")
[ "$n" = 2 ] && ok "the missing-set warning: at start and at the reload before the fix, not after" || fail "missing-set warning $n times (want 2)"

# ---- a clean stop keeps nothing: flush_on_destroy ----
sed -i 's/"managed": true, "ttl": 4/"managed": true, "ttl": 0, "flush_on_destroy": true/' "$WORK/actions.json"
start_daemon
connect zoom4 10.204.2.2 443 us04web.zoom.us 20
connected zoom4 || fail "zoom4: $(cat "$WORK/zoom4.out")"
poll 10 ipset test ctl.zoom.v4 "$member4" 2>/dev/null || { fail "zoom4's member did not appear: $(ipset list ctl.zoom.v4 | tail -2; tail -5 "$LOG"; grep -o '"sinks".*' "$WORK/stats.json")"; exit 1; }
kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
[ "$(ipset list ctl.zoom.v4 | sed -n '/^Members:/,$p' | grep -c .)" = 1 ] && ok "flush_on_destroy: ctl.zoom.v4 is empty after the clean stop" \
  || fail "ctl.zoom.v4 after stop: $(ipset list ctl.zoom.v4 | sed -n '/^Members:/,$p')"

if [ $FAILS -ne 0 ]; then
  echo "--- ctlabeld log"; tail -n 40 "$LOG"
  echo "0 passed, $FAILS failed"; exit 1
fi
echo "1 passed, 0 failed"
