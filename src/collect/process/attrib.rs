//! [`Attributor`]: who holds each socket, for every command that asks more than once (the dashboard, the
//! exporter, `record`, `watch`), each with its [`Policy`]; and [`Attribution`], what one look gave, the one
//! answer every caller reads a socket's holder from ([`Owner`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache::{LOOK_BUDGET, ProcessCache};
use super::{CollectError, ScanResult, ScanStats};
use crate::hash::FastSet;
use crate::model::Socket;
use crate::model::owners::{Holders, Owner, ProcessMap};

/// When an [`Attributor`] looks through the processes again. The cost it bounds: a look lists `/proc` and
/// checks each process (one `fstatat`), reads the fd tables of new processes and of those likely to hold
/// new sockets; a full rescan reads every fd of every process (most of a second at 200k sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Look anyway when the last look is this old (`None`: only for misses; zero: at every call).
    pub every: Option<Duration>,
    /// A *miss* (a socket without a holder that was never looked for, or one a full rescan may now find)
    /// makes a look once the last one is this old (zero: at once; `None`: misses wait for `every`).
    pub miss_gap: Option<Duration>,
    /// The least time between two full rescans caused by misses.
    pub full_interval: Duration,
    /// The longest time between two full rescans (it bounds how long a socket handed to another process, or
    /// a changed command line, stays stale).
    pub max_age: Duration,
    /// What a look for new sockets may read, in fds (0: never look, wait for a full rescan).
    pub look_budget: u64,
    /// Scanning threads (`None`: one per CPU).
    pub threads: Option<usize>,
}

impl Policy {
    /// The dashboard: new sockets looked for at once, everything at least every 5 s (on a busy host a look
    /// reads every fd of every process that changed, and the holders of old sockets do not move).
    pub fn dashboard() -> Policy {
        Policy {
            every: Some(Duration::from_secs(5)),
            miss_gap: Some(Duration::ZERO),
            full_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(60),
            look_budget: LOOK_BUDGET,
            threads: None,
        }
    }

    /// The exporter: a background process keeps its footprint small (two threads); a socket without a holder
    /// waits at most 5 s for one (a listener's `process` label, an API filter naming processes); everything
    /// is looked at again every 5 minutes (a holder may exec or hand a socket on).
    pub fn exporter() -> Policy {
        let max_age = Duration::from_secs(300);
        Policy {
            every: Some(max_age),
            miss_gap: Some(Duration::from_secs(5)),
            max_age,
            threads: Some(2),
            ..Self::dashboard()
        }
    }

    /// `record`, on a thread of its own (the samples never wait for it): a look at every call; owners of
    /// groups change seldom, a full rescan a minute keeps the cost of churn low.
    pub fn recording() -> Policy {
        let minute = Duration::from_secs(60);
        Policy { every: Some(Duration::ZERO), full_interval: minute, max_age: minute, ..Self::dashboard() }
    }

    /// `watch`: a look only for new sockets, a full rescan for them at most every `rescan`.
    pub fn watch(rescan: Duration) -> Policy {
        Policy { every: None, full_interval: rescan, ..Self::dashboard() }
    }
}

/// Who holds each socket, as one look left it: the process map, whether every process could be inspected,
/// and which sockets without a holder were looked for everywhere. Cheap to clone (shared), it can be kept
/// with the sockets it attributes (the exporter's interval) or sent to another thread (`record`).
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    map: Arc<ProcessMap>,
    /// Inodes without a holder that were looked for in every process that could be inspected; `None`: all
    /// were (a one-shot scan).
    looked: Option<Arc<FastSet<u64>>>,
    complete: bool,
    root: bool,
}

impl Attribution {
    /// An attribution from `map`; `looked` are the inodes without a holder that were looked for everywhere
    /// (`None`: every inode was, as by a one-shot scan). `complete`: every process could be inspected.
    pub fn new(map: Arc<ProcessMap>, complete: bool, looked: Option<FastSet<u64>>) -> Attribution {
        Attribution { map, looked: looked.map(Arc::new), complete, root: crate::sys::is_root() }
    }

    /// What a one-shot [`super::scan`] found.
    pub fn of_scan(scan: ScanResult) -> Attribution {
        Attribution::new(Arc::new(scan.map), scan.stats.complete, None)
    }

    /// Say whether we run as root (it says why processes are hidden); taken from the process by default.
    pub fn with_root(mut self, root: bool) -> Attribution {
        self.root = root;
        self
    }

    /// Who holds the socket with this inode: the map's one hidden-owner rule ([`ProcessMap::owner`]), and
    /// [`Owner::NotLookedUp`] for an inode without a holder that was not looked for everywhere yet.
    pub fn owner(&self, inode: u64) -> Owner<Holders<'_>> {
        match self.map.owner(inode, self.complete) {
            Owner::Hidden | Owner::None if inode != 0 && self.looked.as_ref().is_some_and(|l| !l.contains(&inode)) => {
                Owner::NotLookedUp
            }
            o => o,
        }
    }

    pub fn map(&self) -> &ProcessMap {
        &self.map
    }

    /// Every process could be inspected: a socket without a visible holder has none.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// We run as root: hidden processes are hidden even from root, not for want of privilege.
    pub fn root(&self) -> bool {
        self.root
    }
}

/// The process attribution of a live view: a process cache refreshed as its [`Policy`] says.
pub struct Attributor {
    policy: Policy,
    cache: ProcessCache,
    /// When the cache was last refreshed.
    last: Option<Instant>,
    /// The next call refreshes whatever the policy says.
    expired: bool,
}

impl Attributor {
    pub fn new(policy: Policy) -> Attributor {
        let mut cache = ProcessCache::new()
            .with_full_interval(policy.full_interval)
            .with_max_age(policy.max_age)
            .with_look_budget(policy.look_budget);
        if let Some(n) = policy.threads {
            cache = cache.with_threads(n);
        }
        Attributor { policy, cache, last: None, expired: false }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Make the next call look through the processes (what is shown changed: the dashboard's new filter).
    pub fn expire(&mut self) {
        self.expired = true;
    }

    /// Attribute `sockets`, looking through the processes first when the policy says so.
    pub fn attribute(&mut self, proc_root: &Path, sockets: &[Socket]) -> Result<Attribution, CollectError> {
        self.attribute_inodes(proc_root, sockets.iter().map(|s| s.inode), Instant::now())
    }

    /// [`attribute`](Self::attribute) for the sockets with these inodes, at `now` (for tests). On an error
    /// (the proc root could not be listed) nothing changes.
    pub fn attribute_inodes(
        &mut self,
        proc_root: &Path,
        inodes: impl IntoIterator<Item = u64>,
        now: Instant,
    ) -> Result<Attribution, CollectError> {
        let unheld: Vec<u64> = {
            let map = self.cache.map();
            inodes.into_iter().filter(|&i| i != 0 && !map.contains(i)).collect()
        };
        if self.due(&unheld, now) {
            self.cache.refresh_at(proc_root, unheld, now)?;
            (self.last, self.expired) = (Some(now), false);
        }
        Ok(self.current())
    }

    /// Whether a call at `now` with these `unheld` inodes (wanted, without a holder in the map) looks.
    fn due(&self, unheld: &[u64], now: Instant) -> bool {
        let Some(age) = self.last.map(|t| now.saturating_duration_since(t)) else { return true };
        let p = &self.policy;
        self.expired
            || p.every.is_some_and(|e| age >= e)
            || (p.miss_gap.is_some_and(|g| age >= g) && !unheld.is_empty() && self.cache.wants_refresh(unheld, now))
    }

    /// What is known now, without looking.
    pub fn current(&self) -> Attribution {
        let (map, looked) = self.cache.shared();
        let complete = self.cache.stats().complete;
        Attribution { map, looked: Some(looked), complete, root: crate::sys::is_root() }
    }

    /// What the last look did and saw.
    pub fn stats(&self) -> &ScanStats {
        self.cache.stats()
    }
}
