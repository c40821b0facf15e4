//! The default source: netlink for every table, `/proc/net` for a table netlink cannot serve (no
//! `sock_diag` at all, or no `*_diag` module for its protocol), with a note saying so.

use super::{CollectError, Collector, Query, Sink, Snapshot, Source, Streamed, Table, netlink, procfs};
use crate::model::Socket;

/// netlink first, `/proc` for the tables netlink cannot serve.
pub struct Auto {
    pub(super) proc: procfs::ProcCollector,
}

impl Collector for Auto {
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        let this = &*self;
        netlink::walk::stream_tables(q, sink, &|t, sink| this.stream_one(t, q, sink))
    }
}

impl Auto {
    /// `table` from `/proc` after netlink could not serve it (`e`): its sockets (none when there is no file
    /// either: the kernel lacks the family), and the note for the user.
    fn fall_back(
        &self,
        q: &Query,
        table: Table,
        e: &CollectError,
    ) -> Result<(Vec<Socket>, Option<String>), CollectError> {
        match self.proc.collect_table(q, table) {
            Ok(socks) => {
                let note = match e {
                    CollectError::NetlinkUnavailable(_) => Some(format!("{e}; reading /proc/net instead")),
                    // Kernels are commonly built without raw_diag; ss reads /proc/net/raw then without a word.
                    _ if matches!(table, Table::Raw4 | Table::Raw6) => None,
                    _ => Some(format!("{e}; read {table} sockets from /proc/net instead")),
                };
                Ok((socks, note))
            }
            // No /proc file either: the kernel lacks this family. Said only when it was asked for by name (ss's
            // default tables include families most kernels lack: silence there, as ss).
            Err(CollectError::Unsupported { .. }) => {
                let note = q.note_missing.then(|| {
                    format!(
                        "{} sockets are not listed: this kernel has no {} (sock_diag for them)",
                        table.proto_label(),
                        table.diag_module()
                    )
                });
                Ok((Vec::new(), note))
            }
            Err(other) => Err(other),
        }
    }

    /// One table: netlink, or `/proc` when netlink cannot serve it (those errors come before any socket of
    /// the table).
    fn stream_one(&self, table: Table, q: &Query, sink: &mut Sink<'_>) -> Result<Streamed, CollectError> {
        let mut sent = false;
        let result = netlink::stream_table(table, q, &mut |batch| {
            sent = true;
            sink(batch)
        });
        match result {
            Ok(_) => Ok(Streamed::netlink()),
            Err(e) if e.can_fall_back() && !sent => {
                let (socks, note) = self.fall_back(q, table, &e)?;
                if !socks.is_empty() {
                    sink(socks);
                }
                Ok(Streamed { source: Source::Proc, note })
            }
            Err(e) => Err(e),
        }
    }
}
