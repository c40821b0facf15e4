//! What one frame shows, as geometry and text: where each part goes, which columns fit and how wide, the
//! cells of the visible rows with their tone, the sort choices, how far the detail scrolls. Computed once per
//! frame by [`shown`] from the [`App`]; the view draws it and `update` reads it (a click hits the row drawn,
//! a page is the table's height, the sort picker offers the columns shown). Pure, no ratatui widgets.

pub mod columns;
pub mod detail;
pub mod eventlog;
pub mod help;
pub mod layout;
pub mod replay;
pub mod tables;
pub mod text;

use ratatui::layout::Rect;

use crate::model::State;
use crate::tui::state::{App, Screen};
use layout::{Areas, scroll_offset};

/// What a cell or a row means, for the view's theme (colour where it carries meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    /// An audit mark, a filling accept queue.
    Alarm,
    /// Quiet: a trend, a hidden holder.
    Dim,
    /// A TCP state, coloured by what it means.
    State(State),
    /// A socket that opened since the last refresh.
    New,
    /// A socket that closed since the last refresh (listed a while, crossed out).
    Closed,
}

/// One visible row of a table: its cells (text and tone, in the order of [`TableShown::cols`]), its own
/// tone, and whether it is the selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowShown {
    pub cells: Vec<(String, Tone)>,
    pub tone: Tone,
    pub selected: bool,
}

/// The current screen's table as drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShown {
    /// Its area, the header on the first line.
    pub area: Rect,
    /// The columns that fit: (index in the screen's column table, width).
    pub cols: Vec<(usize, u16)>,
    /// The header texts of `cols`, the sort column marked, and whether each is right-aligned.
    pub heads: Vec<(String, bool)>,
    /// The first row shown and how many fit.
    pub offset: usize,
    pub visible: usize,
    pub rows: Vec<RowShown>,
}

/// A column the sort picker and `s` offer: its index in the screen's column table, its name, and whether it
/// is the current sort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortChoice {
    pub col: usize,
    pub name: &'static str,
    pub current: bool,
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub areas: Areas,
    /// The group screen's parts (title, charts, the socket table, the event log when open).
    pub group: Option<layout::GroupAreas>,
    /// The table of the home or group screen (none on the detail, or before the first data).
    pub table: Option<TableShown>,
    /// The columns of the current screen's table that are shown, for the sort picker and `s`.
    pub sort_choices: Vec<SortChoice>,
    /// The detail screen.
    pub detail: Option<detail::DetailShown>,
}

impl Shown {
    /// Rows a page moves (the table's visible rows, the detail's field rows).
    pub fn page(&self) -> usize {
        match (&self.table, &self.detail) {
            (Some(t), _) => t.visible.max(1),
            (None, Some(d)) => d.page.max(1) as usize,
            _ => 1,
        }
    }
}

/// Lay out the frame for a terminal of `app.size`.
pub fn shown(app: &App) -> Shown {
    let areas = layout::areas(app.size);
    let body = areas.body;
    let mut out = Shown { areas, group: None, table: None, sort_choices: Vec::new(), detail: None };
    let Some(live) = app.live.as_deref() else { return out };
    match app.screen {
        Screen::Ports => {
            let visible = body.height.saturating_sub(1) as usize;
            let offset = scroll_offset(app.port_sel, visible);
            let t = tables::port_table(app, live, body, offset, visible);
            out.sort_choices = tables::port_sort_choices(app, &t.cols);
            out.table = Some(t);
        }
        Screen::Sockets => {
            let g = layout::group_areas(body, app.show_events);
            let visible = g.table.height.saturating_sub(1) as usize;
            let offset = scroll_offset(app.sock_sel, visible);
            let t = tables::sock_table(app, live, g.table, offset, visible);
            out.sort_choices = tables::sock_sort_choices(app, &t.cols);
            out.table = Some(t);
            out.group = Some(g);
        }
        Screen::Detail => out.detail = detail::shown(app, live, body),
    }
    out
}
