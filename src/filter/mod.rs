//! Socket filters: the expression tree that filter inputs turn into, its userspace evaluator, and the
//! parser of `--state` values. Port values, in filters and flags alike, are parsed by [`crate::ports::range`].
//!
//! The `ss` filter language lives in the submodules: [`lexer`] (tokens), [`parser`] (text to [`Expr`] plus a
//! state mask, with caret-marked [`FilterError`]s) and [`bytecode`] (the kernel's `INET_DIAG_REQ_BYTECODE`:
//! compiler and a userspace interpreter of the kernel's semantics).
//!
//! # Grammar
//!
//! Command-line words are joined with single spaces first, as `ss` does; error positions refer to that string.
//!
//! ```text
//! filter    := selector* expr?
//! selector  := ("state" | "exclude" | "excl") STATE      STATE: a name or alias of parse_state
//! expr      := unary (("and" | "&&" | "&" | "or" | "||" | "|")? unary)...   juxtaposition is "and"
//! unary     := ("not" | "!") unary | "(" expr ")" | term
//! term      := ("sport" | "dport" | "port") OP? PORT
//!            | ("src" | "dst") ("=" | "!=")? HOST
//!            | "dev" ("=" | "!=")? IFNAME | "fwmark" ("=" | "!=")? VALUE[/MASK]
//!            | "proto" ("=" | "!=")? (tcp | udp | unix | raw | sctp | mptcp)
//!            | "uid" OP? N | "path" ("=" | "!=")? GLOB
//!            | "process" ("=" | "!=")? GLOB | "pid" ("=" | "!=")? N
//! OP        := "=" "==" "eq" | "!=" "ne" "neq" | "<" "lt" | ">" "gt" | "<=" "le" "leq" | ">=" "ge" "geq"
//! PORT      := [":"] (NUMBER | SERVICE | LO-HI | "*")
//! HOST      := "*" | ADDR[/PLEN][:PORT] | [V6ADDR][/PLEN][:PORT] | V6ADDR/PLEN[:PORT] | *:PORT | unix:GLOB
//! ```
//!
//! `not` binds tightest; `and` and `or` bind equally and group from the left, exactly as in `ss`'s yacc grammar: `a or
//! b and c` means `(a or b) and c` (use parentheses to say otherwise). State selectors go before the expression, as in
//! `ss`. Keywords and word operators are case-insensitive; a backslash makes the next character literal (`\(` in a
//! path), and an escaped word is never an operator. As in `ss`: `src 127.0.0.1` matches any port, `sport = :*` matches
//! everything, an IPv4 prefix also matches IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) while an IPv6 prefix never
//! matches an IPv4 socket, IPv4 addresses may be abbreviated (`10/8`), `src unix:GLOB` / `dst unix:GLOB` match UNIX
//! socket names with `fnmatch` rules, case-insensitively, and `sport >= :1024` etc. compare ports.
//!
//! sockscope extras: `port OP PORT` (either end), port ranges (`sport 8000-8100`, `dport = :8000-8100`,
//! `src 10.0.0.1:8000-8100`), `proto NAME`, `uid OP N`, `path GLOB` (the local UNIX name, same as
//! `src unix:GLOB`), `!=` after `src`/`dst`/`proto`/`path`, netmask prefixes (`/255.0.0.0`),
//! bracketed IPv6 prefixes (`[fe80::]/10`), and `process GLOB` / `pid N` (the holder, resolved against the `/proc`
//! scan). `cgroup PATH` matches sockets of that cgroup v2 (relative to its mount), as in ss; `autobound` is
//! reported as not supported.

pub mod bind;
pub mod bytecode;
pub mod lexer;
pub mod lookup;
pub mod parser;

use std::net::IpAddr;

use crate::model::{Endpoint, Proto, Socket, State, StateSet};
use crate::ports::{PortRange, PortSpec};

pub use bind::{BindError, Bound, Have, Needs, bind};
pub use parser::{Lookup, NoLookup, Parsed, SystemLookup, UntrustedLookup, join_args, parse};

/// Which end of a socket a port test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Local,
    Peer,
    Either,
}

impl End {
    /// Apply `f` to the socket end(s) this selects; `Either` is true when either end passes.
    fn test(self, s: &Socket, f: impl Fn(&Endpoint) -> bool) -> bool {
        match self {
            End::Local => f(&s.local),
            End::Peer => f(&s.peer),
            End::Either => f(&s.local) || f(&s.peer),
        }
    }
}

/// A filter expression over one socket record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    True,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// The port at `end` lies in `range`. Never true for UNIX sockets, which have no ports.
    Port {
        end: End,
        range: PortRange,
    },
    /// The socket's state is in the set.
    State(StateSet),
    /// Never true (an empty port range, `sport < :0`).
    False,
    /// `src`/`dst ADDR[/PLEN][:PORT]`: the kernel's `S_COND`/`D_COND` host condition. The address at `end` is in
    /// `prefix` (see [`Prefix::matches`]) and, when `port` is given, the port there is `port`. Never true for
    /// UNIX sockets.
    Host {
        end: End,
        prefix: Prefix,
        port: Option<u16>,
    },
    /// `dev NAME`: the socket is bound to this interface index (`SO_BINDTODEVICE`); 0 means "none".
    Dev(u32),
    /// `fwmark = VALUE/MASK`: `mark & mask == value`, the kernel's `MARK_COND`.
    Mark {
        value: u32,
        mask: u32,
    },
    /// `cgroup PATH`: the socket's cgroup v2 id (the kernel's `CGROUP_COND`; needs the details dump).
    Cgroup(u64),
    /// `proto NAME`.
    Proto(Proto),
    /// `uid OP N`: the owner uid lies in `lo..=hi`. Never true when the source does not give the uid.
    Uid {
        lo: u32,
        hi: u32,
    },
    /// `src unix:GLOB` / `path GLOB`: the UNIX socket name at `end` (`@name` for abstract names, empty when
    /// unbound) matches the `fnmatch`-style glob, ignoring ASCII case as `ss` does. Never true for other sockets.
    UnixPath {
        end: End,
        glob: String,
    },
    /// `process GLOB`: a process whose command name matches holds the socket. Bound by [`bind`] against the
    /// command's process scan.
    Process(String),
    /// `pid N`: process N holds the socket (bound like [`Expr::Process`]).
    Pid(u32),
    /// `netns NAME|INODE`: the socket lives in that network namespace. Bound by [`bind`] against the
    /// snapshot's namespace table.
    NetnsName(String),
    /// `container GLOB`, `unit GLOB`, `cgroup GLOB`: who is behind the socket (see
    /// [`crate::collect::workloads`]). Bound by [`bind`].
    Workload {
        term: WorkloadTerm,
        pattern: String,
    },
}

/// Which part of a workload a filter term tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadTerm {
    /// The container's name, id (or its prefix), pod, `namespace/pod`, or `runtime:name` label, as a glob.
    Container,
    /// The systemd unit, as a glob.
    Unit,
    /// The cgroup path: that cgroup or one below it.
    Cgroup,
}

impl WorkloadTerm {
    /// Does `w` match `pattern`?
    pub fn test(self, pattern: &str, w: &crate::model::netns::Workload) -> bool {
        match self {
            WorkloadTerm::Container => w.container.as_ref().is_some_and(|c| {
                let pod = match (&c.namespace, &c.pod) {
                    (Some(ns), Some(p)) => Some(format!("{ns}/{p}")),
                    _ => None,
                };
                [c.name.as_deref(), c.pod.as_deref(), pod.as_deref(), Some(c.label().as_str())]
                    .into_iter()
                    .flatten()
                    .any(|t| glob_match(pattern, t))
                    || (!c.id.is_empty()
                        && (glob_match(pattern, &c.id) || (pattern.len() >= 4 && c.id.starts_with(pattern))))
            }),
            WorkloadTerm::Unit => w.unit.as_deref().is_some_and(|u| glob_match(pattern, u)),
            WorkloadTerm::Cgroup => glob_match(pattern, &w.cgroup),
        }
    }
}

/// An address prefix, as in `src 10.0.0.0/8`; a plain address has the full length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// Whether `ip` is in the prefix, with the kernel's `inet_diag` rules: same family, the first `len` bits equal;
    /// an IPv4 prefix also matches an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) on its embedded IPv4 address;
    /// an IPv6 prefix never matches an IPv4 address (even `::ffff:0:0/96`).
    pub fn matches(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => bits_equal(&p.octets(), &a.octets(), self.len),
            (IpAddr::V6(p), IpAddr::V6(a)) => bits_equal(&p.octets(), &a.octets(), self.len),
            (IpAddr::V4(p), IpAddr::V6(a)) => {
                let o = a.octets();
                o[..10] == [0; 10] && o[10..12] == [0xff, 0xff] && bits_equal(&p.octets(), &o[12..], self.len)
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// The kernel's `bitstring_match`: the first `bits` bits of `a` and `b` are equal.
fn bits_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits).min(a.len() * 8).min(b.len() * 8);
    let (bytes, rest) = (bits / 8, bits % 8);
    if a[..bytes] != b[..bytes] {
        return false;
    }
    rest == 0 || (a[bytes] ^ b[bytes]) & (0xffu8 << (8 - rest)) == 0
}

/// The socket's firewall mark. netlink reports it (`INET_DIAG_MARK`) only to CAP_NET_ADMIN, and then the
/// kernel also accepts `fwmark` filters; where it is unknown it reads as 0, as `ss` assumes.
pub(crate) fn socket_mark(s: &Socket) -> u32 {
    s.mark.unwrap_or(0)
}

/// `fnmatch(pattern, text, FNM_CASEFOLD)` without `FNM_PATHNAME`/`FNM_PERIOD`: `*` and `?` also match `/` and
/// a leading dot; `[...]` classes with `!`/`^` negation and ranges; a backslash makes the next character literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' if class_match(&p, pi, t[ti]).is_some() => {
                    if let Some((true, next)) = class_match(&p, pi, t[ti]) {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    let (lit, width) = if c == '\\' && pi + 1 < p.len() { (p[pi + 1], 2) } else { (c, 1) };
                    if lit.eq_ignore_ascii_case(&t[ti]) {
                        pi += width;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Match `c` against the bracket expression starting at `p[start] == '['`: `Some((matched, index after ']'))`,
/// or `None` when the bracket is not closed (then `[` is an ordinary character).
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let (lc, uc) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
    let mut hit = false;
    let mut first = true;
    loop {
        let mut lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&n| n != ']') {
            hi = p[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *p.get(i)?;
                i += 1;
            }
        }
        if (lo..=hi).contains(&lc) || (lo..=hi).contains(&uc) {
            hit = true;
        }
    }
}

impl Expr {
    /// Evaluate the terms about the record alone (binding terms are false here: only [`bind`]'s [`Bound`]
    /// evaluates them). For the binder, the bytecode interpreter's tests and the fuzz harnesses.
    pub(crate) fn matches_record(&self, s: &Socket) -> bool {
        match self {
            Expr::True => true,
            Expr::And(v) => v.iter().all(|e| e.matches_record(s)),
            Expr::Or(v) => v.iter().any(|e| e.matches_record(s)),
            Expr::Not(e) => !e.matches_record(s),
            Expr::State(set) => set.contains(s.state),
            Expr::Port { end, range } => end.test(s, |e| e.port().is_some_and(|p| range.contains(p))),
            Expr::False => false,
            Expr::Host { end, prefix, port } => end.test(s, |e| match e {
                Endpoint::Inet { ip, port: p } => port.is_none_or(|want| want == *p) && prefix.matches(*ip),
                _ => false,
            }),
            Expr::Dev(index) => s.ifindex.unwrap_or(0) == *index,
            Expr::Mark { value, mask } => socket_mark(s) & mask == *value,
            Expr::Cgroup(id) => {
                s.extra.as_deref().and_then(|x| x.details.as_deref()).and_then(|d| d.cgroup_id) == Some(*id)
            }
            Expr::Proto(p) => s.proto == *p,
            Expr::Uid { lo, hi } => s.uid.is_some_and(|u| (*lo..=*hi).contains(&u)),
            Expr::Process(_) | Expr::Pid(_) | Expr::NetnsName(_) | Expr::Workload { .. } => false,
            Expr::UnixPath { end, glob } => end.test(s, |e| match e {
                Endpoint::Unix { name, .. } => {
                    glob_match(glob, &name.as_ref().map(|n| n.display()).unwrap_or_default())
                }
                _ => false,
            }),
        }
    }

    /// `PORT` at `end` (`sport :PORT`, `--sport PORT`): `*` is every socket, as in `ss`.
    pub fn port(end: End, spec: PortSpec) -> Expr {
        match spec {
            PortSpec::Any => Expr::True,
            PortSpec::Range(range) => Expr::Port { end, range },
        }
    }

    /// `a and b`, flattening and dropping `True`.
    pub fn and(self, other: Expr) -> Expr {
        match (self, other) {
            (Expr::True, e) | (e, Expr::True) => e,
            (Expr::And(mut a), Expr::And(b)) => {
                a.extend(b);
                Expr::And(a)
            }
            (Expr::And(mut a), e) => {
                a.push(e);
                Expr::And(a)
            }
            (a, b) => Expr::And(vec![a, b]),
        }
    }

    /// The disjunction of `items`, or `True` when there are none.
    pub fn any_of(mut items: Vec<Expr>) -> Expr {
        match items.len() {
            0 => Expr::True,
            1 => items.remove(0),
            _ => Expr::Or(items),
        }
    }

    pub fn is_true(&self) -> bool {
        matches!(self, Expr::True)
    }

    /// `a or b`, flattening and dropping `False`.
    pub fn or(self, other: Expr) -> Expr {
        match (self, other) {
            (Expr::False, e) | (e, Expr::False) => e,
            (Expr::Or(mut a), Expr::Or(b)) => {
                a.extend(b);
                Expr::Or(a)
            }
            (Expr::Or(mut a), e) => {
                a.push(e);
                Expr::Or(a)
            }
            (e, Expr::Or(mut b)) => {
                b.insert(0, e);
                Expr::Or(b)
            }
            (a, b) => Expr::Or(vec![a, b]),
        }
    }

    /// `not e`, folding constants and double negation.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        match self {
            Expr::True => Expr::False,
            Expr::False => Expr::True,
            Expr::Not(e) => *e,
            e => Expr::Not(Box::new(e)),
        }
    }
}

/// An error in a filter expression: `pos..pos + len` is the byte span of the offending token in the (joined)
/// filter text; `len` is at least 1, and `pos == input.len()` means "at the end".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct FilterError {
    pub pos: usize,
    pub len: usize,
    pub msg: String,
}

impl FilterError {
    pub fn new(pos: usize, len: usize, msg: impl Into<String>) -> FilterError {
        FilterError { pos, len: len.max(1), msg: msg.into() }
    }

    /// The message, then the filter on one line with a caret line under the offending token:
    ///
    /// ```text
    /// expected a port after 'sport =', found 'foo'
    ///   sport = foo
    ///           ^^^
    /// ```
    pub fn render(&self, input: &str) -> String {
        let line: String = input.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let pos = floor_char_boundary(input, self.pos);
        let end = floor_char_boundary(input, self.pos.saturating_add(self.len)).max(pos);
        let col = input[..pos].chars().count();
        let width = input[pos..end].chars().count().max(1);
        let msg = crate::model::text::escape(&self.msg);
        format!("{msg}\n  {}\n  {}{}", line.trim_end(), " ".repeat(col), "^".repeat(width))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The state names and aliases `ss` accepts, with what they stand for.
pub const STATE_NAMES: &[(&str, &str)] = &[
    ("established", "ESTAB"),
    ("syn-sent", "SYN-SENT"),
    ("syn-recv", "SYN-RECV (also syn-rcv)"),
    ("fin-wait-1", "FIN-WAIT-1"),
    ("fin-wait-2", "FIN-WAIT-2"),
    ("time-wait", "TIME-WAIT"),
    ("closed", "TCP CLOSE, i.e. unconnected UDP/UNIX (also close, unconnected)"),
    ("close-wait", "CLOSE-WAIT"),
    ("last-ack", "LAST-ACK"),
    ("listening", "LISTEN (also listen)"),
    ("closing", "CLOSING"),
    ("bound-inactive", "TCP bound, neither listening nor connected (Linux 6.5+, netlink only)"),
    ("all", "every state above but bound-inactive"),
    ("connected", "all but listening and closed"),
    ("synchronized", "connected, but not syn-sent"),
    ("bucket", "syn-recv and time-wait (kept as minisockets)"),
    ("big", "all but syn-recv and time-wait"),
];

/// Parse one state name or alias (case-insensitive), as `ss`'s `state` keyword does.
pub fn parse_state(name: &str) -> Result<StateSet, String> {
    let all = StateSet::ALL.0;
    let bits = |s: &[State]| StateSet::of(s).0;
    let set = match name.trim().to_ascii_lowercase().as_str() {
        "established" | "estab" => bits(&[State::ESTABLISHED]),
        "syn-sent" => bits(&[State::SYN_SENT]),
        "syn-recv" | "syn-rcv" => bits(&[State::SYN_RECV]),
        "fin-wait-1" => bits(&[State::FIN_WAIT1]),
        "fin-wait-2" => bits(&[State::FIN_WAIT2]),
        "time-wait" => bits(&[State::TIME_WAIT]),
        "closed" | "close" | "unconnected" | "unconn" => bits(&[State::CLOSE]),
        "close-wait" => bits(&[State::CLOSE_WAIT]),
        "last-ack" => bits(&[State::LAST_ACK]),
        "listening" | "listen" => bits(&[State::LISTEN]),
        "closing" => bits(&[State::CLOSING]),
        "new-syn-recv" => bits(&[State::NEW_SYN_RECV]),
        "bound-inactive" => bits(&[State::BOUND_INACTIVE]),
        "all" => all,
        "connected" => all & !bits(&[State::CLOSE, State::LISTEN]),
        "synchronized" => all & !bits(&[State::CLOSE, State::LISTEN, State::SYN_SENT]),
        "bucket" => bits(&[State::SYN_RECV, State::TIME_WAIT]),
        "big" => all & !bits(&[State::SYN_RECV, State::TIME_WAIT]),
        _ => {
            let names: Vec<&str> = STATE_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(format!("unknown state '{name}' (known: {})", names.join(", ")));
        }
    };
    Ok(StateSet(set))
}

#[cfg(test)]
mod bytecode_tests;
#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod tests;
