#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The foundation's acceptance line: the 19 Zoom flows ndpiReader 4.2 finds in zoom_v4.2.pcap,
# and with the shipped actions file, "labels":["zoom"] on exactly those flows.
set -u
bin=${1:?usage: zoom_flows.sh CTLABELD}
pcap=../shared/pcaps/zoom_v4.2.pcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1: $2"; pass=$((pass+1)); else echo "FAIL $1: got $2, want $3"; fail=$((fail+1)); fi; }

"$bin" -r "$pcap" -n --flows - -l error > "$tmp/flows.jsonl" 2> "$tmp/err" || { cat "$tmp/err"; exit 1; }
check "flows" "$(wc -l < "$tmp/flows.jsonl")" 33
check "zoom flows" "$(grep -c '"app":"zoom"' "$tmp/flows.jsonl")" 19
expected=$(awk -F'\t' '$1=="zoom_v4.2.pcap" && $8 ~ /Zoom/' ../shared/pcaps/FLOWS_ndpi42.tsv | wc -l)
check "zoom flows in ndpiReader's list" "$expected" 19

# With the shipped actions file and a connlabel.conf defining zoom.
printf '0 zoom\n' > "$tmp/connlabel.conf"
sed "s|/etc/xtables/connlabel.conf|$tmp/connlabel.conf|" etc/ctlabeld/actions.json > "$tmp/actions.json"
"$bin" -r "$pcap" -n --flows - -c "$tmp/actions.json" -l error > "$tmp/labelled.jsonl" 2> "$tmp/err" || { cat "$tmp/err"; exit 1; }
check "labelled flows" "$(grep -c '"labels":\["zoom"\]' "$tmp/labelled.jsonl")" 19
check "labelled flows that are zoom" "$(grep '"labels":\["zoom"\]' "$tmp/labelled.jsonl" | grep -c '"app":"zoom"')" 19
check "unlabelled non-zoom flows" "$(grep -v '"app":"zoom"' "$tmp/labelled.jsonl" | grep -c '"labels":\[\]')" 14
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
