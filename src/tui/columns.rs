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
/// content); `filled[i]` whether any of its cells has content. Columns of priority 0 always stay; the others
/// join by priority while they fit, keeping display order; a column whose cells are all empty yields to
/// every column with content (an empty T-WAIT column does not push out a C-WAIT column with 200 sockets).
/// A column joins only if every column more important than it keeps the width its content needs (the
/// process list is not squeezed to make room for the service name). When the kept ones are still too wide,
/// the shrinkable ones give up space, the least important first.
pub fn fit(specs: &[Spec], natural: &[u16], filled: &[bool], width: u16) -> Vec<(usize, u16)> {
    let gap = 1u16;
    let max_prio = specs.iter().map(|s| s.prio).max().unwrap_or(0);
    let prio = |i: usize| match specs[i].prio {
        0 => 0,
        p if !filled.get(i).copied().unwrap_or(true) => p + max_prio + 1,
        p => p,
    };
    // A shrinkable column counts at its floor when its own rank is being decided, at its natural width when
    // a less important one is. The columns that always stay give up room for the essential ones (rank 1)
    // only: a long endpoint shrinks before the process list goes, not for the service name.
    let floor = |i: usize| if specs[i].shrink { natural[i].min(SHRINK_FOR_OTHERS) } else { natural[i] };
    let need = |chosen: &[usize], rank: u8| -> u32 {
        let at_floor = |i: usize| prio(i) >= rank || (prio(i) == 0 && rank == 1);
        let w = |i: usize| if at_floor(i) { floor(i) } else { natural[i] };
        chosen.iter().map(|&i| w(i) as u32 + gap as u32).sum()
    };
    let mut chosen: Vec<usize> = (0..specs.len()).filter(|&i| prio(i) == 0).collect();
    for rank in 1..=2 * max_prio + 1 {
        for i in (0..specs.len()).filter(|&i| prio(i) == rank) {
            let mut trial = chosen.clone();
            trial.push(i);
            if need(&trial, rank) <= width as u32 {
                chosen = trial;
            }
        }
    }
    chosen.sort_unstable();
    let mut widths: Vec<(usize, u16)> = chosen.iter().map(|&i| (i, natural[i])).collect();
    let mut over = widths.iter().map(|(_, w)| *w as u32 + gap as u32).sum::<u32>().saturating_sub(width as u32);
    // Shrink the least important first (then from the right), first down to the floor, then further.
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&k| (std::cmp::Reverse(prio(widths[k].0)), std::cmp::Reverse(k)));
    for floor in [SHRINK_FOR_OTHERS, MIN_SHRINK] {
        for &k in &order {
            let (i, w) = &mut widths[k];
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
        let filled = vec![true; specs.len()];
        let all = fit(&specs, &natural, &filled, 200);
        assert_eq!(all.len(), cols.len());
        let narrow = fit(&specs, &natural, &filled, 30);
        let kept: Vec<PortCol> = narrow.iter().map(|(i, _)| cols[*i]).collect();
        assert_eq!(kept, vec![PortCol::Proto, PortCol::Endpoint, PortCol::Sockets, PortCol::Established]);
        let mut wide = natural.clone();
        wide[1] = 60;
        let squeezed = fit(&specs, &wide, &filled, 40);
        let used: u16 = squeezed.iter().map(|(_, w)| w + 1).sum();
        assert!(used <= 40, "{squeezed:?}");
        assert_eq!(squeezed[1].0, 1);
        assert!(squeezed[1].1 < 60 && squeezed[1].1 >= MIN_SHRINK, "the endpoint gives up what the screen lacks");
    }

    fn port_cols(natural: &[(PortCol, u16)], empty: &[PortCol], width: u16) -> Vec<(PortCol, u16)> {
        let cols = &PortCol::ALL[1..];
        let specs: Vec<Spec> = cols.iter().map(|c| c.spec()).collect();
        let widths: Vec<u16> = (cols.iter())
            .map(|c| natural.iter().find(|n| n.0 == *c).map_or(c.spec().head.len() as u16 + 1, |n| n.1))
            .collect();
        let filled: Vec<bool> = cols.iter().map(|c| !empty.contains(c)).collect();
        fit(&specs, &widths, &filled, width).into_iter().map(|(i, w)| (cols[i], w)).collect()
    }

    /// Regression: the Process column (priority 1) was squeezed to 16-19 characters (`wrk 40, +3`) while
    /// Service and Class (priority 3 and 4) kept their room. The more important column gets its width first.
    #[test]
    fn the_process_column_gets_its_width_before_less_important_columns() {
        let natural = [(PortCol::Endpoint, 21), (PortCol::Service, 9), (PortCol::Process, 40), (PortCol::Trend, 10)];
        let got = port_cols(&natural, &[], 120);
        let used: u16 = got.iter().map(|(_, w)| w + 1).sum();
        assert!(used <= 120, "{got:?}");
        assert!(got.contains(&(PortCol::Process, 40)), "the process list whole: {got:?}");
        assert!(!got.iter().any(|c| c.0 == PortCol::Class || c.0 == PortCol::Service), "{got:?}");
        // With room for everything, everything stays.
        assert_eq!(port_cols(&natural, &[], 200).len(), PortCol::ALL.len() - 1);
    }

    /// Regression: at 80 columns an empty T-WAIT column stayed while C-WAIT with 200 sockets was dropped.
    #[test]
    fn an_empty_count_column_yields_to_one_with_content() {
        let natural = [(PortCol::Endpoint, 21), (PortCol::Process, 12), (PortCol::Trend, 10)];
        let got: Vec<PortCol> = port_cols(&natural, &[PortCol::TimeWait], 84).into_iter().map(|c| c.0).collect();
        assert!(got.contains(&PortCol::CloseWait) && !got.contains(&PortCol::TimeWait), "{got:?}");
        let got: Vec<PortCol> = port_cols(&natural, &[PortCol::CloseWait], 84).into_iter().map(|c| c.0).collect();
        assert!(got.contains(&PortCol::TimeWait) && !got.contains(&PortCol::CloseWait), "{got:?}");
        // An empty column still shows when there is room for it.
        assert_eq!(port_cols(&natural, &[PortCol::TimeWait], 200).len(), PortCol::ALL.len() - 1);
    }

    #[test]
    fn sort_columns_step_around() {
        assert_eq!(PortCol::Trend.step(1), PortCol::Namespace);
        assert_eq!(PortCol::Namespace.step(-1), PortCol::Trend);
        assert_eq!(SockCol::Local.step(2), SockCol::State);
    }
}
