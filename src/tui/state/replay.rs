//! The replay's state: a recording on a timeline as plain data ([`Replay`]): the samples, the cursor, the groups of
//! the sample under it, the open group, and the selected group's series and events (loaded by the loop).

use crate::record::reader::SampleInfo;
use crate::record::{EventRow, GroupRow};
use crate::tui::model::history::{GroupSample, Series};
use crate::tui::state::signals::Requests;

/// Everything the replay shows. Plain data.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub file: String,
    pub samples: Vec<SampleInfo>,
    /// The sample under the cursor.
    pub cursor: usize,
    /// Its groups, once loaded (`loaded` = the sample they belong to).
    pub groups: Vec<GroupRow>,
    pub loaded: Option<usize>,
    pub sel: usize,
    /// The group opened with Enter (its row when opened: it names the group when the cursor's sample
    /// lacks it); `None` on the list of groups.
    pub open: Option<GroupRow>,
    /// The selected (or open) group over the whole recording, in at most [`crate::tui::model::history::CAP`] samples
    /// whatever its length: the list's trend and the group screen's charts.
    pub series: Series<GroupSample>,
    pub series_of: Option<GroupId>,
    /// Events of the selected group up to the cursor, newest first.
    pub events: Vec<EventRow>,
    /// The time being typed after `:`.
    pub input: Option<String>,
    pub message: Option<String>,
    pub quit: bool,
    /// Colour on (off with `NO_COLOR`).
    pub color: bool,
    /// What the signals asked (end, stop, take the terminal again); the loop acts on it.
    pub signals: Requests,
}

/// A group's identity across samples: its key.
pub type GroupId = crate::group::GroupKey;

impl Replay {
    pub fn selected(&self) -> Option<&GroupRow> {
        self.groups.get(self.sel)
    }

    /// The identity of a group across samples.
    pub fn group_id(g: &GroupRow) -> GroupId {
        g.key.clone()
    }

    /// The group the series and the events are about: the open one, else the selected one.
    pub fn subject(&self) -> Option<&GroupRow> {
        self.open.as_ref().or(self.selected())
    }

    /// The open group as recorded in the cursor's sample (`None` when it was absent then).
    pub fn open_at_cursor(&self) -> Option<&GroupRow> {
        let id = Replay::group_id(self.open.as_ref()?);
        self.groups.iter().find(|g| Replay::group_id(g) == id)
    }

    /// Seconds from the recording's first sample to `time_ms`: the charts' time.
    pub fn t(&self, time_ms: u64) -> f64 {
        time_ms.saturating_sub(self.samples.first().map_or(0, |s| s.time_ms)) as f64 / 1000.0
    }
}
