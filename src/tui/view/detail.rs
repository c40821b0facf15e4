//! Drawing the detail screen of one socket from its [`DetailShown`]: the fields in their box, and the socket's
//! charts (rtt, congestion window, throughput) below or beside them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Theme;
use crate::tui::present::detail::DetailShown;
use crate::tui::state::App;

pub fn detail(app: &App, d: &DetailShown, f: &mut Frame, theme: &Theme) {
    let block = Block::default().borders(Borders::ALL).title(" socket ");
    let inner = block.inner(d.area);
    f.render_widget(block, d.area);
    let mut shown: Vec<Line> = d
        .lines
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(k.clone(), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(v.clone()),
            ])
        })
        .collect();
    if let Some(note) = &d.note {
        shown.push(Line::from(Span::styled(note.clone(), theme.dim())));
    }
    let p = d.parts;
    f.render_widget(Paragraph::new(shown), p.fields);
    if p.charts.height > 0 {
        super::charts::socket_charts(app, f, p.charts, theme);
    } else if p.charts.y < inner.y + inner.height {
        // Nothing silent: say where the charts went.
        let note = " charts of rtt, cwnd and throughput need a taller window";
        f.render_widget(Paragraph::new(Span::styled(note, theme.dim())), Rect { height: 1, ..p.charts });
    }
}
