//! The kernel's socket filter (`INET_DIAG_REQ_BYTECODE`): compiling the kernel-evaluable part of an [`Expr`],
//! and, in test builds only, a userspace interpreter, validator and disassembler with the kernel's exact
//! semantics (`net/ipv4/inet_diag.c`: `inet_diag_bc_run`, `inet_diag_bc_audit`).
//!
//! A program is a sequence of `struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }` (native byte order), each
//! followed by its arguments. A true test moves on by `yes` bytes (always the op's own size here, as the audit
//! walks the `yes` chain), a false one jumps forward by `no` bytes. Running off the end exactly accepts the
//! socket; jumping to end + 4 rejects it.
//!
//! Only inet sockets are filtered by the kernel: UNIX dumps take no bytecode, and [`run`] accepts every UNIX
//! socket. Terms the kernel cannot evaluate (`uid`, `proto`, `path`, states) are approximated so that the
//! kernel never drops a socket the full expression keeps: as "accept" where the term counts for a match, as
//! "reject" under an odd number of `not`s. Userspace must then re-check the full expression, unless
//! [`kernel_exact`] says the program is the whole expression.
//!
//! Port equality compiles to `S_COND`/`D_COND` with `AF_UNSPEC`, as `ss` does, which every kernel with
//! `inet_diag` understands; `S_EQ`/`D_EQ` (Linux 4.16+) are only interpreted. `fwmark` compiles to `MARK_COND`,
//! which the kernel accepts only from CAP_NET_ADMIN (the dump fails with EPERM otherwise).

use std::net::IpAddr;

use super::{End, Expr};
#[cfg(any(test, feature = "fuzzing"))]
use crate::model::{Endpoint, Family, Socket};

pub const INET_DIAG_BC_NOP: u8 = 0;
pub const INET_DIAG_BC_JMP: u8 = 1;
pub const INET_DIAG_BC_S_GE: u8 = 2;
pub const INET_DIAG_BC_S_LE: u8 = 3;
pub const INET_DIAG_BC_D_GE: u8 = 4;
pub const INET_DIAG_BC_D_LE: u8 = 5;
pub const INET_DIAG_BC_AUTO: u8 = 6;
pub const INET_DIAG_BC_S_COND: u8 = 7;
pub const INET_DIAG_BC_D_COND: u8 = 8;
pub const INET_DIAG_BC_DEV_COND: u8 = 9;
pub const INET_DIAG_BC_MARK_COND: u8 = 10;
pub const INET_DIAG_BC_S_EQ: u8 = 11;
pub const INET_DIAG_BC_D_EQ: u8 = 12;
pub const INET_DIAG_BC_CGROUP_COND: u8 = 13;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
#[cfg(any(test, feature = "fuzzing"))]
/// `SOCK_BINDPORT_LOCK` in `sk_userlocks`: the port was bound explicitly (not `autobound`).
const SOCK_BINDPORT_LOCK: u16 = 4;
/// The largest program one netlink attribute can carry (its length field is 16 bits, header included).
const MAX_LEN: usize = u16::MAX as usize - 4;

/// Compile the kernel-evaluable part of `expr`. `None` when the kernel part accepts every socket (nothing
/// worth sending) or the program would not fit in a netlink attribute; then the kernel filters nothing.
pub fn compile(expr: &Expr) -> Option<Vec<u8>> {
    build(expr).ok().flatten()
}

#[cfg(any(test, feature = "fuzzing"))]
/// True when [`compile`]'s program (or its absence) decides every inet socket exactly as `expr.matches` does,
/// so userspace need not re-check inet sockets. UNIX sockets always need the userspace check.
pub fn kernel_exact(expr: &Expr) -> bool {
    kernel_only(expr) && build(expr).is_ok()
}

/// The program (`None`: accept all), or the length it would have had when that is too long to send.
fn build(expr: &Expr) -> Result<Option<Vec<u8>>, usize> {
    match approx(expr, true) {
        Frag::Const(true) => Ok(None),
        Frag::Const(false) => Ok(Some(assemble(&[Instr::jump(Target::False)]))),
        Frag::Code(code) => {
            let bc = assemble(&code);
            if bc.len() <= MAX_LEN { Ok(Some(bc)) } else { Err(bc.len()) }
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// Every term of `expr` is one the kernel evaluates.
fn kernel_only(expr: &Expr) -> bool {
    match expr {
        Expr::True
        | Expr::False
        | Expr::Port { .. }
        | Expr::Host { .. }
        | Expr::Dev(_)
        | Expr::Mark { .. }
        | Expr::Cgroup(_) => true,
        Expr::And(v) | Expr::Or(v) => v.iter().all(kernel_only),
        Expr::Not(e) => kernel_only(e),
        Expr::State(_)
        | Expr::Proto(_)
        | Expr::Uid { .. }
        | Expr::UnixPath { .. }
        | Expr::Process(_)
        | Expr::Pid(_)
        | Expr::NetnsName(_)
        | Expr::Workload { .. } => false,
    }
}

/// Where a failed test goes: an instruction of the same fragment, or the fragment's true or false exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Instr(usize),
    True,
    False,
}

#[derive(Debug, Clone)]
struct Instr {
    code: u8,
    args: Vec<u8>,
    no: Target,
}

impl Instr {
    fn test(code: u8, args: Vec<u8>) -> Instr {
        Instr { code, args, no: Target::False }
    }
    /// An unconditional jump (`JMP` always takes its `no` branch).
    fn jump(to: Target) -> Instr {
        Instr { code: INET_DIAG_BC_JMP, args: Vec::new(), no: to }
    }
    fn size(&self) -> usize {
        4 + self.args.len()
    }
}

/// A compiled sub-expression: a constant, or code that falls off its end when true.
enum Frag {
    Const(bool),
    Code(Vec<Instr>),
}

/// Shift a fragment's internal targets by `by` and map its exits.
fn relocate(code: Vec<Instr>, by: usize, on_true: Target, on_false: Target) -> impl Iterator<Item = Instr> {
    code.into_iter().map(move |mut i| {
        i.no = match i.no {
            Target::Instr(k) => Target::Instr(k + by),
            Target::True => on_true,
            Target::False => on_false,
        };
        i
    })
}

/// The conjunction (`all`) or disjunction of fragments, laid out in one pass: each part's code in turn; in a
/// conjunction a true part falls into the next and a false one exits false, in a disjunction a true part jumps
/// to the true exit and a false one moves on to the next part.
fn join(parts: Vec<Frag>, all: bool) -> Frag {
    let mut code = Vec::new();
    for p in parts {
        match p {
            Frag::Const(c) if c == all => {}
            Frag::Const(c) => return Frag::Const(c),
            Frag::Code(c) => code.push(c),
        }
    }
    let n = code.len();
    if n == 0 {
        return Frag::Const(all);
    }
    let mut v: Vec<Instr> = Vec::new();
    for (k, c) in code.into_iter().enumerate() {
        let last = k + 1 == n;
        let start = v.len();
        // Where this part's true and false exits lead; in a disjunction a JMP to the true exit follows it.
        let after = start + c.len() + usize::from(!all && !last);
        let next = if last { None } else { Some(Target::Instr(after)) };
        let (on_true, on_false) = if all {
            (next.unwrap_or(Target::True), Target::False)
        } else {
            (Target::True, next.unwrap_or(Target::False))
        };
        v.extend(relocate(c, start, on_true, on_false));
        if !all && !last {
            v.push(Instr::jump(Target::True));
        }
    }
    Frag::Code(v)
}

fn and(a: Frag, b: Frag) -> Frag {
    join(vec![a, b], true)
}

fn or(a: Frag, b: Frag) -> Frag {
    join(vec![a, b], false)
}

fn not(a: Frag) -> Frag {
    match a {
        Frag::Const(c) => Frag::Const(!c),
        Frag::Code(a) => {
            let mut v: Vec<Instr> = relocate(a, 0, Target::False, Target::True).collect();
            v.push(Instr::jump(Target::False));
            Frag::Code(v)
        }
    }
}

/// Both ends' versions of a test, for `End::Either`.
fn by_end(end: End, one: impl Fn(bool) -> Frag) -> Frag {
    match end {
        End::Local => one(true),
        End::Peer => one(false),
        End::Either => or(one(true), one(false)),
    }
}

fn hostcond(local: bool, family: u8, prefix_len: u8, port: Option<u16>, addr: &[u8]) -> Frag {
    let mut args = vec![family, prefix_len, 0, 0];
    args.extend_from_slice(&port.map_or(-1, i32::from).to_ne_bytes());
    args.extend_from_slice(addr);
    Frag::Code(vec![Instr::test(if local { INET_DIAG_BC_S_COND } else { INET_DIAG_BC_D_COND }, args)])
}

fn port_cmp(code: u8, port: u16) -> Frag {
    let mut args = vec![0, 0];
    args.extend_from_slice(&port.to_ne_bytes());
    Frag::Code(vec![Instr::test(code, args)])
}

/// The kernel program for `e`: an over-approximation of it when `over`, an under-approximation otherwise.
fn approx(e: &Expr, over: bool) -> Frag {
    match e {
        Expr::True => Frag::Const(true),
        Expr::False => Frag::Const(false),
        Expr::And(v) => join(v.iter().map(|x| approx(x, over)).collect(), true),
        Expr::Or(v) => join(v.iter().map(|x| approx(x, over)).collect(), false),
        Expr::Not(x) => not(approx(x, !over)),
        Expr::Port { end, range } => by_end(*end, |local| {
            let (ge, le) =
                if local { (INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE) } else { (INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE) };
            if range.is_single() {
                hostcond(local, AF_UNSPEC, 0, Some(range.low), &[])
            } else {
                let lo = if range.low > 0 { port_cmp(ge, range.low) } else { Frag::Const(true) };
                let hi = if range.high < u16::MAX { port_cmp(le, range.high) } else { Frag::Const(true) };
                and(lo, hi)
            }
        }),
        Expr::Host { end, prefix, port } => by_end(*end, |local| match prefix.addr {
            IpAddr::V4(a) => hostcond(local, AF_INET, prefix.len.min(32), *port, &a.octets()),
            IpAddr::V6(a) => hostcond(local, AF_INET6, prefix.len.min(128), *port, &a.octets()),
        }),
        Expr::Dev(index) => Frag::Code(vec![Instr::test(INET_DIAG_BC_DEV_COND, index.to_ne_bytes().to_vec())]),
        Expr::Mark { value, mask } => {
            let mut args = value.to_ne_bytes().to_vec();
            args.extend_from_slice(&mask.to_ne_bytes());
            Frag::Code(vec![Instr::test(INET_DIAG_BC_MARK_COND, args)])
        }
        Expr::Cgroup(id) => Frag::Code(vec![Instr::test(INET_DIAG_BC_CGROUP_COND, id.to_ne_bytes().to_vec())]),
        Expr::State(_)
        | Expr::Proto(_)
        | Expr::Uid { .. }
        | Expr::UnixPath { .. }
        | Expr::Process(_)
        | Expr::Pid(_)
        | Expr::NetnsName(_)
        | Expr::Workload { .. } => Frag::Const(over),
    }
}

/// Lay out instructions and resolve their jumps. Offsets may exceed 16 bits here; `compile` then drops the
/// program (the caller checks the total length, which bounds every offset).
fn assemble(code: &[Instr]) -> Vec<u8> {
    let mut offsets = Vec::with_capacity(code.len() + 1);
    let mut total = 0;
    for i in code {
        offsets.push(total);
        total += i.size();
    }
    offsets.push(total);
    let mut bc = Vec::with_capacity(total);
    for (k, i) in code.iter().enumerate() {
        let no = match i.no {
            Target::Instr(t) => offsets[t],
            Target::True => total,
            Target::False => total + 4,
        } - offsets[k];
        bc.push(i.code);
        bc.push(i.size() as u8);
        bc.extend_from_slice(&(no.min(u16::MAX as usize) as u16).to_ne_bytes());
        bc.extend_from_slice(&i.args);
    }
    bc
}

#[cfg(any(test, feature = "fuzzing"))]
/// What the kernel's `struct inet_diag_entry` holds about a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    /// Local and peer address in network order; an IPv4 address uses the first 4 bytes.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub ifindex: u32,
    pub mark: u32,
    pub userlocks: u16,
    pub cgroup_id: u64,
}

#[cfg(any(test, feature = "fuzzing"))]
impl Entry {
    /// The entry of an inet socket (`None` for UNIX sockets). The record lacks the mark, the bind locks and the
    /// cgroup: mark and cgroup read as 0, and the port as bound explicitly (so `AUTO` is false).
    pub fn of(s: &Socket) -> Option<Entry> {
        let (Endpoint::Inet { ip: lip, port: sport }, Endpoint::Inet { ip: pip, port: dport }) = (&s.local, &s.peer)
        else {
            return None;
        };
        let v6 = match s.family {
            Family::Inet => false,
            Family::Inet6 => true,
            _ => return None,
        };
        let bytes = |ip: IpAddr| -> [u8; 16] {
            let mut b = [0u8; 16];
            match (v6, ip) {
                (true, IpAddr::V6(a)) => b = a.octets(),
                (true, IpAddr::V4(a)) => b = a.to_ipv6_mapped().octets(),
                (false, IpAddr::V4(a)) => b[..4].copy_from_slice(&a.octets()),
                (false, IpAddr::V6(a)) => b[..4].copy_from_slice(&a.to_ipv4_mapped().map_or([0; 4], |v| v.octets())),
            }
            b
        };
        Some(Entry {
            family: if v6 { AF_INET6 } else { AF_INET },
            saddr: bytes(*lip),
            daddr: bytes(*pip),
            sport: *sport,
            dport: *dport,
            ifindex: s.ifindex.unwrap_or(0),
            mark: super::socket_mark(s),
            userlocks: SOCK_BINDPORT_LOCK,
            cgroup_id: s.extra.as_deref().and_then(|x| x.details.as_deref()).and_then(|d| d.cgroup_id).unwrap_or(0),
        })
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// Run `bc` on `s` as the kernel would: true when the socket is kept. UNIX sockets are always kept (the kernel
/// never applies inet bytecode to them). A malformed program (one [`audit`] rejects) may give any answer, but
/// never panics or loops.
pub fn run(bc: &[u8], s: &Socket) -> bool {
    Entry::of(s).is_none_or(|e| run_entry(bc, &e))
}

#[cfg(any(test, feature = "fuzzing"))]
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[cfg(any(test, feature = "fuzzing"))]
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(any(test, feature = "fuzzing"))]
/// The kernel's `bitstring_match` over byte strings.
fn bitstring_match(a: &[u8], b: &[u8], bits: usize) -> bool {
    let (bytes, rest) = (bits / 8, bits % 8);
    match (a.get(..bytes), b.get(..bytes)) {
        (Some(x), Some(y)) if x == y => {}
        _ => return false,
    }
    rest == 0 || matches!((a.get(bytes), b.get(bytes)), (Some(x), Some(y)) if (x ^ y) & (0xffu8 << (8 - rest)) == 0)
}

#[cfg(any(test, feature = "fuzzing"))]
/// `inet_diag_bc_run` on one entry.
pub fn run_entry(bc: &[u8], e: &Entry) -> bool {
    let mut off = 0usize;
    while off < bc.len() {
        let Some(yes) = test(bc, off, e) else { return false };
        let step = if yes { bc[off + 1] as usize } else { u16_at(bc, off + 2).unwrap_or(0) as usize };
        if step == 0 {
            return false;
        }
        off += step;
    }
    off == bc.len()
}

#[cfg(any(test, feature = "fuzzing"))]
/// The outcome of the op at `off`; `None` when its arguments run past the program.
fn test(bc: &[u8], off: usize, e: &Entry) -> Option<bool> {
    let code = *bc.get(off)?;
    u16_at(bc, off + 2)?;
    let arg = off + 4;
    Some(match code {
        INET_DIAG_BC_JMP => false,
        INET_DIAG_BC_S_GE => e.sport >= u16_at(bc, arg + 2)?,
        INET_DIAG_BC_S_LE => e.sport <= u16_at(bc, arg + 2)?,
        INET_DIAG_BC_D_GE => e.dport >= u16_at(bc, arg + 2)?,
        INET_DIAG_BC_D_LE => e.dport <= u16_at(bc, arg + 2)?,
        INET_DIAG_BC_S_EQ => e.sport == u16_at(bc, arg + 2)?,
        INET_DIAG_BC_D_EQ => e.dport == u16_at(bc, arg + 2)?,
        INET_DIAG_BC_AUTO => e.userlocks & SOCK_BINDPORT_LOCK == 0,
        INET_DIAG_BC_S_COND | INET_DIAG_BC_D_COND => {
            let local = code == INET_DIAG_BC_S_COND;
            let (family, plen) = (*bc.get(arg)?, usize::from(*bc.get(arg + 1)?));
            let port = u32_at(bc, arg + 4)? as i32;
            let cond_addr = bc.get(arg + 8..).unwrap_or(&[]);
            let addr = if local { &e.saddr } else { &e.daddr };
            if port != -1 && port != i32::from(if local { e.sport } else { e.dport }) {
                false
            } else if family != AF_UNSPEC && family != e.family {
                e.family == AF_INET6
                    && family == AF_INET
                    && addr[..10] == [0; 10]
                    && addr[10..12] == [0xff, 0xff]
                    && bitstring_match(&addr[12..], cond_addr, plen)
            } else {
                plen == 0 || bitstring_match(addr, cond_addr, plen)
            }
        }
        INET_DIAG_BC_DEV_COND => u32_at(bc, arg)? == e.ifindex,
        INET_DIAG_BC_MARK_COND => e.mark & u32_at(bc, arg + 4)? == u32_at(bc, arg)?,
        INET_DIAG_BC_CGROUP_COND => u64::from_ne_bytes(bc.get(arg..arg + 8)?.try_into().ok()?) == e.cgroup_id,
        _ => true, // NOP, and codes the kernel would have refused in the audit
    })
}

#[cfg(any(test, feature = "fuzzing"))]
/// `valid_cc`: some op on the `yes` chain from the start has exactly `cc` bytes after it.
fn valid_cc(bc: &[u8], cc: usize) -> bool {
    let mut off = 0usize;
    loop {
        let rem = bc.len() - off;
        if cc >= rem {
            return cc == rem;
        }
        match bc.get(off + 1).map(|&y| y as usize) {
            Some(y) if y >= 4 && y % 4 == 0 && y <= rem => off += y,
            _ => return false,
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// Check `bc` as the kernel's `inet_diag_bc_audit` does before running it; `net_admin` says whether the
/// requester has CAP_NET_ADMIN (needed for `MARK_COND`). The error names the offending op and its offset.
pub fn audit(bc: &[u8], net_admin: bool) -> Result<(), String> {
    if bc.len() < 4 {
        return Err("EINVAL: program shorter than one op".into());
    }
    let mut off = 0usize;
    while off < bc.len() {
        let len = bc.len() - off;
        let bad = |why: &str| Err(format!("EINVAL: op at byte {off}: {why}"));
        let (Some(&code), Some(&yes), Some(no)) = (bc.get(off), bc.get(off + 1), u16_at(bc, off + 2)) else {
            return bad("truncated");
        };
        let (yes, no) = (yes as usize, no as usize);
        let mut min_len = 4;
        match code {
            INET_DIAG_BC_S_COND | INET_DIAG_BC_D_COND => {
                min_len += 8;
                let addr_len = match bc.get(off + 4) {
                    Some(&AF_UNSPEC) => 0,
                    Some(&AF_INET) => 4,
                    Some(&AF_INET6) => 16,
                    _ => return bad("bad host condition family"),
                };
                min_len += addr_len;
                if len < min_len || usize::from(bc[off + 5]) > 8 * addr_len {
                    return bad("bad host condition");
                }
            }
            INET_DIAG_BC_DEV_COND => min_len += 4,
            INET_DIAG_BC_S_EQ | INET_DIAG_BC_S_GE | INET_DIAG_BC_S_LE | INET_DIAG_BC_D_EQ | INET_DIAG_BC_D_GE
            | INET_DIAG_BC_D_LE => min_len += 4,
            INET_DIAG_BC_MARK_COND if !net_admin => return Err(format!("EPERM: MARK_COND at byte {off}")),
            INET_DIAG_BC_MARK_COND | INET_DIAG_BC_CGROUP_COND => min_len += 8,
            INET_DIAG_BC_AUTO | INET_DIAG_BC_JMP | INET_DIAG_BC_NOP => {}
            _ => return bad("unknown op code"),
        }
        if len < min_len {
            return bad("arguments run past the end");
        }
        if code != INET_DIAG_BC_NOP {
            if no < min_len || no > len + 4 || no % 4 != 0 {
                return bad("bad 'no' offset");
            }
            if no < len && !valid_cc(bc, len - no) {
                return bad("'no' does not land on an op");
            }
        }
        if yes < min_len || yes > len + 4 || yes % 4 != 0 {
            return bad("bad 'yes' offset");
        }
        off += yes;
    }
    if off == bc.len() { Ok(()) } else { Err("EINVAL: the last op runs past the end".into()) }
}

#[cfg(any(test, feature = "fuzzing"))]
/// One line per op (`off: CODE yes no args`), for debugging and tests.
pub fn disassemble(bc: &[u8]) -> String {
    const NAMES: [&str; 14] = [
        "NOP",
        "JMP",
        "S_GE",
        "S_LE",
        "D_GE",
        "D_LE",
        "AUTO",
        "S_COND",
        "D_COND",
        "DEV_COND",
        "MARK_COND",
        "S_EQ",
        "D_EQ",
        "CGROUP_COND",
    ];
    let mut out = String::new();
    let mut off = 0;
    while off + 4 <= bc.len() {
        let (code, yes) = (bc[off], bc[off + 1] as usize);
        let no = u16_at(bc, off + 2).unwrap_or(0);
        let name = NAMES.get(code as usize).copied().unwrap_or("?");
        let args = bc.get(off + 4..off + yes.max(4)).unwrap_or(&[]);
        out.push_str(&format!("{off}: {name} yes={yes} no={no} {args:?}\n"));
        off += yes.max(4);
    }
    out
}
