//! Drawing a table as presented ([`TableShown`]): the header with the sort mark, the visible rows, each cell
//! in its tone, the selection reversed.

use ratatui::Frame;
use ratatui::layout::Constraint;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row, Table};

use super::Theme;
use crate::tui::present::{TableShown, Tone};

/// The style of a tone.
pub fn style(theme: &Theme, tone: Tone) -> Style {
    match tone {
        Tone::Plain => Style::default(),
        Tone::Alarm => theme.alarm(),
        Tone::Dim => theme.dim(),
        Tone::State(s) => theme.state(s),
        Tone::New => theme.new_socket(),
        Tone::Closed => theme.closed(),
    }
}

fn aligned(text: String, right: bool) -> Line<'static> {
    if right { Line::from(text).right_aligned() } else { Line::from(text) }
}

pub fn table(t: &TableShown, f: &mut Frame, theme: &Theme) {
    let head = Row::new(t.heads.iter().map(|(h, right)| Cell::from(aligned(h.clone(), *right))).collect::<Vec<_>>())
        .style(theme.header());
    let rows = t.rows.iter().map(|r| {
        let cells = r
            .cells
            .iter()
            .zip(&t.heads)
            .map(|((text, tone), (_, right))| Cell::from(aligned(text.clone(), *right)).style(style(theme, *tone)));
        let mut s = style(theme, r.tone);
        if r.selected {
            s = s.patch(theme.selected());
        }
        Row::new(cells.collect::<Vec<_>>()).style(s)
    });
    let widths: Vec<Constraint> = t.cols.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    f.render_widget(Table::new(rows, widths).header(head).column_spacing(1), t.area);
}
