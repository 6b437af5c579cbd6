//! Lab history over HTTP: a page of a container's history, a search, and
//! the lines and timeline entries they hold.

use labtail_logs::Line;
use serde::Serialize;

use super::event::{WireLine, WireStream};

impl From<&Line> for WireLine {
    fn from(l: &Line) -> Self {
        WireLine {
            cursor: l.cursor.to_string(),
            ts: l.cursor.ts_rfc3339(),
            stream: WireStream::from(l.stream),
            text: l.text.clone(),
            truncated: (l.truncated > 0).then_some(l.truncated as u64),
            level: labtail_attention::level::detect(&l.text).map(Into::into),
        }
    }
}

/// `GET /api/history/{name}/lines`: a page of a container's whole log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HistoryPage {
    /// The container's name now (a rename shows its new name).
    pub container_name: String,
    pub lines: Vec<WireLine>,
    /// The lifecycle and the gaps that fall within the page.
    pub events: Vec<HistoryEvent>,
    /// Older lines are kept: ask `before` this page's first cursor.
    pub more_before: bool,
    /// Newer lines are recorded: ask `after` this page's last cursor.
    pub more_after: bool,
    /// Lines retention dropped before the first one kept.
    pub pruned: i64,
    /// Every line recorded so far.
    pub total: i64,
}

/// One entry of a container's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HistoryEvent {
    /// RFC 3339.
    pub at: String,
    pub kind: HistoryEventKind,
    /// The cursor of the line it comes before, in this page; `null` when
    /// it comes after the page's last line.
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub exit_code: Option<i64>,
    /// Lines a gap lost (`null`: not known); lines retention pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub count: Option<i64>,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum HistoryEventKind {
    Created,
    Started,
    Exited,
    Removed,
    Renamed,
    /// Lines history could not record (Docker no longer had them).
    Gap,
    /// Lines retention removed.
    Pruned,
}

impl HistoryEventKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => HistoryEventKind::Created,
            "started" => HistoryEventKind::Started,
            "exited" => HistoryEventKind::Exited,
            "removed" => HistoryEventKind::Removed,
            "renamed" => HistoryEventKind::Renamed,
            "gap" => HistoryEventKind::Gap,
            "pruned" => HistoryEventKind::Pruned,
            _ => return None,
        })
    }
}

/// `GET /api/history/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HistorySearch {
    pub hits: Vec<SearchHit>,
    /// Give it back as `after` for more; `null` when everything in range
    /// was searched.
    pub next: Option<String>,
    /// It stopped at its time budget (`--history-search-budget`), not at
    /// the hit limit: `next` goes on from there.
    pub timed_out: bool,
    /// Lines searched.
    pub scanned: u64,
}

/// A line that matched, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SearchHit {
    pub container_name: String,
    /// The container's ID (12 digits): also names a removed container
    /// whose name was used again.
    pub container_id: String,
    pub owner: String,
    #[serde(flatten)]
    pub line: WireLine,
}
