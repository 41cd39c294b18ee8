#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A TLS client that stops between the TCP handshake and the ClientHello, for the fault tests
(between namespaces the test made, 10.x only; the server is test/integration/tls_peer.py).

  fault_peer.py HOST SNI GOFILE SECONDS
connects to HOST:443 and prints "port N"; once GOFILE exists (waits at most 15 s) sends the
ClientHello with SNI and one line every 100 ms for SECONDS. The test changes conntrack in between,
so the daemon's label write meets the changed table. Errors after the pause (the peer may never
answer once its conntrack entry is gone) end the client quietly: the test judges by the stats."""
import os
import socket
import ssl
import sys
import time


def main(host, sni, gofile, seconds):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, 443), timeout=5) as raw:
        print(f"port {raw.getsockname()[1]}", flush=True)
        deadline = time.time() + 15
        while not os.path.exists(gofile):
            if time.time() > deadline:
                sys.exit("fault_peer: no go signal within 15 s")
            time.sleep(0.05)
        try:
            with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                end = time.time() + seconds
                while time.time() < end:
                    tls.sendall(b"ping " + sni.encode() + b"\n")
                    tls.recv(4096)
                    time.sleep(0.1)
        except (ssl.SSLError, OSError) as e:
            print(f"ended: {e}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
