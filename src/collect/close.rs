//! Closing sockets on request (`kill`, `list -K`, the dashboard's `K`): `SOCK_DESTROY` sent from inside each
//! socket's own network namespace, and each outcome checked against the kernel's table, so that a socket
//! still open is never reported closed or gone.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::netlink::destroy::{DestroyError, Destroyer};
use super::netns::{Found, dump};
use crate::model::netns::{Namespaces, NetnsId};
use crate::model::{Endpoint, Proto, Socket, State, StateSet};

/// Requests sent for one unconnected socket of a `SO_REUSEPORT` group before it is given up (see
/// [`Destroyer::destroy_probing`]): each asks the kernel's lookup with another peer port, so a group of n
/// sockets is found with probability 1 - (1 - 1/n)^TRIES (for 64 members, 99.99%). Each costs a few
/// microseconds.
const PROBE_TRIES: u16 = 600;

/// What happened to one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel closed it: it is no longer in its table.
    Closed,
    /// The kernel aborted it (its process gets `ECONNABORTED` on its next call) and it is still in the table:
    /// a UDP socket bound to its port stays bound until its process closes it.
    Aborted,
    /// It was no longer in the kernel's table when its turn came.
    Gone,
    /// It is still open: why.
    Failed(String),
}

/// Why nothing could be closed at all.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// Without CAP_NET_ADMIN, or on a kernel without `CONFIG_INET_DIAG_DESTROY`: said once, not per socket.
    #[error("{0}; nothing was closed")]
    Refused(DestroyError),
}

/// Where each network namespace of a socket table is: what [`close`] enters to close a socket there.
pub struct Places {
    /// By [`NetnsId`]: the namespace and the paths it can be opened by.
    found: Vec<Found>,
    /// The caller's own namespace (nothing is entered for it).
    own: u64,
    proc_root: PathBuf,
}

impl Places {
    /// The caller's own namespace only (a collection without `-N`).
    pub fn own(proc_root: &Path) -> io::Result<Places> {
        let own = super::netns::own_inode(proc_root)?;
        let ns = crate::model::netns::Namespace { inode: own, ..Default::default() };
        Ok(Places { found: vec![Found { ns, paths: Vec::new(), pids: Vec::new() }], own, proc_root: proc_root.into() })
    }

    /// The namespaces a `-N` / `--all-netns` collection found, indexed as its sockets are (`own`: the
    /// caller's own namespace's inode).
    pub fn of_found(found: Vec<Found>, own: u64, proc_root: &Path) -> Places {
        Places { found, own, proc_root: proc_root.into() }
    }

    /// The namespaces of a live view's table (the dashboard's), each opened again by its name (a bind mount
    /// under `netns_dir`, or a path) or by its lowest pid; the inode is checked when it is entered, so a
    /// namespace gone since is never confused with another. An empty table is the caller's own namespace.
    pub fn of_table(namespaces: &Namespaces, proc_root: &Path, netns_dir: &Path) -> io::Result<Places> {
        if namespaces.is_empty() {
            return Places::own(proc_root);
        }
        let own = super::netns::own_inode(proc_root)?;
        let found = namespaces
            .0
            .iter()
            .map(|ns| {
                let mut paths = Vec::new();
                if let Some(name) = &ns.name {
                    paths.push(if name.starts_with('/') { PathBuf::from(name) } else { netns_dir.join(name) });
                }
                if let Some(pid) = ns.pid {
                    paths.push(proc_root.join(pid.to_string()).join("ns/net"));
                }
                Found { ns: ns.clone(), paths, pids: ns.pid.into_iter().collect() }
            })
            .collect();
        Ok(Places { found, own, proc_root: proc_root.into() })
    }
}

/// Close every socket in `sockets`, each in its own namespace (by its `netns` index in `places`); the
/// outcomes are in the same order. Sockets without a cookie (read from `/proc`) are not closed: the kernel
/// would close whatever socket holds their addresses now, also one that replaced them since they were read.
pub fn close(sockets: &[Socket], places: &Places) -> Result<Vec<Outcome>, CloseError> {
    let mut outcomes = vec![Outcome::Failed(String::new()); sockets.len()];
    let mut by_ns: Vec<(NetnsId, Vec<usize>)> = Vec::new();
    for (i, s) in sockets.iter().enumerate() {
        match by_ns.iter_mut().find(|(id, _)| *id == s.netns) {
            Some((_, v)) => v.push(i),
            None => by_ns.push((s.netns, vec![i])),
        }
    }
    for (id, indices) in by_ns {
        let group: Vec<&Socket> = indices.iter().map(|&i| &sockets[i]).collect();
        let failed = |why: String| vec![Outcome::Failed(why); group.len()];
        let got = match places.found.get(id as usize) {
            None => failed(format!("its network namespace (#{id}) is no longer known")),
            Some(f) => match dump::in_namespace(f, places.own, &places.proc_root, |here| close_here(&group, &here)) {
                Ok(r) => r?.unwrap_or_else(failed),
                Err(skip) => failed(format!("cannot enter its network namespace {}: {skip}", f.ns.label())),
            },
        };
        for (i, o) in indices.into_iter().zip(got) {
            outcomes[i] = o;
        }
    }
    Ok(outcomes)
}

/// Close `group` from the calling thread's namespace (`proc_root` shows it), then look the doubtful ones up
/// in a fresh dump: a UDP socket the kernel accepted may still be bound, and a lookup that found no socket
/// with the cookie may have found a sibling.
fn close_here(group: &[&Socket], proc_root: &Path) -> Result<Result<Vec<Outcome>, String>, CloseError> {
    let mut d = match Destroyer::open() {
        Ok(d) => d,
        Err(e) => return Ok(Err(format!("cannot open a netlink socket: {e}"))),
    };
    #[derive(PartialEq)]
    enum Step {
        Done(Outcome),
        /// Accepted by the kernel; a UDP socket may stay bound.
        Accepted,
        /// No socket with the cookie was found: closed meanwhile, or never reached.
        NotFound,
    }
    let mut steps = Vec::with_capacity(group.len());
    for s in group {
        if s.cookie.is_none() {
            steps.push(Step::Done(Outcome::Failed(
                "no socket cookie (the row came from /proc): a socket that took its addresses since could be \
                 closed instead"
                    .into(),
            )));
            continue;
        }
        let mut r = d.destroy(s);
        if r == Err(DestroyError::Gone) && unconnected(s) {
            r = d.destroy_probing(s, PROBE_TRIES);
        }
        steps.push(match r {
            Ok(()) => Step::Accepted,
            Err(DestroyError::Gone) => Step::NotFound,
            Err(e @ (DestroyError::NeedsPrivilege | DestroyError::Unsupported)) => {
                if steps.iter().all(|s| !matches!(s, Step::Accepted)) {
                    return Err(CloseError::Refused(e));
                }
                Step::Done(Outcome::Failed(e.to_string()))
            }
            Err(e) => Step::Done(Outcome::Failed(e.to_string())),
        });
    }
    let doubtful = group
        .iter()
        .zip(&steps)
        .filter(|(s, st)| **st == Step::NotFound || (**st == Step::Accepted && s.proto == Proto::Udp));
    let wanted: Vec<&Socket> = doubtful.map(|(s, _)| *s).collect();
    let open = if wanted.is_empty() { Ok(HashSet::new()) } else { still_open(&wanted, proc_root) };
    Ok(Ok(group
        .iter()
        .zip(steps)
        .map(|(s, st)| {
            let cookie = s.cookie.unwrap_or_default();
            match (st, &open) {
                (Step::Done(o), _) => o,
                (Step::Accepted, Ok(open)) if s.proto == Proto::Udp && open.contains(&cookie) => Outcome::Aborted,
                (Step::Accepted, _) => Outcome::Closed,
                (Step::NotFound, Ok(open)) if open.contains(&cookie) => Outcome::Failed(
                    "still open: the kernel's lookup by its addresses finds another socket (a member of its \
                     SO_REUSEPORT group)"
                        .into(),
                ),
                (Step::NotFound, Ok(_)) => Outcome::Gone,
                (Step::NotFound, Err(e)) => {
                    Outcome::Failed(format!("not found by its addresses, and whether it is still open is unknown: {e}"))
                }
            }
        })
        .collect()))
}

/// A listener or an unconnected UDP socket: one the kernel finds by a lookup that a `SO_REUSEPORT` group
/// answers with one of its members.
fn unconnected(s: &Socket) -> bool {
    matches!(s.peer, Endpoint::Inet { port: 0, .. }) && (s.proto == Proto::Udp || s.state == State::LISTEN)
}

/// The cookies of `sockets` still in the kernel's table (a dump of their protocols, netlink only: a /proc
/// row has no cookie to compare).
fn still_open(sockets: &[&Socket], proc_root: &Path) -> Result<HashSet<u64>, String> {
    let q = super::Query {
        tcp: sockets.iter().any(|s| s.proto == Proto::Tcp),
        udp: sockets.iter().any(|s| s.proto == Proto::Udp),
        unix: false,
        states: StateSet::ALL,
        receive_thread: false,
        ..super::Query::default()
    };
    let mut c = super::open_here(super::SourceChoice::Netlink, proc_root.to_path_buf());
    let snap = c.collect(&q).map_err(|e| e.to_string())?;
    let wanted: HashSet<u64> = sockets.iter().filter_map(|s| s.cookie).collect();
    // A TCP socket closed since keeps its cookie in TIME-WAIT: that one is closed.
    let open = snap.sockets.iter().filter(|s| s.state != State::TIME_WAIT).filter_map(|s| s.cookie);
    Ok(open.filter(|c| wanted.contains(c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_row_without_a_cookie_is_never_sent_to_the_kernel() {
        let mut s = Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (Ipv4Addr::LOCALHOST.into(), 1),
            (Ipv4Addr::LOCALHOST.into(), 2),
        );
        s.cookie = None;
        let Ok(places) = Places::own(Path::new("/proc")) else { return };
        let got = close(&[s], &places).expect("nothing is sent, so nothing is refused");
        assert!(matches!(&got[..], [Outcome::Failed(why)] if why.contains("no socket cookie")), "{got:?}");
    }

    #[test]
    fn a_socket_of_an_unknown_namespace_fails_and_says_so() {
        let mut s = Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (Ipv4Addr::LOCALHOST.into(), 1),
            (Ipv4Addr::LOCALHOST.into(), 2),
        );
        s.cookie = Some(1);
        s.netns = 7;
        let Ok(places) = Places::own(Path::new("/proc")) else { return };
        let got = close(&[s], &places).unwrap();
        assert!(matches!(&got[..], [Outcome::Failed(why)] if why.contains("no longer known")), "{got:?}");
    }

    #[test]
    fn listeners_and_unconnected_udp_are_found_by_probing() {
        let any = (Ipv4Addr::UNSPECIFIED.into(), 0);
        assert!(unconnected(&Socket::inet(Proto::Tcp, State::LISTEN, (Ipv4Addr::LOCALHOST.into(), 80), any)));
        assert!(unconnected(&Socket::inet(Proto::Udp, State::CLOSE, (Ipv4Addr::LOCALHOST.into(), 53), any)));
        let peer = (Ipv4Addr::LOCALHOST.into(), 4000);
        assert!(!unconnected(&Socket::inet(Proto::Tcp, State::ESTABLISHED, (Ipv4Addr::LOCALHOST.into(), 80), peer)));
    }
}
