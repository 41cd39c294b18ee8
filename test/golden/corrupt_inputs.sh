#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Corrupt and hostile capture files must never crash ctlabeld: each run ends with exit status
# 0 (everything read, bad packets counted) or 1 (a clear message naming the file), never a
# signal or a sanitizer report.
set -u
bin=${1:?usage: corrupt_inputs.sh CTLABELD}
pcaps=../shared/pcaps
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 65536 /dev/urandom > "$tmp/random.pcap"
head -c 100000 "$pcaps/zoom_v4.2.pcap" > "$tmp/truncated.pcap"
: > "$tmp/empty.pcap"
files=("$pcaps"/badpackets.pcap "$pcaps"/fuzz-*.pcap "$pcaps"/malformed_*.pcap
       "$pcaps"/ip_fragmented_garbage.pcap "$tmp/random.pcap" "$tmp/truncated.pcap" "$tmp/empty.pcap")
pass=0 fail=0
for f in "${files[@]}"; do
  [ -e "$f" ] || { echo "missing input $f"; fail=$((fail + 1)); continue; }
  out=$(timeout 60 "$bin" -r "$f" -n --workers 2 -l warn 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
    echo "FAIL $f: exit status $rc"; echo "$out" | tail -20; fail=$((fail + 1)); continue
  fi
  if echo "$out" | grep -qE "AddressSanitizer|runtime error|LeakSanitizer"; then
    echo "FAIL $f: sanitizer report"; echo "$out" | tail -30; fail=$((fail + 1)); continue
  fi
  if [ $rc -eq 1 ] && ! echo "$out" | grep -qF "$(basename "$f")"; then
    echo "FAIL $f: failed without naming the file"; echo "$out" | tail -5; fail=$((fail + 1)); continue
  fi
  if [ $rc -eq 0 ] && ! echo "$out" | grep -q "^packets: "; then
    echo "FAIL $f: no summary"; echo "$out" | tail -5; fail=$((fail + 1)); continue
  fi
  echo "ok   $(basename "$f"): exit $rc; $(echo "$out" | grep -E '^source|ctlabeld: ' | head -2 | tr '\n' ' ')"
  pass=$((pass + 1))
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
