#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Zoom-shaped UDP traffic for e2e_zoom.sh, between namespaces the test made (10.x only).

  zoom_peer.py server                      UDP echo on :8801 and :8802, STUN answers on :3478,
                                           until killed
  zoom_peer.py peer PORT                   UDP echo on PORT, until killed
  zoom_peer.py sfu HOST PORT SECONDS       UDP to HOST:PORT whose payloads start 01 00 03
                                           (Zoom's client-to-server media header)
  zoom_peer.py random HOST PORT SECONDS    UDP to HOST:PORT with random payloads
  zoom_peer.py stun-p2p STUN_HOST PEER_HOST PEER_PORT SECONDS
                                           STUN with attribute 0x0101 to STUN_HOST:3478, then
                                           random UDP to PEER_HOST:PEER_PORT from the same port
Clients print "port N" (their local port) first. Every loop is bounded by SECONDS, every
receive by a timeout, and the servers by the test's timeout."""
import os
import socket
import struct
import sys
import threading
import time

COOKIE = 0x2112A442


def stun_message(msg_type, txid, attrs):
    body = b""
    for attr_type, value in attrs:
        body += struct.pack("!HH", attr_type, len(value)) + value + b"\0" * (-len(value) % 4)
    return struct.pack("!HHI", msg_type, len(body), COOKIE) + txid + body


def echo(sock, answer=None):
    while True:
        data, addr = sock.recvfrom(2048)
        sock.sendto(answer(data) if answer else data, addr)


def stun_answer(data):
    # A binding success response with the request's transaction id and Zoom's attribute.
    if len(data) >= 20:
        return stun_message(0x0101, data[8:20], [(0x0101, b"\x00\x01\x00\x02")])
    return data


def udp_socket(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def serve():
    for port, answer in ((8801, None), (8802, None), (3478, stun_answer)):
        threading.Thread(target=echo, args=(udp_socket(port), answer), daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def peer(port):
    s = udp_socket(port)
    print("ready", flush=True)
    echo(s)


def send_for(sock, dest, seconds, payload):
    end = time.time() + seconds
    while time.time() < end:
        sock.sendto(payload(), dest)
        try:
            sock.recvfrom(2048)
        except socket.timeout:
            pass
        time.sleep(0.1)


def client(host, port, seconds, payload):
    s = udp_socket()
    s.settimeout(1)
    print(f"port {s.getsockname()[1]}", flush=True)
    send_for(s, (host, port), seconds, payload)


def stun_p2p(stun_host, peer_host, peer_port, seconds):
    s = udp_socket()
    s.settimeout(1)
    print(f"port {s.getsockname()[1]}", flush=True)
    answers = 0
    for _ in range(5):
        request = stun_message(0x0001, os.urandom(12), [(0x0101, b"\x00\x01\x00\x02")])
        s.sendto(request, (stun_host, 3478))
        try:
            s.recvfrom(2048)
            answers += 1
        except socket.timeout:
            pass
        time.sleep(0.1)
    print(f"stun answers {answers}", flush=True)
    # Zoom starts the peer-to-peer media a second or more after its STUN exchange.
    time.sleep(1)
    send_for(s, (peer_host, peer_port), seconds, lambda: os.urandom(120))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        serve()
    elif mode == "peer":
        peer(int(sys.argv[2]))
    elif mode == "sfu":
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
               lambda: b"\x01\x00\x03" + os.urandom(97))
    elif mode == "random":
        # Never starting 01 00 0x / 02 00 0x, 03-05 or 1f: random bytes that no check accepts.
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
               lambda: b"\x9a" + os.urandom(99))
    elif mode == "stun-p2p":
        stun_p2p(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(f"unknown mode {mode}")
