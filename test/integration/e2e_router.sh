#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# End to end, the seed scenario: client -- router -- server in network namespaces; ctlabeld runs
# live in the router with the shipped nftables file. A TLS connection with a Zoom SNI gets the
# label zoom and leaves the router with DSCP CS5 (tos 0xa0 at the server); a TLS connection with
# another SNI and plain UDP get neither. Then the same with nflog:5 head capture, SIGHUP with a
# broken file (labelling goes on) and with a file that labels the other host; reloads that change
# a target's label, remove the action or disable the target clear the old bits on a live
# connection; and SIGTERM.
# Usage: e2e_router.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation: test/integration/lib.sh's enter_sandbox (the script re-runs itself under
# `unshare --mount --net`; that namespace is the router).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack tcpdump python3 openssl ip
enter_sandbox 300 "$0" "$CTLABELD" "$REPO"

# ---- inside: this network namespace is the router ----
PEER=$REPO/test/integration/tls_peer.py
C=ctl-e2e-client S=ctl-e2e-server CLIENT_IP=10.201.1.2
write_connlabel $'0 zoom\n1 other\n'
add_host $C r-c 10.201.1
add_host $S r-s 10.201.2
sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1 2>/dev/null || sysctl -qw net.ipv4.ip_forward=1
load_nft "$REPO/etc/ctlabeld/ctlabeld.nft"
nft add rule inet ctlabeld nflog_head ct packets \< 32 log group 5 || fail "could not add the nflog head rule"
start_tls_server $S

OTHER_TARGET_MEMBER='"ctlabel.other": { "target_type": "ctlabel", "labels": [ "other" ] }'
OTHER_ACTION_MEMBER="\"other\": { \"criteria\": \"detected_hostname == 'www.example.org';\", \"targets\": [ \"ctlabel.other\" ] }"
actions() {  # actions FILE [WITH_OTHER_ACTION(1)]
  write_actions "$1" "$ZOOM_TARGET_MEMBER, $OTHER_TARGET_MEMBER" "$ZOOM_ACTION_MEMBER${2:+, $OTHER_ACTION_MEMBER}"
}
# Packets seen at the server from client port $1, split by TOS: prints "marked unmarked".
tos_counts() {
  awk -v port="10.201.1.2.$1 >" '
    /^[0-9:.]+ IP \(tos/ { tos = $4; sub(",", "", tos); next }
    index($0, port) { if (tos == "0xa0") m++; else u++ }
    END { printf "%d %d\n", m, u }' "$2"
}

# Packets counted by the seed rule `ct label zoom counter ip dscp set cs5` (nft quotes the name).
zoom_counter() {
  nft list chain inet ctlabeld dscp | awk '/ct label "?zoom"? counter packets [0-9]+ bytes [0-9]+ ip dscp/ {print $6; exit}'
}
run_scenario() {  # run_scenario NAME CAPTURE_SOURCE [EXTRA_SOURCE]
  local name=$1 src=$2 extra=${3:-} dump=$WORK/dump-$1.txt log=$WORK/ctlabeld-$1.log
  local counter_before
  counter_before=$(zoom_counter)
  ip netns exec $S tcpdump -i eth0 -n -v -l --immediate-mode 'tcp port 443 or udp port 9999' > "$dump" 2> "$WORK/tcpdump-$name.err" &
  TCPDUMP=$!
  poll 10 grep -q listening "$WORK/tcpdump-$name.err" || fail "$name: tcpdump did not start"
  start_ctlabeld "$log" -c "$WORK/actions.json" -i "$src" ${extra:+-i "$extra"} --stats-file "$WORK/stats-$name.json" --stats-interval 1 -l info
  await_capturing "$log" "$src"
  if [ -n "$extra" ]; then
    # A second source that does not exist yet: not fatal, retried with backoff until it appears.
    poll 10 grep -q "'$extra'.*retrying" "$log" && ok "$name: missing interface $extra reported, daemon keeps running" \
      || fail "$name: no retry message for $extra: $(tail -3 "$log")"
    ip link add "$extra" type veth peer name "${extra}p" && ip link set "$extra" up
    poll 20 grep -q "$extra: capturing" "$log" && ok "$name: $extra captured once it appeared (two sources at once)" \
      || fail "$name: $extra never captured after it appeared"
  fi
  ip netns exec $C python3 "$PEER" tls 10.201.2.2 us04web.zoom.us 6 > "$WORK/zoom-$name.out" 2>&1 &
  local zc=$!
  ip netns exec $C python3 "$PEER" tls 10.201.2.2 www.example.org 6 > "$WORK/other-$name.out" 2>&1 &
  local oc=$!
  ip netns exec $C python3 "$PEER" udp 10.201.2.2 6 > "$WORK/udp-$name.out" 2>&1 &
  local uc=$!
  ZOOM_PORT=$(client_port "$WORK/zoom-$name.out"); OTHER_PORT=$(client_port "$WORK/other-$name.out")
  UDP_PORT=$(client_port "$WORK/udp-$name.out")
  if poll 10 has_label "$ZOOM_PORT" zoom; then ok "$name: the Zoom connection (port $ZOOM_PORT) has labels=zoom"
  else fail "$name: the Zoom connection (port $ZOOM_PORT) has labels='$(labels_of_port "$ZOOM_PORT")'"; fi
  wait $zc $oc $uc
  [ "$(labels_of_port "$OTHER_PORT")" = "" ] && ok "$name: the other TLS connection has no label" || fail "$name: other TLS labels='$(labels_of_port "$OTHER_PORT")'"
  [ "$(labels_of_port "$UDP_PORT")" = "" ] && ok "$name: the UDP flow has no label" || fail "$name: UDP labels='$(labels_of_port "$UDP_PORT")'"
  sleep 0.3; kill -INT $TCPDUMP; wait $TCPDUMP 2>/dev/null
  read -r zm zu <<< "$(tos_counts "$ZOOM_PORT" "$dump")"
  read -r om ou <<< "$(tos_counts "$OTHER_PORT" "$dump")"
  read -r um uu <<< "$(tos_counts "$UDP_PORT" "$dump")"
  [ "$zm" -gt 0 ] && ok "$name: server saw $zm Zoom packets with tos 0xa0 ($zu before the label)" || fail "$name: no tos 0xa0 on Zoom packets ($zu unmarked)"
  [ "$om" -eq 0 ] && [ "$ou" -gt 0 ] && ok "$name: other TLS: $ou packets, none with tos 0xa0" || fail "$name: other TLS marked=$om unmarked=$ou"
  [ "$um" -eq 0 ] && [ "$uu" -gt 0 ] && ok "$name: UDP: $uu packets, none with tos 0xa0" || fail "$name: UDP marked=$um unmarked=$uu"
  local counter_after
  counter_after=$(zoom_counter)
  [ "${counter_after:-0}" -gt "${counter_before:-0}" ] && ok "$name: the nft rule's counter grew from ${counter_before:-0} to $counter_after packets" \
    || { fail "$name: the nft rule's counter did not grow (${counter_before:-?} -> ${counter_after:-?})"; nft list chain inet ctlabeld dscp; }
}

actions "$WORK/actions.json"
run_scenario iface r-c ctl-late0
kill -USR1 $CTL
poll 5 grep -q "statistics:" "$WORK/ctlabeld-iface.log" && ok "SIGUSR1 logs statistics" || fail "SIGUSR1 logged nothing"

# Reload with a broken file: the old rules stay, labelling goes on.
echo '{ "version": 1, "actions": { "zoom": { "criteria": "app == ;" } }' > "$WORK/actions.json"
kill -HUP $CTL
poll 5 grep -q "failed with" "$WORK/ctlabeld-iface.log" && ok "broken reload logged: $(grep -m1 'actions.json' "$WORK/ctlabeld-iface.log" | cut -c1-160)" || fail "broken reload not logged"
ip netns exec $C python3 "$PEER" tls 10.201.2.2 zoomfrn99mmr.zoom.us 3 > "$WORK/zoom-after-broken.out" 2>&1 &
client=$!
p=$(client_port "$WORK/zoom-after-broken.out")
poll 10 has_label "$p" zoom && ok "after the broken reload a new Zoom connection is still labelled" || fail "labelling stopped after a broken reload"
wait $client

# Reload with a file that also labels the other host.
actions "$WORK/actions.json" 1
kill -HUP $CTL
poll 5 grep -q "reloaded" "$WORK/ctlabeld-iface.log" && ok "reload accepted" || fail "reload not logged"
ip netns exec $C python3 "$PEER" tls 10.201.2.2 www.example.org 3 > "$WORK/other-after.out" 2>&1 &
client=$!
p=$(client_port "$WORK/other-after.out")
poll 10 has_label "$p" other && ok "after the reload the other host's connection is labelled 'other'" || fail "other host not labelled after reload: '$(labels_of_port "$p")'"
wait $client
[ -s "$WORK/stats-iface.json" ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/stats-iface.json" && ok "stats file is valid JSON" || fail "stats file missing or invalid"

# Reloads that change what applies to a live connection: the bits ctlabeld set before must go
# (issue 15 item 4: the write mask covers what was applied, not only the new rules' bits).
rules() {  # rules FILE ZOOM_TARGET_JSON WITH_ZOOM_ACTION(1|0: the action and its target removed)
  local zoom_action='' zoom_target=''
  if [ "$3" = 1 ]; then
    zoom_action="$ZOOM_ACTION_MEMBER,"
    zoom_target="\"ctlabel.zoom\": $2,"
  fi
  write_actions "$1" "$zoom_target $OTHER_TARGET_MEMBER" "$zoom_action $OTHER_ACTION_MEMBER"
}
ZOOM_TARGET='{ "target_type": "ctlabel", "labels": [ "zoom" ] }'
reloads_above() { [ "$(grep -c "reloaded" "$WORK/ctlabeld-iface.log")" -gt "$1" ]; }
reload_to() {  # reload_to WHAT ZOOM_TARGET_JSON WITH_ZOOM_ACTION: SIGHUP, wait until it is logged
  local n
  n=$(grep -c "reloaded" "$WORK/ctlabeld-iface.log")
  rules "$WORK/actions.json" "$2" "$3"
  kill -HUP $CTL
  poll 5 reloads_above "$n" || fail "reload ($1) not logged"
}
ip netns exec $C python3 "$PEER" tls 10.201.2.2 us04web.zoom.us 30 > "$WORK/zoom-live.out" 2>&1 &
live_client=$!
p=$(client_port "$WORK/zoom-live.out")
poll 10 has_label "$p" zoom || fail "live connection (port $p) not labelled zoom: '$(labels_of_port "$p")'"
reload_to "label changed" '{ "target_type": "ctlabel", "labels": [ "other" ] }' 1
poll 5 has_label "$p" other && ok "reload changing ctlabel.zoom's label to 'other': the live connection has labels=other (zoom cleared)" \
  || fail "after changing the target's label the live connection has labels='$(labels_of_port "$p")', want other"
reload_to "restored" "$ZOOM_TARGET" 1
poll 5 has_label "$p" zoom || fail "restoring the rules did not label the live connection zoom: '$(labels_of_port "$p")'"
reload_to "action removed" "$ZOOM_TARGET" 0
poll 5 has_label "$p" "" && ok "reload removing the zoom action and its target: the live connection's zoom label is cleared" \
  || fail "after removing the action the live connection has labels='$(labels_of_port "$p")', want none"
reload_to "restored" "$ZOOM_TARGET" 1
poll 5 has_label "$p" zoom || fail "restoring the rules did not label the live connection zoom: '$(labels_of_port "$p")'"
reload_to "target disabled" '{ "target_type": "ctlabel", "labels": [ "zoom" ], "target_enabled": false }' 1
poll 5 has_label "$p" "" && ok "reload disabling the zoom target: the live connection's zoom label is cleared" \
  || fail "after disabling the target the live connection has labels='$(labels_of_port "$p")', want none"
kill $live_client 2>/dev/null; wait $live_client 2>/dev/null

# SIGTERM: exit 0 within 2 s.
start=$(date +%s%N); kill -TERM $CTL; wait $CTL; rc=$?; ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 0 ] && [ $ms -le 2000 ] && ok "SIGTERM: exit 0 after ${ms} ms" || fail "SIGTERM: exit $rc after ${ms} ms"

# Head capture through NFLOG.
actions "$WORK/actions.json"
conntrack -F 2>/dev/null
run_scenario nflog nflog:5
kill -TERM $CTL; wait $CTL

if [ $FAILS -ne 0 ]; then echo "--- ctlabeld logs"; tail -n 30 "$WORK"/ctlabeld-*.log
else echo "--- sample statistics"; head -c 600 "$WORK/stats-iface.json"; echo
fi
finish
