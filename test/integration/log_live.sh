#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The log target end to end: client -- router -- server in network namespaces; ctlabeld runs live
# in the router with an action whose targets are a ctlabel and a log target (interval 1 s). Two
# TLS connections with Zoom SNIs match; a TLS connection with another SNI and plain UDP do not.
# The log files, merged, list exactly the two Zoom connections (tuple, action, target, app,
# hostname), every file is one complete JSON document named <prefix>-<YYYYmmddTHHMMSSZ><suffix>,
# no temporary file is left, and SIGTERM writes the last interval's records.
# Usage: log_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
#
# Isolation as in e2e_router.sh: the script re-runs itself under `unshare --mount --net` (the
# router), with a private /etc overlay and a private /run/netns.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare nft conntrack python3 openssl ip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-log-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 150 unshare --mount --propagation private --net -- bash "$0" "$CTLABELD" "$REPO"
  exit $?
fi

# ---- inside: this network namespace is the router ----
PEER=$REPO/test/integration/tls_peer.py
C=ctl-log-client S=ctl-log-server
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
trap cleanup EXIT
mkdir -p "$WORK/upper" "$WORK/work" /run/netns
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/upper,workdir=$WORK/work" /etc || exit 1
mount -t tmpfs tmpfs /run/netns || exit 1
mkdir -p /etc/xtables
printf '0 zoom\n1 other\n' | tee /etc/connlabel.conf /etc/xtables/connlabel.conf > "$WORK/connlabel.conf"

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
poll() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

ip link set lo up
ip netns add $C; ip netns add $S
ip link add r-c type veth peer name eth0 netns $C
ip link add r-s type veth peer name eth0 netns $S
ip addr add 10.203.1.1/24 dev r-c; ip link set r-c up
ip addr add 10.203.2.1/24 dev r-s; ip link set r-s up
ip -n $C addr add 10.203.1.2/24 dev eth0; ip -n $C link set eth0 up; ip -n $C link set lo up
ip -n $S addr add 10.203.2.2/24 dev eth0; ip -n $S link set eth0 up; ip -n $S link set lo up
ip -n $C route add default via 10.203.1.1
ip -n $S route add default via 10.203.2.1
sysctl -qw net.ipv4.ip_forward=1
nft -f "$REPO/etc/ctlabeld/ctlabeld.nft" || { fail "nft -f etc/ctlabeld/ctlabeld.nft"; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=server -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $S python3 "$PEER" server "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
poll 10 grep -qs ready "$WORK/server.log" || { fail "TLS server did not start"; exit 1; }

LOGS=$WORK/logs
mkdir -p "$LOGS"
cat > "$WORK/actions.json" <<JSON
{
  "version": 1,
  "target_globals": { "ctlabel": { "connlabel_conf": "$WORK/connlabel.conf" } },
  "target_defaults": { "log": { "path": "$LOGS", "interval": 1 } },
  "targets": {
    "ctlabel.zoom": { "target_type": "ctlabel", "labels": [ "zoom" ] },
    "log.zoom": { "target_type": "log", "prefix": "zoom-flows" }
  },
  "actions": {
    "zoom": { "criteria": "app == 'zoom';", "targets": [ "ctlabel.zoom", "log.zoom" ] }
  }
}
JSON

"$CTLABELD" --check -c "$WORK/actions.json" > "$WORK/check.txt" 2>&1 || fail "--check refused the file: $(cat "$WORK/check.txt")"
grep -q "files: $LOGS/zoom-flows-<YYYYmmddTHHMMSSZ>.json every 1 s" "$WORK/check.txt" \
  && ok "--check shows the log file pattern" || fail "--check: no file pattern in: $(cat "$WORK/check.txt")"

# A directory that does not exist: one warning naming the fix, and the daemon runs on (labels).
sed "s#\"path\": \"$LOGS\"#\"path\": \"$WORK/missing\"#" "$WORK/actions.json" > "$WORK/missing.json"
"$CTLABELD" -c "$WORK/missing.json" -i r-c -l info 2> "$WORK/missing.log" &
MISSING=$!
PIDS+=($MISSING)
if poll 10 grep -qs "r-c: capturing" "$WORK/missing.log" && \
   grep -q "targets.log.zoom: log directory $WORK/missing does not exist; create it (mkdir -p $WORK/missing)" "$WORK/missing.log"; then
  ok "a missing directory: one warning naming the fix, and the daemon runs"
else
  fail "missing directory: $(cat "$WORK/missing.log")"
fi
kill -TERM $MISSING; wait $MISSING
[ ! -e "$WORK/missing" ] || fail "the missing directory was created"

"$CTLABELD" -c "$WORK/actions.json" -i r-c -l info --stats-file "$WORK/stats.json" --stats-interval 1 2> "$WORK/ctlabeld.log" &
CTL=$!
PIDS+=($CTL)
poll 10 grep -qs "r-c: capturing" "$WORK/ctlabeld.log" || fail "ctlabeld did not start capturing: $(tail -3 "$WORK/ctlabeld.log")"

client_port() { poll 10 grep -qs '^port ' "$1" && awk '/^port /{print $2; exit}' "$1"; }
ip netns exec $C python3 "$PEER" tls 10.203.2.2 us04web.zoom.us 4 > "$WORK/zoom1.out" 2>&1 &
z1=$!
ip netns exec $C python3 "$PEER" tls 10.203.2.2 www.example.org 4 > "$WORK/other.out" 2>&1 &
o1=$!
ip netns exec $C python3 "$PEER" udp 10.203.2.2 4 > "$WORK/udp.out" 2>&1 &
u1=$!
ZOOM1=$(client_port "$WORK/zoom1.out"); OTHER=$(client_port "$WORK/other.out"); UDP=$(client_port "$WORK/udp.out")
wait $z1 $o1 $u1
# The second Zoom connection starts after at least one interval has been written, and is still
# open at SIGTERM: its record must come from the last, partial interval written at stop.
ip netns exec $C python3 "$PEER" tls 10.203.2.2 zoomfrn99mmr.zoom.us 3 > "$WORK/zoom2.out" 2>&1 &
z2=$!
ZOOM2=$(client_port "$WORK/zoom2.out")
echo "client ports: zoom $ZOOM1 $ZOOM2, other TLS $OTHER, udp $UDP"

# Every record in every file, one line each: "sport dport dst action target app hostname".
records() {
  python3 - "$LOGS" <<'PY'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "zoom-flows-*.json"))):
    with open(path) as f:
        doc = json.load(f)
    for r in doc["flows"]:
        print(r["src_port"], r["dst_port"], r["dst_ip"], r["action"], r["target"], r["app"], r["hostname"])
PY
}
has_port() { records 2>/dev/null | grep -q "^$1 "; }
poll 10 has_port "$ZOOM1" && ok "the first Zoom connection is in a log file within the interval" \
  || fail "the first Zoom connection (port $ZOOM1) is in no log file: $(ls "$LOGS")"
# Give the second connection time to be classified (its label is the sign), then stop.
labels_of_port() {
  conntrack -L -o extended,labels 2>/dev/null | awk -v p="sport=$1" '
    index($0, "src=10.203.1.2") && $0 ~ (p " ") { for (f = 1; f <= NF; f++) if ($f ~ /^labels=/) { print substr($f, 8); exit } print ""; exit }'
}
zoom_labelled() { [ "$(labels_of_port "$ZOOM2")" = zoom ]; }
poll 10 zoom_labelled || fail "the second Zoom connection (port $ZOOM2) was not labelled"
kill -TERM $CTL
wait $CTL; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: ctlabeld exited 0" || fail "ctlabeld exited $rc: $(tail -5 "$WORK/ctlabeld.log")"
wait $z2

records | sort > "$WORK/records.txt"
expected=$(printf '%s 443 10.203.2.2 zoom log.zoom zoom %s\n' "$ZOOM1" us04web.zoom.us "$ZOOM2" zoomfrn99mmr.zoom.us | sort)
if [ "$(cat "$WORK/records.txt")" = "$expected" ]; then
  ok "the log files list exactly the two Zoom connections: $(tr '\n' ';' < "$WORK/records.txt")"
else
  fail "log records differ; expected [$expected] got [$(cat "$WORK/records.txt")]"
fi
grep -q "^$OTHER \|^$UDP " "$WORK/records.txt" && fail "an unmatched flow was logged" || ok "the other TLS connection and the UDP flow are in no file"

# Names, documents, no leftovers.
bad_names=$(ls -A "$LOGS" | grep -cv '^zoom-flows-[0-9]\{8\}T[0-9]\{6\}Z\.json$')
[ "$bad_names" -eq 0 ] && ok "only complete files named zoom-flows-<YYYYmmddTHHMMSSZ>.json ($(ls "$LOGS" | wc -l) files, no temporary file)" \
  || fail "unexpected entries in $LOGS: $(ls -A "$LOGS")"
python3 - "$LOGS" <<'PY' && ok "each file is one JSON document with its interval, counts and flows" || fail "a file is malformed"
import glob, json, os, sys
for path in glob.glob(os.path.join(sys.argv[1], "*")):
    doc = json.load(open(path))
    assert set(doc) == {"interval_start", "interval_end", "interval_s", "records", "dropped", "flows"}, path
    assert doc["interval_s"] == 1 and doc["dropped"] == 0, path
    assert doc["records"] == len(doc["flows"]) > 0, path
    stamp = os.path.basename(path)[len("zoom-flows-"):-len(".json")]
    assert doc["interval_start"].replace("-", "").replace(":", "") == stamp, (path, doc["interval_start"])
PY
file_of() { grep -l "\"src_port\":$1," "$LOGS"/*.json | head -1; }
[ "$(file_of "$ZOOM1")" != "$(file_of "$ZOOM2")" ] && ok "the two connections are in different interval files" \
  || fail "both connections in one file: $(file_of "$ZOOM1")"

# The final stats (written after the writers stopped): the sink's counters match the files.
python3 - "$WORK/stats.json" "$LOGS" <<'PY' && ok "stats: the log sink counts $(ls "$LOGS" | wc -l) files and 2 records, nothing dropped" || fail "stats sink counters wrong: $(cat "$WORK/stats.json")"
import glob, json, os, sys
stats = json.load(open(sys.argv[1]))
sinks = [s for s in stats["sinks"] if s["name"] == "log " + os.path.join(sys.argv[2], "zoom-flows-*.json")]
assert len(sinks) == 1, stats["sinks"]
s = sinks[0]
assert s["writes"] == len(glob.glob(os.path.join(sys.argv[2], "*"))), s
assert (s["present"], s["errors"], s["dropped"]) == (2, 0, 0), s
PY

[ $FAILS -eq 0 ] && echo "PASS: log_live" || echo "FAILED: $FAILS check(s)"
[ $FAILS -eq 0 ]
