#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The control socket on a live router (issue 14): client -- router -- server in network
# namespaces, ctlabeld capturing in the router with the seed rule (app == 'zoom' -> label zoom),
# one TLS connection with a Zoom SNI and one with another SNI. Checks each `ctlabeld ctl`
# command against what the kernel and the wire show:
#   - flows "app == 'zoom';" lists exactly the Zoom connection;
#   - explain on the other TLS connection shows app == 'zoom' false with the app it saw;
#   - watch shows the label event within a second of the deciding packet (the ClientHello,
#     timed by tcpdump on the router);
#   - reload with a broken file answers with the errors and the old rules keep labelling;
#   - status carries the per-action figures; the metrics file passes `promtool check metrics`.
# Usage: control_live.sh CTLABELD_BINARY REPO_ROOT. Exit 77 (skipped) when not root.
# Isolation: test/integration/lib.sh's sandbox (the script re-runs itself under
# `unshare --mount --net`).
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT}")
. "$REPO/test/integration/lib.sh"
require_root_and nft conntrack tcpdump python3 openssl ip
enter_sandbox 240 "$0" "$CTLABELD" "$REPO"

PEER=$REPO/test/integration/tls_peer.py
C=ctl-ctl-client S=ctl-ctl-server CLIENT_IP=10.202.1.2
SOCK=$WORK/ctl.sock
ctl() { "$CTLABELD" ctl --socket "$SOCK" "$@"; }
write_connlabel $'0 zoom\n1 other\n'
add_host $C r-c 10.202.1
add_host $S r-s 10.202.2
sysctl -qw net.ipv4.ip_forward=1
load_nft "$REPO/etc/ctlabeld/ctlabeld.nft"
start_tls_server $S

mkdir -p "$WORK/logs"
# The seed rule (app == 'zoom' -> label zoom) and a log target on the same action.
write_actions "$WORK/actions.json" \
  "$ZOOM_TARGET_MEMBER, \"log.zoom\": { \"target_type\": \"log\", \"prefix\": \"zoom-flows\", \"path\": \"$WORK/logs\", \"interval\": 60 }" \
  "\"zoom\": { \"criteria\": \"app == 'zoom';\", \"targets\": [ \"ctlabel.zoom\", \"log.zoom\" ] }"

# The ClientHellos' times on the router's client side (epoch seconds).
tcpdump -i r-c -n -tt -l --immediate-mode 'tcp dst port 443 and (tcp[tcpflags] & tcp-push != 0)' > "$WORK/hello.txt" 2> "$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
poll 10 grep -q listening "$WORK/tcpdump.err" || fail "tcpdump did not start"

start_ctlabeld "$WORK/ctlabeld.log" -c "$WORK/actions.json" -i r-c --socket "$SOCK" \
  --metrics-file "$WORK/metrics.prom" --stats-file "$WORK/stats.json" --stats-interval 1 -l info
await_capturing "$WORK/ctlabeld.log" r-c || finish
[ -S "$SOCK" ] && [ "$(stat -c %a "$SOCK")" = 660 ] && ok "control socket $SOCK, mode 0660" || fail "no socket or wrong mode: $(ls -l "$SOCK" 2>&1)"

# watch, before any traffic.
ctl --json watch > "$WORK/watch.jsonl" 2> "$WORK/watch.err" &
WATCH=$!
PIDS+=($WATCH)
poll 5 grep -q '"watching"' "$WORK/watch.jsonl" && ok "watch subscribed: $(head -1 "$WORK/watch.jsonl")" || fail "watch did not answer: $(cat "$WORK/watch.err")"

ctl watch "app == 'zoom';" > "$WORK/watch.txt" 2>&1 &  # the text form, for the log
PIDS+=($!)
HWATCH=$!
ip netns exec $C python3 "$PEER" tls 10.202.2.2 us04web.zoom.us 20 > "$WORK/zoom.out" 2>&1 &
ZC=$!
ip netns exec $C python3 "$PEER" tls 10.202.2.2 www.example.org 20 > "$WORK/other.out" 2>&1 &
OC=$!
PIDS+=($ZC $OC)
ZOOM_PORT=$(client_port "$WORK/zoom.out"); OTHER_PORT=$(client_port "$WORK/other.out")
poll 10 has_label "$ZOOM_PORT" zoom && ok "the Zoom connection (port $ZOOM_PORT) has labels=zoom" \
  || fail "the Zoom connection (port $ZOOM_PORT) has labels='$(labels_of_port "$ZOOM_PORT")'"

# flows "app == 'zoom';": exactly the Zoom connection.
ctl --json flows "app == 'zoom';" > "$WORK/flows.json" 2>&1
python3 - "$WORK/flows.json" "$ZOOM_PORT" <<'PY' && ok "flows \"app == 'zoom';\" lists exactly the Zoom connection, with its label and its log sink" || fail "flows: $(cat "$WORK/flows.json")"
import json, sys
r = json.load(open(sys.argv[1]))
flows = r["result"]["flows"]
assert r["ok"] and len(flows) == 1, flows
f = flows[0]
assert f["flow"] == "tcp 10.202.1.2:%s -> 10.202.2.2:443" % sys.argv[2], f
assert f["app"] == "zoom" and f["labels"] == ["zoom"] and f["actions"] == ["zoom"], f
assert f["sets"] == ["log.zoom"] and f["mark"] is None, f
assert f["hostname"] == "us04web.zoom.us" and f["packets"] > 0, f
PY
echo "--- ctlabeld ctl flows \"app == 'zoom';\""; ctl flows "app == 'zoom';"
ctl --json flows > "$WORK/all.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["result"]["matching"] >= 2, r' "$WORK/all.json" \
  && ok "flows without criteria lists both TLS connections ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["matching"])' "$WORK/all.json") flows)" \
  || fail "flows without criteria: $(head -c 400 "$WORK/all.json")"

# explain on the other TLS connection: app == 'zoom' false, with the app it saw.
ctl --json explain 10.202.1.2 "$OTHER_PORT" > "$WORK/explain.json" 2>&1
python3 - "$WORK/explain.json" <<'PY' && ok "explain: the zoom action's app == 'zoom' is false with the value seen" || fail "explain: $(cat "$WORK/explain.json")"
import json, sys
r = json.load(open(sys.argv[1]))
name, f = list(r["result"]["flows"].items())[0]
assert name.startswith("tcp 10.202.1.2:"), name
a = [x for x in f["actions"] if x["action"] == "zoom"][0]
assert a["outcome"] == "no match", a
assert a["decided_by"] == "app == 'zoom' is false", a
assert a["seen"] == "app = '%s'" % f["app"] and f["app"] != "zoom", a
assert "not applied" in a["targets"], a
PY
echo "--- ctlabeld ctl explain 10.202.1.2 $OTHER_PORT"; ctl explain 10.202.1.2 "$OTHER_PORT"

# watch: the label event within a second of the ClientHello.
poll 5 grep -q '"effect_applied"' "$WORK/watch.jsonl" || fail "no effect_applied event: $(head -c 600 "$WORK/watch.jsonl")"
python3 - "$WORK/watch.jsonl" "$WORK/hello.txt" "$ZOOM_PORT" <<'PY' && ok "watch: $(python3 -c 'print(open("'"$WORK/delta.txt"'").read().strip())' 2>/dev/null)" || fail "watch timing: $(grep effect "$WORK/watch.jsonl" | head -c 600)"
import json, sys
port = int(sys.argv[3])
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ev = [e for e in events if e.get("event") == "effect_applied" and e.get("src_port") == port]
assert ev and ev[0]["effect"]["labels"] == ["zoom"], events[:5]
hello = [float(l.split()[0]) for l in open(sys.argv[2]) if ".%d >" % port in l]
assert hello, "no ClientHello seen by tcpdump"
delta = ev[0]["ts"] - hello[0]
assert 0 <= delta < 1.0, delta
verdicts = [e for e in events if e.get("event") == "verdict" and e.get("src_port") == port]
assert verdicts, "no verdict event"
import os
open(os.path.join(os.path.dirname(sys.argv[1]), "delta.txt"), "w").write(
    "effect_applied labels=zoom %.1f ms after the ClientHello" % (delta * 1000))
PY

# status: per-action figures.
ctl --json status > "$WORK/status.json"
python3 - "$WORK/status.json" "$WORK/logs" <<'PY' && ok "status: version, sources, the log sink, per-action figures (zoom matches >= 1, matching now >= 1)" || fail "status: $(cat "$WORK/status.json")"
import json, sys
r = json.load(open(sys.argv[1]))["result"]
assert r["sources"][0]["name"] == "r-c" and r["sources"][0]["packets"] > 0, r
a = [x for x in r["actions"] if x["action"] == "zoom"][0]
assert a["matches"] >= 1 and a["matching_now"] >= 1 and a["last_match_time"] != "never", a
assert r["config_file"].endswith("actions.json"), r
assert r["writers"]["sinks"][0]["sink"].startswith("log " + sys.argv[2]), r["writers"]
PY
echo "--- ctlabeld ctl status"; ctl status

# The metrics file: the daemon's own output through promtool.
poll 5 test -s "$WORK/metrics.prom" || fail "no metrics file"
if command -v promtool >/dev/null; then
  out=$(promtool check metrics < "$WORK/metrics.prom" 2>&1); rc=$?
  [ $rc -eq 0 ] && [ -z "$out" ] && ok "promtool check metrics: the daemon's metrics file is clean ($(grep -c '^ctlabeld_' "$WORK/metrics.prom") samples)" \
    || fail "promtool check metrics (rc $rc): $out"
fi
grep -q '^ctlabeld_action_matches_total{action="zoom"} [1-9]' "$WORK/metrics.prom" && ok "metrics: ctlabeld_action_matches_total{action=\"zoom\"}" \
  || fail "metrics lack the zoom action's matches: $(grep action_matches "$WORK/metrics.prom")"

# reload with a broken file: the errors come back, the old rules keep labelling.
cp "$WORK/actions.json" "$WORK/actions.good"
echo '{ "version": 1, "actions": { "zoom": { "criteria": "app == ;" } }' > "$WORK/actions.json"
ctl reload > "$WORK/reload.out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "actions.json" "$WORK/reload.out" && grep -q "previous rules stay" "$WORK/reload.out" \
  && ok "reload with a broken file: exit 1 with the errors: $(head -1 "$WORK/reload.out" | cut -c1-150)" || fail "broken reload: rc $rc: $(cat "$WORK/reload.out")"
echo "--- ctlabeld ctl reload (broken file)"; cat "$WORK/reload.out"
ip netns exec $C python3 "$PEER" tls 10.202.2.2 zoomfrn99mmr.zoom.us 3 > "$WORK/zoom2.out" 2>&1 &
Z2=$!
p=$(client_port "$WORK/zoom2.out")
poll 10 has_label "$p" zoom && ok "after the broken reload a new Zoom connection is still labelled" || fail "labelling stopped after a broken reload"
wait $Z2
cp "$WORK/actions.good" "$WORK/actions.json"
ctl --json reload > "$WORK/reload2.json" 2>&1 && grep -q '"reloaded"' "$WORK/reload2.json" && ok "reload with a good file: $(cat "$WORK/reload2.json")" || fail "good reload: $(cat "$WORK/reload2.json")"

# Mistakes are reported by the client without the daemon, and by the daemon.
ctl flows "app == ;" > "$WORK/bad.out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "criteria:1" "$WORK/bad.out" && ok "a bad criteria: exit 1, $(head -1 "$WORK/bad.out" | cut -c1-120)" || fail "bad criteria: rc $rc: $(cat "$WORK/bad.out")"

kill $ZC $OC 2>/dev/null; wait $ZC $OC 2>/dev/null
poll 5 grep -q '"flow_end"' "$WORK/watch.jsonl" || true
kill $WATCH $HWATCH 2>/dev/null; wait $WATCH $HWATCH 2>/dev/null
grep -q 'event=effect_applied' "$WORK/watch.txt" && ! grep -q 'app=tls' "$WORK/watch.txt" \
  && ok "watch \"app == 'zoom';\" (text): only Zoom events" || fail "filtered watch: $(head -c 600 "$WORK/watch.txt")"
echo "--- ctlabeld ctl watch \"app == 'zoom';\""; head -c 3000 "$WORK/watch.txt"
kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
[ ! -e "$SOCK" ] && ok "the socket file is removed at exit" || fail "socket left behind"
kill $TCPDUMP 2>/dev/null

[ $FAILS -ne 0 ] && { echo "--- ctlabeld log"; tail -n 30 "$WORK/ctlabeld.log"; }
finish
