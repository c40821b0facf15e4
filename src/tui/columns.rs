//! The columns of the dashboard's two tables (groups, sockets): names, which ones go first when the screen
//! is narrow, and sizing to content. Every column is also a sort key (`<`/`>` or a click on its header).

/// A column of the group table, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortCol {
    /// The group's namespace (and container); shown only when several namespaces are (`--all-netns`).
    Namespace,
    Proto,
    Endpoint,
    Service,
    Class,
    Sockets,
    Established,
    SynRecv,
    TimeWait,
    CloseWait,
    FinWait,
    AcceptQueue,
    Peers,
    Process,
    Trend,
}

/// A column of the socket table, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockCol {
    Local,
    Peer,
    State,
    RecvQ,
    SendQ,
    Age,
    Process,
    Rtt,
    Retrans,
}

/// What sizing needs to know about a column.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub head: &'static str,
    /// 0: always shown; higher numbers are dropped first on a narrow screen.
    pub prio: u8,
    /// May be narrower than its content (its cells are then shortened with an ellipsis, never cut).
    pub shrink: bool,
    /// Numbers are right-aligned.
    pub right: bool,
}

const fn spec(head: &'static str, prio: u8, shrink: bool, right: bool) -> Spec {
    Spec { head, prio, shrink, right }
}

impl PortCol {
    pub const ALL: [PortCol; 15] = [
        PortCol::Namespace,
        PortCol::Proto,
        PortCol::Endpoint,
        PortCol::Service,
        PortCol::Class,
        PortCol::Sockets,
        PortCol::Established,
        PortCol::SynRecv,
        PortCol::TimeWait,
        PortCol::CloseWait,
        PortCol::FinWait,
        PortCol::AcceptQueue,
        PortCol::Peers,
        PortCol::Process,
        PortCol::Trend,
    ];
    pub fn spec(self) -> Spec {
        match self {
            PortCol::Namespace => spec("Namespace", 1, true, false),
            PortCol::Proto => spec("Proto", 0, false, false),
            PortCol::Endpoint => spec("Endpoint", 0, true, false),
            PortCol::Service => spec("Service", 3, true, false),
            PortCol::Class => spec("Class", 4, false, false),
            PortCol::Sockets => spec("Socks", 0, false, true),
            PortCol::Established => spec("ESTAB", 1, false, true),
            PortCol::SynRecv => spec("SYN-R", 4, false, true),
            PortCol::TimeWait => spec("T-WAIT", 2, false, true),
            PortCol::CloseWait => spec("C-WAIT", 3, false, true),
            PortCol::FinWait => spec("FIN-W", 4, false, true),
            PortCol::AcceptQueue => spec("AcceptQ", 2, false, true),
            PortCol::Peers => spec("Peers", 3, false, true),
            PortCol::Process => spec("Process", 1, true, false),
            PortCol::Trend => spec("Last 60s", 1, false, false),
        }
    }
    /// The name shown in the status line.
    pub fn name(self) -> &'static str {
        match self {
            PortCol::Sockets => "sockets",
            PortCol::Trend => "trend",
            c => c.spec().head,
        }
    }
    pub fn step(self, dir: isize) -> PortCol {
        step(&Self::ALL, self, dir)
    }
}

impl SockCol {
    pub const ALL: [SockCol; 9] = [
        SockCol::Local,
        SockCol::Peer,
        SockCol::State,
        SockCol::RecvQ,
        SockCol::SendQ,
        SockCol::Age,
        SockCol::Process,
        SockCol::Rtt,
        SockCol::Retrans,
    ];
    pub fn spec(self) -> Spec {
        match self {
            SockCol::Local => spec("Local", 0, true, false),
            SockCol::Peer => spec("Peer", 0, true, false),
            SockCol::State => spec("State", 0, false, false),
            SockCol::RecvQ => spec("Recv-Q", 2, false, true),
            SockCol::SendQ => spec("Send-Q", 3, false, true),
            SockCol::Age => spec("Age", 1, false, true),
            SockCol::Process => spec("Process", 2, true, false),
            SockCol::Rtt => spec("RTT ms", 3, false, true),
            SockCol::Retrans => spec("Retr", 4, false, true),
        }
    }
    pub fn name(self) -> &'static str {
        self.spec().head
    }
    pub fn step(self, dir: isize) -> SockCol {
        step(&Self::ALL, self, dir)
    }
}

/// The columns a screen sorts by, in table order, for the sort picker: (name, is the current sort).
pub fn sort_choices(on_ports: bool, port: PortCol, sock: SockCol) -> Vec<(&'static str, bool)> {
    if on_ports {
        PortCol::ALL.iter().map(|c| (c.spec().head, *c == port)).collect()
    } else {
        SockCol::ALL.iter().map(|c| (c.spec().head, *c == sock)).collect()
    }
}

fn step<T: Copy + PartialEq>(all: &[T], cur: T, dir: isize) -> T {
    let i = all.iter().position(|c| *c == cur).unwrap_or(0) as isize;
    all[(i + dir).rem_euclid(all.len() as isize) as usize]
}

/// The narrowest a shrinking column gets before it is dropped instead.
const MIN_SHRINK: u16 = 8;
/// A shrinking column gives up space down to this for a column that would not fit otherwise.
const SHRINK_FOR_OTHERS: u16 = 16;

/// Pick the columns that fit `width` and their widths. `natural[i]` is what column i needs (header and
/// content). Columns of priority 0 always stay; the others join by priority while they fit, keeping display
/// order. When the kept ones are still too wide, the shrinkable ones give up space, widest first.
pub fn fit(specs: &[Spec], natural: &[u16], width: u16) -> Vec<(usize, u16)> {
    let gap = 1u16;
    // A shrinkable column counts at its floor when deciding what fits: a long process list gives up space
    // before a column of higher priority is dropped.
    let floor = |i: usize| if specs[i].shrink { natural[i].min(SHRINK_FOR_OTHERS) } else { natural[i] };
    let need_min = |chosen: &[usize]| -> u32 { chosen.iter().map(|&i| floor(i) as u32 + gap as u32).sum() };
    let need = |chosen: &[usize]| -> u32 { chosen.iter().map(|&i| natural[i] as u32 + gap as u32).sum() };
    let mut chosen: Vec<usize> = (0..specs.len()).filter(|&i| specs[i].prio == 0).collect();
    let max_prio = specs.iter().map(|s| s.prio).max().unwrap_or(0);
    for prio in 1..=max_prio {
        for i in (0..specs.len()).filter(|&i| specs[i].prio == prio) {
            let mut trial = chosen.clone();
            trial.push(i);
            if need_min(&trial) <= width as u32 {
                chosen = trial;
            }
        }
    }
    chosen.sort_unstable();
    let mut widths: Vec<(usize, u16)> = chosen.iter().map(|&i| (i, natural[i])).collect();
    let mut over = need(&chosen).saturating_sub(width as u32);
    // Shrink from the right (the process list before the endpoint), first down to the floor, then further.
    for floor in [SHRINK_FOR_OTHERS, MIN_SHRINK] {
        for (i, w) in widths.iter_mut().rev() {
            if over == 0 {
                break;
            }
            if specs[*i].shrink && *w > floor {
                let give = (*w - floor).min(over.min(u16::MAX as u32) as u16);
                *w -= give;
                over -= give as u32;
            }
        }
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_by_priority_and_shrink() {
        // One namespace: the namespace column is left out, as the port table does.
        let cols = &PortCol::ALL[1..];
        let specs: Vec<Spec> = cols.iter().map(|c| c.spec()).collect();
        let natural: Vec<u16> = specs.iter().map(|s| s.head.len() as u16).collect();
        let all = fit(&specs, &natural, 200);
        assert_eq!(all.len(), cols.len());
        let narrow = fit(&specs, &natural, 30);
        let kept: Vec<PortCol> = narrow.iter().map(|(i, _)| cols[*i]).collect();
        assert_eq!(kept, vec![PortCol::Proto, PortCol::Endpoint, PortCol::Sockets, PortCol::Established]);
        let mut wide = natural.clone();
        wide[1] = 60;
        let squeezed = fit(&specs, &wide, 40);
        let used: u16 = squeezed.iter().map(|(_, w)| w + 1).sum();
        assert!(used <= 40, "{squeezed:?}");
        assert_eq!(squeezed[1].0, 1);
        assert!(squeezed[1].1 < 60 && squeezed[1].1 >= MIN_SHRINK, "the endpoint gives up what the screen lacks");
    }

    #[test]
    fn sort_columns_step_around() {
        assert_eq!(PortCol::Trend.step(1), PortCol::Namespace);
        assert_eq!(PortCol::Namespace.step(-1), PortCol::Trend);
        assert_eq!(SockCol::Local.step(2), SockCol::State);
    }
}
