//! Listing from a file of raw sock_diag replies (`-D` output of sockscope or ss) instead of the kernel: a
//! capture that replays the same listing anywhere, for bug reports and tests.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::decode::{self, Message};
use crate::collect::{CollectError, Collector, Query, Sink, Snapshot, Source, Table};
use crate::model::Family;

/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;

/// The largest dump read (a 200k-socket TCP dump is about 30 MiB).
const MAX_DUMP: u64 = 1 << 30;

/// Sockets decoded from a dump file; a query then selects among them as it would among the kernel's.
pub struct DumpCollector {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl DumpCollector {
    pub fn open(path: &Path) -> Result<DumpCollector, CollectError> {
        let io = |e| CollectError::ProcIo { path: path.to_path_buf(), error: e };
        let mut bytes = Vec::new();
        std::fs::File::open(path).map_err(io)?.take(MAX_DUMP).read_to_end(&mut bytes).map_err(io)?;
        Ok(DumpCollector { path: path.to_path_buf(), bytes })
    }
}

/// Decode every socket message of a dump. Message boundaries come from the netlink headers; each message's
/// family byte says how to decode it (inet messages are TCP, as ss's dumps are).
pub fn decode_dump(bytes: &[u8], details: bool) -> Result<Vec<crate::model::Socket>, String> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + NLMSG_HDRLEN <= bytes.len() {
        let len = u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
        if len < NLMSG_HDRLEN || off + len > bytes.len() {
            return Err(format!("bad netlink message length {len} at byte {off}"));
        }
        let msg = &bytes[off..off + len];
        let family = msg.get(NLMSG_HDRLEN).copied().unwrap_or(0);
        let table = match family {
            2 => Table::Tcp4,
            10 => Table::Tcp6,
            1 => Table::Unix,
            17 => Table::Packet,
            16 => Table::Netlink,
            _ => Table::Tcp4,
        };
        let mut err = None;
        decode::for_each_message(msg, table, details, |m| {
            match m {
                Message::Socket(s) => out.push(s),
                Message::Error(code) if code != 0 => err = Some(code),
                _ => {}
            }
            true
        })
        .map_err(|e| format!("at byte {off}: {e}"))?;
        if let Some(code) = err {
            return Err(format!(
                "the dump holds a netlink error ({}) at byte {off}",
                std::io::Error::from_raw_os_error(-code)
            ));
        }
        off += (len + 3) & !3;
    }
    Ok(out)
}

impl Collector for DumpCollector {
    /// The file's sockets the query selects, in one batch.
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        let table = Table::Tcp4;
        let socks = decode_dump(&self.bytes, q.details).map_err(|msg| CollectError::ProcParse {
            path: self.path.clone(),
            line: 0,
            msg,
        })?;
        let keep = |s: &crate::model::Socket| {
            let family = match s.family {
                Family::Inet => q.ipv4,
                Family::Inet6 => q.ipv6,
                Family::Unix => q.unix,
                Family::Packet => q.packet,
                Family::Netlink => q.netlink,
            };
            let proto = match s.proto {
                crate::model::Proto::Tcp => q.tcp,
                _ => true,
            };
            family && proto && q.states.kernel_mask() & s.state.bit() != 0
        };
        let kept: Vec<crate::model::Socket> = socks.into_iter().filter(keep).collect();
        if !kept.is_empty() {
            sink(kept);
        }
        Ok(Snapshot { sources: vec![(table, Source::Netlink)], ..Snapshot::default() })
    }
}
