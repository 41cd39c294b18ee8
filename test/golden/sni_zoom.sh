#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The shipped etc/ctlabeld/app_rules.conf names TLS by Zoom's host names exactly: nDPI 4.2 names
# SNI "*.zoom.us" Zoom but leaves the bare "zoom.us" plain TLS (when the server is on none of its
# lists), and "my-zoom.us" is not Zoom. Records real TLS handshakes on loopback inside a private
# network namespace (tls_peer.py, tcpdump), then classifies the capture with and without the
# rules. Exit 77 (skipped) when not root.
# The TLS peers are test/integration/tls_peer.py (a threaded server, so no client waits).
set -u
bin=$(readlink -f "${1:?usage: sni_zoom.sh CTLABELD}")
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
for sni in zoom.us us04web.zoom.us www.example.org my-zoom.us; do
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
for sni in zoom.us us04web.zoom.us www.example.org my-zoom.us; do
  if ! grep -q "\"hostname\":\"$sni\"" <<< "$flows"; then
    echo "FAIL the capture has no flow with SNI $sni; flows seen:"; echo "$flows"
    tcpdump -n -r tls.pcap 2>/dev/null | head -40
    exit 1
  fi
done
pass=0 fail=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1: $2"; pass=$((pass+1)); else echo "FAIL $1: got '$2', want '$3'"; fail=$((fail+1)); fi; }
field_of() {  # field_of FIELD SNI [ctlabeld options]: FIELD of the flow whose hostname is SNI
  local field=$1 sni=$2; shift 2
  "$bin" -r tls.pcap -n --flows - -l error "$@" 2>/dev/null | grep "\"hostname\":\"$sni\"" | sed "s/.*\"$field\":\"\([^\"]*\)\".*/\1/" | head -1
}
rules=(--app-rules "$repo/etc/ctlabeld/app_rules.conf" --protos "$repo/etc/ctlabeld/protos.txt")
none=(--app-rules none --protos none)
check "without rules, SNI zoom.us" "$(field_of app zoom.us "${none[@]}")" tls
check "with the shipped rules, SNI zoom.us" "$(field_of app zoom.us "${rules[@]}")" zoom
check "with the shipped rules, SNI zoom.us: protocol" "$(field_of protocol zoom.us "${rules[@]}")" tls
check "with the shipped rules, SNI zoom.us: detected_by" "$(field_of detected_by zoom.us "${rules[@]}")" host
check "without rules, SNI us04web.zoom.us" "$(field_of app us04web.zoom.us "${none[@]}")" zoom
check "with the shipped rules, SNI us04web.zoom.us: nDPI's own answer" "$(field_of detected_by us04web.zoom.us "${rules[@]}")" dpi
check "with the shipped rules, SNI www.example.org" "$(field_of app www.example.org "${rules[@]}")" tls
my=$(field_of app my-zoom.us "${rules[@]}")
[ "$my" != zoom ] && [ -n "$my" ] && { echo "ok   with the shipped rules, SNI my-zoom.us is not zoom: $my"; pass=$((pass+1)); } \
  || { echo "FAIL with the shipped rules, SNI my-zoom.us: '$my'"; fail=$((fail+1)); }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
