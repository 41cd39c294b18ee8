#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Makes sure new connections get conntrack label storage, without which every label ctlabeld
# writes fails with ENOSPC: the kernel reserves it only while the nftables ruleset sets labels.
# When no rule sets one ('ct label set', or iptables-nft's connlabel match), loads the shipped
# table (FILE, default etc/ctlabeld/ctlabeld.nft); an existing 'table inet ctlabeld' is never
# replaced. As root; run.sh calls it before starting the daemon.
set -euo pipefail
file=${1:-etc/ctlabeld/ctlabeld.nft}
me=nft-labels.sh
command -v nft >/dev/null || { echo "$me: nft is missing: apt-get install nftables" >&2; exit 1; }
[ -r "$file" ] || { echo "$me: cannot read $file (give the path of ctlabeld.nft)" >&2; exit 1; }
ruleset=$(nft list ruleset) || { echo "$me: 'nft list ruleset' failed (see nft's message above; run as root)" >&2; exit 1; }

if grep -qE 'ct label set|xt match "?connlabel|# xt_connlabel' <<<"$ruleset"; then
  echo "$me: the nftables ruleset already sets conntrack labels, so new connections get label" \
    "storage; not loading $file"
  exit 0
fi
if nft list table inet ctlabeld >/dev/null 2>&1; then
  echo "$me: WARNING: table inet ctlabeld exists but no rule sets a conntrack label, so new" \
    "connections get no label storage and ctlabeld's label writes will fail (ENOSPC). The table" \
    "is left as it is (it may hold your rules); 'nft -f $file' replaces it with the shipped one," \
    "or add its label_enable chain ('ct label set zoom')." >&2
  exit 0
fi
if ! nft -f "$file"; then
  echo "$me: 'nft -f $file' failed (see nft's message above). Every label it names must be in" \
    "/etc/connlabel.conf (the shipped etc/connlabel.conf has '0 zoom')." >&2
  exit 1
fi
echo "$me: no nftables rule set a conntrack label, so new connections got no label storage:" \
  "loaded $file (table inet ctlabeld: its label_enable chain gives connections label storage," \
  "its dscp chain marks 'zoom' CS5). Remove it with: nft delete table inet ctlabeld"
