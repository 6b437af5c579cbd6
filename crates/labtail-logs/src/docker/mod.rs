//! The Docker boundary: everything the engine asks of a Docker engine, as a
//! trait, and the types that cross it.
//!
//! labtail sits on a Docker socket, which is root on the host. [`DockerApi`]
//! is the whole of what labtail asks of it, all read-only: version/ping,
//! list containers, inspect one, read its logs, watch events. Two
//! implementations:
//! - [`BollardDocker`] talks to a real dockerd (unix socket, TCP, TLS);
//! - `ScriptedDocker` (feature `scripted`, and in this crate's tests) plays
//!   a Docker engine from a script, for the seams a real engine cannot be
//!   made to produce on demand (two streams stamped with the same
//!   nanosecond, a follow stream cut at an exact line, an engine outage).
//!
//! No client string ever reaches a Docker URL: logs and inspect take a
//! [`DockerId`], which only this module can make, from what Docker itself
//! listed (bollard puts the argument into the path unescaped).

mod bollard;
mod files;
#[cfg(any(test, feature = "scripted"))]
mod scripted;
mod watch;

use std::fmt;
use std::sync::Arc;

use futures_util::stream::BoxStream;

use crate::frame::Frame;

pub use self::bollard::{BollardDocker, DEFAULT_DOCKER_HOST, LogFiles};
#[cfg(any(test, feature = "scripted"))]
pub use self::scripted::{Request, ScriptedDocker};

/// A Docker engine as the log engine uses it. Shared by every hub of one
/// engine, hence `Arc<dyn DockerApi>`.
#[async_trait::async_trait]
pub trait DockerApi: Send + Sync + fmt::Debug + 'static {
    /// The address of the engine, for messages.
    fn host(&self) -> &str;

    /// The label whose value names a container's owner.
    fn owner_label(&self) -> &str;

    /// Agrees on an API version with the engine. Called again after the
    /// engine came back: it may have been upgraded.
    async fn negotiate(&self) -> Result<(), DockerError>;

    async fn ping(&self) -> Result<(), DockerError>;

    /// The engine's own ID (`docker info`): the same whichever address or
    /// node reaches it, so nodes can agree on who records it.
    async fn engine_id(&self) -> Result<String, DockerError>;

    /// Lab containers in `scope`, running or not, sorted by name.
    async fn list(&self, scope: &Scope) -> Result<Vec<ContainerInfo>, DockerError>;

    /// The current run of a container.
    async fn inspect_run(&self, id: &DockerId) -> Result<RunInfo, DockerError>;

    /// The log of a container as frames with timestamps, in the order of
    /// Docker's log; with `follow`, then new frames as they come, until the
    /// container stops.
    fn logs(
        &self,
        id: &DockerId,
        from: ReadFrom,
        follow: bool,
    ) -> BoxStream<'static, Result<Frame, DockerError>>;

    /// Lifecycle events of labelled containers, from now on.
    fn events(&self) -> BoxStream<'static, Result<ContainerEvent, DockerError>>;

    /// What a running container uses now (`docker stats`, one sample, no
    /// stream): cheap for dockerd, read from the container's cgroup.
    async fn usage(&self, id: &DockerId) -> Result<Usage, DockerError>;

    /// The limits a container was given (`--cpus`, `--memory`).
    async fn limits(&self, id: &DockerId) -> Result<Limits, DockerError>;
}

/// One sample of what a container uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// CPU time used since it started, nanoseconds (all cores).
    pub cpu_ns: u64,
    /// CPUs the engine's machine has.
    pub online_cpus: u32,
    /// Memory in use, without the page cache the kernel can drop (as
    /// `docker stats` shows it).
    pub memory_bytes: u64,
}

/// The limits of a container; `None` where it has none.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// CPUs it may use (`--cpus`, or quota / period).
    pub cpus: Option<f64>,
    pub memory_bytes: Option<u64>,
}

/// How the engine holds a Docker engine.
pub type Docker = Arc<dyn DockerApi>;

/// Finds the container a user means by `name_or_id` among those in `scope`.
/// `None` covers "does not exist" and "not yours" alike, on purpose. The
/// string is only compared with what Docker listed, never sent to it.
pub async fn find(
    docker: &dyn DockerApi,
    scope: &Scope,
    name_or_id: &str,
) -> Result<Option<ContainerInfo>, DockerError> {
    let wanted = name_or_id.trim_start_matches('/');
    let list = docker.list(scope).await?;
    if let Some(c) = list.iter().find(|c| c.name == wanted) {
        return Ok(Some(c.clone()));
    }
    // An ID or an unambiguous ID prefix of at least 12 hex digits, as
    // `docker ps` prints them.
    if wanted.len() >= 12 && wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut hits = list.iter().filter(|c| c.id.as_str().starts_with(wanted));
        if let (Some(c), None) = (hits.next(), hits.next()) {
            return Ok(Some(c.clone()));
        }
    }
    Ok(None)
}

/// A container ID as Docker gave it: 64 lowercase hex digits. Only this
/// module makes one, from Docker's own answers, so a Docker URL can only
/// ever hold an ID Docker listed; the compiler checks that rule.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DockerId(String);

impl DockerId {
    /// From Docker's answer; `None` for anything that is not an ID.
    fn from_docker(s: String) -> Option<Self> {
        let ok = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then_some(DockerId(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-digit form `docker ps` shows.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Debug for DockerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DockerId({})", self.short())
    }
}

impl fmt::Display for DockerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for DockerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Errors from dockerd, reduced to what labtail acts on.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("container not found")]
    NotFound,
    #[error("Docker engine unreachable: {0}")]
    Unreachable(String),
    #[error("Docker engine error: {0}")]
    Other(String),
    /// Several Docker hosts have a container of that name (only from a
    /// [`crate::Fleet`]); the names say which.
    #[error("several Docker hosts have a container of that name: {}", .0.join(", "))]
    Ambiguous(Vec<String>),
}

impl DockerError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DockerError::Unreachable(_))
    }
}

/// A container as labtail shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerInfo {
    /// Docker's full ID.
    pub id: DockerId,
    /// Docker's name without the leading `/` (with several Docker hosts,
    /// `host/name`).
    pub name: String,
    /// Value of the owner label; `None` means "not a lab container".
    pub owner: Option<String>,
    /// Docker's word: `created`, `running`, `paused`, `restarting`,
    /// `removing`, `exited`, `dead`.
    pub state: String,
    /// Docker's human summary, e.g. `Up 5 minutes`.
    pub status: String,
    pub image: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// The course label's value (`labtail.course` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course: Option<String>,
    /// The lab label's value (`labtail.lab` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    /// The Docker host it runs on, when labtail reads several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its Docker host does not answer: this is what it last showed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_down: bool,
}

#[cfg(test)]
impl ContainerInfo {
    /// A running container of that name, for unit tests of the engine.
    pub(crate) fn for_tests(name: &str) -> Self {
        ContainerInfo {
            id: DockerId(format!("{:064x}", name.len())),
            name: name.to_owned(),
            owner: Some("test".into()),
            state: "running".into(),
            status: "Up".into(),
            image: "test".into(),
            created: 0,
            course: None,
            lab: None,
            host: None,
            host_down: false,
        }
    }
}

/// What `inspect` tells about a container's current run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub running: bool,
    pub restarting: bool,
    pub exit_code: Option<i64>,
    pub state: String,
    /// When the current (or last) run started, nanoseconds since the
    /// epoch: tells one run from the next.
    pub started_at: Option<i64>,
    /// When the last run ended (nanoseconds since the epoch), if one has;
    /// while a run is running, the end of the one before it.
    pub finished_at: Option<i64>,
}

/// What happened to a container, from Docker's event `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Start,
    Restart,
    Die,
    Destroy,
    Pause,
    Unpause,
    Rename,
    Oom,
    /// `health_status: healthy` (a `--health-cmd` passing again).
    Healthy,
    /// `health_status: unhealthy`.
    Unhealthy,
    /// Anything else (`exec_start: …`, `attach`, `kill`, …).
    Other,
}

impl Action {
    pub fn parse(s: &str) -> Action {
        match s {
            "create" => Action::Create,
            "start" => Action::Start,
            "restart" => Action::Restart,
            "die" => Action::Die,
            "destroy" => Action::Destroy,
            "pause" => Action::Pause,
            "unpause" => Action::Unpause,
            "rename" => Action::Rename,
            "oom" => Action::Oom,
            "health_status: healthy" => Action::Healthy,
            "health_status: unhealthy" => Action::Unhealthy,
            _ => Action::Other,
        }
    }

    /// Docker's word for it (`other` for the rest).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Restart => "restart",
            Action::Die => "die",
            Action::Destroy => "destroy",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Rename => "rename",
            Action::Oom => "oom",
            Action::Healthy => "health_status: healthy",
            Action::Unhealthy => "health_status: unhealthy",
            Action::Other => "other",
        }
    }
}

/// A lifecycle event of a labelled container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: DockerId,
    pub name: Option<String>,
    pub owner: Option<String>,
    /// The course label's value, when the container has one.
    pub course: Option<String>,
    /// The lab label's value, when the container has one.
    pub lab: Option<String>,
    /// Its image, as Docker names it in the event.
    pub image: Option<String>,
    pub action: Action,
    pub exit_code: Option<i64>,
    pub time_nanos: i64,
}

/// Which containers a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Containers whose owner label equals this user name.
    Owner(String),
    /// Every container that carries the owner label.
    AllLabContainers,
    /// An instructor's courses: the students of each. A container is in
    /// it when its owner is a student of one of them and, if it names a
    /// course (its course label), that course is one of them with that
    /// student in it.
    Courses(std::sync::Arc<Courses>),
}

/// Course → its students.
pub type Courses = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

impl Scope {
    /// Whether a container with this owner label (and course label) value
    /// is in the scope.
    pub fn covers(&self, owner: Option<&str>, course: Option<&str>) -> bool {
        let Some(owner) = owner else {
            return false;
        };
        match self {
            Scope::Owner(user) => owner == user,
            Scope::AllLabContainers => true,
            Scope::Courses(courses) => match course {
                Some(c) => courses.get(c).is_some_and(|s| s.contains(owner)),
                None => courses.values().any(|s| s.contains(owner)),
            },
        }
    }

    /// [`Scope::covers`] for a container as listed.
    pub fn covers_container(&self, c: &ContainerInfo) -> bool {
        self.covers(c.owner.as_deref(), c.course.as_deref())
    }
}

/// Where a log read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The last `n` messages.
    Tail(u64),
    /// Everything stamped at this second or later (Docker takes whole
    /// seconds here); 0 is the whole log.
    SinceSecs(i64),
}

/// Backoff for reconnecting to dockerd: 100 ms doubling to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: std::time::Duration,
    max: std::time::Duration,
}

impl Backoff {
    pub fn new(max: std::time::Duration) -> Self {
        Backoff {
            next: std::time::Duration::from_millis(100),
            max,
        }
    }

    pub fn reset(&mut self) {
        self.next = std::time::Duration::from_millis(100);
    }

    pub fn next_delay(&mut self) -> std::time::Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_ids_are_ids() {
        let id = "a".repeat(64);
        assert_eq!(DockerId::from_docker(id.clone()).unwrap().as_str(), id);
        for bad in [
            "a".repeat(63),
            "a".repeat(65),
            "A".repeat(64),
            format!("{}/", "a".repeat(63)),
            "../../containers/json".into(),
        ] {
            assert!(DockerId::from_docker(bad.clone()).is_none(), "{bad}");
        }
    }

    #[test]
    fn actions_parse() {
        assert_eq!(Action::parse("die"), Action::Die);
        assert_eq!(Action::parse("exec_start: sh -c x"), Action::Other);
        for a in [Action::Create, Action::Destroy, Action::Oom] {
            assert_eq!(Action::parse(a.as_str()), a);
        }
    }
}
