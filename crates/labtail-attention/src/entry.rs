//! What attention says: an entry per (student, container, signal), most
//! urgent first, and the checkpoints reached.

use serde::{Deserialize, Serialize};

/// Why a student may need help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
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

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Crashed => "crashed",
            Signal::Oom => "oom",
            Signal::RestartLoop => "restart-loop",
            Signal::Unhealthy => "unhealthy",
            Signal::ErrorBurst => "error-burst",
            Signal::Silent => "silent",
            Signal::Runaway => "runaway",
            Signal::Rule => "rule",
            Signal::Hand => "hand",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        Some(match s {
            "crashed" => Signal::Crashed,
            "oom" => Signal::Oom,
            "restart-loop" => Signal::RestartLoop,
            "unhealthy" => Signal::Unhealthy,
            "error-burst" => Signal::ErrorBurst,
            "silent" => Signal::Silent,
            "runaway" => Signal::Runaway,
            "rule" => Signal::Rule,
            "hand" => Signal::Hand,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "warning" | "warn" => Severity::Warning,
            "error" => Severity::Error,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    Open,
    Acknowledged,
    Dismissed,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Open => "open",
            EntryState::Acknowledged => "acknowledged",
            EntryState::Dismissed => "dismissed",
        }
    }
}

/// A line an entry points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub cursor: String,
    pub ts: String,
    pub stream: String,
    pub text: String,
}

impl Evidence {
    pub fn of(l: &labtail_logs::Line) -> Self {
        Evidence {
            cursor: l.cursor.text().as_str().to_owned(),
            ts: l.cursor.ts_text().as_str().to_owned(),
            stream: l.stream.as_str().to_owned(),
            // Evidence is shown, not stored whole: a long line is cut.
            text: cut(&l.text, 2000),
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Whose container a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// Docker's ID (full).
    pub container_id: String,
    pub container_name: String,
    pub owner: String,
    pub course: Option<String>,
    pub lab: Option<String>,
}

impl Subject {
    pub fn of(c: &labtail_logs::ContainerInfo) -> Option<Subject> {
        Some(Subject {
            container_id: c.id.as_str().to_owned(),
            container_name: c.name.clone(),
            owner: c.owner.clone()?,
            course: c.course.clone(),
            lab: c.lab.clone(),
        })
    }
}

/// What the evaluator found.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// A signal (again): one entry per (container, signal, rule).
    Raise(Raise),
    /// A checkpoint reached for the first time.
    Reached(Reached),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Raise {
    pub subject: Subject,
    pub signal: Signal,
    /// A rule signal's rule, as `lab#index`; empty otherwise.
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    /// When it happened (Docker's time, ns).
    pub at: i64,
    /// How many times (lines matching a rule in one batch).
    pub count: usize,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reached {
    pub subject: Subject,
    pub lab: String,
    pub checkpoint: String,
    pub at: i64,
    pub evidence: Evidence,
}

/// An entry as stored (the wire's `AttentionEntry` is made from it).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub signal: Signal,
    pub severity: Severity,
    pub owner: String,
    pub container_name: String,
    pub lab: Option<String>,
    pub course: Option<String>,
    pub title: String,
    pub first_at: String,
    pub last_at: String,
    pub count: i64,
    pub evidence: Vec<Evidence>,
    pub state: EntryState,
    /// A raised hand's message, and the answer given, if any.
    pub message: Option<String>,
    pub answer: Option<String>,
}

/// A checkpoint of a container, reached or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointState {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}
