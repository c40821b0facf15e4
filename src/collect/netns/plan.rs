//! What a `-N` / `--all-netns` collection covers: the namespaces found before any is dumped ([`Plan`]), their
//! dump in order, their summed `ss -s` counters, and what is said about the ones that could not be read.

use std::path::Path;

use super::{Choice, Found, NetnsError, Roots, Target, discover, dump, own_inode};
use crate::collect::cgroup::Namer;
use crate::collect::procfs::sockstat::SockStat;
use crate::collect::{Query, Sink, Snapshot, SourceChoice};

/// The namespaces a `-N` / `--all-netns` collection covers, found before any is dumped: the namespace
/// table is known before the first socket.
pub struct Plan {
    pub found: Vec<Found>,
    pub(super) own: u64,
    pub(super) workers: usize,
    /// `-N`'s target as the user gave it: a namespace that cannot be read is then an error naming it.
    pub(super) target: Option<String>,
    /// Notes about the discovery (for stderr).
    pub(super) notes: Vec<String>,
}

impl Plan {
    /// Find what `choice` covers; `None` for [`Choice::Own`] (nothing to discover or enter).
    pub fn new(choice: &Choice, roots: &Roots, namer: &mut Namer) -> Result<Option<Plan>, NetnsError> {
        let own = own_inode(&roots.proc_root);
        match choice {
            Choice::Own => Ok(None),
            Choice::One(t) => {
                let text = match t {
                    Target::Name(n) => n.clone(),
                    Target::Pid(p) => format!("of pid {p}"),
                    Target::Path(p) => p.display().to_string(),
                };
                let found =
                    t.resolve(roots, namer).map_err(|error| NetnsError::Target { target: text.clone(), error })?;
                let own = own.map_err(NetnsError::Discover)?;
                Ok(Some(Plan { found: vec![found], own, workers: 1, target: Some(text), notes: Vec::new() }))
            }
            Choice::All => {
                let own = own.map_err(NetnsError::Discover)?;
                let d = discover(roots, namer).map_err(NetnsError::Discover)?;
                let mut notes = Vec::new();
                if d.hidden_processes > 0 {
                    let why = if crate::sys::is_root() {
                        "the kernel refused their /proc/PID/ns even to root"
                    } else {
                        "another user's /proc/PID/ns needs root"
                    };
                    notes.push(format!(
                        "the namespaces of {} processes could not be read ({why}); namespaces only they use and \
                         no bind mount holds are not listed",
                        d.hidden_processes
                    ));
                }
                Ok(Some(Plan { found: d.found, own, workers: dump::DEFAULT_WORKERS, target: None, notes }))
            }
        }
    }

    /// The caller's own namespace's inode (a namespace with it is not entered).
    pub fn own(&self) -> u64 {
        self.own
    }

    /// The namespace table the sockets' `netns` index.
    pub fn namespaces(&self) -> crate::model::netns::Namespaces {
        crate::model::netns::Namespaces(self.found.iter().map(|f| f.ns.clone()).collect())
    }

    /// Dump the namespaces and hand each one's sockets to `sink` as it is done, namespace after namespace
    /// (each socket carrying its namespace's index in [`Plan::namespaces`]). The snapshot returned has the
    /// sources and notes, and no sockets; the namespaces skipped are said beside it.
    pub fn stream(
        &self,
        source: SourceChoice,
        proc_root: &Path,
        q: &Query,
        sink: &mut Sink<'_>,
    ) -> Result<dump::Multi, NetnsError> {
        let mut multi = dump::Multi::default();
        dump::for_each_in_order(
            &self.found,
            self.own,
            source,
            proc_root,
            q,
            self.workers,
            &mut |id, part| match part {
                dump::Part::Sockets(batch) => sink(batch),
                dump::Part::Done(Ok(snap)) => {
                    multi.snapshot.sources.extend(snap.sources);
                    multi.snapshot.notes.extend(snap.notes);
                    true
                }
                dump::Part::Done(Err(e)) => {
                    multi.skipped.push((id, e));
                    true
                }
            },
        );
        multi.tidy();
        multi.snapshot.namespaces = self.namespaces();
        self.finish(&mut multi)?;
        Ok(multi)
    }

    /// The `ss -s` counters summed over the plan's namespaces (host-wide counters once), and notes naming the
    /// namespaces left out. A namespace that cannot be read is an error for `-N`, as is reading none.
    pub fn sockstat(&self, proc_root: &Path) -> Result<(SockStat, Vec<String>), NetnsError> {
        let (stat, skipped) = dump::sockstat_all(&self.found, self.own, proc_root);
        let mut multi =
            dump::Multi { snapshot: Snapshot { namespaces: self.namespaces(), ..Default::default() }, skipped };
        if let Some(target) = &self.target
            && let Some((_, skip)) = multi.skipped.pop()
        {
            return Err(NetnsError::Skipped { target: target.clone(), skip });
        }
        if multi.read() == 0 {
            return Err(NetnsError::Nothing(multi.skip_notes().join("; ")));
        }
        let notes = multi.skip_notes().into_iter().map(|n| format!("{n} (the summary does not count them)")).collect();
        Ok((stat, notes))
    }

    /// Say what could not be read: an error for `-N` or when nothing could, notes otherwise.
    fn finish(&self, multi: &mut dump::Multi) -> Result<(), NetnsError> {
        if let Some(target) = &self.target {
            if let Some((_, skip)) = multi.skipped.pop() {
                return Err(NetnsError::Skipped { target: target.clone(), skip });
            }
            return Ok(());
        }
        if multi.read() == 0 {
            return Err(NetnsError::Nothing(multi.skip_notes().join("; ")));
        }
        let mut notes = multi.skip_notes();
        notes.extend(self.notes.iter().cloned());
        multi.snapshot.notes.extend(notes);
        Ok(())
    }
}
