//! Screen geometry: the bands of the screen, the parts of the group screen, scrolling.

use ratatui::layout::Rect;

/// The three horizontal bands of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Totals, source, collection time, interval.
    pub title: Rect,
    /// The table (its first line is the header).
    pub body: Rect,
    /// Key hints, the filter input, or messages.
    pub status: Rect,
}

pub fn areas((w, h): (u16, u16)) -> Areas {
    let title_h = 1.min(h);
    let status_h = if h >= 3 { 1 } else { 0 };
    let body_h = h.saturating_sub(title_h + status_h);
    Areas {
        title: Rect::new(0, 0, w, title_h),
        body: Rect::new(0, title_h, w, body_h),
        status: Rect::new(0, title_h + body_h, w, status_h),
    }
}

/// First visible row so that `sel` is on screen, with `visible` rows: the selection scrolls into view at the
/// bottom, which needs no state.
pub fn scroll_offset(sel: usize, visible: usize) -> usize {
    if visible == 0 { sel } else { sel.saturating_sub(visible - 1) }
}

/// Rows the group screen gives its charts, 0 when the screen is too short for them and the table.
pub fn group_charts_height(body_height: u16) -> u16 {
    if body_height >= 18 { (body_height / 3).clamp(8, 14) } else { 0 }
}

/// Rows the event log (`e`) takes below the socket table, when the table keeps enough.
const EVENT_LOG: u16 = 9;

/// The bands of the group screen's body: its title line, the charts, the socket table (header first), and
/// the event log below it when it is open and there is room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupAreas {
    pub title: Rect,
    pub charts: Rect,
    pub table: Rect,
    pub events: Option<Rect>,
}

pub fn group_areas(body: Rect, events: bool) -> GroupAreas {
    let title_h = 1.min(body.height);
    let rest = body.height - title_h;
    let charts_h = group_charts_height(rest);
    let mut table = Rect { y: body.y + title_h + charts_h, height: rest - charts_h, ..body };
    let mut log = None;
    if events && table.height > 12 {
        table.height -= EVENT_LOG;
        log = Some(Rect { y: table.y + table.height, height: EVENT_LOG, ..table });
    }
    GroupAreas {
        title: Rect { height: title_h, ..body },
        charts: Rect { y: body.y + title_h, height: charts_h, ..body },
        table,
        events: log,
    }
}
