//! Several Docker engines behind one API: a [`Fleet`] holds one [`LogEngine`]
//! per configured host and routes every call to the right one.
//!
//! With one host (the default) nothing changes: names are Docker's. With
//! several, every container is shown as `host/name`, and a plain `name` is
//! accepted where exactly one host has such a container. An engine that is
//! down leaves the others alone: its containers stay listed with
//! `host_down` (from the last listing that reached it) until it returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::broadcast;

use crate::config::EngineConfig;
use crate::docker::{BollardDocker, ContainerInfo, Docker, DockerError, Scope, find};
use crate::engine::{LogEngine, StartAt, SubscribeError};
use crate::events::{EngineState, WatchEvent};
use crate::hub::StartError;
use crate::line::Line;
use crate::subscription::Subscription;

/// One configured Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// What `host/name` addresses start with; `local` when not given.
    pub name: String,
    /// `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub url: String,
    /// A directory with `ca.pem`, `cert.pem` and `key.pem` (Docker's
    /// `DOCKER_CERT_PATH` layout): TLS with a client certificate.
    pub tls_dir: Option<PathBuf>,
}

impl HostSpec {
    /// Parses `[NAME=]URL`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, url) = split_name(s);
        let (name, url) = (name.unwrap_or("local").to_owned(), url.to_owned());
        validate_host_name(&name)?;
        if url.is_empty() {
            return Err(format!("Docker host {name:?} has an empty URL"));
        }
        Ok(HostSpec {
            name,
            url,
            tls_dir: None,
        })
    }

    /// Parses every `--docker-host` value: one may go unnamed, several
    /// must each be `NAME=URL`.
    pub fn parse_all(values: &[String]) -> Result<Vec<Self>, String> {
        if values.len() > 1 && values.iter().any(|v| split_name(v.trim()).0.is_none()) {
            return Err("with several --docker-host values, name each one: NAME=URL".into());
        }
        values.iter().map(|v| Self::parse(v.trim())).collect()
    }
}

/// `NAME=URL` → (Some(NAME), URL); an `=` inside the URL is not a name.
fn split_name(s: &str) -> (Option<&str>, &str) {
    match s.split_once('=') {
        Some((n, u)) if !n.contains("://") => (Some(n), u),
        _ => (None, s),
    }
}

/// Host names appear in container addresses: keep them plain.
pub fn validate_host_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid Docker host name {name:?}: use 1-64 of a-z A-Z 0-9 _ . -, starting with a letter or digit"
        ))
    }
}

/// At least one host, each with its own name.
fn check_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), DockerError> {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(DockerError::Other(format!(
                "two Docker hosts are named {name:?}; give each its own name (NAME=URL)"
            )));
        }
    }
    if seen.is_empty() {
        return Err(DockerError::Other("no Docker host configured".into()));
    }
    Ok(())
}

struct Host {
    name: String,
    engine: LogEngine,
}

struct FleetInner {
    /// Never empty.
    hosts: Vec<Host>,
    cfg: EngineConfig,
    events: broadcast::Sender<WatchEvent>,
    /// Per host, the containers its last listings showed (by ID): what is
    /// shown as `unavailable` while the host is down.
    last_seen: Mutex<Vec<HashMap<String, ContainerInfo>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FleetInner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The labels labtail reads: whose a container is, its course, its lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelKeys {
    pub owner: String,
    pub course: String,
    pub lab: String,
}

impl Default for LabelKeys {
    fn default() -> Self {
        LabelKeys {
            owner: "labtail.owner".into(),
            course: crate::DEFAULT_COURSE_LABEL.into(),
            lab: crate::DEFAULT_LAB_LABEL.into(),
        }
    }
}

/// The Docker engines labtail reads from.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<FleetInner>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.inner
                    .hosts
                    .iter()
                    .map(|h| (&h.name, h.engine.docker())),
            )
            .finish()
    }
}

impl Fleet {
    /// Builds a client and an engine per host. Must run inside a Tokio
    /// runtime; engines that are down are retried forever, not an error.
    pub fn new(
        specs: &[HostSpec],
        labels: &LabelKeys,
        log_files: Option<&crate::LogFiles>,
        cfg: EngineConfig,
    ) -> Result<Self, DockerError> {
        check_names(specs.iter().map(|s| s.name.as_str()))?;
        let mut dockers = Vec::new();
        for s in specs {
            let docker = match &s.tls_dir {
                Some(dir) => BollardDocker::new_tls(&s.url, dir, &labels.owner)?,
                None => BollardDocker::new(&s.url, &labels.owner)?,
            };
            let mut docker = docker.with_labels(&labels.course, &labels.lab);
            // A local engine's log files can be read directly.
            if let (Some(files), true) = (log_files, s.url.starts_with("unix://")) {
                docker = docker.with_log_files(files.clone());
            }
            let docker: Docker = Arc::new(docker);
            dockers.push((s.name.clone(), docker));
        }
        Self::from_dockers(dockers, cfg)
    }

    /// A fleet over Docker engines already made (real ones, or scripted ones
    /// in tests), named as given. Must run inside a Tokio runtime.
    pub fn from_dockers(
        dockers: Vec<(String, Docker)>,
        cfg: EngineConfig,
    ) -> Result<Self, DockerError> {
        check_names(dockers.iter().map(|(n, _)| n.as_str()))?;
        let hosts: Vec<Host> = dockers
            .into_iter()
            .map(|(name, docker)| Host {
                name,
                engine: LogEngine::new(docker, cfg.clone()),
            })
            .collect();
        let (tx, _) = broadcast::channel(1024);
        let multi = hosts.len() > 1;
        let mut tasks = Vec::new();
        for host in &hosts {
            // Each host's lifecycle events, named as the fleet names them.
            let mut rx = host.engine.container_events();
            let tx = tx.clone();
            let name = host.name.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let ev = match rx.recv().await {
                        Ok(WatchEvent::Container(mut ev)) => {
                            if multi {
                                ev.name = ev.name.map(|n| format!("{name}/{n}"));
                            }
                            WatchEvent::Container(ev)
                        }
                        Ok(WatchEvent::Resync) => WatchEvent::Resync,
                        Err(broadcast::error::RecvError::Lagged(_)) => WatchEvent::Resync,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let _ = tx.send(ev);
                }
            }));
        }
        let n = hosts.len();
        Ok(Fleet {
            inner: Arc::new(FleetInner {
                hosts,
                cfg,
                events: tx,
                last_seen: Mutex::new(vec![HashMap::new(); n]),
                tasks,
            }),
        })
    }

    fn multi(&self) -> bool {
        self.inner.hosts.len() > 1
    }

    /// The engine configuration (the same for every host).
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// Each host's name and engine. Names are the fleet's: with several
    /// hosts, a container `c` of host `h` is shown as `h/c`.
    pub fn engines(&self) -> Vec<(String, LogEngine)> {
        self.inner
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.engine.clone()))
            .collect()
    }

    /// Whether container names carry their host (`host/name`).
    pub fn names_carry_host(&self) -> bool {
        self.multi()
    }

    /// Each host's name and state.
    pub fn host_states(&self) -> Vec<(String, EngineState)> {
        self.inner
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.engine.engine_state()))
            .collect()
    }

    /// Lifecycle events of lab containers on every host, names as listed.
    pub fn container_events(&self) -> broadcast::Receiver<WatchEvent> {
        self.inner.events.subscribe()
    }

    fn shown(&self, idx: usize, mut c: ContainerInfo) -> ContainerInfo {
        if self.multi() {
            let host = &self.inner.hosts[idx].name;
            c.name = format!("{host}/{}", c.name);
            c.host = Some(host.clone());
        }
        c
    }

    /// The engine a container was listed by. `None` for a container this
    /// fleet did not list (a host name it does not have): never a guess.
    fn host_of(&self, c: &ContainerInfo) -> Option<&Host> {
        match c.host.as_deref() {
            None if !self.multi() => self.inner.hosts.first(),
            Some(h) if self.multi() => self.inner.hosts.iter().find(|x| x.name == h),
            _ => None,
        }
    }

    fn remember(&self, idx: usize, scope: &Scope, list: &[ContainerInfo]) {
        let mut seen = self
            .inner
            .last_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let map = &mut seen[idx];
        map.retain(|_, c| !scope.covers_container(c));
        for c in list {
            map.insert(c.id.as_str().to_owned(), c.clone());
        }
    }

    fn unavailable(&self, idx: usize, scope: &Scope) -> Vec<ContainerInfo> {
        let seen = self
            .inner
            .last_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let host = &self.inner.hosts[idx].name;
        seen[idx]
            .values()
            .filter(|c| scope.covers_container(c))
            .map(|c| ContainerInfo {
                status: format!("Docker host {host} is unreachable"),
                host_down: true,
                ..c.clone()
            })
            .collect()
    }

    /// Lab containers in `scope` on every host, sorted by name. A host that
    /// is down contributes what it last showed, as `unavailable`; only when
    /// no host answers is it an error.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<ContainerInfo>, DockerError> {
        let answers = join_all(
            self.inner
                .hosts
                .iter()
                .map(|h| h.engine.docker().list(scope)),
        )
        .await;
        if !self.multi() {
            return answers.into_iter().next().unwrap_or(Ok(Vec::new()));
        }
        let mut out = Vec::new();
        let mut first_err = None;
        let mut any_ok = false;
        for (idx, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(list) => {
                    any_ok = true;
                    let list: Vec<ContainerInfo> =
                        list.into_iter().map(|c| self.shown(idx, c)).collect();
                    self.remember(idx, scope, &list);
                    out.extend(list);
                }
                Err(e) => {
                    tracing::debug!(host = %self.inner.hosts[idx].name, error = %e, "listing failed");
                    out.extend(self.unavailable(idx, scope));
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) if !any_ok => Err(e),
            _ => {
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
        }
    }

    /// The container a user means, among those in `scope`: `host/name`, or
    /// a plain name or ID that exactly one host has. `None` covers "does not
    /// exist" and "not yours" alike, on purpose.
    pub async fn find(
        &self,
        scope: &Scope,
        name_or_id: &str,
    ) -> Result<Option<ContainerInfo>, DockerError> {
        let wanted = name_or_id.trim_start_matches('/');
        if !self.multi() {
            return find(self.inner.hosts[0].engine.docker().as_ref(), scope, wanted).await;
        }
        if let Some((host, name)) = wanted.split_once('/') {
            let Some(idx) = self.inner.hosts.iter().position(|h| h.name == host) else {
                return Ok(None);
            };
            let found = find(self.inner.hosts[idx].engine.docker().as_ref(), scope, name).await?;
            return Ok(found.map(|c| self.shown(idx, c)));
        }
        let answers = join_all(
            self.inner
                .hosts
                .iter()
                .map(|h| find(h.engine.docker().as_ref(), scope, wanted)),
        )
        .await;
        let mut hits = Vec::new();
        let mut down = None;
        for (idx, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(Some(c)) => hits.push(self.shown(idx, c)),
                Ok(None) => {}
                Err(e) => {
                    down.get_or_insert((idx, e));
                }
            }
        }
        match (hits.len(), down) {
            (1, _) => Ok(hits.pop()),
            (0, None) => Ok(None),
            // It may be on the host that did not answer.
            (0, Some((idx, e))) => Err(match e {
                DockerError::Unreachable(m) => DockerError::Unreachable(format!(
                    "Docker host {}: {m}",
                    self.inner.hosts[idx].name
                )),
                other => other,
            }),
            _ => Err(DockerError::Ambiguous(
                hits.into_iter().map(|c| c.name).collect(),
            )),
        }
    }

    /// Joins the container's stream on its host.
    pub async fn subscribe(
        &self,
        container: &ContainerInfo,
        start: StartAt,
    ) -> Result<Subscription, SubscribeError> {
        let host = self
            .host_of(container)
            .ok_or(SubscribeError::Start(StartError::NotFound))?;
        host.engine.subscribe(container, start).await
    }

    /// The last `n` lines of a container's log, read once.
    pub async fn read_tail(
        &self,
        container: &ContainerInfo,
        n: usize,
    ) -> Result<Vec<Line>, StartError> {
        let host = self.host_of(container).ok_or(StartError::NotFound)?;
        host.engine.read_tail(container, n).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs() {
        assert_eq!(
            HostSpec::parse("unix:///var/run/docker.sock").unwrap(),
            HostSpec {
                name: "local".into(),
                url: "unix:///var/run/docker.sock".into(),
                tls_dir: None
            }
        );
        let s = HostSpec::parse("lab-2=tcp://10.0.0.5:2376").unwrap();
        assert_eq!(
            (s.name.as_str(), s.url.as_str()),
            ("lab-2", "tcp://10.0.0.5:2376")
        );
        // An '=' inside the URL is not a name.
        let s = HostSpec::parse("tcp://h:1/?a=b").unwrap();
        assert_eq!(s.name, "local");
        for bad in ["=unix:///x", "a/b=unix:///x", "x=", "-a=unix:///x"] {
            assert!(HostSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn duplicate_host_names_are_refused() {
        let a = HostSpec::parse("a=unix:///tmp/none-1.sock").unwrap();
        let labels = LabelKeys {
            owner: "l".into(),
            ..LabelKeys::default()
        };
        let err = Fleet::new(&[a.clone(), a], &labels, None, EngineConfig::default()).unwrap_err();
        assert!(
            err.to_string().contains("two Docker hosts are named \"a\""),
            "{err}"
        );
    }
}
