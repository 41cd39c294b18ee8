#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden test: ctlabeld's per-flow app/protocol against Debian's ndpiReader 4.2.

For every flow in ../shared/pcaps/FLOWS_ndpi42.tsv (what `ndpiReader -i FILE -v 2` reports), run
`ctlabeld -r FILE -n --flows` and compare app and protocol flow by flow. Prints the agreement and
every disagreement with its class; fails below the required agreement (99%).

ctlabeld runs with the shipped rule files, as an install does (etc/ctlabeld/app_rules.conf and
etc/ctlabeld/protos.txt; extra arguments go after them and can override them).

A second oracle, ../shared/zoom/ZOOM_FLOWS.tsv, lists every Zoom flow of the shared captures: all
of them must have app "zoom", and no other TCP/UDP flow may.

Classes of disagreement, and why they exist (same nDPI library; only keying and policy differ):
  missing      ndpiReader has a flow ctlabeld does not. (1) IP-in-IP tunnels (4in4, 6in4, 4in6,
               6in6): ndpiReader decapsulates them and reports the inner flows; ctlabeld labels
               what conntrack tracks on a router, which is the outer tunnel flow (protocol 4/41),
               so it keeps the outer one. (2) fuzz-2006-06-26-2594.pcap: packets whose headers are
               corrupt (bad lengths) that ndpiReader still turns into flows and ctlabeld counts as
               malformed and skips.
  zoom         deliberate improvements: flows of the Zoom oracle that ctlabeld names zoom through
               its application rules (peer-to-peer media, STUN with attribute 0x0101, WebRTC
               calls, Zoom's networks) where ndpiReader 4.2 says something generic.
  label        both have the flow, nDPI's answer differs. ndpiReader runs DPI on up to 80 TCP /
               24 UDP packets; ctlabeld gives up after --max-dpi-packets (32) packets of either,
               so a protocol recognised only late differs (here: STUN flows whose Teams, Signal
               or Google Meet sub-protocol nDPI settles late). ndpiReader also never expires
               flows inside a capture, while ctlabeld expires idle ones by packet time and starts
               a new flow (with a fresh nDPI state) if the 5-tuple comes back.
"""
import collections
import concurrent.futures
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

L4 = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "IGMP": 2}


def canonical(host):
    # ndpiReader prints some IPv6 addresses non-canonically ("b00c::25de" for one zero group)
    # and a few not as addresses at all ("...:5999::19::"); those keep their text.
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def split_endpoint(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return canonical(host), int(port)


def split_label(label):
    if label == "Unknown":
        return "unknown", "unknown"
    if "." in label:
        proto, app = label.split(".", 1)
        return app.lower(), proto.lower()
    return label.lower(), label.lower()


def flow_key(proto, a, b, vlan):
    # Direction-independent; ICMP is compared per host pair (ndpiReader has no ICMP id in its key).
    if proto in (1, 58):
        a, b = (a[0], 0), (b[0], 0)
    return (proto, vlan) + tuple(sorted([a, b]))


def load_expected(tsv):
    expected = collections.defaultdict(list)
    with open(tsv) as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            name, l4, ea, eb, vlan, label = cols[0], cols[2], cols[3], cols[5], cols[6], cols[7]
            proto = L4.get(l4, None)
            if proto is None:
                proto = int(l4)
            key = flow_key(proto, split_endpoint(ea), split_endpoint(eb), int(vlan or 0))
            expected[name].append((key, split_label(label), label))
    return expected


def fallback_match(got, key):
    """For an address ndpiReader printed invalidly: same protocol, VLAN and ports, and one
    address equal. Used only when it picks exactly one flow."""
    proto, vlan, a, b = key
    hits = [v for (p, vl, x, y), v in got.items()
            if p == proto and vl == vlan and {x[1], y[1]} == {a[1], b[1]}
            and ({x[0], y[0]} & {a[0], b[0]})]
    return hits[0] if len(hits) == 1 else None


def load_zoom_oracle(tsv):
    flows = collections.defaultdict(set)
    with open(tsv) as f:
        for line in f:
            if line.startswith("#") or line.startswith("file\t"):
                continue
            name, l4, ea, eb = line.rstrip("\n").split("\t")[:4]
            flows[name].add(flow_key(L4[l4], split_endpoint(ea), split_endpoint(eb), 0))
    return flows


def run_ctlabeld(binary, pcap, extra):
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        cmd = [binary, "-r", pcap, "-n", "--flows", out.name, "-l", "error"] + extra
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
        flows = collections.defaultdict(list)
        with open(out.name) as f:
            for line in f:
                o = json.loads(line)
                proto = o["ip_protocol"]
                a = (o["src_ip"], o["src_port"])
                b = (o["dst_ip"], o["dst_port"])
                flows[flow_key(proto, a, b, o["vlan"])].append((o["app"], o["protocol"], o["detected_by"]))
        return flows


def main():
    binary = sys.argv[1]
    extra = ["--app-rules", "etc/ctlabeld/app_rules.conf", "--protos", "etc/ctlabeld/protos.txt"]
    extra += sys.argv[2:]
    pcaps = os.path.join("..", "shared", "pcaps")
    expected = load_expected(os.path.join(pcaps, "FLOWS_ndpi42.tsv"))
    zoom = load_zoom_oracle(os.path.join("..", "shared", "zoom", "ZOOM_FLOWS.tsv"))
    total = agree = 0
    classes = collections.Counter()
    details = []
    names = sorted(set(expected) | set(zoom))
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda n: run_ctlabeld(binary, os.path.join(pcaps, n), extra), names)
    zoom_total = zoom_found = 0
    zoom_details = []
    false_zoom = []
    for name, got in zip(names, results):
        for key, want, label in expected[name]:
            total += 1
            mine = got.get(key)
            if not mine:
                mine = fallback_match(got, key)
            if not mine:
                classes["missing"] += 1
                details.append(f"  missing  {name}: {key} ndpiReader={label}")
            elif want in [(a, p) for a, p, _ in mine]:
                agree += 1
            elif key in zoom[name] and all(a == "zoom" for a, _, _ in mine):
                classes["zoom"] += 1
                details.append(f"  zoom     {name}: {key} ndpiReader={label} ctlabeld={mine}")
            else:
                classes["label"] += 1
                details.append(f"  label    {name}: {key} ndpiReader={label} ctlabeld={mine}")
        for key in sorted(zoom[name]):
            zoom_total += 1
            mine = got.get(key, [])
            if mine and all(a == "zoom" for a, _, _ in mine):
                zoom_found += 1
                zoom_details.append(f"  ok       {name}: {key} ctlabeld={mine}")
            else:
                zoom_details.append(f"  MISSED   {name}: {key} ctlabeld={mine or 'no such flow'}")
        for key, mine in got.items():
            if key[0] in (6, 17) and key not in zoom[name] and any(a == "zoom" for a, _, _ in mine):
                false_zoom.append(f"  FALSE    {name}: {key} ctlabeld={mine}")
    pct = 100.0 * agree / total if total else 0.0
    print("\n".join(details))
    print(f"golden: {agree}/{total} flows agree with ndpiReader 4.2 ({pct:.2f}%); "
          f"disagreements: {dict(classes)}")
    print("\n".join(zoom_details + false_zoom))
    print(f"zoom oracle: {zoom_found}/{zoom_total} Zoom flows labelled zoom; "
          f"{len(false_zoom)} other TCP/UDP flows labelled zoom")
    if zoom_total != 57 or zoom_found != zoom_total or false_zoom:
        print("FAIL: the Zoom oracle wants 57/57 and no other TCP/UDP flow named zoom")
        return 1
    if total < 4700:
        print(f"FAIL: only {total} expected flows read; is ../shared/pcaps complete?")
        return 1
    if pct < 99.0:
        print("FAIL: agreement below 99%")
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
