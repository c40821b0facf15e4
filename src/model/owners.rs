//! Socket owners: the processes holding each socket inode ([`ProcessMap`], filled by `collect::process` from
//! `/proc/*/fd`), and [`Owner`], what is known about one socket's holder (held, hidden, none).

use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::hash::FastMap;

/// What is known about who holds one socket: the one encoding, used by every command. `H` is how the
/// holders are given: the map's [`Holders`] for a listing, the first holder and how many for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<H> {
    /// Held by these processes.
    Held(H),
    /// Some processes could not be inspected (another user's, without privilege): the holder may be one of
    /// them.
    Hidden,
    /// No process holds it (TIME-WAIT and request sockets, sockets of exited processes).
    None,
    /// Not looked up yet: newer than the last look through every process a live view made, it may have a
    /// holder the view has not seen (neither nobody's nor hidden). A one-shot scan never says it.
    NotLookedUp,
}

impl<H> Owner<H> {
    pub fn map<G>(self, f: impl FnOnce(H) -> G) -> Owner<G> {
        match self {
            Owner::Held(h) => Owner::Held(f(h)),
            Owner::Hidden => Owner::Hidden,
            Owner::None => Owner::None,
            Owner::NotLookedUp => Owner::NotLookedUp,
        }
    }
}

/// One process that holds at least one socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `/proc/PID/comm` (at most 15 bytes, set by the process), lossy UTF-8.
    pub comm: String,
    /// The arguments, space-joined, lossy UTF-8; empty for a zombie.
    pub cmdline: String,
    /// Real uid.
    pub uid: u32,
}

/// One holder of a socket: the process and the fds (ascending) through which it holds it.
#[derive(Debug, Clone, Copy)]
pub struct ProcessRef<'a> {
    pub process: &'a Arc<ProcessInfo>,
    /// Its index in [`ProcessMap::processes`] (for counting by process without touching the `Arc`).
    pub index: u32,
    pub fds: &'a [u32],
}

/// The holders of one inode. Nearly every socket has one holder with one fd, stored inline: `process` and
/// `fd`; several holders are `process` [`Slot::MANY`] and `fd` the index into [`ProcessMap::shared`]. Eight
/// bytes, not an enum's twelve: with the inode a map entry is 16 bytes instead of 24 (4 MB less at 200k
/// sockets).
#[derive(Debug, Clone, Copy)]
struct Slot {
    process: u32,
    fd: u32,
}

impl Slot {
    const MANY: u32 = u32::MAX;
    /// The index into [`ProcessMap::shared`] when several processes hold the inode.
    fn shared(&self) -> Option<usize> {
        (self.process == Slot::MANY).then_some(self.fd as usize)
    }
}

#[derive(Debug, Clone)]
struct Holder {
    process: u32,
    fds: Vec<u32>,
}

/// Socket inode -> the processes holding it, each listed once with its fds.
#[derive(Debug, Clone, Default)]
pub struct ProcessMap {
    processes: Vec<Arc<ProcessInfo>>,
    index: FastMap<u64, Slot>,
    shared: Vec<Vec<Holder>>,
    fds: usize,
}

impl ProcessMap {
    /// Build from each process and its `(inode, fd)` pairs.
    pub fn build<'a>(procs: impl IntoIterator<Item = (Arc<ProcessInfo>, &'a [(u64, u32)])>, fds_hint: usize) -> Self {
        let mut m = ProcessMap {
            index: FastMap::with_capacity_and_hasher(fds_hint, Default::default()),
            ..ProcessMap::default()
        };
        for (info, sockets) in procs {
            let p = m.processes.len() as u32;
            m.processes.push(info);
            m.fds += sockets.len();
            for &(inode, fd) in sockets {
                match m.index.entry(inode) {
                    Entry::Vacant(v) => {
                        v.insert(Slot { process: p, fd });
                    }
                    Entry::Occupied(mut o) => {
                        let slot = *o.get();
                        let i = match slot.shared() {
                            None => {
                                let i = m.shared.len();
                                o.insert(Slot { process: Slot::MANY, fd: i as u32 });
                                m.shared.push(vec![Holder { process: slot.process, fds: vec![slot.fd] }]);
                                i
                            }
                            Some(i) => i,
                        };
                        let holders = &mut m.shared[i];
                        // A process's pairs come together, so its holder, if any, is the last one.
                        match holders.last_mut() {
                            Some(h) if h.process == p => h.fds.push(fd),
                            _ => holders.push(Holder { process: p, fds: vec![fd] }),
                        }
                    }
                }
            }
        }
        for h in m.shared.iter_mut().flatten() {
            h.fds.sort_unstable();
        }
        m
    }

    /// Who holds the socket with this inode, by the one "hidden owner" rule: its holders when a visible
    /// process holds it; else, when the scan was not `complete` (some processes could not be inspected),
    /// [`Owner::Hidden`]: one of those may hold it; else none. Inode 0 (request and TIME-WAIT sockets) has none.
    pub fn owner(&self, inode: u64, complete: bool) -> Owner<Holders<'_>> {
        let holders = self.get(inode);
        let held = holders.len() > 0;
        Self::rule(inode, held, complete).map(|()| holders)
    }

    /// The one hidden-owner rule, given whether a visible process holds the inode.
    fn rule(inode: u64, held: bool, complete: bool) -> Owner<()> {
        if inode == 0 {
            Owner::None
        } else if held {
            Owner::Held(())
        } else if complete {
            Owner::None
        } else {
            Owner::Hidden
        }
    }

    /// The holders of a socket inode; empty when no visible process holds it (inode 0 never has one).
    pub fn get(&self, inode: u64) -> Holders<'_> {
        let it = match self.index.get(&inode) {
            None => HoldersIter::One(None),
            Some(slot) => match slot.shared() {
                None => HoldersIter::One(Some((slot.process, &slot.fd))),
                Some(i) => HoldersIter::Many(self.shared[i].iter()),
            },
        };
        Holders { processes: &self.processes, it }
    }

    /// The pid of every process that holds a socket.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.processes.iter().map(|p| p.pid)
    }

    /// Whether any visible process holds this inode.
    pub fn contains(&self, inode: u64) -> bool {
        self.index.contains_key(&inode)
    }

    /// Every socket inode held, in no particular order.
    pub fn inodes(&self) -> impl Iterator<Item = u64> + '_ {
        self.index.keys().copied()
    }

    /// Every process holding at least one socket, by pid.
    pub fn processes(&self) -> &[Arc<ProcessInfo>] {
        &self.processes
    }

    /// Distinct socket inodes held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Socket fds found, over all processes.
    pub fn socket_fds(&self) -> usize {
        self.fds
    }
}

/// Iterator over the holders of one inode, by pid.
#[derive(Debug, Clone)]
pub struct Holders<'a> {
    processes: &'a [Arc<ProcessInfo>],
    it: HoldersIter<'a>,
}

#[derive(Debug, Clone)]
enum HoldersIter<'a> {
    One(Option<(u32, &'a u32)>),
    Many(std::slice::Iter<'a, Holder>),
}

impl<'a> Iterator for Holders<'a> {
    type Item = ProcessRef<'a>;

    fn next(&mut self) -> Option<ProcessRef<'a>> {
        let (p, fds) = match &mut self.it {
            HoldersIter::One(one) => one.take().map(|(p, fd)| (p, std::slice::from_ref(fd)))?,
            HoldersIter::Many(it) => it.next().map(|h| (h.process, &h.fds[..]))?,
        };
        Some(ProcessRef { process: &self.processes[p as usize], index: p, fds })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.it {
            HoldersIter::One(one) => usize::from(one.is_some()),
            HoldersIter::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Holders<'_> {}
