#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the dependencies, builds ctlabeld, and runs it in the foreground (as root) on the
# interface of the default route with the shipped actions file, after making sure connlabel.conf
# names its label and the nftables ruleset gives connections label storage. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCTLABELD_TESTS=OFF > /dev/null
cmake --build build -j "$(nproc)"
iface=${CTLABELD_INTERFACE:-$(ip -o route show default | awk '{print $5; exit}')}
[ -n "$iface" ] || { echo "run.sh: no default route; set CTLABELD_INTERFACE=DEV" >&2; exit 1; }
# The shipped rules label "zoom": make sure connlabel.conf defines it (never overwrite).
for f in /etc/xtables/connlabel.conf /etc/connlabel.conf; do
  if [ ! -e "$f" ]; then mkdir -p "$(dirname "$f")"; cp etc/connlabel.conf "$f"; echo "run.sh: installed $f"; fi
done
# Labels need the kernel's per-connection label storage, which it gives only while a rule sets
# labels: load the shipped table unless the ruleset already does (or has its own ctlabeld table).
./scripts/nft-labels.sh etc/ctlabeld/ctlabeld.nft
echo "run.sh: capturing on $iface; labelled connections show with: conntrack -L -o extended,labels"
# The repository's rule files, as an install would load /etc/ctlabeld's: Zoom's application rules
# and the nDPI protocols file.
exec ./build/src/ctlabeld -c etc/ctlabeld/actions.json -i "$iface" --stats-interval 30 \
  --app-rules etc/ctlabeld/app_rules.conf --protos etc/ctlabeld/protos.txt
