#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Netify v5 criteria on live traffic through the router namespace: local_mac/other_mac,
# iface_nfq_src/iface_nfq_dst and the action "interface" key, on interface capture and on
# nflog:5 (the shipped nft file's forward-hook head rule). client -- router -- server, with
# fixed MACs; ctlabeld runs in the router; labels are read with conntrack -L -o labels.
# Usage: netify_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
# Isolation as in e2e_router.sh: re-run under `unshare --mount --net`, private /etc and /run/netns.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare nft conntrack python3 openssl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-netify-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 200 unshare --mount --propagation private --net -- bash "$0" "$CTLABELD" "$REPO"
  exit $?
fi

PEER=$REPO/test/integration/tls_peer.py
C=ctl-nf-client S=ctl-nf-server
CLIENT_MAC=02:00:00:00:01:02 SERVER_MAC=02:00:00:00:02:02
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
trap cleanup EXIT
mkdir -p "$WORK/upper" "$WORK/work" /run/netns
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/upper,workdir=$WORK/work" /etc || exit 1
mount -t tmpfs tmpfs /run/netns || exit 1
mkdir -p /etc/xtables  # the shipped nft file names the label zoom
printf '0 mac\n1 in\n2 out\n3 wrong\n4 peer\n10 zoom\n' | tee /etc/connlabel.conf /etc/xtables/connlabel.conf > "$WORK/connlabel.conf"

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
poll() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

ip link set lo up
ip netns add $C; ip netns add $S
ip link add r-c type veth peer name eth0 netns $C
ip link add r-s type veth peer name eth0 netns $S
ip -n $C link set eth0 address $CLIENT_MAC
ip -n $S link set eth0 address $SERVER_MAC
ip addr add 10.202.1.1/24 dev r-c; ip link set r-c up
ip addr add 10.202.2.1/24 dev r-s; ip link set r-s up
ip -n $C addr add 10.202.1.2/24 dev eth0; ip -n $C link set eth0 up; ip -n $C link set lo up
ip -n $S addr add 10.202.2.2/24 dev eth0; ip -n $S link set eth0 up; ip -n $S link set lo up
ip -n $C route add default via 10.202.1.1
ip -n $S route add default via 10.202.2.1
sysctl -qw net.ipv4.ip_forward=1
nft -f "$REPO/etc/ctlabeld/ctlabeld.nft" || { fail "nft -f etc/ctlabeld/ctlabeld.nft"; exit 1; }
nft add rule inet ctlabeld nflog_head ct packets \< 32 log group 5 || fail "could not add the nflog head rule"

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $S python3 "$PEER" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
poll 10 grep -q ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }

# A v5-style file: MACs, in/out interfaces, the action interface key, and a '*' test.
cat > "$WORK/actions.json" <<JSON
{
  "reprocess_flows": true,
  "target_globals": { "ctlabel": { "connlabel_conf": "$WORK/connlabel.conf" } },
  "targets": {
    "mac": { "target_type": "ctlabel", "labels": [ "mac" ] },
    "in": { "target_type": "ctlabel", "labels": [ "in" ] },
    "out": { "target_type": "ctlabel", "labels": [ "out" ] },
    "wrong": { "target_type": "ctlabel", "labels": [ "wrong" ] },
    "peer": { "target_type": "ctlabel", "labels": [ "peer" ] }
  },
  "actions": {
    "client-mac": { "criteria": "local_mac == '$CLIENT_MAC' && iface_nfq_src == 'r-c' && iface_nfq_dst == '*';",
                    "targets": [ "mac" ] },
    "lan-in": { "interface": "r-c", "criteria": "dst_port == 443;", "targets": [ "in" ] },
    "to-server": { "criteria": "iface_nfq_dst == 'r-s' && other_ip == '10.202.2.2';", "targets": [ "out" ] },
    "other-mac": { "criteria": "local_mac == 02:00:00:00:09:09 || iface_nfq_src == 'r-s';", "targets": [ "wrong" ] },
    "server-mac": { "criteria": "other_mac == $SERVER_MAC;", "targets": [ "peer" ] }
  }
}
JSON
"$CTLABELD" --check -c "$WORK/actions.json" -i r-c -i nflog:5 > "$WORK/check.txt" 2>&1 \
  && ok "--check accepts the file: $(grep -c '^warning:' "$WORK/check.txt") warning(s)" || fail "--check: $(cat "$WORK/check.txt")"
grep -q "^capture nflog:5: the sender's MAC only" "$WORK/check.txt" && grep -q "^capture r-c: both MACs on Ethernet" "$WORK/check.txt" \
  && ok "--check says what each capture source can provide" || fail "--check capture notes: $(grep '^capture' "$WORK/check.txt")"

labels_of_port() {
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" '
    index($0, "src=10.202.1.2") && $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
has_labels() { [ "$(labels_of_port "$1")" = "$2" ]; }
client_port() { poll 10 grep -q '^port ' "$1" && awk '/^port /{print $2; exit}' "$1"; }

scenario() {  # scenario NAME SOURCE EXPECTED_LABELS
  local name=$1 src=$2 want=$3 log=$WORK/ctlabeld-$1.log
  conntrack -F 2>/dev/null
  "$CTLABELD" -c "$WORK/actions.json" -i "$src" -l info 2> "$log" &
  local ctl=$!
  PIDS+=($ctl)
  poll 10 grep -q "$src: capturing" "$log" || fail "$name: ctlabeld did not start on $src: $(tail -3 "$log")"
  ip netns exec $C python3 "$PEER" tls 10.202.2.2 www.example.org 4 > "$WORK/tls-$name.out" 2>&1 &
  local client=$!
  local port
  port=$(client_port "$WORK/tls-$name.out")
  if poll 10 has_labels "$port" "$want"; then ok "$name: the client's TLS connection (port $port) has labels=$want"
  else fail "$name: port $port has labels='$(labels_of_port "$port")', want '$want'"; fi
  wait $client
  kill -TERM $ctl; wait $ctl
}

# Interface capture on the LAN side: both MACs from Ethernet, the input is r-c, no output.
scenario iface r-c "mac,in"
# NFLOG in the forward hook: indev r-c, outdev r-s, each side's hardware address.
scenario nflog nflog:5 "mac,in,out,peer"

if [ $FAILS -ne 0 ]; then
  echo "--- ctlabeld logs"; tail -n 20 "$WORK"/ctlabeld-*.log
  echo "0 passed, $FAILS failed"; exit 1
fi
echo "1 passed, 0 failed"
