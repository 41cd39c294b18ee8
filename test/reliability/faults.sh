#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Kernel and conntrack faults under the live daemon: client -- router -- server in namespaces,
# ctlabeld capturing in the router and labelling TLS connections to *.zoom.us with 'zoom'.
#   1. an entry deleted under the daemon (conntrack -D) between the handshake and the ClientHello
#   2. the whole table flushed (conntrack -F) at the same point
#   3. the label-enabling chain removed (nft delete chain inet ctlabeld label_enable): new
#      connections get no label storage (ENOSPC). Kernels where the remaining 'ct label' match
#      rules still give storage are detected (and said); the test then replaces the table with
#      one that tracks connections but uses no labels, which must end storage.
# Each fault must be counted in the stats file, logged once, and a new connection afterwards must
# be labelled again. net.netfilter.nf_conntrack_tcp_loose=0 makes the deletions stick: without it
# the next mid-stream packet would recreate the entry at once.
# Netlink ENOBUFS is not provoked here: the daemon has no socket-buffer option, and the writer's
# kernel test "lost replies (ENOBUFS) are counted, resent, and labelling resumes"
# (test/unit/conntrack/writer_kernel_test.cpp, CTest test_conntrack_writer) covers it.
# Usage: faults.sh CTLABELD REPO_ROOT. Exit 77 (skipped) when not root.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack python3 openssl ip
enter_sandbox 240 "$0" "$CTLABELD" "$REPO"

# ---- inside: this network namespace is the router ----
SERVER_PEER=$REPO/test/integration/tls_peer.py
CLIENT_PEER=$REPO/test/reliability/fault_peer.py
C=ctl-flt-client S=ctl-flt-server
write_connlabel $'0 zoom\n1 other\n'
add_host $C r-c 10.202.1
add_host $S r-s 10.202.2
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 || { fail "cannot set nf_conntrack_tcp_loose in the namespace"; exit 1; }
NFT_FILE=$REPO/etc/ctlabeld/ctlabeld.nft
load_nft "$NFT_FILE"
start_tls_server $S

write_actions "$WORK/actions.json" "$ZOOM_TARGET_MEMBER" "$ZOOM_ACTION_MEMBER" true
LOG=$WORK/ctlabeld.log STATS=$WORK/stats.json
start_ctlabeld "$LOG" -c "$WORK/actions.json" -i r-c --stats-file "$STATS" --stats-interval 1 -l info
await_capturing "$LOG" || finish
poll 5 test -s "$STATS" || { fail "no stats file"; exit 1; }

labels_of_port() {  # labels= of the entry whose original source port is $1 ("<absent>": none)
  conntrack -L -p tcp --sport "$1" -o labels 2>/dev/null | awk '
    { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); found = 1; exit }
      print ""; found = 1; exit }
    END { if (!found) print "<absent>" }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }
established() { conntrack -L -p tcp --sport "$1" 2>/dev/null | grep -q ESTABLISHED; }
conntrack_stat() { stat_of "$STATS" "s['conntrack']['$1']"; }
# A normal Zoom connection must be labelled: labelling works (again).
expect_labelled() {  # expect_labelled WHAT SNI
  ip netns exec $C python3 "$SERVER_PEER" tls 10.202.2.2 "$2" 3 > "$WORK/ok-$2.out" 2>&1 &
  local client=$! port
  port=$(client_port "$WORK/ok-$2.out")
  if poll 10 has_label "$port" zoom; then ok "$1: a new Zoom connection (port $port) is labelled zoom"
  else fail "$1: a new Zoom connection (port $port) has labels='$(labels_of_port "$port")'"; fi
  wait $client
}
# paused_client NAME SNI: starts a client that stops after the handshake; sets PORT and PAUSED.
paused_client() {
  rm -f "$WORK/go-$1"
  ip netns exec $C python3 "$CLIENT_PEER" 10.202.2.2 "$2" "$WORK/go-$1" 2 > "$WORK/paused-$1.out" 2>&1 &
  PAUSED=$!
  PORT=$(client_port "$WORK/paused-$1.out")
  poll 5 established "$PORT" || fail "$1: the connection from port $PORT never became ESTABLISHED"
}

expect_labelled "baseline" us04web.zoom.us

# removed_under_daemon NAME PAUSED_SNI NEXT_SNI WHAT: a paused connection's entry is removed by
# the command WHAT (run with PORT set to its port) between the handshake and the ClientHello. The
# daemon's write to it must be counted (enoent) and logged once, the entry must stay gone, and a
# new connection (NEXT_SNI) must be labelled after.
removed_under_daemon() {
  local name=$1 what=$4 enoent0 n
  local label=${what%% -p*}  # the command without its arguments, for messages
  enoent0=$(conntrack_stat enoent)
  paused_client "$name" "$2"
  eval "$what" > /dev/null 2>&1
  established "$PORT" && fail "$label did not remove port $PORT's entry"
  touch "$WORK/go-$name"
  if poll 10 stat_at_least "$STATS" "s['conntrack']['enoent']" $((enoent0 + 1)); then
    ok "$label: the write to the removed entry counted (enoent $enoent0 -> $(conntrack_stat enoent))"
  else
    fail "$label: enoent stayed at $(conntrack_stat enoent); written=$(conntrack_stat written)"
  fi
  n=$(grep -c "labelling tcp 10.202.1.2:$PORT -> .*no such connection" "$LOG")
  [ "$n" -eq 1 ] && ok "$label: logged once: $(grep -m1 "10.202.1.2:$PORT" "$LOG" | cut -c1-200)" \
    || fail "$label: the failed write for port $PORT was logged $n times"
  [ "$(labels_of_port "$PORT")" = "<absent>" ] || fail "$label: the entry for port $PORT came back: '$(labels_of_port "$PORT")'"
  wait $PAUSED
  expect_labelled "after $label" "$3"
}
# --- 1. conntrack -D under the daemon ---
removed_under_daemon delete zoomfrn01mmr.zoom.us us05web.zoom.us 'conntrack -D -p tcp --sport "$PORT"'
# --- 2. the whole table flushed (conntrack -F) at the same point ---
removed_under_daemon flush zoomfrn02mmr.zoom.us us06web.zoom.us 'conntrack -F'

# --- 3. the label-enabling rule removed ---
# storage_given: does a new entry get label storage now? (a probe entry, labelled with conntrack -U;
# without storage the kernel leaves it unlabelled)
storage_given() {
  conntrack -I -p udp -s 10.9.9.9 -d 10.9.9.10 --sport 9 --dport 9 -t 5 > /dev/null 2>&1
  local out
  out=$(conntrack -U -p udp -s 10.9.9.9 --label-add zoom 2>&1)
  conntrack -D -p udp -s 10.9.9.9 > /dev/null 2>&1
  [[ $out == *labels=zoom* ]]
}
no_storage() { ! storage_given; }
# expect_enospc WHAT: new connections now draw ENOSPC: counted each time, explained once.
expect_enospc() {
  local enospc0 client port
  enospc0=$(conntrack_stat enospc)
  for sni in zoomfrn03mmr.zoom.us zoomfrn04mmr.zoom.us; do
    ip netns exec $C python3 "$SERVER_PEER" tls 10.202.2.2 $sni 2 > "$WORK/nostorage-$sni.out" 2>&1 &
    client=$!
    port=$(client_port "$WORK/nostorage-$sni.out")
    enospc0=$((enospc0 + 1))
    poll 10 stat_at_least "$STATS" "s['conntrack']['enospc']" $enospc0 \
      && ok "$1: the write for port $port counted as ENOSPC (enospc $(conntrack_stat enospc))" \
      || fail "$1: no ENOSPC counted for port $port (enospc $(conntrack_stat enospc), labels '$(labels_of_port "$port")')"
    wait $client
  done
  local n
  n=$(grep -c "no label storage for this connection (ENOSPC)" "$LOG")
  [ "$n" -eq 1 ] && ok "$1: the ENOSPC explanation was logged once: $(grep -m1 -o 'conntrack: the kernel has no label storage.\{0,100\}' "$LOG")..." \
    || fail "$1: the ENOSPC explanation was logged $n times"
}
nft delete chain inet ctlabeld label_enable || fail "nft delete chain inet ctlabeld label_enable"
if poll 3 no_storage; then
  expect_enospc "label_enable removed"
else
  note "after 'nft delete chain inet ctlabeld label_enable' this kernel ($(uname -r)) still gives new" \
       "connections label storage: the table's remaining 'ct label zoom' match rules keep it on"
  # Conntrack stays on (a ct state rule) but nothing uses labels: storage must go.
  nft delete table inet ctlabeld
  nft add table inet ctl_nolabel
  nft add chain inet ctl_nolabel trackonly '{ type filter hook forward priority 0; policy accept; }'
  nft add rule inet ctl_nolabel trackonly ct state established,related counter
  if poll 3 no_storage; then
    expect_enospc "no rule uses labels"
  else
    fail "with no nftables rule using labels new entries still get label storage; ENOSPC cannot be tested"
  fi
  nft delete table inet ctl_nolabel
fi
nft -f "$NFT_FILE" || fail "reloading $NFT_FILE"
poll 3 storage_given || fail "label storage did not come back after reloading $NFT_FILE"
expect_labelled "after restoring the ruleset" us07web.zoom.us

kill -0 $CTL 2>/dev/null && ok "ctlabeld still running" || fail "ctlabeld died"
echo "--- conntrack stats: $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["conntrack"]))' "$STATS")"
kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] || fail "ctlabeld exited $rc on SIGTERM"
[ $FAILS -ne 0 ] && { echo "--- ctlabeld log"; tail -n 40 "$LOG"; }
finish
