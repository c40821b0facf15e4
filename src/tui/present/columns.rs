//! Sizing the columns of the dashboard's tables: what sizing knows of a column ([`Spec`]), and [`fit`]: which
//! ones stay when the screen is narrow and how wide. What each column shows and how it sorts is its entry in
//! [`super::tables`].

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

impl Spec {
    pub const fn new(head: &'static str, prio: u8, shrink: bool, right: bool) -> Spec {
        Spec { head, prio, shrink, right }
    }
}

/// The narrowest a shrinking column gets before it is dropped instead.
pub(crate) const MIN_SHRINK: u16 = 8;
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
