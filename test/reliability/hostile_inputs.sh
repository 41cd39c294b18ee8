#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Hostile and careless inputs (issue 15 items 1, 2, 5, 8, 9; issue 12's connlabel.conf names):
# each must end in a true, specific message and the right exit status, never a crash, a hang,
# silent truncation or a daemon that says "started" while capturing nothing. Live parts run in a
# private network namespace on lo (and an NFLOG group), with a private /etc.
# Usage: hostile_inputs.sh CTLABELD REPO_ROOT. Exit 77 (skipped) when not root.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and python3 ip timeout truncate mkfifo
enter_sandbox 280 "$0" "$CTLABELD" "$REPO"

# ---- inside the sandbox ----
cd "$REPO" || exit 1
PCAP=$REPO/../shared/pcaps/zoom_v4.2.pcap
[ -f "$PCAP" ] || { echo "SKIP: $PCAP missing"; exit 77; }
write_connlabel $'0 zoom\n1 other\n'
chmod 755 "$WORK"

actions() {  # actions OUT CONNLABEL [CRITERIA] [EXTRA_TOP_LEVEL_JSON]
  cat > "$1" <<JSON
{
  "target_globals": { "ctlabel": { "connlabel_conf": "$2" } },
  "targets": { "t": { "target_type": "ctlabel", "labels": [ "zoom" ] } },
  "actions": { "a": { "criteria": "${3:-app == 'zoom';}", "targets": [ "t" ] } }${4:-}
}
JSON
  chmod 644 "$1"
}
# expect WHAT RC_WANTED LOG TEXT...: the command's status and every TEXT (fixed string) in LOG.
expect() {
  local what=$1 want=$2 rc=$3 log=$4 text bad=0
  shift 4
  if [ "$want" = nonzero ] && { [ "$rc" -eq 0 ] || [ "$rc" -gt 128 ] || [ "$rc" -eq 124 ]; }; then
    fail "$what: exit status $rc (wanted an error status, no crash, no hang)"; bad=1
  elif [ "$want" != nonzero ] && [ "$rc" -ne "$want" ]; then
    fail "$what: exit status $rc (wanted $want)"; bad=1
  fi
  for text in "$@"; do
    grep -qF -- "$text" "$log" || { fail "$what: no '$text' in the output"; bad=1; }
  done
  [ $bad -eq 0 ] && ok "$what" || sed 's/^/    | /' "$log" | head -n 8
}
GOOD=$WORK/good.json
actions "$GOOD" "$WORK/connlabel.conf"

# 1. 120,000 levels of nesting: it crashed the JSON parser (stack overflow).
python3 -c 'import sys; sys.stdout.write("{\"actions\": " + "[" * 120000)' > "$WORK/deep.json"
chmod 644 "$WORK/deep.json"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/deep.json" > "$WORK/out" 2>&1
expect "--check, 120,000 levels deep" nonzero $? "$WORK/out" \
  "$WORK/deep.json:1:" "JSON nested more than 64 levels deep"

# 2. Not regular files, refused at once (a FIFO used to block forever, /dev/zero to spin).
mkdir -m 755 "$WORK/confdir"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/confdir" > "$WORK/out" 2>&1
expect "a directory as the actions file" nonzero $? "$WORK/out" \
  "$WORK/confdir: is a directory, not a file; give the path of the actions file itself"
mkfifo -m 600 "$WORK/fifo.json"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/fifo.json" > "$WORK/out" 2>&1
expect "a FIFO as the actions file" nonzero $? "$WORK/out" \
  "$WORK/fifo.json: is a named pipe (FIFO), not a regular file"
truncate -s 20M "$WORK/huge.json" && chmod 644 "$WORK/huge.json"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/huge.json" > "$WORK/out" 2>&1
expect "a 20 MB actions file" nonzero $? "$WORK/out" \
  "$WORK/huge.json: 20971520 bytes, above the 16777216-byte limit for an actions file"
for protos in /dev/zero "$WORK/fifo.json"; do
  actions "$WORK/protos.json" "$WORK/connlabel.conf" "app == 'zoom';" ", \"ctlabeld\": { \"protos_file\": \"$protos\" }"
  timeout -k 5 20 "$CTLABELD" -r "$PCAP" -n -c "$WORK/protos.json" > "$WORK/out" 2>&1
  expect "protos_file $protos" nonzero $? "$WORK/out" "$protos: is a "
done
printf '' > "$WORK/empty.conf" && chmod 644 "$WORK/empty.conf"
actions "$WORK/empty.json" "$WORK/empty.conf"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/empty.json" > "$WORK/out" 2>&1
# Netify tolerates an undefined label, so it is a warning (an error under --strict) that says
# the file is empty.
expect "an empty connlabel.conf" 0 $? "$WORK/out" \
  "label 'zoom' is not defined in $WORK/empty.conf (the file defines no labels): this label is not set; add the line \"0 zoom\""
timeout -k 5 20 "$CTLABELD" --check --strict -c "$WORK/empty.json" > "$WORK/out" 2>&1
expect "an empty connlabel.conf, --strict" nonzero $? "$WORK/out" \
  "(the file defines no labels): this label is not set; add the line \"0 zoom\"" "[an error: --strict]"

# 5. connlabel.conf is under the same owner/mode policy as the actions file.
cp "$WORK/connlabel.conf" "$WORK/open.conf" && chmod 666 "$WORK/open.conf"
actions "$WORK/open.json" "$WORK/open.conf"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/open.json" > "$WORK/out" 2>&1
expect "a world-writable connlabel.conf" nonzero $? "$WORK/out" \
  "$WORK/open.conf: mode 0666 lets group and others write it"

# Issue 12: nft's names load ("3 best_effort" was refused through libnetfilter_conntrack).
printf '# a router firewall'"'"'s own file\n\n0 zoom\n3 best_effort\n0x4 video-2 # hex bit\n' > "$WORK/nft.conf"
chmod 644 "$WORK/nft.conf"
cat > "$WORK/nft.json" <<JSON
{
  "target_globals": { "ctlabel": { "connlabel_conf": "$WORK/nft.conf" } },
  "targets": { "t": { "target_type": "ctlabel", "labels": [ "best_effort", "video-2" ] } },
  "actions": { "a": { "criteria": "app == 'zoom';", "targets": [ "t" ] } }
}
JSON
chmod 644 "$WORK/nft.json"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/nft.json" > "$WORK/out" 2>&1
expect "connlabel.conf with '3 best_effort'" 0 $? "$WORK/out" "labels: best_effort=3 video-2=4"

# 8. Every write checked.
timeout -k 5 60 "$CTLABELD" -r "$PCAP" -n -c "$GOOD" --flows /dev/full > "$WORK/out" 2>&1
expect "--flows /dev/full" 1 $? "$WORK/out" \
  "--flows /dev/full: write failed after" "No space left on device"
timeout -k 5 60 "$CTLABELD" -r "$PCAP" -n -c "$GOOD" --flows - > /dev/full 2> "$WORK/out"
expect "--flows - to a full stdout" 1 $? "$WORK/out" "--flows stdout: write failed after"
timeout -k 5 20 "$CTLABELD" --check -c "$GOOD" > /dev/full 2> "$WORK/out"
expect "--check to a full stdout" 1 $? "$WORK/out" "--check: writing the summary failed"

# 9. Specific messages.
cat "$PCAP" | timeout -k 5 20 "$CTLABELD" -r /dev/stdin -n -c "$GOOD" --flows - > "$WORK/out" 2>&1
expect "-r /dev/stdin from a pipe" 1 $? "$WORK/out" \
  "/dev/stdin: is a named pipe (FIFO), not a regular file; ctlabeld reads a capture file only from a regular file (every worker reads the whole file from its start"
grep -q '^packets:' "$WORK/out" && fail "-r /dev/stdin: a summary was printed for a refused input"
timeout -k 5 20 "$CTLABELD" -i nflog:99999 -n -c "$GOOD" > "$WORK/out" 2>&1
expect "-i nflog:99999" 1 $? "$WORK/out" "NFLOG group '99999' is not a number from 0 to 65535"
actions "$WORK/never.json" "$WORK/connlabel.conf" "src_port == 70000 || ip_version == 5 || detected_hostname == 'rx:(a?){250}a{250}z';"
timeout -k 5 20 "$CTLABELD" --check -c "$WORK/never.json" > "$WORK/out" 2>&1
expect "never-matching comparisons and a costly regex warn" 0 $? "$WORK/out" \
  "warning: $WORK/never.json: actions.a.criteria:1:13: 'src_port' is 0 to 65535, never 70000: this comparison never matches" \
  "'ip_version' is 4 or 6, never 5: this comparison never matches" \
  "regex 'rx:(a?){250}a{250}z' costs up to 60912 steps per flow"
timeout -k 5 20 "$CTLABELD" --check --strict -c "$WORK/never.json" > "$WORK/out" 2>&1
expect "--strict refuses the costly regex and the never-matching comparisons" nonzero $? "$WORK/out" \
  "regex 'rx:(a?){250}a{250}z' costs up to 60912 steps per flow" "[an error: --strict]"

# ---- live: lo and NFLOG in this namespace ----
# An NFLOG group taken by another instance: the second one refuses to start.
"$CTLABELD" -i nflog:7 -n -c "$GOOD" > "$WORK/first.log" 2>&1 &
FIRST=$!
PIDS+=($FIRST)
poll 20 grep -q "started" "$WORK/first.log" || fail "first nflog:7 instance did not start"
timeout -k 5 20 "$CTLABELD" -i nflog:7 -n -c "$GOOD" > "$WORK/out" 2>&1
expect "a second instance on nflog:7" 1 $? "$WORK/out" \
  "capture source 'nflog:7': NFLOG group 7 is already bound by another program (netlink port"
grep -q "started" "$WORK/out" && fail "the second nflog:7 instance logged 'started'"
kill $FIRST; wait $FIRST 2>/dev/null

# 1 on SIGHUP, and 5's stats file: a live daemon keeps its rules; a planted link is not followed.
CFG=$WORK/live.json
cp "$GOOD" "$CFG"
STATS=$WORK/stats.json
echo precious > "$WORK/victim"
ln -s "$WORK/victim" "$STATS.tmp"
"$CTLABELD" -c "$CFG" -i lo -n --stats-file "$STATS" --stats-interval 1 > "$WORK/live.log" 2>&1 &
CTL=$!
PIDS+=($CTL)
poll 20 grep -q "started" "$WORK/live.log" || fail "live daemon did not start"
poll 10 test -s "$STATS" || fail "no stats file written"
[ "$(cat "$WORK/victim")" = precious ] && ok "stats file: the planted $STATS.tmp link was not followed" ||
  fail "stats file: the file behind the planted link was overwritten"
cp "$WORK/deep.json" "$CFG"
kill -HUP $CTL
poll 20 grep -q "the previous rules stay in force" "$WORK/live.log" ||
  fail "SIGHUP with 120,000 levels: no 'previous rules stay in force'"
kill -0 $CTL 2>/dev/null && ok "SIGHUP with 120,000 levels: daemon alive, old rules kept" ||
  fail "SIGHUP with 120,000 levels: the daemon died"
cp "$GOOD" "$CFG"
kill -HUP $CTL
poll 20 grep -q "reloaded $CFG" "$WORK/live.log" || fail "a good file did not reload afterwards"
kill $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] || fail "live daemon exited $rc on SIGTERM"

# 2. Signals during a long start-up: SIGHUP and SIGUSR1 wait for the loop; SIGTERM stops it.
python3 - "$WORK/big.json" "$WORK/connlabel.conf" <<'PY'
import json, sys
acts = {f"a{i}": {"criteria": f"detected_hostname == 'rx:^h{i}\\.example\\.(com|org)$';",
                  "targets": ["t"]} for i in range(60000)}
json.dump({"target_globals": {"ctlabel": {"connlabel_conf": sys.argv[2]}},
           "targets": {"t": {"target_type": "ctlabel", "labels": ["zoom"]}},
           "actions": acts}, open(sys.argv[1], "w"))
PY
chmod 644 "$WORK/big.json"
start_big() {  # start_big LOG: starts the daemon on big.json, returns once it runs main()
  "$CTLABELD" -c "$WORK/big.json" -i lo -n > "$1" 2>&1 &
  CTL=$!
  PIDS+=($CTL)
  poll 10 test "$(readlink "/proc/$CTL/exe")" = "$CTLABELD"
  sleep 0.3  # past the dynamic loader, while the 60,000 actions load
}
start_big "$WORK/big1.log"
kill -HUP $CTL; kill -USR1 $CTL
if poll 120 grep -q "started" "$WORK/big1.log" && kill -0 $CTL 2>/dev/null; then
  ok "SIGHUP and SIGUSR1 during start-up: the daemon started and runs"
else
  fail "SIGHUP/SIGUSR1 during start-up killed the daemon: $(tail -2 "$WORK/big1.log")"
fi
kill $CTL; wait $CTL 2>/dev/null
start_big "$WORK/big2.log"
early=1
grep -q "started" "$WORK/big2.log" && early=0  # this machine was too fast for the test
kill -TERM $CTL
wait $CTL; rc=$?
[ $rc -eq 0 ] || [ $rc -eq 143 ] || fail "SIGTERM during start-up: exit status $rc"
if [ $early -eq 0 ]; then
  note "SIGTERM during start-up: start-up had already finished; only the exit status was checked"
elif grep -q "started" "$WORK/big2.log"; then
  fail "SIGTERM during start-up: it still started capturing: $(cat "$WORK/big2.log")"
elif [ $rc -eq 0 ] || [ $rc -eq 143 ]; then
  ok "SIGTERM during start-up: stopped before capturing (status $rc)"
fi

finish
