# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Shared pieces of the reliability tests (sourced, not run): the namespace sandbox, polling,
# pass/fail bookkeeping, and reading ctlabeld's stats file.
#
# Isolation, as in test/integration/e2e_router.sh: a test calls `enter_sandbox SECONDS "$0" ARGS`
# first; the script re-runs itself under `unshare --mount --net` (so every network namespace,
# veth and mount it makes vanishes with that process tree, even on a crash), with a private
# /etc overlay (for connlabel.conf) and a private /run/netns.

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
note() { echo "note: $*"; }
# poll SECONDS COMMAND...: run COMMAND every 100 ms until it succeeds or time runs out.
poll() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

# require_root_and TOOL...: exit 77 (CTest's skip) unless root with every tool present.
require_root_and() {
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
  local tool
  for tool in unshare "$@"; do command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }; done
}

# enter_sandbox TIMEOUT SCRIPT ARGS...: outside, re-runs SCRIPT inside fresh namespaces (bounded by
# TIMEOUT seconds) and exits with its status; inside, sets up /etc and /run/netns and returns.
# WORK is a temporary directory shared by both sides, removed at the end.
enter_sandbox() {
  local limit=$1; shift
  if [ "${CTL_INSIDE:-}" != 1 ]; then
    WORK=$(mktemp -d /tmp/ctlabeld-rel-XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    CTL_INSIDE=1 WORK=$WORK timeout --kill-after=10 "$limit" unshare --mount --propagation private --net -- bash "$@"
    local rc=$?
    [ $rc -eq 124 ] && echo "FAIL: $(basename "$1") ran past its ${limit}s limit"
    exit $rc
  fi
  mkdir -p "$WORK/upper" "$WORK/work" /run/netns
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/upper,workdir=$WORK/work" /etc || exit 1
  mount -t tmpfs tmpfs /run/netns || exit 1
  mkdir -p /etc/xtables
  ip link set lo up
}

# write_connlabel TEXT: the same label map for nft, conntrack -L and ctlabeld ($WORK/connlabel.conf).
write_connlabel() {
  printf '%s' "$1" | tee /etc/connlabel.conf /etc/xtables/connlabel.conf > "$WORK/connlabel.conf"
}

# stat_of FILE PYTHON_EXPR: evaluates EXPR on the stats JSON `s` (e.g. 's["conntrack"]["enoent"]');
# prints -1 when the file is missing or unreadable (it is replaced atomically, so never torn).
stat_of() {
  python3 -c '
import json, sys
try:
    s = json.load(open(sys.argv[1]))
    print(eval(sys.argv[2]))
except Exception:
    print(-1)' "$1" "$2"
}
# stat_at_least FILE EXPR N: true when the stat has reached N.
stat_at_least() { [ "$(stat_of "$1" "$2")" -ge "$3" ] 2>/dev/null; }

# finish: the summary line and exit status CTest reads.
finish() {
  if [ "$FAILS" -ne 0 ]; then echo "0 passed, $FAILS failed"; exit 1; fi
  echo "1 passed, 0 failed"
  exit 0
}
