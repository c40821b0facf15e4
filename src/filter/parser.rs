//! The filter parser: `ss` filter text (state selectors, then a boolean expression) to [`Parsed`], by recursive
//! descent over the [`lexer`](super::lexer)'s tokens. The grammar is in the [module doc](super).
//!
//! Parsing is pure: interface names and host names are looked up through a [`Lookup`] the caller passes
//! ([`SystemLookup`] asks the system, [`NoLookup`] knows nothing, and any `Fn(&str) -> Option<u32>` is an
//! interface table).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::lexer::{CmpOp, Tok, Token, lex};
pub use super::lookup::{Lookup, NoLookup, SystemLookup, UntrustedLookup};
use super::{End, Expr, FilterError, Prefix, WorkloadTerm, parse_state};
use crate::model::{Proto, StateSet};
use crate::ports::range::{self, PortError, PortRange, PortSpec};
use crate::ports::services::Services;

/// A parsed filter: the state mask its `state`/`exclude` selectors set (`None` when it has none), and the
/// boolean expression (`Expr::True` when there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub states: Option<StateSet>,
    pub expr: Expr,
}

impl Default for Parsed {
    /// No selectors, no expression: everything.
    fn default() -> Self {
        Parsed { states: None, expr: Expr::True }
    }
}

/// Join command-line words the way `ss` does (single spaces); error positions refer to the result.
pub fn join_args<S: AsRef<str>>(args: &[S]) -> String {
    args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}

/// Parse a filter. Port names come from `services`, interface and host names from `lookup`.
pub fn parse(input: &str, services: &Services, lookup: &dyn Lookup) -> Result<Parsed, FilterError> {
    let toks = lex(input)?;
    let mut p = Parser { input, toks, i: 0, depth: 0, services, lookup };
    let states = p.selectors()?;
    let expr = if p.peek().is_none() { Expr::True } else { p.or_expr()? };
    if let Some(t) = p.peek() {
        let msg = match t.tok {
            Tok::RParen => "unmatched ')'".to_string(),
            _ => format!("unexpected '{}' (a comparison follows a keyword such as sport or src)", p.raw(t)),
        };
        return Err(FilterError::new(t.pos, t.len, msg));
    }
    Ok(Parsed { states, expr })
}

/// How deeply parentheses may nest. `ss` stops far earlier in practice; the limit keeps the parser and every
/// walk over the tree it returns (evaluator, bytecode compiler, drop) within a small, fixed stack.
pub const MAX_DEPTH: usize = 100;

const TERMS: &str = "src, dst, sport, dport, port, dev, fwmark, proto, uid, path, process, pid, netns, container, unit, cgroup, 'not' or '('";

struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    i: usize,
    /// Parentheses open at the current token.
    depth: usize,
    services: &'a Services,
    lookup: &'a dyn Lookup,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += usize::from(t.is_some());
        t
    }

    /// The token as typed.
    fn raw(&self, t: &Token) -> &str {
        &self.input[t.pos..t.pos + t.len]
    }

    /// A keyword: an unescaped word, lower-cased.
    fn keyword(t: &Token) -> Option<String> {
        match &t.tok {
            Tok::Word { text, escaped: false } => Some(text.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// "expected WHAT after 'CONTEXT', found 'TOKEN'" at the current token. The context is the input from byte
    /// `from` to the end of the last token taken, or that last token alone.
    fn expected(&self, what: &str, from: Option<usize>) -> FilterError {
        let after = match self.i.checked_sub(1).and_then(|j| self.toks.get(j)) {
            Some(prev) => {
                let start = from.unwrap_or(prev.pos);
                format!(" after '{}'", &self.input[start..prev.pos + prev.len])
            }
            None => String::new(),
        };
        match self.peek() {
            Some(t) => FilterError::new(t.pos, t.len, format!("expected {what}{after}, found '{}'", self.raw(t))),
            None => FilterError::new(self.input.len(), 1, format!("expected {what}{after}, found end of input")),
        }
    }

    /// Leading `state NAME` / `exclude NAME` selectors, as `ss` reads them before the expression.
    fn selectors(&mut self) -> Result<Option<StateSet>, FilterError> {
        let mut states: Option<StateSet> = None;
        while let Some(kw) = self.peek().and_then(Self::keyword) {
            let include = match kw.as_str() {
                "state" => true,
                "exclude" | "excl" => false,
                _ => break,
            };
            let kw_tok = self.next().expect("peeked");
            let Some(name) = self.peek().filter(|t| t.word().is_some()).cloned() else {
                return Err(self.expected("a state name", Some(kw_tok.pos)));
            };
            self.next();
            let set = parse_state(name.word().unwrap_or("")).map_err(|e| FilterError::new(name.pos, name.len, e))?;
            let base = states.unwrap_or(if include { StateSet::EMPTY } else { StateSet::ALL });
            states = Some(if include { base.union(set) } else { StateSet(base.0 & !set.0) });
        }
        Ok(states)
    }

    /// `and` and `or` bind equally and group from the left, as in ss's yacc grammar: `a or b and c` is
    /// `(a or b) and c`.
    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        let mut e = self.unary()?;
        loop {
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Or) => {
                    self.next();
                    e = e.or(self.unary()?);
                }
                Some(Tok::And) => {
                    self.next();
                    e = e.and(self.unary()?);
                }
                Some(Tok::LParen | Tok::Not | Tok::Word { .. }) => e = e.and(self.unary()?),
                _ => return Ok(e),
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        // A run of `not`s is counted, not recursed into: `!!!!x` is `x`, however long the run.
        let mut negated = false;
        while matches!(self.peek().map(|t| &t.tok), Some(Tok::Not)) {
            self.next();
            negated = !negated;
        }
        let Some(t) = self.peek().cloned() else { return Err(self.expected("a filter term", None)) };
        let e = match t.tok {
            Tok::LParen => {
                if self.depth >= MAX_DEPTH {
                    let msg = format!("parentheses nest deeper than {MAX_DEPTH} levels here");
                    return Err(FilterError::new(t.pos, 1, msg));
                }
                self.next();
                self.depth += 1;
                let e = self.or_expr()?;
                self.depth -= 1;
                match self.peek() {
                    Some(Token { tok: Tok::RParen, .. }) => {
                        self.next();
                        e
                    }
                    Some(_) => return Err(self.expected("')' or another term", None)),
                    None => return Err(FilterError::new(t.pos, 1, "this '(' is never closed")),
                }
            }
            Tok::Word { .. } => self.term()?,
            _ => return Err(self.expected("a filter term", None)),
        };
        Ok(negate(e, negated))
    }

    fn term(&mut self) -> Result<Expr, FilterError> {
        let kw = self.next().expect("peeked");
        let name = Self::keyword(&kw).unwrap_or_default();
        match name.as_str() {
            "sport" => self.port_term(&kw, End::Local),
            "dport" => self.port_term(&kw, End::Peer),
            "port" => self.port_term(&kw, End::Either),
            "src" => self.host_term(&kw, End::Local),
            "dst" => self.host_term(&kw, End::Peer),
            "dev" => self.dev_term(&kw),
            "fwmark" => self.mark_term(&kw),
            "proto" => self.proto_term(&kw),
            "uid" => self.uid_term(&kw),
            "path" => {
                let ne = self.eq_or_ne(&kw)?;
                let (glob, _) = self.value(&kw, "a UNIX path glob")?;
                Ok(negate(Expr::UnixPath { end: End::Local, glob }, ne))
            }
            "state" | "exclude" | "excl" => {
                let end = self.skip_value();
                Err(FilterError::new(
                    kw.pos,
                    end - kw.pos,
                    format!(
                        "'{name}' must come before the filter expression (it sets the state mask of the whole query)"
                    ),
                ))
            }
            "process" => {
                let ne = self.eq_or_ne(&kw)?;
                let (glob, _) = self.value(&kw, "a process name or glob")?;
                Ok(negate(Expr::Process(glob), ne))
            }
            "pid" => self.pid_term(&kw),
            "netns" => {
                let ne = self.eq_or_ne(&kw)?;
                let (word, _) = self.value(&kw, "a namespace name or inode")?;
                Ok(negate(Expr::NetnsName(word), ne))
            }
            "cgroup" => self.cgroup_term(&kw),
            "container" | "unit" => {
                let ne = self.eq_or_ne(&kw)?;
                let (term, what) = match name.as_str() {
                    "container" => (WorkloadTerm::Container, "a container name, id or glob"),
                    _ => (WorkloadTerm::Unit, "a systemd unit or glob"),
                };
                let (pattern, _) = self.value(&kw, what)?;
                Ok(negate(Expr::Workload { term, pattern }, ne))
            }
            "autobound" => Err(FilterError::new(kw.pos, kw.len, format!("'{name}' filters are not supported"))),
            _ => Err(FilterError::new(
                kw.pos,
                kw.len,
                format!("unknown filter term '{}' (expected {TERMS})", self.raw(&kw)),
            )),
        }
    }

    /// `pid [=|!=] N`.
    fn pid_term(&mut self, kw: &Token) -> Result<Expr, FilterError> {
        let ne = self.eq_or_ne(kw)?;
        let (text, t) = self.value(kw, "a process id")?;
        match text.parse::<u32>().ok().filter(|_| text.bytes().all(|b| b.is_ascii_digit())) {
            Some(pid) => Ok(negate(Expr::Pid(pid), ne)),
            None => Err(self.bad_value(kw, &t, "a process id", "a number")),
        }
    }

    /// `cgroup PATH` is ss's term: the socket's own cgroup is that directory of this host's cgroup2 tree
    /// (the kernel can test it). A glob instead matches the cgroup paths of the workloads holding the
    /// sockets, as `container` and `unit` do (`cgroup '/system.slice/*'`: everything below).
    fn cgroup_term(&mut self, kw: &Token) -> Result<Expr, FilterError> {
        let ne = self.eq_or_ne(kw)?;
        let (path, at) = self.value(kw, "a cgroup path or glob")?;
        if path.split('/').any(|c| c == "..") {
            // Said before any lookup: the answer must not depend on what exists outside the tree.
            let msg = "a cgroup path is below the cgroup2 mount: '..' is not allowed in it";
            return Err(FilterError::new(at.pos, at.len, msg));
        }
        if path.contains(['*', '?', '[']) {
            return Ok(negate(Expr::Workload { term: WorkloadTerm::Cgroup, pattern: path }, ne));
        }
        match self.lookup.cgroup_id(&path) {
            Ok(id) => Ok(negate(Expr::Cgroup(id), ne)),
            Err(e) => Err(FilterError::new(
                at.pos,
                at.len,
                format!(
                    "{e}; a glob such as '{}/*' matches the cgroups of the sockets' holders",
                    path.trim_end_matches('/')
                ),
            )),
        }
    }

    /// Skip an optional operator and a value after a keyword (for error spans); returns the end byte.
    fn skip_value(&mut self) -> usize {
        if matches!(self.peek().map(|t| &t.tok), Some(Tok::Cmp(_))) {
            self.next();
        }
        if self.peek().is_some_and(|t| t.word().is_some()) {
            self.next();
        }
        let last = &self.toks[self.i - 1];
        last.pos + last.len
    }

    /// An optional comparison operator (default `=`).
    fn cmp(&mut self) -> (CmpOp, Option<Token>) {
        match self.peek() {
            Some(t @ Token { tok: Tok::Cmp(op), .. }) => {
                let (op, t) = (*op, t.clone());
                self.next();
                (op, Some(t))
            }
            _ => (CmpOp::Eq, None),
        }
    }

    /// An optional `=` or `!=`; true for `!=`. Other comparisons are an error.
    fn eq_or_ne(&mut self, kw: &Token) -> Result<bool, FilterError> {
        match self.cmp() {
            (CmpOp::Eq, _) | (_, None) => Ok(false),
            (CmpOp::Ne, _) => Ok(true),
            (_, Some(t)) => {
                let msg = format!("'{}' is not allowed here: '{}' takes '=' or '!='", self.raw(&t), self.raw(kw));
                Err(FilterError::new(t.pos, t.len, msg))
            }
        }
    }

    /// The value word after a keyword (and operator).
    fn value(&mut self, kw: &Token, what: &str) -> Result<(String, Token), FilterError> {
        match self.peek() {
            Some(t @ Token { tok: Tok::Word { text, .. }, .. }) => {
                let r = (text.clone(), t.clone());
                self.next();
                Ok(r)
            }
            _ => Err(self.expected(what, Some(kw.pos))),
        }
    }

    /// An error about the value token `t`, saying what came before it.
    fn bad_value(&self, kw: &Token, t: &Token, what: &str, why: &str) -> FilterError {
        let ctx = self.input[kw.pos..t.pos].trim_end();
        let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
        FilterError::new(t.pos, t.len, format!("expected {what} after '{ctx}', found '{}'{why}", self.raw(t)))
    }

    fn port_term(&mut self, kw: &Token, end: End) -> Result<Expr, FilterError> {
        // sockscope extras: `sport class well-known|registered|dynamic`, `dport ephemeral`.
        let port = |range: PortRange| Expr::Port { end, range };
        match self.peek().and_then(Self::keyword).as_deref() {
            Some("class") => {
                self.next();
                let (text, t) = self.value(kw, "a port class")?;
                return match crate::ports::classes::PortClass::parse(&text) {
                    Some(c) => Ok(port(c.range())),
                    None => Err(self.bad_value(kw, &t, "a port class", "known: well-known, registered, dynamic")),
                };
            }
            Some("ephemeral") => {
                let t = self.next().ok_or_else(|| self.expected("a port", None))?;
                return match self.lookup.ephemeral_range() {
                    Some(r) => Ok(port(r)),
                    None => Err(FilterError::new(t.pos, t.len, "the host's ephemeral port range could not be read")),
                };
            }
            _ => {}
        }
        let (op, op_tok) = self.cmp();
        let (text, t) = self.value(kw, "a port")?;
        let range = match self.port_value(kw, &t, &text)? {
            spec @ PortSpec::Any => {
                return match op {
                    CmpOp::Eq => Ok(Expr::port(end, spec)),
                    CmpOp::Ne => Ok(Expr::False),
                    _ => Err(self.bad_value(kw, &t, "a port number", "'*' cannot be ordered")),
                };
            }
            PortSpec::Range(r) => r,
        };
        let (lo, hi) = (range.low, range.high);
        if lo != hi && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            let op_text = op_tok.as_ref().map(|o| self.raw(o)).unwrap_or("=");
            return Err(FilterError::new(t.pos, t.len, format!("a port range cannot be compared with '{op_text}'")));
        }
        let port = |low, high| Expr::Port { end, range: PortRange::new(low, high) };
        Ok(match op {
            CmpOp::Eq => port(lo, hi),
            CmpOp::Ne => port(lo, hi).not(),
            CmpOp::Ge => port(lo, u16::MAX),
            CmpOp::Le => port(0, lo),
            CmpOp::Gt => lo.checked_add(1).map_or(Expr::False, |p| port(p, u16::MAX)),
            CmpOp::Lt => lo.checked_sub(1).map_or(Expr::False, |p| port(0, p)),
        })
    }

    /// `[:](NUMBER | SERVICE | LO-HI | *)`, by the one port parser; errors point at `t`.
    fn port_value(&self, kw: &Token, t: &Token, text: &str) -> Result<PortSpec, FilterError> {
        range::parse(text, Some(self.services)).map_err(|e| match e {
            PortError::Unknown(_) | PortError::Empty => {
                self.bad_value(kw, t, "a port", "not a number, a range or a known service name")
            }
            e => FilterError::new(t.pos, t.len, e.to_string()),
        })
    }

    fn host_term(&mut self, kw: &Token, end: End) -> Result<Expr, FilterError> {
        let ne = self.eq_or_ne(kw)?;
        let (text, t) = self.value(kw, "an address")?;
        Ok(negate(self.host_value(kw, &t, &text, end)?, ne))
    }

    /// `* | ADDR[/PLEN][:PORT] | [ADDR][/PLEN][:PORT] | *:PORT | unix:GLOB`.
    fn host_value(&self, kw: &Token, t: &Token, text: &str, end: End) -> Result<Expr, FilterError> {
        if let Some(glob) = text.strip_prefix("unix:") {
            return Ok(Expr::UnixPath { end, glob: glob.to_string() });
        }
        for fam in ["inet:", "inet6:", "link:", "netlink:", "vsock:"] {
            if text.starts_with(fam) {
                let msg = format!("address family prefixes such as '{fam}' are not supported (use -4, -6 or -x)");
                return Err(FilterError::new(t.pos, t.len, msg));
            }
        }
        let bad = |why: &str| self.bad_value(kw, t, "an address", why);
        let (addr, plen, port) = self.split_host(kw, t, text)?;
        let port = match port {
            None => None,
            Some(p) => match self.port_value(kw, t, p)? {
                PortSpec::Any => None,
                PortSpec::Range(r) => Some(r),
            },
        };
        let single = port.filter(|r| r.is_single()).map(|r| r.low);
        let range_check = match port {
            Some(range) if !range.is_single() => Expr::Port { end, range },
            _ => Expr::True,
        };
        if matches!(addr, "*" | "" | "any" | "all" | "default") && plen.is_none() {
            return Ok(match port {
                Some(range) => Expr::Port { end, range },
                None => Expr::True,
            });
        }
        let addrs = match parse_addr(addr) {
            Some(a) => vec![a],
            None if looks_like_host(addr) => self.lookup.hosts(addr).map_err(|why| bad(&why))?,
            None => Vec::new(),
        };
        if addrs.is_empty() {
            return Err(bad("not an IP address or prefix, nor a known host name"));
        }
        let mut any = Expr::False;
        for a in addrs {
            let max = if a.is_ipv4() { 32 } else { 128 };
            let len = match plen {
                None => max,
                Some(p) => parse_plen(p, a)
                    .ok_or_else(|| bad(&format!("'/{p}' is not a prefix length of 0-{max} or a contiguous netmask")))?,
            };
            any = any.or(Expr::Host { end, prefix: Prefix { addr: a, len }, port: single });
        }
        Ok(any.and(range_check))
    }

    /// Split an address text into address, prefix length and port, as ss does: brackets delimit an IPv6
    /// address; otherwise the port follows the last ':' (after the '/' when there is one).
    fn split_host<'t>(
        &self,
        kw: &Token,
        t: &Token,
        text: &'t str,
    ) -> Result<(&'t str, Option<&'t str>, Option<&'t str>), FilterError> {
        let bad = |why: &str| self.bad_value(kw, t, "an address", why);
        if let Some(rest) = text.strip_prefix('[') {
            let Some(close) = rest.find(']') else { return Err(bad("no ']' after the IPv6 address")) };
            let (inner, after) = (&rest[..close], &rest[close + 1..]);
            let (addr, mut plen) = split_once_opt(inner, '/');
            let (after_plen, port) = split_once_opt(after, ':');
            if let Some(p) = after_plen.strip_prefix('/') {
                if plen.is_some() {
                    return Err(bad("two prefix lengths"));
                }
                plen = Some(p);
            } else if !after_plen.is_empty() {
                return Err(bad("expected '/PLEN' or ':PORT' after ']'"));
            }
            return Ok((addr, plen, port));
        }
        let search_from = text.find('/').unwrap_or(0);
        let (addr_plen, port) = match text[search_from..].rfind(':') {
            Some(c) => (&text[..search_from + c], Some(&text[search_from + c + 1..])),
            None => (text, None),
        };
        let (addr, plen) = split_once_opt(addr_plen, '/');
        let port_ok = |p: &str| self.port_value(kw, t, p).is_ok();
        if plen.is_none()
            && text.parse::<Ipv6Addr>().is_ok()
            && (parse_addr(addr).is_none() || !port.is_some_and(port_ok))
        {
            return Err(bad(&format!("write IPv6 addresses in brackets: [{text}] or [{text}]:PORT")));
        }
        Ok((addr, plen, port))
    }

    fn dev_term(&mut self, kw: &Token) -> Result<Expr, FilterError> {
        let ne = self.eq_or_ne(kw)?;
        let (name, t) = self.value(kw, "an interface name")?;
        let index = self.lookup.ifindex(&name).or_else(|| parse_c_uint(&name));
        match index {
            Some(i) => Ok(negate(Expr::Dev(i), ne)),
            None => Err(self.bad_value(kw, &t, "an interface name", "no such interface")),
        }
    }

    fn mark_term(&mut self, kw: &Token) -> Result<Expr, FilterError> {
        let ne = self.eq_or_ne(kw)?;
        let what = "a mark (VALUE or VALUE/MASK)";
        let (text, t) = self.value(kw, what)?;
        let (v, m) = split_once_opt(&text, '/');
        let value = parse_c_uint(v);
        let mask = m.map_or(Some(u32::MAX), parse_c_uint);
        match (value, mask) {
            (Some(value), Some(mask)) => Ok(negate(Expr::Mark { value, mask }, ne)),
            _ => Err(self.bad_value(kw, &t, what, "numbers are decimal, 0x hex or 0 octal")),
        }
    }

    fn proto_term(&mut self, kw: &Token) -> Result<Expr, FilterError> {
        let ne = self.eq_or_ne(kw)?;
        let (name, t) = self.value(kw, "a protocol")?;
        let p = match name.to_ascii_lowercase().as_str() {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "unix" => Proto::Unix,
            "raw" => Proto::Raw,
            "sctp" => Proto::Sctp,
            "mptcp" => Proto::Mptcp,
            _ => return Err(self.bad_value(kw, &t, "a protocol", "tcp, udp, unix, raw, sctp or mptcp")),
        };
        Ok(negate(Expr::Proto(p), ne))
    }

    fn uid_term(&mut self, kw: &Token) -> Result<Expr, FilterError> {
        let (op, _) = self.cmp();
        let (text, t) = self.value(kw, "a uid")?;
        let Some(n) = text.parse::<u32>().ok().filter(|_| text.bytes().all(|b| b.is_ascii_digit())) else {
            return Err(self.bad_value(kw, &t, "a uid", "a number"));
        };
        let uid = |lo, hi| Expr::Uid { lo, hi };
        Ok(match op {
            CmpOp::Eq => uid(n, n),
            CmpOp::Ne => uid(n, n).not(),
            CmpOp::Ge => uid(n, u32::MAX),
            CmpOp::Le => uid(0, n),
            CmpOp::Gt => n.checked_add(1).map_or(Expr::False, |m| uid(m, u32::MAX)),
            CmpOp::Lt => n.checked_sub(1).map_or(Expr::False, |m| uid(0, m)),
        })
    }
}

fn negate(e: Expr, yes: bool) -> Expr {
    if yes { e.not() } else { e }
}

fn split_once_opt(s: &str, c: char) -> (&str, Option<&str>) {
    match s.split_once(c) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

/// An IPv6 address, or an IPv4 address that may be abbreviated as iproute2 allows (`10` = 10.0.0.0,
/// `192.168` = 192.168.0.0); decimal parts only.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut o = [0u8; 4];
    for (n, part) in s.split('.').enumerate() {
        if n == 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        o[n] = part.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(o)))
}

/// A prefix length (`24`) or, for IPv4, a contiguous netmask (`255.255.255.0`).
fn parse_plen(p: &str, addr: IpAddr) -> Option<u8> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) {
        return p.parse::<u8>().ok().filter(|&n| n <= max);
    }
    match (addr, p.parse::<Ipv4Addr>()) {
        (IpAddr::V4(_), Ok(mask)) => {
            let m = u32::from(mask);
            (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
        }
        _ => None,
    }
}

fn looks_like_host(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A number as C's `%i` reads it: decimal, `0x` hex or `0` octal. Digits only: no sign (`from_str_radix` would
/// take `0x+1`).
fn parse_c_uint(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}
