# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Shared pieces of the kernel integration and reliability tests (sourced, not run): pass/fail
# bookkeeping and polling, the namespace sandbox, the client -- router -- server set-up, the TLS
# peer, starting ctlabeld and waiting for it, reading conntrack labels and the stats file.
#
# Isolation: a test calls `enter_sandbox SECONDS "$0" ARGS` first; the script re-runs itself under
# `unshare --mount --net` (so every network namespace, veth and mount it makes vanishes with that
# process tree, even on a crash), with a private /etc overlay (for connlabel.conf) and a private
# /run/netns. That network namespace is the router; add_host puts clients and servers behind it.
# Processes appended to PIDS and namespaces made by add_host are removed on exit.

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
note() { echo "note: $*"; }
# fatal MESSAGE: a failure after which the test cannot go on.
fatal() { fail "$*"; finish; }
# poll SECONDS COMMAND...: run COMMAND every 100 ms until it succeeds or time runs out.
poll() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

# require_root_and TOOL...: exit 77 (CTest's skip) unless root with every tool present.
require_root_and() {
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
  local tool
  for tool in unshare "$@"; do command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }; done
}

PIDS=()
NETNS=()
sandbox_cleanup() {
  local p ns
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
}

# enter_sandbox TIMEOUT SCRIPT ARGS...: outside, re-runs SCRIPT inside fresh namespaces (bounded by
# TIMEOUT seconds) and exits with its status; inside, sets up /etc and /run/netns, arms the
# clean-up of PIDS and NETNS, and returns. WORK is a temporary directory shared by both sides,
# removed at the end.
enter_sandbox() {
  local limit=$1; shift
  if [ "${CTL_INSIDE:-}" != 1 ]; then
    WORK=$(mktemp -d "/tmp/ctlabeld-$(basename "$1" .sh)-XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    CTL_INSIDE=1 WORK=$WORK timeout --kill-after=10 "$limit" unshare --mount --propagation private --net -- bash "$@"
    local rc=$?
    [ $rc -eq 124 ] && echo "FAIL: $(basename "$1") ran past its ${limit}s limit"
    exit $rc
  fi
  trap sandbox_cleanup EXIT
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

# add_host NAMESPACE ROUTER_DEV NET [MAC]: a namespace behind the router, linked by a veth pair
# (ROUTER_DEV here, eth0 there, with MAC if given): NET.1/24 on the router, NET.2/24 on the host,
# whose default route is the router. Removed on exit.
add_host() {
  local ns=$1 dev=$2 net=$3 mac=${4:-}
  ip netns add "$ns" || fatal "ip netns add $ns"
  NETNS+=("$ns")
  ip link add "$dev" type veth peer name eth0 netns "$ns" || fatal "veth $dev to $ns"
  [ -n "$mac" ] && ip -n "$ns" link set eth0 address "$mac"
  ip addr add "$net.1/24" dev "$dev"; ip link set "$dev" up
  ip -n "$ns" addr add "$net.2/24" dev eth0; ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$net.1"
}

# load_nft FILE: the rules, or the test stops.
load_nft() { nft -f "$1" || fatal "nft -f $1"; }

# The label zoom on app zoom, as members of an actions file's "targets" and "actions".
ZOOM_TARGET_MEMBER='"ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] }'
ZOOM_ACTION_MEMBER="\"zoom\": { \"criteria\": \"app == 'zoom';\", \"targets\": [ \"ctlabel.zoom\" ] }"
# write_actions FILE TARGETS ACTIONS [LOG_ERRORS] [CONNLABEL_CONF]: a version-1 actions file with
# ctlabel over 127 bits named by CONNLABEL_CONF ($WORK/connlabel.conf), log_errors LOG_ERRORS
# (false, the default) and the given members of "targets" and "actions".
write_actions() {
  cat > "$1" <<JSON
{
  "version": 1,
  "target_globals": { "ctlabel": { "max_bits": 127, "connlabel_conf": "${5:-$WORK/connlabel.conf}" } },
  "target_defaults": { "ctlabel": { "log_errors": ${4:-false} } },
  "targets": { $2 },
  "actions": { $3 }
}
JSON
}

# start_tls_server NAMESPACE: tls_peer.py's server with a fresh self-signed certificate, its log
# in $WORK/server.log; the test stops unless it is ready within 10 s.
start_tls_server() {
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
  ip netns exec "$1" python3 "$REPO/test/integration/tls_peer.py" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
  PIDS+=($!)
  poll 10 grep -q ready "$WORK/server.log" || fatal "TLS server did not start: $(tail -2 "$WORK/server.log")"
}

# start_ctlabeld LOG ARGS...: ctlabeld in the background, stderr to LOG; its pid in CTL (and PIDS).
start_ctlabeld() {
  local log=$1; shift
  "$CTLABELD" "$@" 2> "$log" &
  CTL=$!
  PIDS+=("$CTL")
}
# await_capturing LOG [SOURCE]: true once ctlabeld logged that it captures (on SOURCE), within 10 s;
# otherwise a failure that quotes the log's end.
await_capturing() {
  poll 10 grep -qs "${2:+$2: }capturing" "$1" && return 0
  fail "ctlabeld did not start capturing${2:+ on $2}: $(tail -3 "$1")"
  return 1
}

# client_port FILE: the local port tls_peer.py / zoom_peer.py print first ("port N").
client_port() { poll 10 grep -q '^port ' "$1" && awk '/^port /{print $2; exit}' "$1"; }
# labels_of_port PORT: labels= of the TCP/UDP entry from $CLIENT_IP with original source port PORT
# (empty when it has none or there is no entry).
labels_of_port() {
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" -v src="src=$CLIENT_IP" '
    index($0, src " ") && $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
has_label() { [ "$(labels_of_port "$1")" = "$2" ]; }

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
