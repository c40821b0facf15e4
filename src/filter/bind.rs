//! Filter binding, the one step between a parsed [`Expr`] and a filter that can match: terms that name things
//! outside the socket record (`process`, `pid`, `netns`, `container`, `unit`, `cgroup GLOB`, `cgroup PATH`)
//! are bound to sets from what the command has ([`Have`]), or refused with a [`BindError`] naming the term.
//!
//! Only a [`Bound`] filter matches. It evaluates with three values: a socket whose holder cannot be known
//! (the process scan could not look into every process, and no visible one holds it: [`Owner::Hidden`])
//! neither satisfies a `process`/`pid`/`container`/`unit` term nor its negation, so `not process x` never
//! selects a socket that `x` may hold. Every command (listing, kill, watch, the dashboard, the exporter,
//! record) binds through [`bind`], so one filter text selects the same sockets everywhere.

use std::sync::Arc;

use super::{Expr, WorkloadTerm};
use crate::collect::workloads::Workloads;
use crate::hash::FastSet;
use crate::model::Socket;
use crate::model::owners::{Owner, ProcessMap};

/// What an expression needs bound before it can match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// `process`, `pid`, and the workload terms (a container's or unit's processes): the socket holders.
    pub processes: bool,
    /// `netns` and the workload terms: the snapshot's namespaces and their workloads.
    pub workloads: bool,
    /// `cgroup PATH`: each socket's cgroup id, which the dump carries only when asked (the details dump).
    pub cgroup_ids: bool,
}

impl Needs {
    pub fn any(&self) -> bool {
        self.processes || self.workloads || self.cgroup_ids
    }
}

impl Expr {
    /// What this expression needs bound (see [`bind`]).
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        self.visit(&mut |e| match e {
            Expr::Process(_) | Expr::Pid(_) => n.processes = true,
            Expr::NetnsName(_) => n.workloads = true,
            Expr::Workload { .. } => {
                n.processes = true;
                n.workloads = true;
            }
            Expr::Cgroup(_) => n.cgroup_ids = true,
            _ => {}
        });
        n
    }

    /// Call `f` on every node, parents first.
    fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit(f)),
            Expr::Not(e) => e.visit(f),
            _ => {}
        }
    }
}

/// The socket holders a command scanned: the map and whether the scan saw every process
/// (see [`ProcessMap::owner`], the one hidden-owner rule).
#[derive(Debug, Clone, Copy)]
pub struct Holders<'a> {
    pub map: &'a ProcessMap,
    pub complete: bool,
}

/// What a command has to bind a filter with. Start from [`Have::new`] and add what the command collected.
#[derive(Debug, Clone, Copy)]
pub struct Have<'a> {
    /// The command, for the refusal ("watch cannot bind ...").
    pub command: &'static str,
    pub holders: Option<Holders<'a>>,
    pub workloads: Option<&'a Workloads>,
    /// Whether the dump carries each socket's cgroup id.
    pub cgroup_ids: bool,
    /// Why the command has no holders, said in the refusal when a term needs them.
    pub no_holders: &'static str,
}

impl<'a> Have<'a> {
    pub fn new(command: &'static str) -> Have<'a> {
        Have {
            command,
            holders: None,
            workloads: None,
            cgroup_ids: false,
            no_holders: "it does not scan the processes that hold the sockets",
        }
    }

    pub fn holders(mut self, map: &'a ProcessMap, complete: bool) -> Self {
        self.holders = Some(Holders { map, complete });
        self
    }

    pub fn workloads(mut self, w: &'a Workloads) -> Self {
        self.workloads = Some(w);
        self
    }

    pub fn cgroup_ids(mut self, on: bool) -> Self {
        self.cgroup_ids = on;
        self
    }
}

/// A term a command cannot bind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command} cannot use the filter term `{term}`: {why}")]
pub struct BindError {
    pub command: &'static str,
    pub term: String,
    pub why: String,
}

/// The value of a filter for one socket: [`Truth::Unknown`] where it depends on a holder nobody can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    False,
    Unknown,
    True,
}

impl Truth {
    fn of(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }

    fn not(self) -> Truth {
        match self {
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
            Truth::True => Truth::False,
        }
    }
}

/// A bound node: the parser's socket-only terms as they are, the binding terms as sets.
#[derive(Debug, Clone)]
enum Node {
    /// A term about the socket record alone (ports, addresses, states, ...).
    Record(Expr),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Held by one of the processes a term named: these inodes (unknown where the holder is hidden).
    Held(Arc<FastSet<u64>>),
    /// In one of these namespaces (indices into the snapshot's table).
    Netns(Arc<FastSet<u32>>),
}

/// A filter whose every term can be evaluated: made only by [`bind`]. It owns what it needs (no borrow of
/// the process scan), so a command can bind once and keep it.
#[derive(Debug, Clone)]
pub struct Bound {
    root: Node,
    /// When the scan could not see every process: the inodes a visible process holds. Any other socket with
    /// an inode has a hidden holder (the [`ProcessMap::owner`] rule) and `process` terms are unknown for it.
    visible: Option<Arc<FastSet<u64>>>,
    always: bool,
}

impl Default for Bound {
    fn default() -> Bound {
        Bound::everything()
    }
}

impl Bound {
    /// The filter that keeps every socket.
    pub fn everything() -> Bound {
        Bound { root: Node::Record(Expr::True), visible: None, always: true }
    }

    /// True when every socket passes (no term at all): callers skip the evaluation.
    pub fn is_true(&self) -> bool {
        self.always
    }

    /// Does the socket pass? Only a definite yes selects it.
    pub fn matches(&self, s: &Socket) -> bool {
        self.always || self.truth(s) == Truth::True
    }

    /// The three-valued verdict for one socket.
    pub fn truth(&self, s: &Socket) -> Truth {
        self.eval(&self.root, s)
    }

    fn eval(&self, n: &Node, s: &Socket) -> Truth {
        match n {
            Node::Record(e) => Truth::of(e.matches_record(s)),
            Node::And(v) => {
                let mut out = Truth::True;
                for n in v {
                    match self.eval(n, s) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => out = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                out
            }
            Node::Or(v) => {
                let mut out = Truth::False;
                for n in v {
                    match self.eval(n, s) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => out = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                out
            }
            Node::Not(n) => self.eval(n, s).not(),
            Node::Held(set) => {
                if s.inode != 0 && set.contains(&s.inode) {
                    Truth::True
                } else if self.visible.as_ref().is_some_and(|v| s.inode != 0 && !v.contains(&s.inode)) {
                    Truth::Unknown
                } else {
                    Truth::False
                }
            }
            Node::Netns(set) => Truth::of(set.contains(&s.netns)),
        }
    }
}

/// The text of a binding term as a user would write it, for messages.
pub fn term_text(e: &Expr) -> String {
    match e {
        Expr::Process(g) => format!("process {g}"),
        Expr::Pid(p) => format!("pid {p}"),
        Expr::NetnsName(w) => format!("netns {w}"),
        Expr::Workload { term, pattern } => {
            let word = match term {
                WorkloadTerm::Container => "container",
                WorkloadTerm::Unit => "unit",
                WorkloadTerm::Cgroup => "cgroup",
            };
            format!("{word} {pattern}")
        }
        Expr::Cgroup(_) => "cgroup PATH".into(),
        _ => format!("{e:?}"),
    }
}

/// Bind `expr` with what the command has: every binding term becomes a set, or the first one that cannot be
/// bound is refused, named.
pub fn bind(expr: &Expr, have: &Have<'_>) -> Result<Bound, BindError> {
    if expr.is_true() {
        return Ok(Bound::everything());
    }
    let root = node(expr, have)?;
    let visible = match have.holders {
        Some(h) if !h.complete && expr.needs().processes => {
            debug_assert!(matches!(h.map.owner(u64::MAX, false), Owner::Hidden | Owner::Held(_)));
            Some(Arc::new(h.map.inodes().collect()))
        }
        _ => None,
    };
    Ok(Bound { root, visible, always: false })
}

fn refuse(have: &Have<'_>, e: &Expr, why: &str) -> BindError {
    BindError { command: have.command, term: crate::model::text::escape(&term_text(e)).into_owned(), why: why.into() }
}

fn node(e: &Expr, have: &Have<'_>) -> Result<Node, BindError> {
    Ok(match e {
        Expr::And(v) => Node::And(v.iter().map(|e| node(e, have)).collect::<Result<_, _>>()?),
        Expr::Or(v) => Node::Or(v.iter().map(|e| node(e, have)).collect::<Result<_, _>>()?),
        Expr::Not(e) => Node::Not(Box::new(node(e, have)?)),
        Expr::Process(glob) => {
            let h = have.holders.ok_or_else(|| refuse(have, e, have.no_holders))?;
            Node::Held(Arc::new(held_by(h.map, &|p| super::glob_match(glob, &p.comm))))
        }
        Expr::Pid(pid) => {
            let h = have.holders.ok_or_else(|| refuse(have, e, have.no_holders))?;
            Node::Held(Arc::new(held_by(h.map, &|p| p.pid == *pid)))
        }
        Expr::NetnsName(word) => {
            let w = have.workloads.ok_or_else(|| refuse(have, e, "it does not know the sockets' namespaces"))?;
            if w.namespaces.is_empty() {
                return Err(refuse(have, e, "it does not know the sockets' namespaces"));
            }
            let ids = (0..w.namespaces.len() as u32).filter(|i| w.namespaces.get(*i).is_some_and(|n| n.is_named(word)));
            Node::Netns(Arc::new(ids.collect()))
        }
        Expr::Workload { term, pattern } => {
            let w = have.workloads.ok_or_else(|| refuse(have, e, "it does not know the sockets' workloads"))?;
            let h = have.holders.ok_or_else(|| refuse(have, e, have.no_holders))?;
            let (ns, pids, proxied) = w.matching(&|wl| term.test(pattern, wl));
            let pids: FastSet<u32> = pids.into_iter().collect();
            let mut inodes: FastSet<u64> =
                if pids.is_empty() { FastSet::default() } else { held_by(h.map, &|p| pids.contains(&p.pid)) };
            inodes.extend(proxied);
            Node::Or(vec![Node::Netns(Arc::new(ns.into_iter().collect())), Node::Held(Arc::new(inodes))])
        }
        Expr::Cgroup(_) if !have.cgroup_ids => {
            return Err(refuse(have, e, "its dump does not carry the sockets' cgroup ids"));
        }
        e => Node::Record(e.clone()),
    })
}

/// The inodes held by a process `keep` accepts.
fn held_by(map: &ProcessMap, keep: &dyn Fn(&crate::model::owners::ProcessInfo) -> bool) -> FastSet<u64> {
    map.inodes().filter(|i| map.get(*i).any(|h| keep(h.process))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{NoLookup, parse};
    use crate::model::owners::ProcessInfo;
    use crate::model::{Proto, State};
    use std::net::Ipv4Addr;

    fn expr(text: &str) -> Expr {
        parse(text, &crate::ports::services::Services::default(), &NoLookup).unwrap().expr
    }

    fn sock(inode: u64) -> Socket {
        let mut s = Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (Ipv4Addr::LOCALHOST.into(), 5000),
            (Ipv4Addr::LOCALHOST.into(), 40000),
        );
        s.inode = inode;
        s
    }

    fn map() -> ProcessMap {
        let py = Arc::new(ProcessInfo { pid: 10, comm: "python3".into(), cmdline: String::new(), uid: 0 });
        let web = Arc::new(ProcessInfo { pid: 11, comm: "nginx".into(), cmdline: String::new(), uid: 33 });
        ProcessMap::build([(py, &[(100u64, 3u32)][..]), (web, &[(200, 4)][..])], 2)
    }

    #[test]
    fn a_hidden_holder_satisfies_neither_process_nor_not_process() {
        let m = map();
        let incomplete = Have::new("kill").holders(&m, false);
        let not_py = bind(&expr("not process python3"), &incomplete).unwrap();
        let py = bind(&expr("process python3"), &incomplete).unwrap();
        // 300: nobody visible holds it, and the scan could not see every process.
        assert_eq!(not_py.truth(&sock(300)), Truth::Unknown);
        assert!(!not_py.matches(&sock(300)) && !py.matches(&sock(300)));
        assert!(not_py.matches(&sock(200)) && !not_py.matches(&sock(100)));
        // Inode 0 (TIME-WAIT) has no holder: known.
        assert!(not_py.matches(&sock(0)));
        // A complete scan knows 300 has no holder.
        let complete = Have::new("kill").holders(&m, true);
        assert!(bind(&expr("not process python3"), &complete).unwrap().matches(&sock(300)));
        // Unknown under `or` with a true side is true; under `and` with a false side false.
        let either = bind(&expr("not process python3 or sport :5000"), &incomplete).unwrap();
        assert!(either.matches(&sock(300)));
        let both = bind(&expr("not process python3 and sport :1"), &incomplete).unwrap();
        assert_eq!(both.truth(&sock(300)), Truth::False);
    }

    #[test]
    fn an_unbindable_term_is_refused_by_name_not_matched_as_false() {
        for (text, term) in [
            ("sport :1 and not netns 4026531840", "netns 4026531840"),
            ("not process python3", "process python3"),
            ("pid 42", "pid 42"),
            ("not container web", "container web"),
            ("unit nginx.service", "unit nginx.service"),
        ] {
            let err = bind(&expr(text), &Have::new("watch")).unwrap_err();
            assert_eq!(err.term, term, "{text}");
            assert!(err.to_string().starts_with("watch cannot use the filter term"), "{err}");
        }
        // Socket-only terms bind anywhere.
        assert!(!bind(&expr("sport :1 and dst 127.0.0.1"), &Have::new("watch")).unwrap().matches(&sock(1)));
    }

    #[test]
    fn needs_says_what_each_term_wants() {
        assert_eq!(expr("sport :80").needs(), Needs::default());
        assert!(expr("not pid 4").needs().processes);
        let w = expr("container web").needs();
        assert!(w.processes && w.workloads && !w.cgroup_ids);
        assert!(expr("netns a").needs().workloads && !expr("netns a").needs().processes);
    }
}
