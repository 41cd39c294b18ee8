#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Soak: the live daemon labels a steady replay of the shared captures for SECONDS. In a private
# network namespace, tcpreplay loops a set of captures onto one end of a veth pair the test made
# (--pps, default 2000) and ctlabeld captures on the other end and writes labels (the frames are
# addressed to other hosts, so the kernel keeps no entries for them: every write is an ENOENT, the
# writer's busiest error path). RSS and open fds are sampled every 5 s; after the first third
# (warm-up: the flow tables fill) the fd count must not change and RSS must grow less than 10 %.
# Usage: soak.sh CTLABELD REPO_ROOT [SECONDS]   (default 120; CI uses 60)
# Environment: SOAK_PPS (default 2000). Exit 77 (skipped) when not root or tcpreplay is missing.
set -u
CTLABELD=$(readlink -f "${1:?usage: $0 CTLABELD REPO_ROOT [SECONDS]}")
REPO=$(readlink -f "${2:?usage: $0 CTLABELD REPO_ROOT [SECONDS]}")
DURATION=${3:-120}
PPS=${SOAK_PPS:-2000}
. "$REPO/test/integration/lib.sh"
require_root_and tcpreplay ip python3
[ "$DURATION" -ge 30 ] 2>/dev/null && [ "$DURATION" -le 600 ] || { echo "FAIL: SECONDS must be 30..600"; exit 1; }
enter_sandbox $((DURATION + 60)) "$0" "$CTLABELD" "$REPO" "$DURATION"

# ---- inside a private network namespace ----
# About 10 k packets of varied traffic (TLS, QUIC, STUN/RTP, DNS, SSH, HTTP over IPv6): one loop
# lasts ~5 s at 2000 pps, so the warm-up sees every flow several times.
CAPTURES=(zoom.pcap teams.pcap whatsapp.pcap quic.pcap signal.pcap webex.pcap netflix.pcap dns.pcap
          ssh.pcap android.pcap http_ipv6.pcap stun.pcap)
PCAPS=()
for c in "${CAPTURES[@]}"; do
  [ -f "$REPO/../shared/pcaps/$c" ] && PCAPS+=("$REPO/../shared/pcaps/$c")
done
[ ${#PCAPS[@]} -gt 0 ] || { echo "SKIP: none of the soak captures in ../shared/pcaps"; exit 77; }
write_connlabel $'0 zoom\n1 v4\n'
ip link add soak-tx type veth peer name soak-rx
ip link set soak-tx up; ip link set soak-rx up
sysctl -qw net.ipv6.conf.soak-rx.disable_ipv6=1 net.ipv6.conf.soak-tx.disable_ipv6=1 2>/dev/null
write_actions "$WORK/actions.json" \
  "$ZOOM_TARGET_MEMBER, \"ctlabel.v4\": { \"target_type\": \"ctlabel\", \"labels\": [ \"v4\" ] }" \
  "$ZOOM_ACTION_MEMBER, \"v4\": { \"criteria\": \"ip_version == 4;\", \"targets\": [ \"ctlabel.v4\" ] }"
LOG=$WORK/ctlabeld.log STATS=$WORK/stats.json
start_ctlabeld "$LOG" -c "$WORK/actions.json" -i soak-rx --workers 2 --stats-file "$STATS" --stats-interval 1 -l info
await_capturing "$LOG" || finish

tcpreplay -q -i soak-tx --pps "$PPS" --loop 100000 --duration "$DURATION" "${PCAPS[@]}" > "$WORK/tcpreplay.log" 2>&1 &
REPLAY=$!
PIDS+=("$REPLAY")
echo "soak: ${DURATION}s, ${#PCAPS[@]} captures looped at $PPS pps onto soak-tx; ctlabeld on soak-rx"
printf '%6s %10s %5s %10s %9s %8s\n' t_s rss_kb fds packets flows enoent
T=() RSS=() FDS=()
start=$SECONDS k=0
while [ $((SECONDS - start)) -lt "$DURATION" ]; do
  k=$((k + 1))
  # Sample on a 5 s grid, whatever the sampling itself costs.
  while [ $((SECONDS - start)) -lt $((5 * k)) ]; do sleep 0.2; done
  kill -0 $CTL 2>/dev/null || { fail "ctlabeld died after $((SECONDS - start)) s: $(tail -3 "$LOG")"; break; }
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$CTL/status)
  fds=$(ls /proc/$CTL/fd | wc -l)
  T+=($((SECONDS - start))); RSS+=("$rss"); FDS+=("$fds")
  printf '%6s %10s %5s %s\n' "${T[-1]}" "$rss" "$fds" \
    "$(stat_of "$STATS" '"%10d %9d %8d" % (s["packets"], s["flows"]["active"], s["conntrack"]["enoent"])')"
done
wait $REPLAY 2>/dev/null

n=${#RSS[@]}
if [ "$n" -ge 6 ]; then
  w=$((n / 3))  # the first third is warm-up; sample w-1 is the baseline
  base_rss=${RSS[$((w - 1))]} base_fds=${FDS[$((w - 1))]} max_rss=0 fd_changes=0
  for ((i = w; i < n; i++)); do
    [ "${RSS[$i]}" -gt "$max_rss" ] && max_rss=${RSS[$i]}
    [ "${FDS[$i]}" -ne "$base_fds" ] && fd_changes=$((fd_changes + 1))
  done
  growth=$(( (max_rss - base_rss) * 1000 / base_rss ))
  [ "$fd_changes" -eq 0 ] && ok "fd count constant at $base_fds after warm-up (${T[$((w - 1))]} s)" \
    || fail "fd count changed after warm-up: ${FDS[*]}"
  [ "$growth" -lt 100 ] && ok "RSS after warm-up: $base_rss kB -> at most $max_rss kB (+$((growth / 10)).$((growth % 10)) %)" \
    || fail "RSS grew $((growth / 10)).$((growth % 10)) % after warm-up ($base_rss -> $max_rss kB)"
else
  fail "only $n samples"
fi
packets=$(stat_of "$STATS" 's["packets"]')
expected=$((PPS * DURATION / 2))
[ "$packets" -ge "$expected" ] && ok "ctlabeld took $packets packets (at least half the $((PPS * DURATION)) sent)" \
  || fail "ctlabeld saw only $packets packets: $(tail -2 "$WORK/tcpreplay.log")"
[ "$(stat_of "$STATS" 's["conntrack"]["submitted"]')" -gt 0 ] && ok "label writes: $(stat_of "$STATS" 's["conntrack"]["submitted"]') submitted" \
  || fail "no label writes during the soak"
kill -TERM $CTL; wait $CTL; rc=$?
[ $rc -eq 0 ] || fail "ctlabeld exited $rc on SIGTERM"
finish
