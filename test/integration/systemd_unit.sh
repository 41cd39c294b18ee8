#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The unit keeps its hardening with the control socket (issue 14): the socket lives in the
# unit's RuntimeDirectory (/run/ctlabeld, the daemon's default socket path), AF_UNIX is allowed,
# and `systemd-analyze security --offline=yes` rates the exposure at most 1.5.
# Usage: systemd_unit.sh REPO_ROOT. Exit 77 (skipped) without systemd-analyze.
set -u
REPO=$(readlink -f "${1:?usage: $0 REPO_ROOT}")
UNIT=$REPO/systemd/ctlabeld.service
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing"; exit 77; }
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
grep -qx 'RuntimeDirectory=ctlabeld' "$UNIT" && ok "RuntimeDirectory=ctlabeld" || fail "no RuntimeDirectory=ctlabeld in $UNIT"
grep -q '^RestrictAddressFamilies=.*AF_UNIX' "$UNIT" && ok "AF_UNIX allowed (control socket)" || fail "AF_UNIX not allowed in $UNIT"
grep -q 'kControlSocket = "/run/ctlabeld/ctlabeld.sock"' "$REPO/include/ctlabeld/common/defaults.hpp" \
  && ok "the default socket is inside the runtime directory" || fail "defaults.hpp: the socket is not /run/ctlabeld/ctlabeld.sock"
out=$(systemd-analyze security --offline=yes "$UNIT" 2>&1)
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for ctlabeld.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
  fail "no exposure level: $(printf '%s\n' "$out" | tail -3)"
elif awk -v l="$level" 'BEGIN { exit !(l <= 1.5) }'; then
  ok "systemd-analyze security: exposure $level (at most 1.5)"
else
  fail "systemd-analyze security: exposure $level, above 1.5"
fi
[ $FAILS -eq 0 ] && { echo "1 passed, 0 failed"; exit 0; }
echo "0 passed, $FAILS failed"; exit 1
