#!/usr/bin/env python3
"""A small, lively host for the README's dashboard image, run inside a network namespace of its own (on its
loopback only): a web server on :8080 with two client processes (`wrk` churning connections, `python3`
holding some), a cache on :6379 the web server talks to, an API on :9090 that stops accepting (its
accept queue fills), and a resolver binding UDP sockets on ephemeral ports. Runs until killed.
Used by scripts/dashboard-image; not part of the build or CI.
"""
import math
import os
import random
import signal
import socket
import threading
import time


def name(comm):
    with open("/proc/self/comm", "w") as f:
        f.write(comm)


def listener(port, backlog=512):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(backlog)
    return s


def serve(s, keep, stall=None):
    while True:
        if stall:
            stall()
        c, _ = s.accept()
        keep.append(c)
        # Close what the client closed, so the server side does not pile up in CLOSE-WAIT forever.
        for k in list(keep):
            try:
                if k.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                    keep.remove(k)
                    k.close()
            except BlockingIOError:
                pass
            except OSError:
                keep.remove(k)


def connect(port, src):
    c = socket.socket()
    c.bind((src, 0))
    c.connect(("127.0.0.1", port))
    return c


def child(fn):
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        try:
            fn()
        finally:
            os._exit(0)
    return pid


def web():
    name("web")
    keep = []
    start = time.time()

    def stall():
        # Every 20 s the server is busy for 4 s: its accept queue (and the clients' closes) pile up.
        if (time.time() - start) % 20 > 16:
            time.sleep(4)

    threading.Thread(target=serve, args=(listener(8080), keep, stall), daemon=True).start()
    time.sleep(0.5)
    cache = [connect(6379, "127.0.0.1") for _ in range(24)]
    while True:
        # Some talk to the cache: bytes go back and forth.
        for c in random.sample(cache, 4):
            c.sendall(b"x" * 2048)
        time.sleep(0.2)


def cache():
    name("redis-server")
    s = listener(6379)
    conns = []

    def drain(c):
        while c.recv(65536):
            pass

    while True:
        c, _ = s.accept()
        conns.append(c)
        threading.Thread(target=drain, args=(c,), daemon=True).start()


def api():
    name("api")
    s = listener(9090, backlog=64)
    time.sleep(1e9)  # never accepts: the queue fills up
    s.close()


def wrk():
    name("wrk")
    time.sleep(1)
    conns = [connect(8080, f"127.0.0.{2 + i % 4}") for i in range(100)]
    api = []
    start = time.time()
    while True:
        # Load in waves (100 to 220 connections over 40 s), with churn: close a few (the client side goes to
        # TIME-WAIT), open as many as the wave wants; a slow trickle to the API.
        want = int(160 - 60 * math.cos((time.time() - start) * 2 * math.pi / 40))
        for _ in range(6):
            conns.pop(random.randrange(len(conns))).close()
        while len(conns) < want:
            conns.append(connect(8080, f"127.0.0.{2 + random.randrange(4)}"))
        while len(conns) > want:
            conns.pop(random.randrange(len(conns))).close()
        if len(api) < 58:
            try:
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", 9090))
                api.append(c)
            except OSError:
                pass
        time.sleep(0.5)


def holder():
    name("python3")
    time.sleep(1.5)
    conns = [connect(8080, "127.0.0.9") for _ in range(60)]
    time.sleep(1e9)
    del conns


def resolver():
    name("resolver")
    socks = []
    while True:
        # A stub resolver binding a fresh port per query, keeping the last few.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        socks.append(u)
        if len(socks) > 12:
            socks.pop(0).close()
        time.sleep(0.7)


if __name__ == "__main__":
    pids = [child(f) for f in (cache, web, api, wrk, holder, resolver)]

    def stop(*_):
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY", flush=True)
    while True:
        time.sleep(1)
