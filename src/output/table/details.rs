//! The Process column after the peer port: users, timers, `-e` details, `--tos`/`--cgroup`/`--inet-sockopt`,
//! packet and netlink details, and the `-i`/`-m` second line, in ss's order for each family.

use super::*;

/// Everything ss prints after the peer port, in ss's order for the socket's family.
pub(super) fn ext(a: &mut Vec<u8>, s: &Socket, names: &Names, opts: &TableOptions) {
    let x = s.extra.as_deref();
    let d = x.and_then(|x| x.details.as_deref());
    let users = |a: &mut Vec<u8>| {
        if let Some(p) = names.process_text(s) {
            a.push(b' ');
            a.extend_from_slice(p.as_bytes());
        }
    };
    let skmem = |a: &mut Vec<u8>| {
        if let Some(m) = x.and_then(|x| x.memory.as_deref()) {
            tcp_info::skmem(a, m);
        }
    };
    match s.proto {
        Proto::Unix => {
            users(a);
            if opts.memory {
                skmem(a);
            }
            if opts.extended
                && let Some(d) = d
            {
                shutdown(a, d.shutdown);
                if let Some((ino, dev)) = d.unix_vfs {
                    // ss splits the kernel's dev_t with glibc's major()/minor(), which read the
                    // userspace encoding: `dev:0/65024` for the kernel's 254:0. Printed as ss does.
                    let (major, minor) = ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & !0xff));
                    let _ = write!(a, " ino:{ino} dev:{major}/{minor}");
                }
                if let Some(p) = &d.unix_pending {
                    a.extend_from_slice(b" peers:");
                    for i in p {
                        let _ = write!(a, " {i}");
                    }
                }
            }
        }
        Proto::Packet => {
            users(a);
            if opts.extended {
                sock_details(a, s, d, names);
                if let Some(p) = d.and_then(|d| d.packet.as_ref()) {
                    packet_details(a, p, opts.oneline);
                }
            }
            if let Some(bpf) = d.and_then(|d| d.bpf.as_ref()).filter(|_| opts.bpf) {
                let _ = write!(a, "{}bpf filter ({}): ", if opts.oneline { " " } else { "\n\t" }, bpf.len());
                for (code, jt, jf, k) in bpf {
                    let _ = write!(a, " 0x{code:02x} {jt} {jf} {k},");
                }
            }
            if opts.memory {
                skmem(a);
            }
        }
        Proto::Netlink => {
            if opts.extended {
                let groups = d.and_then(|d| d.netlink_groups).unwrap_or(0);
                let _ = write!(a, " sk=0 cb=0 groups=0x{groups:08x}");
            }
            if opts.memory {
                a.push(b'\t');
                skmem(a);
            }
        }
        _ if s.family == Family::Unix => {}
        _ => inet_ext(a, s, names, opts, users, skmem),
    }
}

fn inet_ext(
    a: &mut Vec<u8>,
    s: &Socket,
    names: &Names,
    opts: &TableOptions,
    users: impl Fn(&mut Vec<u8>),
    skmem: impl Fn(&mut Vec<u8>),
) {
    users(a);
    // Raw sockets come from /proc/net/raw (no raw diag here): ss prints nothing more for them.
    if s.proto == Proto::Raw && s.cookie.is_none() {
        return;
    }
    let x = s.extra.as_deref();
    let d = x.and_then(|x| x.details.as_deref());
    if opts.timers
        && let Some(t) = s.timer
    {
        timer(a, s.proto, t);
    }
    if opts.extended {
        sock_details(a, s, d, names);
        if s.family == Family::Inet6
            && let Some(v) = s.v6only
        {
            let _ = write!(a, " v6only:{}", u8::from(v));
        }
        if let Some(d) = d {
            shutdown(a, d.shutdown);
        }
    }
    if opts.tos
        && let Some(d) = d
    {
        tos(a, d);
    }
    if opts.cgroup
        && let Some(id) = d.and_then(|d| d.cgroup_id)
    {
        a.extend_from_slice(b" cgroup:");
        text(a, &names.cgroup_path(id));
    }
    if opts.inet_sockopt
        && let Some(bits) = d.and_then(|d| d.sockopt)
    {
        inet_sockopt(a, bits, opts.oneline);
    }
    if opts.memory || (opts.info && s.proto != Proto::Udp) {
        if !opts.oneline {
            a.extend_from_slice(b"\n\t");
        }
        skmem(a);
        let style = InfoStyle { options: opts.timers, numeric: opts.numeric };
        if s.proto == Proto::Mptcp {
            if let Some(m) = d.and_then(|d| d.mptcp.as_ref()) {
                tcp_info::mptcp(a, m);
            }
        } else if let Some(t) = x.and_then(|x| x.tcp_info.as_ref()) {
            tcp_info::tcp(a, t, x.and_then(|x| x.congestion.as_deref()), x.and_then(|x| x.cc_info.as_ref()), d, style);
        }
    }
}

/// ` timer:(NAME,EXPIRES,RETRANS)`: SCTP's one timer is T3_RTX, as ss names it.
fn timer(a: &mut Vec<u8>, proto: Proto, t: crate::model::Timer) {
    use crate::model::TimerKind;
    let kind = match t.kind {
        TimerKind::On => "on",
        TimerKind::Keepalive => "keepalive",
        TimerKind::Timewait => "timewait",
        TimerKind::Persist => "persist",
        TimerKind::Other(_) => "unknown",
    };
    let name = if proto == Proto::Sctp { "T3_RTX" } else { kind };
    let _ = write!(a, " timer:({name},{},{})", tcp_info::timer_text(t.expires_ms), t.retrans);
}

/// `--tos`: ` tos:` ` tclass:` ` class_id:`, those the kernel sent.
fn tos(a: &mut Vec<u8>, d: &crate::model::internals::Details) {
    for (name, v) in [("tos", d.tos.map(u32::from)), ("tclass", d.tclass.map(u32::from)), ("class_id", d.class_id)] {
        if let Some(v) = v {
            let _ = write!(a, " {name}:{}", hex_alt(v));
        }
    }
}

/// `--inet-sockopt`: the names of the options set, in the kernel's bit order.
fn inet_sockopt(a: &mut Vec<u8>, bits: u16, oneline: bool) {
    a.extend_from_slice(if oneline { b" inet-sockopt: (" } else { b"\n\tinet-sockopt: (" });
    for (i, name) in [
        "recverr",
        "is_icsk",
        "freebind",
        "hdrincl",
        "mc_loop",
        "transparent",
        "mc_all",
        "nodefrag",
        "bind_addr_no_port",
        "recverr_rfc4884",
        "defer_connect",
    ]
    .iter()
    .enumerate()
    {
        if bits & (1 << i) != 0 {
            let _ = write!(a, " {name}");
        }
    }
    a.push(b')');
}

/// `%#x`: `0` for zero, `0x..` otherwise.
fn hex_alt(v: u32) -> String {
    if v == 0 { "0".into() } else { format!("{v:#x}") }
}

/// ` <->`, ` --<`...: which directions are shut down.
fn shutdown(a: &mut Vec<u8>, mask: Option<u8>) {
    if let Some(m) = mask {
        a.push(b' ');
        a.push(if m & 1 != 0 { b'-' } else { b'<' });
        a.push(b'-');
        a.push(if m & 2 != 0 { b'-' } else { b'>' });
    }
}

/// ` uid:1000 ino:4242 sk:1f fwmark:0x1 cgroup:/system.slice`: ss leaves out uid 0, a zero mark and cgroup 0.
fn sock_details(a: &mut Vec<u8>, s: &Socket, d: Option<&crate::model::internals::Details>, names: &Names) {
    if let Some(uid) = s.uid.filter(|u| *u != 0) {
        let _ = write!(a, " uid:{uid}");
    }
    let _ = write!(a, " ino:{} sk:{:x}", s.inode, s.cookie.unwrap_or(0));
    if let Some(m) = s.mark.filter(|m| *m != 0) {
        let _ = write!(a, " fwmark:0x{m:x}");
    }
    if let Some(id) = d.and_then(|d| d.cgroup_id).filter(|c| *c != 0) {
        a.extend_from_slice(b" cgroup:");
        text(a, &names.cgroup_path(id));
    }
}

fn packet_details(a: &mut Vec<u8>, p: &crate::model::internals::PacketDetails, oneline: bool) {
    let nl: &[u8] = if oneline { b" " } else { b"\n\t" };
    if let Some(v) = p.version {
        a.extend_from_slice(nl);
        let _ = write!(a, "ver:{v} cpy_thresh:{} flags( ", p.copy_thresh.unwrap_or(0));
        let flags = p.flags.unwrap_or(0);
        for (bit, name) in [(1, "running"), (2, " auxdata"), (4, " origdev"), (8, " vnethdr"), (16, " loss")] {
            if flags & bit != 0 {
                a.extend_from_slice(name.as_bytes());
            }
        }
        if flags == 0 {
            a.push(b'0');
        }
        a.extend_from_slice(b" )");
    }
    for (name, ring) in [("ring_rx(", p.rx_ring), ("ring_tx(", p.tx_ring)] {
        if let Some(r) = ring {
            a.extend_from_slice(nl);
            let _ = write!(
                a,
                "{name}blk_size:{},blk_nr:{},frm_size:{},frm_nr:{},tmo:{},features:0x{:x})",
                r[0] as i32, r[1] as i32, r[2] as i32, r[3] as i32, r[4] as i32, r[5]
            );
        }
    }
    if let Some(f) = p.fanout {
        a.extend_from_slice(nl);
        let kind = match f >> 16 {
            0 => "hash".to_string(),
            1 => "lb".into(),
            2 => "cpu".into(),
            3 => "roll".into(),
            4 => "random".into(),
            5 => "qm".into(),
            t => format!("0x{t:x}"),
        };
        let _ = write!(a, "fanout(id:{},type:{kind})", f & 0xffff);
    }
}
