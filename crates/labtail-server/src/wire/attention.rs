//! Attention on the wire: the entries of the dashboard's attention list
//! and of `GET /api/attention`, checkpoints, hands and their answers, and
//! a line's detected level.

use serde::Serialize;

/// Why a student may need help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum AttentionSignal {
    Crashed,
    Oom,
    RestartLoop,
    Unhealthy,
    ErrorBurst,
    Silent,
    Runaway,
    Rule,
    Hand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum EntryState {
    Open,
    Acknowledged,
}

/// A line an entry points at (open it with a permalink: its cursor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Evidence {
    pub cursor: String,
    pub ts: String,
    pub stream: String,
    pub text: String,
}

/// One entry: a student's container and a signal, most urgent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AttentionEntry {
    pub id: i64,
    pub signal: AttentionSignal,
    pub severity: Severity,
    pub owner: String,
    pub container_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub lab: Option<String>,
    /// The container's course label, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub course: Option<String>,
    pub title: String,
    /// When it first and last happened (RFC 3339).
    pub first_at: String,
    pub last_at: String,
    pub count: i64,
    pub evidence: Vec<Evidence>,
    pub state: EntryState,
    /// A raised hand's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub message: Option<String>,
    /// An instructor's answer to a raised hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub answer: Option<String>,
}

impl AttentionEntry {
    pub fn of(e: &labtail_attention::Entry) -> Self {
        use labtail_attention::Signal as S;
        AttentionEntry {
            id: e.id,
            signal: match e.signal {
                S::Crashed => AttentionSignal::Crashed,
                S::Oom => AttentionSignal::Oom,
                S::RestartLoop => AttentionSignal::RestartLoop,
                S::Unhealthy => AttentionSignal::Unhealthy,
                S::ErrorBurst => AttentionSignal::ErrorBurst,
                S::Silent => AttentionSignal::Silent,
                S::Runaway => AttentionSignal::Runaway,
                S::Rule => AttentionSignal::Rule,
                S::Hand => AttentionSignal::Hand,
            },
            severity: e.severity.into(),
            owner: e.owner.clone(),
            container_name: e.container_name.clone(),
            lab: e.lab.clone(),
            course: e.course.clone(),
            title: e.title.clone(),
            first_at: e.first_at.clone(),
            last_at: e.last_at.clone(),
            count: e.count,
            evidence: e
                .evidence
                .iter()
                .map(|v| Evidence {
                    cursor: v.cursor.clone(),
                    ts: v.ts.clone(),
                    stream: v.stream.clone(),
                    text: v.text.clone(),
                })
                .collect(),
            state: e.state.into(),
            message: e.message.clone(),
            answer: e.answer.clone(),
        }
    }
}

impl From<labtail_attention::EntryState> for EntryState {
    /// Dismissed entries are never sent; what is not acknowledged is open.
    fn from(s: labtail_attention::EntryState) -> Self {
        match s {
            labtail_attention::EntryState::Acknowledged => EntryState::Acknowledged,
            _ => EntryState::Open,
        }
    }
}

/// A checkpoint of a container's lab: reached (when, on which line) or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Checkpoint {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub reached_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub cursor: Option<String>,
}

impl Checkpoint {
    pub fn of(c: &labtail_attention::CheckpointState) -> Self {
        Checkpoint {
            name: c.name.clone(),
            reached_at: c.reached_at.clone(),
            cursor: c.cursor.clone(),
        }
    }
}

/// `{ok: true}`: an answer with nothing more to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OkAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: super::True,
}

/// `raise-hand` answered: the entry made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HandAck {
    #[cfg_attr(test, ts(type = "true"))]
    pub ok: super::True,
    pub id: i64,
}

/// `hand-answer {id, message, from}`: to the student whose hand it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct HandAnswer {
    pub id: i64,
    /// The container the hand was raised on.
    pub container_name: String,
    pub message: String,
    pub from: String,
}

/// A hand the user raised, as `GET /api/hands` lists it (so a reload, or a
/// student offline when it was answered, loses no answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct OwnHand {
    pub id: i64,
    pub container_name: String,
    /// The line it was raised on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub line_text: Option<String>,
    pub message: String,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
    pub state: EntryState,
    /// The instructor's answer, and who gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub answer: Option<HandAnswer>,
}

impl OwnHand {
    pub fn of(e: &labtail_attention::Entry, answered_by: Option<&str>) -> Self {
        // The line it was raised on is the evidence stamped at its time.
        let line = e.evidence.iter().find(|ev| {
            ev.cursor
                .parse::<labtail_logs::Cursor>()
                .is_ok_and(|c| labtail_logs::format_rfc3339_nanos(c.ts_nanos) == e.first_at)
        });
        OwnHand {
            id: e.id,
            container_name: e.container_name.clone(),
            cursor: line.map(|l| l.cursor.clone()),
            line_text: line.map(|l| l.text.clone()),
            message: e.message.clone().unwrap_or_default(),
            raised_at: e.first_at.clone(),
            state: e.state.into(),
            answer: e.answer.as_ref().map(|m| HandAnswer {
                id: e.id,
                container_name: e.container_name.clone(),
                message: m.clone(),
                from: answered_by.unwrap_or_default().to_owned(),
            }),
        }
    }
}

/// A line's level, where it says one (`lines[]`' `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS, serde::Deserialize))]
pub enum LineLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl From<labtail_attention::Level> for LineLevel {
    fn from(l: labtail_attention::Level) -> Self {
        match l {
            labtail_attention::Level::Error => LineLevel::Error,
            labtail_attention::Level::Warn => LineLevel::Warn,
            labtail_attention::Level::Info => LineLevel::Info,
            labtail_attention::Level::Debug => LineLevel::Debug,
        }
    }
}

/// A lab as `GET /api/labs` answers it and `PUT /api/labs/{name}` takes
/// it: its rules and checkpoints (the `--labs-file` tables, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Lab {
    pub name: String,
    #[serde(default)]
    pub rule: Vec<LabRule>,
    #[serde(default)]
    pub checkpoint: Vec<LabCheckpoint>,
}

/// A lab's rule: a line matching `pattern` (a regex) raises an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LabRule {
    pub pattern: String,
    pub severity: Severity,
    pub title: String,
}

/// A lab's checkpoint: reached at the first line matching `pattern`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LabCheckpoint {
    pub name: String,
    pub pattern: String,
}

impl From<&labtail_attention::LabDef> for Lab {
    fn from(d: &labtail_attention::LabDef) -> Self {
        Lab {
            name: d.name.clone(),
            rule: d
                .rules
                .iter()
                .map(|r| LabRule {
                    pattern: r.pattern.clone(),
                    severity: r.severity.into(),
                    title: r.title.clone(),
                })
                .collect(),
            checkpoint: d
                .checkpoints
                .iter()
                .map(|c| LabCheckpoint {
                    name: c.name.clone(),
                    pattern: c.pattern.clone(),
                })
                .collect(),
        }
    }
}

impl From<Lab> for labtail_attention::LabDef {
    fn from(l: Lab) -> Self {
        labtail_attention::LabDef {
            name: l.name,
            rules: l
                .rule
                .into_iter()
                .map(|r| labtail_attention::RuleDef {
                    pattern: r.pattern,
                    severity: r.severity.into(),
                    title: r.title,
                })
                .collect(),
            checkpoints: l
                .checkpoint
                .into_iter()
                .map(|c| labtail_attention::CheckpointDef {
                    name: c.name,
                    pattern: c.pattern,
                })
                .collect(),
        }
    }
}

impl From<labtail_attention::Severity> for Severity {
    fn from(s: labtail_attention::Severity) -> Self {
        match s {
            labtail_attention::Severity::Error => Severity::Error,
            labtail_attention::Severity::Warning => Severity::Warning,
            labtail_attention::Severity::Info => Severity::Info,
        }
    }
}

impl From<Severity> for labtail_attention::Severity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Error => labtail_attention::Severity::Error,
            Severity::Warning => labtail_attention::Severity::Warning,
            Severity::Info => labtail_attention::Severity::Info,
        }
    }
}
