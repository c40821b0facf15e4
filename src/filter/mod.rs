//! Socket filters: the expression tree that filter inputs turn into, its userspace evaluator, and the
//! parsers for the simple flag values (`--port`, `--sport`, `--dport`, `--state`).

use std::fmt;

use crate::model::{Endpoint, Socket, State, StateSet};
use crate::services::Services;

/// Which end of a socket a port test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Local,
    Peer,
    Either,
}

/// An inclusive port range; a single port is `lo == hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn contains(self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi { write!(f, "{}", self.lo) } else { write!(f, "{}-{}", self.lo, self.hi) }
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
}

impl Expr {
    /// Evaluate against one record.
    pub fn matches(&self, s: &Socket) -> bool {
        match self {
            Expr::True => true,
            Expr::And(v) => v.iter().all(|e| e.matches(s)),
            Expr::Or(v) => v.iter().any(|e| e.matches(s)),
            Expr::Not(e) => !e.matches(s),
            Expr::State(set) => set.contains(s.state),
            Expr::Port { end, range } => {
                let port = |e: &Endpoint| e.port().is_some_and(|p| range.contains(p));
                match end {
                    End::Local => port(&s.local),
                    End::Peer => port(&s.peer),
                    End::Either => port(&s.local) || port(&s.peer),
                }
            }
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
}

/// Parse a port value: a number (`443`), a service name (`https`, from `/etc/services`) or a range
/// (`8000-8100`, ends may be names too). The error says what was wrong with the value.
pub fn parse_port_spec(text: &str, services: &Services) -> Result<PortRange, String> {
    let one = |t: &str| -> Result<u16, String> {
        let t = t.trim();
        if t.is_empty() {
            return Err("empty port".into());
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse::<u16>().map_err(|_| format!("port {t} is out of range (0-65535)"));
        }
        services.port(t, None).ok_or_else(|| format!("'{t}' is neither a port number nor a known service name"))
    };
    let t = text.trim().trim_start_matches(':');
    let range = match t.split_once('-') {
        Some((a, b)) if !a.is_empty() => PortRange { lo: one(a)?, hi: one(b)? },
        _ => {
            let p = one(t)?;
            PortRange { lo: p, hi: p }
        }
    };
    if range.lo > range.hi {
        return Err(format!("range {}-{} is empty (start above end)", range.lo, range.hi));
    }
    Ok(range)
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
mod tests;
