//! The only module that talks to dockerd.
//!
//! labtail sits on a Docker socket, which is root on the host. This module is
//! the whole of what labtail asks of it, all read-only: version/ping, list
//! containers, inspect one, read its logs, and watch events. No client string
//! ever reaches a Docker URL path: logs and inspect take a container *ID* that
//! came from Docker's own list, never a name typed by a user (bollard puts the
//! argument into the path unescaped).

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    EventsOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder, LogsOptionsBuilder,
};
use futures_util::Stream;
use futures_util::StreamExt;

use crate::frame::Frame;

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
    fn from_bollard(e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError {
                status_code: 404, ..
            } => DockerError::NotFound,
            E::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Other(format!("{status_code}: {message}")),
            E::HyperResponseError { .. }
            | E::IOError { .. }
            | E::RequestTimeoutError
            | E::SocketNotFoundError(_)
            | E::HyperLegacyError { .. } => DockerError::Unreachable(e.to_string()),
            other => DockerError::Other(other.to_string()),
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, DockerError::Unreachable(_))
    }
}

/// A container as labtail shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerInfo {
    /// Docker's full ID.
    pub id: String,
    /// Docker's name without the leading `/`.
    pub name: String,
    /// Value of the owner label; `None` means "not a lab container".
    pub owner: Option<String>,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub state: String,
    /// Docker's human summary, e.g. `Up 5 minutes`.
    pub status: String,
    pub image: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// The Docker host it runs on, when labtail reads several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// What `inspect` tells about a container's current run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub running: bool,
    pub restarting: bool,
    pub exit_code: Option<i64>,
    pub state: String,
}

/// A lifecycle event of a labelled container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    /// Docker's action: `create`, `start`, `die`, `destroy`, `restart`, …
    pub action: String,
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
}

impl Scope {
    /// Whether a container with this owner label value is in the scope.
    pub fn covers(&self, owner: Option<&str>) -> bool {
        match self {
            Scope::Owner(user) => owner == Some(user.as_str()),
            Scope::AllLabContainers => owner.is_some(),
        }
    }
}

/// Where a log read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The last `n` lines.
    Tail(u64),
    /// Everything from this second on (Docker takes whole seconds).
    SinceSecs(i64),
}

#[derive(Clone)]
pub struct DockerClient {
    docker: Docker,
    owner_label: String,
    host: String,
}

impl std::fmt::Debug for DockerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerClient")
            .field("host", &self.host)
            .finish()
    }
}

pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

impl DockerClient {
    /// Builds a client for `host` (`unix:///path`, `tcp://h:p`, `http://h:p`).
    /// Nothing is sent until the first call, so this works with the engine down.
    pub fn new(host: &str, owner_label: &str) -> Result<Self, DockerError> {
        let docker = Docker::connect_with_host(host).map_err(|e| {
            DockerError::Other(format!(
                "cannot use Docker host {host:?} ({e}); expected unix:///path or tcp://host:port"
            ))
        })?;
        Ok(DockerClient {
            docker,
            owner_label: owner_label.to_owned(),
            host: host.to_owned(),
        })
    }

    /// Builds a client for `tcp://host:port` speaking TLS with a client
    /// certificate: `dir` holds `ca.pem`, `cert.pem` and `key.pem` (the
    /// layout of Docker's `DOCKER_CERT_PATH`).
    pub fn new_tls(
        host: &str,
        dir: &std::path::Path,
        owner_label: &str,
    ) -> Result<Self, DockerError> {
        let (ca, cert, key) = (
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        );
        for f in [&ca, &cert, &key] {
            if !f.is_file() {
                return Err(DockerError::Other(format!(
                    "TLS for Docker host {host:?}: {} is missing (expected ca.pem, cert.pem, key.pem)",
                    f.display()
                )));
            }
        }
        // rustls needs one process-wide crypto provider; a second install
        // is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let docker =
            Docker::connect_with_ssl(host, &key, &cert, &ca, 120, bollard::API_DEFAULT_VERSION)
                .map_err(|e| {
                    DockerError::Other(format!(
                        "cannot use Docker host {host:?} with the TLS files in {}: {e}",
                        dir.display()
                    ))
                })?;
        Ok(DockerClient {
            docker,
            owner_label: owner_label.to_owned(),
            host: host.to_owned(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn owner_label(&self) -> &str {
        &self.owner_label
    }

    /// Agrees on an API version with the engine (bollard speaks a newer one by
    /// default than e.g. Docker 20.10 accepts). All clones share the result.
    /// Call again after the engine came back: it may have been upgraded.
    pub async fn negotiate(&self) -> Result<(), DockerError> {
        self.docker
            .clone()
            .negotiate_version()
            .await
            .map(|_| ())
            .map_err(DockerError::from_bollard)
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        metrics::counter!("labtail_docker_requests_total", "call" => "ping").increment(1);
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(DockerError::from_bollard)
    }

    fn label_filter(&self, scope: &Scope) -> String {
        match scope {
            Scope::Owner(user) => format!("{}={}", self.owner_label, user),
            Scope::AllLabContainers => self.owner_label.clone(),
        }
    }

    /// Lab containers in `scope`, running or not, sorted by name.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<ContainerInfo>, DockerError> {
        metrics::counter!("labtail_docker_requests_total", "call" => "list").increment(1);
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec![self.label_filter(scope)]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(DockerError::from_bollard)?;
        let mut out: Vec<ContainerInfo> = list
            .into_iter()
            .filter_map(|c| {
                let id = c.id?;
                let name = c
                    .names
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| id.chars().take(12).collect());
                let owner = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(&self.owner_label))
                    .cloned();
                // Docker already filtered; this re-check makes the ownership rule
                // hold even if a filter were ever dropped by an engine.
                scope.covers(owner.as_deref()).then(|| ContainerInfo {
                    id,
                    name,
                    owner,
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    status: c.status.unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    created: c.created.unwrap_or_default(),
                    host: None,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Finds the container a user means by `name_or_id` among those in `scope`.
    /// `None` covers "does not exist" and "not yours" alike, on purpose.
    pub async fn find(
        &self,
        scope: &Scope,
        name_or_id: &str,
    ) -> Result<Option<ContainerInfo>, DockerError> {
        let wanted = name_or_id.trim_start_matches('/');
        let list = self.list(scope).await?;
        if let Some(c) = list.iter().find(|c| c.name == wanted) {
            return Ok(Some(c.clone()));
        }
        // An ID or an unambiguous ID prefix of at least 12 hex digits, as
        // `docker ps` prints them.
        if wanted.len() >= 12 && wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hits = list.iter().filter(|c| c.id.starts_with(wanted));
            if let (Some(c), None) = (hits.next(), hits.next()) {
                return Ok(Some(c.clone()));
            }
        }
        Ok(None)
    }

    /// The current run of a container, by Docker ID.
    pub async fn inspect_run(&self, id: &str) -> Result<RunInfo, DockerError> {
        debug_assert!(is_docker_id(id));
        metrics::counter!("labtail_docker_requests_total", "call" => "inspect").increment(1);
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(DockerError::from_bollard)?;
        let st = c.state.unwrap_or_default();
        Ok(RunInfo {
            running: st.running.unwrap_or(false),
            restarting: st.restarting.unwrap_or(false),
            exit_code: st.exit_code,
            state: st.status.map(|s| s.to_string()).unwrap_or_default(),
        })
    }

    /// The log of a container (by Docker ID) as frames with timestamps.
    pub fn logs(
        &self,
        id: &str,
        from: ReadFrom,
        follow: bool,
    ) -> impl Stream<Item = Result<Frame, DockerError>> + Send + 'static {
        debug_assert!(is_docker_id(id));
        metrics::counter!("labtail_docker_requests_total", "call" => "logs").increment(1);
        let mut b = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(follow);
        b = match from {
            ReadFrom::Tail(n) => b.tail(&n.to_string()),
            // Docker reads `since=0` as "no limit", which is also right for 0.
            ReadFrom::SinceSecs(s) => b
                .tail("all")
                .since(i32::try_from(s.max(0)).unwrap_or(i32::MAX)),
        };
        self.docker
            .logs(id, Some(b.build()))
            .filter_map(|item| async move {
                match item {
                    Ok(out) => Frame::from_bollard(out).map(Ok),
                    Err(e) => Some(Err(DockerError::from_bollard(e))),
                }
            })
    }

    /// Lifecycle events of labelled containers, from now on.
    pub fn events(
        &self,
    ) -> impl Stream<Item = Result<ContainerEvent, DockerError>> + Send + 'static {
        metrics::counter!("labtail_docker_requests_total", "call" => "events").increment(1);
        let mut filters = HashMap::new();
        filters.insert("type".to_owned(), vec!["container".to_owned()]);
        filters.insert("label".to_owned(), vec![self.owner_label.clone()]);
        let opts = EventsOptionsBuilder::default().filters(&filters).build();
        let owner_label = self.owner_label.clone();
        self.docker.events(Some(opts)).filter_map(move |item| {
            let owner_label = owner_label.clone();
            async move {
                match item {
                    Ok(ev) => {
                        let actor = ev.actor.unwrap_or_default();
                        let attrs = actor.attributes.unwrap_or_default();
                        Some(Ok(ContainerEvent {
                            id: actor.id?,
                            name: attrs.get("name").cloned(),
                            owner: attrs.get(&owner_label).cloned(),
                            action: ev.action.unwrap_or_default(),
                            exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
                            time_nanos: ev.time_nano.unwrap_or_default(),
                        }))
                    }
                    Err(e) => Some(Err(DockerError::from_bollard(e))),
                }
            }
        })
    }
}

/// Docker IDs are 64 lowercase hex digits.
pub fn is_docker_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Backoff for reconnecting to dockerd: 100 ms doubling to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(100),
            max,
        }
    }

    pub fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}
