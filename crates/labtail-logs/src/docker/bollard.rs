//! [`DockerApi`] over bollard: the real Docker engine (unix socket, TCP, TLS
//! with a client certificate).

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    EventsOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, StatsOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{
    Action, ContainerEvent, ContainerInfo, DockerApi, DockerError, DockerId, Limits, ReadFrom,
    RunInfo, Scope, Usage,
};
use crate::frame::Frame;

fn from_bollard(e: bollard::errors::Error) -> DockerError {
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

/// A real Docker engine.
#[derive(Clone)]
pub struct BollardDocker {
    docker: Docker,
    /// Read json-file logs from disk (see `files.rs`), and where.
    files: Option<LogFiles>,
    /// What `files` found per container: its log file, or `None` to read
    /// through the API (another log driver, unreadable).
    log_files: std::sync::Arc<std::sync::Mutex<HashMap<DockerId, Option<super::files::LogFile>>>>,
    owner_label: String,
    /// Labels read besides the owner's: a container's course and lab.
    course_label: String,
    lab_label: String,
    host: String,
}

impl std::fmt::Debug for BollardDocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BollardDocker")
            .field("host", &self.host)
            .finish()
    }
}

pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How labtail reaches a local engine's log files: Docker's data root as
/// dockerd names it, and as labtail sees it (the same, unless labtail runs
/// in a container with the directory mounted elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFiles {
    pub docker_root: std::path::PathBuf,
    pub seen_at: std::path::PathBuf,
}

impl LogFiles {
    /// Where a container's json-file log is, as labtail sees it (Docker's
    /// `LogPath` for the json-file driver, known without asking).
    pub(crate) fn log_path(&self, id: &DockerId) -> std::path::PathBuf {
        let id = id.as_str();
        self.seen_at
            .join("containers")
            .join(id)
            .join(format!("{id}-json.log"))
    }
}

impl Default for LogFiles {
    fn default() -> Self {
        LogFiles {
            docker_root: "/var/lib/docker".into(),
            seen_at: "/var/lib/docker".into(),
        }
    }
}

impl BollardDocker {
    /// Builds a client for `host` (`unix:///path`, `tcp://h:p`, `http://h:p`).
    /// Nothing is sent until the first call, so this works with the engine down.
    pub fn new(host: &str, owner_label: &str) -> Result<Self, DockerError> {
        let docker = Docker::connect_with_host(host).map_err(|e| {
            DockerError::Other(format!(
                "cannot use Docker host {host:?} ({e}); expected unix:///path or tcp://host:port"
            ))
        })?;
        Ok(BollardDocker {
            docker,
            files: None,
            log_files: Default::default(),
            owner_label: owner_label.to_owned(),
            course_label: crate::DEFAULT_COURSE_LABEL.to_owned(),
            lab_label: crate::DEFAULT_LAB_LABEL.to_owned(),
            host: host.to_owned(),
        })
    }

    /// Reads json-file logs from disk where it can (`files.rs`); the API
    /// for the rest.
    pub fn with_log_files(mut self, files: LogFiles) -> Self {
        self.files = Some(files);
        self
    }

    /// The container's json-file log, if labtail can read it (looked up
    /// once per container), and whether the container runs now.
    async fn log_file(
        &self,
        id: &DockerId,
    ) -> Result<(Option<super::files::LogFile>, bool), DockerError> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "inspect").increment(1);
        let c = match self
            .docker
            .inspect_container(id.as_str(), None::<InspectContainerOptions>)
            .await
            .map_err(from_bollard)
        {
            Ok(c) => c,
            Err(DockerError::NotFound) => return self.pinned_log(id),
            Err(e) => return Err(e),
        };
        let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if let Some(known) = self
            .log_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok((known.clone(), running));
        }
        let json_file = c
            .host_config
            .as_ref()
            .and_then(|h| h.log_config.as_ref())
            .and_then(|l| l.typ.as_deref())
            == Some("json-file");
        let tty = c.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
        let log_path = c.log_path.filter(|p| !p.is_empty());
        if json_file && log_path.is_none() {
            // Created, never started: Docker makes the file at the first
            // start. Nothing to read yet, and nothing to remember.
            return Ok((None, running));
        }
        let found = match (&self.files, log_path) {
            (Some(files), Some(path)) if json_file => {
                let path = std::path::PathBuf::from(path);
                let local = match path.strip_prefix(&files.docker_root) {
                    Ok(rest) => files.seen_at.join(rest),
                    Err(_) => path,
                };
                match std::fs::File::open(&local) {
                    Ok(file) => {
                        // Held: if the container goes (`--rm`) before its
                        // log is read, Docker's deleting it loses nothing.
                        super::files::keep(&local, file);
                        Some(super::files::LogFile { path: local, tty })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Removed since the inspect: perhaps held open.
                        return self.pinned_log(id).or(Ok((None, false)));
                    }
                    Err(e) => {
                        static ONCE: std::sync::Once = std::sync::Once::new();
                        ONCE.call_once(|| {
                            tracing::warn!(
                                path = %local.display(),
                                error = %e,
                                "cannot read Docker's log files; reading logs through the API \
                                 (see --docker-log-files in docs/deploy.md)"
                            );
                        });
                        None
                    }
                }
            }
            _ => None,
        };
        self.log_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), found.clone());
        Ok((found, running))
    }

    /// A removed container's log, still readable where labtail held its
    /// file open since it started (`files::pin`): read to its end.
    fn pinned_log(
        &self,
        id: &DockerId,
    ) -> Result<(Option<super::files::LogFile>, bool), DockerError> {
        let Some(files) = &self.files else {
            return Err(DockerError::NotFound);
        };
        let path = files.log_path(id);
        if !super::files::is_pinned(&path) {
            return Err(DockerError::NotFound);
        }
        let tty = self
            .log_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .and_then(|f| f.as_ref().map(|f| f.tty))
            .unwrap_or(false);
        Ok((Some(super::files::LogFile { path, tty }), false))
    }

    fn api_logs(
        &self,
        id: &DockerId,
        from: ReadFrom,
        follow: bool,
    ) -> BoxStream<'static, Result<Frame, DockerError>> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "logs").increment(1);
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
            .logs(id.as_str(), Some(b.build()))
            .filter_map(|item| async move {
                match item {
                    Ok(out) => Frame::from_bollard(out).map(Ok),
                    Err(e) => Some(Err(from_bollard(e))),
                }
            })
            .boxed()
    }

    /// Reads a container's course and lab from these labels (default
    /// `labtail.course`, `labtail.lab`).
    pub fn with_labels(mut self, course: &str, lab: &str) -> Self {
        self.course_label = course.to_owned();
        self.lab_label = lab.to_owned();
        self
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
        Ok(BollardDocker {
            docker,
            files: None,
            log_files: Default::default(),
            owner_label: owner_label.to_owned(),
            course_label: crate::DEFAULT_COURSE_LABEL.to_owned(),
            lab_label: crate::DEFAULT_LAB_LABEL.to_owned(),
            host: host.to_owned(),
        })
    }

    fn label_filter(&self, scope: &Scope) -> String {
        match scope {
            Scope::Owner(user) => format!("{}={}", self.owner_label, user),
            Scope::AllLabContainers | Scope::Courses(_) => self.owner_label.clone(),
        }
    }
}

impl BollardDocker {
    /// `inspect`, counted: the current run's state and the limits.
    async fn inspect(
        &self,
        id: &DockerId,
    ) -> Result<bollard::models::ContainerInspectResponse, DockerError> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "inspect").increment(1);
        self.docker
            .inspect_container(id.as_str(), None::<InspectContainerOptions>)
            .await
            .map_err(from_bollard)
    }
}

#[async_trait::async_trait]
impl DockerApi for BollardDocker {
    fn host(&self) -> &str {
        &self.host
    }

    fn owner_label(&self) -> &str {
        &self.owner_label
    }

    /// bollard speaks a newer API version by default than e.g. Docker 20.10
    /// accepts. All clones share the result.
    async fn negotiate(&self) -> Result<(), DockerError> {
        self.docker
            .clone()
            .negotiate_version()
            .await
            .map(|_| ())
            .map_err(from_bollard)
    }

    async fn ping(&self) -> Result<(), DockerError> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "ping").increment(1);
        self.docker.ping().await.map(|_| ()).map_err(from_bollard)
    }

    async fn engine_id(&self) -> Result<String, DockerError> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "info").increment(1);
        let info = self.docker.info().await.map_err(from_bollard)?;
        info.id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| DockerError::Other("the engine did not say its ID".into()))
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<ContainerInfo>, DockerError> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "list").increment(1);
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
            .map_err(from_bollard)?;
        let mut out: Vec<ContainerInfo> = list
            .into_iter()
            .filter_map(|c| {
                let id = DockerId::from_docker(c.id?)?;
                let name = c
                    .names
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| id.short().to_owned());
                let label = |key: &str| c.labels.as_ref().and_then(|l| l.get(key)).cloned();
                let owner = label(&self.owner_label);
                let (course, lab) = (label(&self.course_label), label(&self.lab_label));
                // Docker already filtered; this re-check makes the ownership rule
                // hold even if a filter were ever dropped by an engine.
                scope
                    .covers(owner.as_deref(), course.as_deref())
                    .then(|| ContainerInfo {
                        id,
                        name,
                        owner,
                        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                        status: c.status.unwrap_or_default(),
                        image: c.image.unwrap_or_default(),
                        created: c.created.unwrap_or_default(),
                        course,
                        lab,
                        host: None,
                        host_down: false,
                    })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn inspect_run(&self, id: &DockerId) -> Result<RunInfo, DockerError> {
        let c = self.inspect(id).await?;
        let st = c.state.unwrap_or_default();
        Ok(RunInfo {
            running: st.running.unwrap_or(false),
            restarting: st.restarting.unwrap_or(false),
            exit_code: st.exit_code,
            state: st.status.map(|s| s.to_string()).unwrap_or_default(),
            started_at: st
                .started_at
                .as_deref()
                .and_then(crate::timefmt::parse_rfc3339_nanos),
            // Docker says `0001-01-01T00:00:00Z` for "never".
            finished_at: st
                .finished_at
                .as_deref()
                .and_then(crate::timefmt::parse_rfc3339_nanos)
                .filter(|t| *t > 0),
        })
    }

    fn logs(
        &self,
        id: &DockerId,
        from: ReadFrom,
        follow: bool,
    ) -> BoxStream<'static, Result<Frame, DockerError>> {
        if self.files.is_none() {
            return self.api_logs(id, from, follow);
        }
        let (me, id) = (self.clone(), id.clone());
        futures_util::stream::once(async move {
            match me.log_file(&id).await {
                Ok((Some(file), running)) => {
                    metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "log_file")
                        .increment(1);
                    // As through the API: a stopped container's log is read
                    // to its end, not followed.
                    let (tx, rx) = tokio::sync::mpsc::channel(8);
                    tokio::spawn(super::files::read(file, from, follow && running, tx));
                    futures_util::stream::unfold(rx, |mut rx| async move {
                        rx.recv().await.map(|item| (item, rx))
                    })
                    .flat_map(|item| match item {
                        Ok(frames) => {
                            futures_util::stream::iter(frames.into_iter().map(Ok)).left_stream()
                        }
                        Err(e) => futures_util::stream::iter([Err(e)]).right_stream(),
                    })
                    .boxed()
                }
                Ok((None, _)) => me.api_logs(&id, from, follow),
                Err(e) => futures_util::stream::iter([Err(e)]).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn usage(&self, id: &DockerId) -> Result<Usage, DockerError> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "stats").increment(1);
        // One sample, at once: without `one-shot` dockerd waits for a
        // second sample (about a second) to fill `precpu_stats`; labtail
        // keeps the previous sample itself.
        let opts = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stream = self.docker.stats(id.as_str(), Some(opts));
        let s = match stream.next().await {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(from_bollard(e)),
            None => return Err(DockerError::Other("stats: no sample".into())),
        };
        let cpu = s.cpu_stats.unwrap_or_default();
        let mem = s.memory_stats.unwrap_or_default();
        // `docker stats` leaves out the page cache the kernel can drop:
        // `inactive_file` (cgroup v2) or `total_inactive_file` (v1).
        let cache = mem
            .stats
            .as_ref()
            .and_then(|m| {
                m.get("inactive_file")
                    .or_else(|| m.get("total_inactive_file"))
            })
            .copied()
            .unwrap_or(0);
        Ok(Usage {
            cpu_ns: cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
            online_cpus: cpu.online_cpus.unwrap_or(0),
            memory_bytes: mem.usage.unwrap_or(0).saturating_sub(cache),
        })
    }

    async fn limits(&self, id: &DockerId) -> Result<Limits, DockerError> {
        let c = self.inspect(id).await?;
        let h = c.host_config.unwrap_or_default();
        let cpus = match (h.nano_cpus, h.cpu_quota, h.cpu_period) {
            (Some(n), _, _) if n > 0 => Some(n as f64 / 1e9),
            // A quota without a period is over the default 100 ms period.
            (_, Some(q), p) if q > 0 => {
                Some(q as f64 / p.filter(|p| *p > 0).unwrap_or(100_000) as f64)
            }
            _ => None,
        };
        Ok(Limits {
            cpus,
            memory_bytes: h
                .memory
                .filter(|m| *m > 0)
                .and_then(|m| u64::try_from(m).ok()),
        })
    }

    fn events(&self) -> BoxStream<'static, Result<ContainerEvent, DockerError>> {
        metrics::counter!(crate::metrics::DOCKER_REQUESTS, "call" => "events").increment(1);
        let mut filters = HashMap::new();
        filters.insert("type".to_owned(), vec!["container".to_owned()]);
        filters.insert("label".to_owned(), vec![self.owner_label.clone()]);
        let opts = EventsOptionsBuilder::default().filters(&filters).build();
        let owner_label = self.owner_label.clone();
        let course_label = self.course_label.clone();
        let lab_label = self.lab_label.clone();
        let files = self.files.clone();
        self.docker
            .events(Some(opts))
            .filter_map(move |item| {
                let owner_label = owner_label.clone();
                let course_label = course_label.clone();
                let lab_label = lab_label.clone();
                let files = files.clone();
                async move {
                    match item {
                        Ok(ev) => {
                            let actor = ev.actor.unwrap_or_default();
                            let attrs = actor.attributes.unwrap_or_default();
                            // An event without a proper ID is no event of a container.
                            let id = DockerId::from_docker(actor.id?)?;
                            let action = Action::parse(ev.action.as_deref().unwrap_or_default());
                            if let Some(files) = &files {
                                // Before anything else hears of it: a container
                                // run with --rm may be gone, its log file with
                                // it, a few milliseconds after it started.
                                match action {
                                    Action::Start => super::files::pin(&files.log_path(&id)),
                                    Action::Destroy => super::files::release(&files.log_path(&id)),
                                    _ => {}
                                }
                            }
                            Some(Ok(ContainerEvent {
                                id,
                                name: attrs.get("name").cloned(),
                                owner: attrs.get(&owner_label).cloned(),
                                course: attrs.get(&course_label).cloned(),
                                lab: attrs.get(&lab_label).cloned(),
                                image: attrs.get("image").cloned(),
                                action,
                                exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
                                time_nanos: ev.time_nano.unwrap_or_default(),
                            }))
                        }
                        Err(e) => Some(Err(from_bollard(e))),
                    }
                }
            })
            .boxed()
    }
}
