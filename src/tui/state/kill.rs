//! The dashboard's `K` dialog: what it would close (one socket, or the connections of a group), how many,
//! and which processes hold them. Pure: the event loop carries the confirmed request out.

use std::collections::BTreeSet;

use crate::group::Group;
use crate::model::text::escape_quoted;
use crate::model::{Proto, Socket};
use crate::tui::model::live::Live;
use crate::tui::state::SockRow;

/// A pending confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct KillDialog {
    /// `1 socket 127.0.0.1:5000 -> 127.0.0.1:40000`, `12 connections of 127.0.0.1:5000`.
    pub what: String,
    pub targets: Vec<Socket>,
    /// `nginx[812]` for each distinct holder looked up.
    pub processes: Vec<String>,
    /// Targets whose holder was not looked up (the dashboard names only what it shows).
    pub unnamed: usize,
}

fn closable(s: &Socket) -> bool {
    matches!(s.proto, Proto::Tcp | Proto::Udp)
}

impl KillDialog {
    /// The connections of a group (its listeners stay: closing a listener is `sockscope kill state listening`).
    pub fn for_group(live: &Live, g: &Group) -> Result<KillDialog, String> {
        if g.key.proto() == Proto::Unix {
            return Err("UNIX sockets cannot be closed from outside".into());
        }
        let idx: Vec<u32> = g.members.iter().copied().filter(|&i| live.socket(i as usize).is_some()).collect();
        if idx.is_empty() && !g.members.is_empty() {
            // Only the open group's sockets are kept one by one (the others are counts).
            return Err(format!("open {} (Enter) to close its connections", escape_quoted(&g.key.to_string())));
        }
        if idx.is_empty() {
            return Err(format!("{} has no connections to close", escape_quoted(&g.key.to_string())));
        }
        Ok(Self::of(live, &idx, format!("{} connections of {}", idx.len(), escape_quoted(&g.key.to_string()))))
    }

    /// One socket of the socket list (a closed one is already gone).
    pub fn for_row(live: &Live, row: SockRow) -> Result<KillDialog, String> {
        let SockRow::Live(i) = row else { return Err("that socket is already closed".into()) };
        let s = live.socket(i as usize).ok_or("no such socket")?;
        if !closable(s) {
            return Err("UNIX sockets cannot be closed from outside".into());
        }
        let mut a = Vec::new();
        crate::output::table::endpoint(&mut a, s, &crate::output::Names::default(), true);
        a.extend_from_slice(b" -> ");
        crate::output::table::endpoint(&mut a, s, &crate::output::Names::default(), false);
        let what = format!("1 socket {} {}", s.proto, escape_quoted(&String::from_utf8_lossy(&a)));
        Ok(Self::of(live, &[i], what))
    }

    fn of(live: &Live, idx: &[u32], what: String) -> KillDialog {
        let mut processes = BTreeSet::new();
        let mut unnamed = 0;
        for &i in idx {
            match live.owners.as_ref().filter(|o| o.of.contains_key(&i)) {
                Some(o) => {
                    let label = o.label(i as usize, usize::MAX);
                    // `-`: no process holds it (TIME-WAIT and the like).
                    if label != "-" {
                        processes.insert(escape_quoted(&label).into_owned());
                    }
                }
                None => unnamed += 1,
            }
        }
        KillDialog {
            what,
            targets: idx.iter().filter_map(|&i| live.socket(i as usize).cloned()).collect(),
            processes: processes.into_iter().collect(),
            unnamed,
        }
    }

    /// The dialog's text.
    pub fn lines(&self) -> Vec<String> {
        let mut l = vec![format!("Close {}?", self.what)];
        let mut who = if self.processes.is_empty() && self.unnamed == 0 {
            "no process (TIME-WAIT or orphaned sockets)".to_string()
        } else {
            self.processes.join(", ")
        };
        if self.unnamed > 0 {
            if !who.is_empty() {
                who.push_str(", ");
            }
            who.push_str(&format!("{} not looked up", self.unnamed));
        }
        l.push(format!("Held by: {who}"));
        l.push("Their peers get a reset; the processes keep running.".into());
        l.push(String::new());
        l.push("y close   any other key: cancel".into());
        l
    }
}
