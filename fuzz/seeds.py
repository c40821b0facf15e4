#!/usr/bin/env python3
"""Write the seed corpora of fuzz/corpus/<target>/ (run by hand from the repository root; the files are
committed). Sources: the captured fixtures, live sock_diag dumps of sockets this script opens on loopback
and UNIX sockets it binds, and hand-written samples. Each seed stays small (a few KB per target).

The harnesses (src/fuzzing.rs) read the first byte of netlink and /proc/net seeds as the table:
0 tcp, 1 tcp6, 2 tcp (both families, compat dump), 3 udp, 4 udp6, 5 unix; bit 7 set asks for every state.
"""
import os, socket, struct

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "fuzz", "corpus")
TCP, TCP6, TCPALL, UDP, UDP6, UNIX = 0, 1, 2, 3, 4, 5
ALL = 0x80


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(*p):
    with open(os.path.join(root, "fixtures", *p), "rb") as f:
        return f.read()


# ---- netlink: live dumps, a few messages each ----
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK = 4, 20, 18


def dump(msg_type, req, keep=3):
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    nl.send(struct.pack("=IHHII", 16 + len(req), msg_type, 0x301, 1, 0) + req)
    out, n, done = b"", 0, False
    while not done:
        buf = nl.recv(65536)
        off = 0
        while off + 16 <= len(buf):
            ln, typ = struct.unpack_from("=IH", buf, off)
            msg = buf[off:off + ln] + b"\0" * ((ln + 3 & ~3) - ln)
            if typ in (2, 3):
                out += msg
                done = True
                break
            if n < keep:
                out += msg
                n += 1
            off += ln + 3 & ~3
    return out


l4 = socket.socket(); l4.bind(("127.0.0.1", 0)); l4.listen()
c4 = socket.create_connection(l4.getsockname()); a4, _ = l4.accept()
c4.sendall(b"x" * 1000)
l6 = socket.socket(socket.AF_INET6); l6.bind(("::1", 0)); l6.listen()
c6 = socket.create_connection(l6.getsockname()[:2]); a6, _ = l6.accept()
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", 0))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("::1", 0)); u6.connect(("::1", 9))
ux = socket.socket(socket.AF_UNIX); ux.bind("\0sockscope-fuzz-seed\nname"); ux.listen()
up1, up2 = socket.socketpair()

ext = (1 << 1) | (1 << 3) | (1 << 6)  # INFO, CONG, SKMEMINFO
every = 0xffffffff
inet = lambda fam, proto: struct.pack("=BBBBI", fam, proto, ext, 0, every) + b"\0" * 48
put("netlink", "tcp4", bytes([TCP | ALL]) + dump(SOCK_DIAG_BY_FAMILY, inet(socket.AF_INET, socket.IPPROTO_TCP)))
put("netlink", "tcp6", bytes([TCP6 | ALL]) + dump(SOCK_DIAG_BY_FAMILY, inet(socket.AF_INET6, socket.IPPROTO_TCP)))
put("netlink", "udp4", bytes([UDP | ALL]) + dump(SOCK_DIAG_BY_FAMILY, inet(socket.AF_INET, socket.IPPROTO_UDP)))
put("netlink", "udp6", bytes([UDP6 | ALL]) + dump(SOCK_DIAG_BY_FAMILY, inet(socket.AF_INET6, socket.IPPROTO_UDP)))
# struct inet_diag_req (compat): family, src_len, dst_len, ext, id (48 bytes), states, dbs
compat = struct.pack("=BBBB", socket.AF_INET, 0, 0, ext) + b"\0" * 48 + struct.pack("=II", every, 0)
put("netlink", "tcp_compat", bytes([TCPALL | ALL]) + dump(TCPDIAG_GETSOCK, compat))
# unix_diag_req: family, protocol, pad, states, ino, show (NAME|VFS|PEER|ICONS|RQLEN|MEMINFO|UID), cookie
show = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40
ureq = struct.pack("=BBHIII", socket.AF_UNIX, 0, 0, every, 0, show) + b"\xff" * 8
put("netlink", "unix", bytes([UNIX | ALL]) + dump(SOCK_DIAG_BY_FAMILY, ureq, keep=4))
put("netlink", "captured_tcp_info", bytes([TCP]) + fixture("netlink", "tcp_info_dump.bin"))

# ---- /proc/net text ----
for name, table in [("tcp", TCP), ("tcp6", TCP6), ("udp", UDP), ("udp6", UDP6)]:
    text = fixture("proc", "busy", "net", name)
    put("proc_net_inet", name, bytes([table | ALL]) + b"\n".join(text.split(b"\n")[:12]) + b"\n")
put("proc_net_inet", "states_subset", bytes([TCP]) + b"\n".join(fixture("proc", "busy", "net", "tcp").split(b"\n")[:6]))
unix = (
    "Num       RefCount Protocol Flags    Type St Inode Path\n"
    "0000000000000000: 00000002 00000000 00010000 0001 01 18213 /run/systemd/journal/stdout\n"
    "0000000000000000: 00000003 00000000 00000000 0001 03 18214\n"
    "0000000000000000: 00000002 00000000 00000000 0002 01 18215 @/tmp/.X11-unix/X0\n"
    "0000000000000000: 00000002 00000000 00010000 0001 01 18216 @abstract@with@nuls\n"
    "0000000000000000: 00000002 00000000 00010000 0005 01 18217 /run/name with\n"
    "a newline in it\n"
    "0000000000000000: 00000003 00000000 00000000 0001 02 0 /run/not-accepted\n"
)
put("proc_net_unix", "sample", bytes([UNIX | ALL]) + unix.encode())
with open("/proc/net/unix", "rb") as f:
    put("proc_net_unix", "live_head", bytes([UNIX]) + b"\n".join(f.read().split(b"\n")[:15]) + b"\n")

# ---- /proc/PID files ----
put("proc_pid", "socket_link", "socket:[123456]")
put("proc_pid", "pipe_link", "pipe:[777]")
put("proc_pid", "status", "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t812\nPid:\t812\nPPid:\t1\nUid:\t33\t33\t33\t33\nGid:\t33\t33\t33\t33\n")
put("proc_pid", "stat", "812 (nginx: worker) S 1 812 812 0 -1 4194624 1234 0 0 0 5 3 0 0 20 0 1 0 4242 0 0\n")
put("proc_pid", "kthread_stat", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n")
put("proc_pid", "cmdline", b"/usr/sbin/nginx\0-g\0daemon off;\0")
put("proc_pid", "evil_comm", b"\x1b[31mEVIL\nX\n")

# ---- filters: text, NUL, then sockets of 8 bytes each ----
socks = bytes(range(0, 64)) + bytes([1, 0, 1, 0, 2, 0, 1, 0, 0, 1, 3, 4, 2, 1, 0, 2, 2, 2, 2, 2, 5, 12, 3, 7])
for i, f in enumerate([
    "sport = :22",
    "state established '( dport = :ssh or sport = :https )'",
    "src 127.0.0.1/8 and not dst [::1]",
    "dst 10.0.0.0/255.0.0.0:8000-8100 or dport > :1023",
    "! ( sport >= :1024 && dport < :80 ) || dev 1",
    "fwmark 0x1/0xff or uid >= 1000 or proto udp",
    "src [fe80::]/10 or src [::ffff:127.0.0.1]",
    "exclude time-wait sport 8000-8100",
    "path /run/*.sock or src unix:@abstract*",
    "sport class registered and not dport = :*",
    "!!!!(((sport :22)))",
]):
    put("filter", f"f{i:02}", f.encode() + b"\0" + socks)

# ---- conntrack ----
ct = fixture("conntrack", "router", "net", "nf_conntrack").split(b"\n")
put("conntrack", "router_a", b"\n".join(ct[: len(ct) // 2]) + b"\n")
put("conntrack", "router_b", b"\n".join(ct[len(ct) // 2:]))
put("conntrack", "conntrack_l", "tcp      6 431999 ESTABLISHED src=10.0.0.2 dst=203.0.113.5 sport=51234 dport=443 src=192.168.1.10 dst=10.0.0.2 sport=8443 dport=51234 [ASSURED] mark=0 use=1\n")

# ---- services ----
put("services", "sample", (
    "# Network services\ntcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer\n"
    "ssh\t\t22/tcp\nhttp\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\nhttps\t\t443/tcp\nhttps\t\t443/udp\n"
    "webcache\t8080/tcp\thttp-alt proxy\nhttp-alt2\t8080/tcp\taltname\nsctponly\t9899/sctp\n"
    "broken\tx/tcp\ntoobig\t70000/tcp\nnoproto\t81\nweird\t99/ipx\n"
))
with open("/etc/services", "rb") as f:
    put("services", "etc_head", b"\n".join(f.read().split(b"\n")[:80]) + b"\n")
print("seeds written to", corpus)
