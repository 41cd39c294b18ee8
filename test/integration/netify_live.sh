#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Netify v5 criteria on live traffic through the router namespace: local_mac/other_mac,
# iface_nfq_src/iface_nfq_dst and the action "interface" key, on interface capture and on
# nflog:5 (the shipped nft file's forward-hook head rule). client -- router -- server, with
# fixed MACs; ctlabeld runs in the router; labels are read with conntrack -L -o labels.
# Usage: netify_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
# Isolation: test/integration/lib.sh's enter_sandbox (that namespace is the router).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack python3 openssl ip
enter_sandbox 200 "$0" "$CTLABELD" "$REPO"

PEER=$REPO/test/integration/tls_peer.py
C=ctl-nf-client S=ctl-nf-server CLIENT_IP=10.202.1.2
CLIENT_MAC=02:00:00:00:01:02 SERVER_MAC=02:00:00:00:02:02
write_connlabel $'0 mac\n1 in\n2 out\n3 wrong\n4 peer\n10 zoom\n'  # the shipped nft file names zoom
add_host $C r-c 10.202.1 $CLIENT_MAC
add_host $S r-s 10.202.2 $SERVER_MAC
sysctl -qw net.ipv4.ip_forward=1
load_nft "$REPO/etc/ctlabeld/ctlabeld.nft"
nft add rule inet ctlabeld nflog_head ct packets \< 32 log group 5 || fail "could not add the nflog head rule"
start_tls_server $S

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

scenario() {  # scenario NAME SOURCE EXPECTED_LABELS
  local name=$1 src=$2 want=$3 log=$WORK/ctlabeld-$1.log
  conntrack -F 2>/dev/null
  start_ctlabeld "$log" -c "$WORK/actions.json" -i "$src" -l info
  local ctl=$CTL
  await_capturing "$log" "$src"
  ip netns exec $C python3 "$PEER" tls 10.202.2.2 www.example.org 4 > "$WORK/tls-$name.out" 2>&1 &
  local client=$!
  local port
  port=$(client_port "$WORK/tls-$name.out")
  if poll 10 has_label "$port" "$want"; then ok "$name: the client's TLS connection (port $port) has labels=$want"
  else fail "$name: port $port has labels='$(labels_of_port "$port")', want '$want'"; fi
  wait $client
  kill -TERM $ctl; wait $ctl
}

# Interface capture on the LAN side: both MACs from Ethernet, the input is r-c, no output.
scenario iface r-c "mac,in"
# NFLOG in the forward hook: indev r-c, outdev r-s, each side's hardware address.
scenario nflog nflog:5 "mac,in,out,peer"

[ $FAILS -ne 0 ] && { echo "--- ctlabeld logs"; tail -n 20 "$WORK"/ctlabeld-*.log; }
finish
