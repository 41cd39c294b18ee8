#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Traffic for the end-to-end test, between namespaces the test made (10.x only).

  tls_peer.py server CERT KEY            TLS echo on :443 and UDP echo on :9999, until killed
  tls_peer.py tls HOST SNI SECONDS       a TLS connection with that SNI, one line every 100 ms
  tls_peer.py udp HOST SECONDS           UDP datagrams to HOST:9999 every 100 ms
Every loop is bounded by SECONDS (and the server by the test's timeout)."""
import socket
import ssl
import sys
import threading
import time


def serve(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 9999))

    def udp_echo():
        while True:
            data, addr = udp.recvfrom(2048)
            udp.sendto(data, addr)

    def handle(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                while True:
                    data = tls.recv(4096)
                    if not data:
                        return
                    tls.sendall(data)
        except (ssl.SSLError, OSError):
            return

    def accept_loop(srv):
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=udp_echo, daemon=True).start()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 443))
    srv.listen(16)
    # IPv6 as well where the namespace has it (ctmark_live's IPv6 flows); v4 is unchanged.
    try:
        srv6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        srv6.bind(("::", 443))
        srv6.listen(16)
        threading.Thread(target=accept_loop, args=(srv6,), daemon=True).start()
    except OSError:
        pass
    print("ready", flush=True)
    accept_loop(srv)


def tls_client(host, sni, seconds):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, 443), timeout=5) as raw:
        print(f"port {raw.getsockname()[1]}", flush=True)
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            end = time.time() + seconds
            while time.time() < end:
                tls.sendall(b"ping " + sni.encode() + b"\n")
                tls.recv(4096)
                time.sleep(0.1)


def udp_client(host, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.connect((host, 9999))
    print(f"port {s.getsockname()[1]}", flush=True)
    end = time.time() + seconds
    while time.time() < end:
        s.send(b"plain udp payload that nobody classifies")
        try:
            s.recv(2048)
        except socket.timeout:
            pass
        time.sleep(0.1)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        serve(sys.argv[2], sys.argv[3])
    elif mode == "tls":
        tls_client(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif mode == "udp":
        udp_client(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")
