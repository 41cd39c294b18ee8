#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Bad configuration, at start and on SIGHUP. The corpus: every test/data/config/bad/*.json (with
# its .expected messages, as the actions unit test checks them at load) and every
# test/reliability/data/connlabel/*.conf (with its .expected).
#   at start: ctlabeld exits non-zero and prints every expected message;
#   on SIGHUP: a live daemon (capturing on lo in a private namespace) logs every expected message
#   and "the previous rules stay in force", keeps running, and its old rules keep labelling.
# Expected messages name the file as loaded; for a reload the copy's path replaces the corpus path.
# Three corpus files get the daemon's own expectations (test/reliability/data/daemon_expected/).
# Usage: bad_config.sh CTLABELD REPO_ROOT. Exit 77 (skipped) when not root.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack python3 openssl ip
enter_sandbox 280 "$0" "$CTLABELD" "$REPO"

# ---- inside a private network namespace; the daemon reads relative corpus paths from REPO ----
cd "$REPO" || exit 1
PEER=$REPO/test/integration/tls_peer.py
write_connlabel $'0 zoom\n1 other\n'
cp "$WORK/connlabel.conf" "$WORK/connlabel.good"
nft -f etc/ctlabeld/ctlabeld.nft || { fail "nft -f etc/ctlabeld/ctlabeld.nft"; exit 1; }
# Without nft's file the loader cannot fall back to it for a missing connlabel_conf (the rules
# above are already compiled to bits).
rm /etc/connlabel.conf
ACTIONS_BAD=(test/data/config/bad/*.json)
CONNLABEL_BAD=(test/reliability/data/connlabel/*.conf)
[ ${#ACTIONS_BAD[@]} -ge 30 ] || fail "only ${#ACTIONS_BAD[@]} bad actions files (30 or more expected)"

good_actions() {  # good_actions OUT CONNLABEL_CONF
  write_actions "$1" "$ZOOM_TARGET_MEMBER" "$ZOOM_ACTION_MEMBER" false "$2"
}
# expect_messages WHAT EXPECTED_FILE LOG [FROM TO]: every line of EXPECTED_FILE (with FROM
# replaced by TO) occurs in LOG; prints the missing ones.
expect_messages() {
  local what=$1 expected=$2 log=$3 from=${4:-} to=${5:-} line missing=0
  [ -s "$expected" ] || { fail "$what: $expected is missing or empty"; return 1; }
  while IFS= read -r line; do
    [ -n "$from" ] && line=${line//"$from"/"$to"}
    grep -qF -- "$line" "$log" || { missing=$((missing + 1)); echo "  missing: $line"; }
  done < "$expected"
  [ $missing -eq 0 ] || { fail "$what: $missing expected message(s) not logged"; return 1; }
}

# The expected messages of a corpus file: the daemon's own where its real connlabel.conf loader
# answers differently from the unit test's fixed resolver (see data/daemon_expected/README).
expected_of() {  # expected_of FILE
  local own
  own=test/reliability/data/daemon_expected/$(basename "${1%.*}").expected
  if [ -f "$own" ]; then echo "$own"; else echo "${1%.*}.expected"; fi
}

# --- at start ---
start_fails() {  # start_fails WHAT CONFIG EXPECTED
  local log=$WORK/start.log
  timeout 20 "$CTLABELD" -c "$2" -i lo -n > "$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then fail "start with $1: exit $rc (expected a refusal)"; return; fi
  expect_messages "start with $1" "$3" "$log" && STARTS_OK=$((STARTS_OK + 1))
}
STARTS_OK=0
for f in "${ACTIONS_BAD[@]}"; do start_fails "$f" "$f" "$(expected_of "$f")"; done
for f in "${CONNLABEL_BAD[@]}"; do
  good_actions "$WORK/start-$(basename "$f").json" "$f"
  start_fails "$f" "$WORK/start-$(basename "$f").json" "${f%.conf}.expected"
done
total=$(( ${#ACTIONS_BAD[@]} + ${#CONNLABEL_BAD[@]} ))
[ $STARTS_OK -eq $total ] && ok "at start: all $total bad files refused with their exact messages"

# --- on SIGHUP ---
CFG=$WORK/actions.json LOG=$WORK/ctlabeld.log STATS=$WORK/stats.json
good_actions "$CFG" "$WORK/connlabel.conf"
start_ctlabeld "$LOG" -c "$CFG" -i lo --stats-file "$STATS" --stats-interval 1 -l info
await_capturing "$LOG" || finish
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
python3 "$PEER" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
poll 10 grep -q ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }

labels_of_port() {
  conntrack -L -p tcp --sport "$1" -o labels 2>/dev/null | awk '
    { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print "" ; exit }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }
expect_labelled() {  # expect_labelled WHAT SNI: a new Zoom connection on lo gets the label
  python3 "$PEER" tls 127.0.0.1 "$2" 2 > "$WORK/client.out" 2>&1 &
  local client=$! port
  poll 10 grep -q '^port ' "$WORK/client.out"
  port=$(awk '/^port /{print $2; exit}' "$WORK/client.out")
  if poll 10 has_label "$port" zoom; then ok "$1: a new Zoom connection is labelled zoom"
  else fail "$1: a new Zoom connection (port $port) has labels='$(labels_of_port "$port")'"; fi
  wait $client
}
expect_labelled "before any reload" us04web.zoom.us

RELOAD_FAILED=0
# reload_bad WHAT EXPECTED FROM: SIGHUP with a broken file in place; the messages, the "previous
# rules stay in force" line, and a live daemon.
reload_bad() {
  local what=$1 expected=$2 from=$3 to=$4 before
  before=$(grep -c "the previous rules stay in force" "$LOG")
  kill -HUP $CTL
  if ! poll 5 eval '[ "$(grep -c "the previous rules stay in force" "$LOG")" -gt '"$before"' ]'; then
    fail "SIGHUP with $what: no 'previous rules stay in force' in the log"
  elif expect_messages "SIGHUP with $what" "$expected" "$LOG" "$from" "$to"; then
    RELOAD_FAILED=$((RELOAD_FAILED + 1))
  fi
  kill -0 $CTL 2>/dev/null || { fail "ctlabeld died on SIGHUP with $what"; exit 1; }
}
for f in "${ACTIONS_BAD[@]}"; do
  cp "$f" "$CFG"
  reload_bad "$f" "$(expected_of "$f")" "$f" "$CFG"
done
expect_labelled "after ${#ACTIONS_BAD[@]} broken actions files" zoomfrn01mmr.zoom.us

good_actions "$CFG" "$WORK/connlabel.conf"
for f in "${CONNLABEL_BAD[@]}"; do
  cp "$f" "$WORK/connlabel.conf"
  reload_bad "$f" "${f%.conf}.expected" "$f" "$WORK/connlabel.conf"
done
expect_labelled "after ${#CONNLABEL_BAD[@]} broken connlabel.conf files" zoomfrn02mmr.zoom.us
[ $RELOAD_FAILED -eq $total ] && ok "on SIGHUP: all $total bad files rejected with their exact messages; daemon running"

# A good file again is accepted, and the failures were counted.
cp "$WORK/connlabel.good" "$WORK/connlabel.conf"
kill -HUP $CTL
poll 5 grep -q "reloaded $CFG" "$LOG" && ok "a good file reloads afterwards" || fail "the good file was not reloaded"
if poll 5 eval '[ "$(stat_of "$STATS" "s[\"reload_failures\"]")" -eq '"$total"' ]'; then
  ok "stats: reload_failures = $total, reloads = $(stat_of "$STATS" 's["reloads"]')"
else
  fail "stats: reload_failures = $(stat_of "$STATS" 's["reload_failures"]'), expected $total"
fi
kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] || fail "ctlabeld exited $rc on SIGTERM"
[ $FAILS -ne 0 ] && { echo "--- ctlabeld log (tail)"; tail -n 20 "$LOG"; }
finish
