#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The shipped etc/ctlabeld/protos.txt improves Zoom detection: nDPI 4.2 names TLS with SNI
# "*.zoom.us" Zoom but leaves the bare "zoom.us" plain TLS. Records real TLS handshakes on
# loopback inside a private network namespace (openssl s_server/s_client, tcpdump), then
# classifies the capture with and without the protos file. Exit 77 (skipped) when not root.
# The TLS peers are test/integration/tls_peer.py (a threaded server, so no client waits).
set -u
bin=$(readlink -f "${1:?usage: protos_zoom.sh CTLABELD}")
repo=$(pwd)
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (network namespace)"; exit 77; fi
if [ "${CTL_INSIDE:-}" != 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  CTL_INSIDE=1 TMPD=$tmp timeout 120 unshare --net -- bash "$0" "$bin"
  exit $?
fi
cd "$TMPD" || exit 1
ip link set lo up
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout key.pem -out cert.pem 2>/dev/null
python3 "$repo/test/integration/tls_peer.py" server cert.pem key.pem > server.log 2>&1 &
server=$!
# --immediate-mode -U: every packet reaches the file at once. Without them the last handshake can
# sit in an unretired TPACKET_V3 block when tcpdump is stopped, and its flow is missing.
tcpdump -i lo -n --immediate-mode -U -w tls.pcap 'tcp port 443' 2> tcpdump.err &
dump=$!
for _ in $(seq 50); do grep -q listening tcpdump.err 2>/dev/null && grep -q ready server.log && break; sleep 0.1; done
for sni in zoom.us us04web.zoom.us www.example.org; do
  # A loaded CI machine (sanitizer builds in parallel) can make a handshake time out: try again,
  # at most three times, and say so.
  for attempt in 1 2 3; do
    timeout 20 python3 "$repo/test/integration/tls_peer.py" tls 127.0.0.1 "$sni" 0.3 > "client-$sni.log" 2>&1 && break
    echo "note: TLS client for $sni failed (attempt $attempt): $(tail -1 "client-$sni.log")"
  done
done
sleep 1
kill -INT $dump; wait $dump 2>/dev/null; kill $server 2>/dev/null
# Every handshake must be in the capture, or the checks below test nothing.
flows=$("$bin" -r tls.pcap -n --flows - -l error 2>&1)
for sni in zoom.us us04web.zoom.us www.example.org; do
  if ! grep -q "\"hostname\":\"$sni\"" <<< "$flows"; then
    echo "FAIL the capture has no flow with SNI $sni; flows seen:"; echo "$flows"
    tcpdump -n -r tls.pcap 2>/dev/null | head -40
    exit 1
  fi
done
pass=0 fail=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1: $2"; pass=$((pass+1)); else echo "FAIL $1: got '$2', want '$3'"; fail=$((fail+1)); fi; }
app_of() {  # app_of SNI [ctlabeld options]: the app of the flow whose hostname is SNI
  local sni=$1; shift
  "$bin" -r tls.pcap -n --flows - -l error "$@" 2>/dev/null | grep "\"hostname\":\"$sni\"" | sed 's/.*"app":"\([^"]*\)".*/\1/' | head -1
}
check "without protos.txt, SNI zoom.us" "$(app_of zoom.us)" tls
check "with protos.txt, SNI zoom.us" "$(app_of zoom.us --protos "$repo/etc/ctlabeld/protos.txt")" zoom
check "without protos.txt, SNI us04web.zoom.us" "$(app_of us04web.zoom.us)" zoom
check "with protos.txt, SNI us04web.zoom.us" "$(app_of us04web.zoom.us --protos "$repo/etc/ctlabeld/protos.txt")" zoom
check "with protos.txt, SNI www.example.org" "$(app_of www.example.org --protos "$repo/etc/ctlabeld/protos.txt")" tls
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
