#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Netify-format files written from NETIFY.md (v4 and v5 style, with the inconsistencies the
plugin tolerates) through the real binary: `--check` prints exactly the expected warnings and
exits 0, `--check --strict` refuses the file with those warnings as errors, and each shared
capture evaluates to the expected labels per flow.

Expectations are rules, first match wins, and every flow must be covered: (app, protocol,
category) with None as "any", and the labels the flow must carry (in rule-set bit order)."""
import json
import subprocess
import sys

BIN = sys.argv[1]
PCAPS = "../shared/pcaps/"
CORPUS = "test/data/netify/"

CASES = [
    {
        "file": "v4_style.json",
        "warnings": [
            "targets.ctlabel.teams.labels[1]: label 'teams-video' is not defined in "
            "test/data/netify/connlabel.conf: this label is not set; add the line \"9 teams-video\" "
            "(any free bit 0-127) to that file",
            "actions.zoom.targets[1]: target 'ipset.bulk' is not defined under \"targets\": it does "
            "nothing; did you mean 'ipset.block'?",
            "actions.teams.criteria:1:34: 'microsoft-teams' is Netify's name for nDPI's 'Teams': "
            "matched as that; write 'Teams' to silence this",
            "actions.video.criteria[1]:1:13: 'streaming-media' is Netify's name for nDPI's "
            "'Streaming': matched as that; write 'Streaming' to silence this",
        ],
        "mappings": [
            "actions.teams.criteria: app 'microsoft-teams' -> 'teams'",
            "actions.video.criteria[1]: category 'streaming-media' -> 'streaming'",
        ],
        "runs": [
            ("zoom_v4.2.pcap", 33, [
                (("zoom", None, None), ["zoom"]),       # ai:netify.zoom; video exempts zoom
                ((None, None, None), []),
            ]),
            ("teams.pcap", 83, [
                (("teams", None, None), ["teams"]),     # the label connlabel.conf has
                ((None, None, None), []),               # skype_teams, microsoft: not 'teams'
            ]),
        ],
    },
    {
        "file": "v5_style.json",
        "warnings": [
            "targets.sink.cloud: target type 'sink' sends match records to a Netify sink plugin, "
            "which ctlabeld does not have: this target does nothing; remove it from the actions "
            "that name it",
            "actions.netflix-local.targets[2]: target 'nftset.bulk' is not defined under "
            "\"targets\": it does nothing; define it or remove the name",
            "actions.doh-block.criteria:1:18: iface_nfq_src == '*' compares with the literal '*', "
            "which names no interface: matched as any interface (always true); remove the "
            "comparison or name an interface such as 'br-lan'",
            "actions.doh-block.criteria:1:37: 'doh' is Netify's name for nDPI's 'DoH_DoT': matched "
            "as that; write 'DoH_DoT' to silence this",
            "actions.social.criteria[0]:1:13: 'social-media' is Netify's name for nDPI's "
            "'SocialNetwork': matched as that; write 'SocialNetwork' to silence this",
            "actions.video-all-day.criteria:1:1: 'amazon-prime' is Netify's name for nDPI's "
            "'AmazonVideo': matched as that; write 'AmazonVideo' to silence this",
            "actions.games.criteria:1:13: 'games' is Netify's name for nDPI's 'Game': matched as "
            "that; write 'Game' to silence this",
            "actions.games.criteria:1:24: nDPI 4.2 cannot detect 'nordvpn': this comparison never "
            "matches; remove it or write a name nDPI 4.2 knows",
        ],
        "mappings": [
            "actions.doh-block.criteria: proto 'doh' -> 'doh_dot'",
            "actions.social.criteria[0]: category 'social-media' -> 'socialnetwork'",
            "actions.video-all-day.criteria: app 'amazon-prime' -> 'amazonvideo'",
            "actions.games.criteria: category 'games' -> 'game'",
        ],
        "runs": [
            # doh-block halts: no "bulk" from the catch-all action after it.
            ("dns_doh.pcap", 1, [(("doh_dot", "tls", None), ["doh"])]),
            ("facebook.pcap", 2, [(("facebook", None, None), ["social", "bulk"])]),
            ("netflix.pcap", 62, [
                # video all day (inclusive window), streaming for remote servers the box
                # reached, living-room for its TLS (MAC in @living-room, port 443).
                (("netflix", "tls", None), ["video", "streaming", "bulk", "living-room"]),
                (("netflix", "http", None), ["video", "streaming", "bulk"]),
                (("netflix", "dns", None), ["video", "bulk"]),    # the resolver is local
                (("amazonaws", "tls", None), ["bulk", "living-room"]),
                ((None, None, None), ["bulk"]),  # the exclusive all-week window never applies
            ]),
        ],
    },
]


def run(args):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=300)


def main():
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("ok   " + name)
        else:
            failed += 1
            print("FAIL " + name + (": " + detail if detail else ""))

    for case in CASES:
        path = CORPUS + case["file"]
        want = ["warning: " + path + ": " + w for w in case["warnings"]]
        r = run(["--check", "-c", path])
        got = [l for l in r.stdout.splitlines() if l.startswith("warning: ")]
        check(case["file"] + " --check exits 0", r.returncode == 0, r.stderr)
        check(case["file"] + " warnings", got == want,
              "\n  got:  " + "\n        ".join(got) + "\n  want: " + "\n        ".join(want))
        # The indented lines right under the heading.
        after = r.stdout.split("Netify names matched as nDPI's:\n", 1)
        mapped = []
        for line in (after[1].splitlines() if len(after) == 2 else []):
            if not line.startswith("  "):
                break
            mapped.append(line.strip())
        check(case["file"] + " --check lists the mapping applied", mapped == case["mappings"],
              str(mapped))
        r = run(["--check", "--strict", "-c", path])
        errors = [l for l in r.stderr.splitlines() if l.startswith(path + ": ")]
        check(case["file"] + " --strict refuses", r.returncode == 1 and
              errors == [path + ": " + w + " [an error: --strict]" for w in case["warnings"]],
              r.stderr)
        for pcap, count, rules in case["runs"]:
            # One worker: the flow count is exact then (with two, which host pairs share a worker
            # follows the per-start routing key, and with it where idle flows split).
            r = run(["-r", PCAPS + pcap, "-n", "--flows", "-", "-c", path, "-l", "error",
                     "--workers", "1"])
            if r.returncode != 0:
                check(case["file"] + " on " + pcap, False, r.stderr)
                continue
            flows = [json.loads(l) for l in r.stdout.splitlines()]
            check("%s on %s: %d flows" % (case["file"], pcap, count), len(flows) == count,
                  str(len(flows)))
            bad = []
            for f in flows:
                key = (f["app"], f["protocol"], f["category"])
                for match, labels in rules:
                    if all(m is None or m == k for m, k in zip(match, key)):
                        if f["labels"] != labels:
                            bad.append("%s:%d->%s:%d %s labels %s, want %s" % (
                                f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"], key,
                                f["labels"], labels))
                        break
                else:
                    bad.append("no rule for %s" % (key,))
            check("%s on %s: labels per flow" % (case["file"], pcap), not bad, "\n  ".join(bad))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
