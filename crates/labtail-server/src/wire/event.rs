//! What the server sends: acknowledgements and events.

use labtail_logs::{Line, Stream};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use super::container::{ContainerState, WireContainer};

/// `true` on the wire: the `ok` of a successful acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct True;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

/// `start-container-logs` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StartAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: True,
    /// The container's own name (the request may have used an ID, a leading
    /// `/` or a plain name with several engines): its events carry this one.
    pub container_name: String,
    /// Absent when the socket already watched it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub state: Option<ContainerState>,
    /// The backlog lines it will get, when it asked by `tail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub tail: Option<u64>,
    /// Seconds it will wait for a container that is not there yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub wait: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub already_watching: Option<bool>,
}

/// `stop-container-logs` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StopAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: True,
    pub container_name: String,
    pub was_watching: bool,
}

/// `list-containers` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ListAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: True,
    pub containers: Vec<WireContainer>,
}

/// `watch-dashboard` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DashboardAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: True,
}

/// `stop-dashboard` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StopDashboardAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: True,
    pub was_watching: bool,
}

/// The server's event names.
pub mod names {
    pub const CONTAINER_LOG: &str = "container-log";
    pub const CONTAINER_LOG_GAP: &str = "container-log-gap";
    pub const CONTAINER_STATUS: &str = "container-status";
    pub const CONTAINER_LOG_END: &str = "container-log-end";
    pub const CONTAINER_UPDATE: &str = "container-update";
    pub const CONTAINER_RENAMED: &str = "container-renamed";
    pub const DASHBOARD: &str = "dashboard";
    pub const HAND_ANSWER: &str = "hand-answer";
}

/// `container-log {containerName, log, lines}`, serialised straight from
/// the engine's lines (no copy: this is the hot path). `log` keeps the Node
/// design's shape (newline-terminated text) for old clients.
/// [`ContainerLogShape`] is the same thing as a plain type. `parts` are
/// runs of consecutive lines (a forwarder that fell behind sends the
/// batches it has queued as one event), written as one `lines` array.
pub struct ContainerLog<'a> {
    pub container_name: &'a str,
    pub parts: &'a [&'a [Line]],
}

struct LineRef<'a>(&'a Line);

impl Serialize for LineRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let level = labtail_attention::level::detect(&l.text);
        let n = 4 + usize::from(l.truncated > 0) + usize::from(level.is_some());
        let mut m = s.serialize_map(Some(n))?;
        // Stack texts: two `String`s per line were a measurable share of
        // the CPU of a busy stream.
        m.serialize_entry("cursor", l.cursor.text().as_str())?;
        m.serialize_entry("ts", l.cursor.ts_text().as_str())?;
        m.serialize_entry("stream", l.stream.as_str())?;
        m.serialize_entry("text", &l.text)?;
        if l.truncated > 0 {
            m.serialize_entry("truncated", &l.truncated)?;
        }
        if let Some(level) = level {
            m.serialize_entry("level", level.as_str())?;
        }
        m.end()
    }
}

struct LinesRef<'a>(&'a [&'a [Line]]);

impl Serialize for LinesRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0.iter().map(|p| p.len()).sum();
        let mut seq = s.serialize_seq(Some(n))?;
        for l in self.0.iter().flat_map(|p| p.iter()) {
            seq.serialize_element(&LineRef(l))?;
        }
        seq.end()
    }
}

impl Serialize for ContainerLog<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let lines = || self.parts.iter().flat_map(|p| p.iter());
        let mut log = String::with_capacity(lines().map(|l| l.text.len() + 1).sum());
        for l in lines() {
            log.push_str(&l.text);
            log.push('\n');
        }
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("containerName", self.container_name)?;
        m.serialize_entry("log", &log)?;
        m.serialize_entry("lines", &LinesRef(self.parts))?;
        m.end()
    }
}

/// `container-log` as a plain type: what [`ContainerLog`] writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(
    test,
    derive(serde::Deserialize, ts_rs::TS),
    ts(rename = "ContainerLog")
)]
#[cfg_attr(test, serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ContainerLogShape {
    pub container_name: String,
    /// The lines' text, each followed by `\n` (the Node design's field).
    pub log: String,
    pub lines: Vec<WireLine>,
}

/// One line in `container-log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize, ts_rs::TS))]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct WireLine {
    /// Names this line uniquely; give it back as `after` to resume.
    pub cursor: String,
    /// Docker's timestamp, RFC 3339 UTC with nine fractional digits.
    pub ts: String,
    pub stream: WireStream,
    pub text: String,
    /// Bytes cut off a line longer than `--max-line-bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub truncated: Option<u64>,
    /// The line's level, where it says one (JSON, logfmt, a word at its
    /// start, a Python traceback).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub level: Option<super::LineLevel>,
}

/// `stdout`, `stderr`, or `console` for a TTY container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(serde::Deserialize, ts_rs::TS), ts(rename = "Stream"))]
pub enum WireStream {
    Stdout,
    Stderr,
    Console,
}

impl From<Stream> for WireStream {
    fn from(s: Stream) -> Self {
        match s {
            Stream::Stdout => WireStream::Stdout,
            Stream::Stderr => WireStream::Stderr,
            Stream::Console => WireStream::Console,
        }
    }
}

/// `container-log-gap`: lines this socket did not get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainerGap {
    pub container_name: String,
    /// Cursor of the last line delivered before the gap.
    pub from: Option<String>,
    /// Cursor of the first line delivered after it.
    pub to: Option<String>,
    /// Lines missed; `null` when not known (a resume cursor not in the log).
    pub count: Option<u64>,
}

/// `container-status`: a watched container's lifecycle changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainerStatus {
    pub container_name: String,
    pub state: ContainerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub exit_code: Option<i64>,
    /// When a waited-for container appears: the name the client asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub requested_name: Option<String>,
}

/// `container-renamed`: a watched container was renamed (`docker rename`).
/// Its events carry `newName` from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainerRenamed {
    /// The name the watch's events carried until now.
    pub container_name: String,
    pub new_name: String,
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum EndReason {
    /// The container stopped; the watch stays, and a new run streams on.
    Exited,
    /// The container was removed. The watch is over.
    Removed,
    /// A `wait` ran out, or the container went before it could be opened.
    NotFound,
    /// The container appeared but its log could not be opened.
    Unavailable,
    /// The user may no longer see the container (an instructor who no
    /// longer teaches its course, a student dropped from it). The watch is
    /// over.
    Revoked,
}

/// `container-log-end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainerEnd {
    pub container_name: String,
    pub reason: EndReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub exit_code: Option<i64>,
}

/// `container-update`: a container in the user's scope changed, watched or
/// not (so lists stay current without polling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ContainerUpdate {
    pub name: String,
    pub id: String,
    pub owner: String,
    pub state: ContainerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub exit_code: Option<i64>,
    /// Its course label's value, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub course: Option<String>,
}

/// `dashboard`: a snapshot of every lab container, for instructors.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Dashboard {
    /// When it was taken (RFC 3339).
    pub at: String,
    pub containers: Vec<DashboardRow>,
    /// Who needs help now, most urgent first (the entries of the
    /// containers the viewer may see).
    pub attention: Vec<super::AttentionEntry>,
}

/// One container on the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DashboardRow {
    #[serde(flatten)]
    pub container: WireContainer,
    pub lines_per_second: f64,
    pub stderr_per_second: f64,
    /// Lines (and stderr lines) counted since the dashboard opened on this node.
    pub lines: u64,
    pub stderr_lines: u64,
    /// Who watches it, on every node.
    pub watchers: Vec<String>,
    /// The courses it counts for, for the dashboard's course filter: its
    /// course label's; without one, for an instructor limited to their
    /// courses, those of theirs its owner is enrolled in.
    pub courses: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use labtail_logs::Cursor;

    #[test]
    fn container_log_keeps_the_node_shape_and_matches_its_plain_type() {
        let lines = [
            Line {
                cursor: Cursor::new(1_000_000_000, Stream::Stdout, 0),
                stream: Stream::Stdout,
                text: "a".into(),
                truncated: 0,
            },
            Line {
                cursor: Cursor::new(1_000_000_001, Stream::Stderr, 0),
                stream: Stream::Stderr,
                text: "<b>".into(),
                truncated: 3,
            },
        ];
        let v = serde_json::to_value(ContainerLog {
            container_name: "c",
            parts: &[&lines[..1], &lines[1..]],
        })
        .unwrap();
        assert_eq!(v["containerName"], "c");
        assert_eq!(v["log"], "a\n<b>\n");
        assert_eq!(v["lines"][0]["cursor"], "0000000001000000000-o000000");
        assert_eq!(v["lines"][0]["ts"], "1970-01-01T00:00:01.000000000Z");
        assert_eq!(v["lines"][1]["stream"], "stderr");
        assert_eq!(v["lines"][1]["truncated"], 3);
        assert!(v["lines"][0].get("truncated").is_none());
        // The hot path writes exactly the documented type, field for field.
        let shape: ContainerLogShape = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&shape).unwrap(), v);
    }

    #[test]
    fn acks_say_ok_true() {
        let ack = StopAck {
            ok: True,
            container_name: "c".into(),
            was_watching: false,
        };
        assert_eq!(
            serde_json::to_value(ack).unwrap(),
            serde_json::json!({"ok": true, "containerName": "c", "wasWatching": false})
        );
    }
}
