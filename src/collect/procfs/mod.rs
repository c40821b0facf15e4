//! The `/proc/net/*` collector: reads the kernel's text tables under a configurable proc root.
//! (Placeholder: being written.)

use std::path::PathBuf;

use super::{CollectError, Collector, Query, Snapshot, Table};
use crate::model::Socket;

pub struct ProcCollector {
    root: PathBuf,
}

impl ProcCollector {
    pub fn new(root: PathBuf) -> Self {
        ProcCollector { root }
    }

    pub fn collect_table(&self, q: &Query, table: Table) -> Result<Vec<Socket>, CollectError> {
        let _ = (q, table, &self.root);
        todo!()
    }
}

impl Collector for ProcCollector {
    fn collect(&mut self, q: &Query) -> Result<Snapshot, CollectError> {
        let mut snap = Snapshot::default();
        for t in q.tables() {
            snap.sockets.append(&mut self.collect_table(q, t)?);
            snap.sources.push((t, super::Source::Proc));
        }
        Ok(snap)
    }
}
