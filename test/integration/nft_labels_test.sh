#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# scripts/nft-labels.sh, which run.sh calls before starting the daemon: it loads the shipped
# ctlabeld.nft exactly when no nftables rule sets a conntrack label, never twice, never over an
# existing 'table inet ctlabeld', and after it a new connection can carry a label.
# Usage: nft_labels_test.sh REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation: test/integration/lib.sh's enter_sandbox (`unshare --mount --net`), so the ruleset and
# conntrack table it changes are this namespace's own, and /etc gets a private overlay.
set -u
REPO=$(readlink -f "${1:?usage: $0 REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack
enter_sandbox 60 "$0" "$REPO"

# ---- inside ----
write_connlabel $'0 zoom\n1 other\n'
SCRIPT=$REPO/scripts/nft-labels.sh
NFT=$REPO/etc/ctlabeld/ctlabeld.nft
reset() { nft flush ruleset; conntrack -F >/dev/null 2>&1; }
run() {  # run LOG: runs the script; its exit status is the function's
  local rc=0
  "$SCRIPT" "$NFT" > "$1" 2>&1 || rc=$?
  sed 's/^/  | /' "$1"
  return $rc
}
setup() { nft "$1" || { fail "test set-up: nft '$1'"; exit 1; }; }
tables() { nft list tables | grep -c 'table inet ctlabeld'; }
# new_conn_labelable SPORT: does a connection created now accept a label?
new_conn_labelable() {
  conntrack -I -p udp -s 10.77.0.1 -d 10.77.0.2 --sport "$1" --dport 53 -t 60 >/dev/null 2>&1 || return 2
  conntrack -U -p udp -s 10.77.0.1 -d 10.77.0.2 --sport "$1" --dport 53 --label-add zoom >/dev/null 2>&1 || return 1
  conntrack -L -p udp -s 10.77.0.1 --sport "$1" -o labels 2>/dev/null | grep -q 'labels=zoom'
}

echo "== an empty ruleset: the shipped table is loaded, and new connections can be labelled"
reset
if new_conn_labelable 40001; then before=yes; else before=no; fi
echo "  (before: a new connection accepts a label: $before; this kernel may allow it without rules)"
if run "$WORK/a.log"; then ok "exit 0"; else fail "exit status $? on an empty ruleset"; fi
grep -q "loaded $NFT" "$WORK/a.log" && ok "says it loaded the table" || fail "no 'loaded $NFT' message"
[ "$(tables)" -eq 1 ] && ok "table inet ctlabeld loaded" || fail "table inet ctlabeld: $(tables) copies"
nft list chain inet ctlabeld label_enable | grep -q 'ct label set' && ok "label_enable chain present" ||
  fail "no label_enable chain"
new_conn_labelable 40002 && ok "a new connection carries the label zoom" || fail "a new connection cannot be labelled"

echo "== run again: nothing is loaded twice"
snapshot=$(nft list ruleset)
if run "$WORK/b.log"; then ok "exit 0"; else fail "exit status $? on the second run"; fi
grep -q "already sets conntrack labels" "$WORK/b.log" && ok "says labels are already set" || fail "no 'already' message"
[ "$(nft list ruleset)" = "$snapshot" ] && ok "ruleset unchanged" || fail "the second run changed the ruleset"
[ "$(tables)" -eq 1 ] || fail "table inet ctlabeld duplicated: $(tables) copies"

echo "== another table sets labels: left alone, nothing loaded"
reset
setup 'table inet mine { chain c { ct label set other; }; }'
snapshot=$(nft list ruleset)
if run "$WORK/c.log"; then ok "exit 0"; else fail "exit status $?"; fi
[ "$(nft list ruleset)" = "$snapshot" ] && ok "ruleset unchanged, no ctlabeld table" || fail "loaded over a ruleset that sets labels"

echo "== a label match only ('ct label zoom', no set): the shipped table is loaded"
reset
setup 'table inet mine { chain c { type filter hook forward priority 0; ct label zoom counter; }; }'
if run "$WORK/d.log"; then ok "exit 0"; else fail "exit status $?"; fi
[ "$(tables)" -eq 1 ] && nft list table inet mine >/dev/null 2>&1 && ok "table loaded beside the user's" ||
  fail "table inet ctlabeld: $(tables) copies, or table inet mine gone"

echo "== the user's own 'table inet ctlabeld' without a label set: kept, with a warning"
reset
setup 'table inet ctlabeld { chain dscp { type filter hook postrouting priority mangle; ct label zoom counter ip dscp set cs5; }; }'
snapshot=$(nft list ruleset)
if run "$WORK/e.log"; then ok "exit 0"; else fail "exit status $?"; fi
[ "$(nft list ruleset)" = "$snapshot" ] && ok "the user's table kept" || fail "the user's table was replaced"
grep -q "WARNING: table inet ctlabeld exists" "$WORK/e.log" && grep -q "nft -f $NFT" "$WORK/e.log" &&
  ok "warns and names the command" || fail "no warning naming 'nft -f $NFT'"

echo "== connlabel.conf without 'zoom': a non-zero exit naming the file to fix"
reset
printf '1 other\n' > /etc/connlabel.conf
if run "$WORK/f.log"; then fail "exit 0 although nft could not load the table"; else ok "non-zero exit"; fi
grep -q "/etc/connlabel.conf" "$WORK/f.log" && ok "names /etc/connlabel.conf" || fail "does not name /etc/connlabel.conf"
[ "$(tables)" -eq 0 ] || fail "a partial table was left"

nft flush ruleset; conntrack -F >/dev/null 2>&1
finish
