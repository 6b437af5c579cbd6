//! Live state for the web app, pushed rather than polled.
//!
//! - `container-update`: every lifecycle change of a lab container (from the
//!   Docker event stream) goes to the room of its owner (`owner:<name>`) and
//!   to `instructors`, so lists stay current without polling.
//! - `dashboard`: while at least one instructor has the dashboard open, labtail
//!   follows every lab container, counts lines and stderr lines, and sends a
//!   snapshot each second (and at once on a lifecycle change) to the room
//!   `dashboard`: state, lines per second, stderr counts and who is watching.
//!   When the last dashboard closes, those upstreams close too.
//!
//! Both are sent per node (`io.local()`): each node watches its own Docker
//! event stream and its own upstreams, so nothing is sent twice in a cluster.
//! "Who is watching" is the exception: it is read from the `watching:` rooms
//! of every node (through the Redis adapter when there is one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labtail_logs::{Action, ContainerInfo, Delivery, DockerId, Scope, StartAt, Stream, WatchEvent};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::state::AppState;

pub const DASHBOARD_ROOM: &str = "dashboard";
pub const INSTRUCTORS_ROOM: &str = "instructors";

pub fn owner_room(owner: &str) -> String {
    format!("owner:{owner}")
}

/// The room a socket is in while it watches a container: the adapter knows
/// every node's rooms, so these say who watches what across nodes.
pub fn watching_room(container_id: &str, user: &str) -> String {
    format!("watching:{container_id}:{user}")
}

/// `(container ID, user)` of a [`watching_room`]. IDs are hex, so the first
/// `:` after the prefix ends the ID, whatever the user name holds.
pub fn parse_watching_room(room: &str) -> Option<(&str, &str)> {
    room.strip_prefix("watching:")?.split_once(':')
}

/// The dashboard's viewers on this node and its stats task.
#[derive(Debug, Default)]
pub struct Dashboard {
    inner: Mutex<DashInner>,
}

#[derive(Debug, Default)]
struct DashInner {
    viewers: usize,
    task: Option<tokio::task::AbortHandle>,
    latest: Option<Value>,
}

impl Dashboard {
    /// A viewer joined; starts following every lab container if it is the first.
    pub fn add_viewer(&self, app: &AppState) {
        let mut d = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        d.viewers += 1;
        if d.viewers == 1 {
            let task = tokio::spawn(run(app.clone()));
            d.task = Some(task.abort_handle());
        }
    }

    /// A viewer left; the last one stops the stats (and their upstreams).
    pub fn remove_viewer(&self) {
        let mut d = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        d.viewers = d.viewers.saturating_sub(1);
        if d.viewers == 0 {
            if let Some(t) = d.task.take() {
                t.abort();
            }
            d.latest = None;
        }
    }

    pub fn latest(&self) -> Option<Value> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .latest
            .clone()
    }

    fn set_latest(&self, v: Value) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).latest = Some(v);
    }
}

#[derive(Debug, Default)]
struct Counters {
    lines: AtomicU64,
    stderr: AtomicU64,
}

struct Tracked {
    info: ContainerInfo,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
    last_lines: u64,
    last_stderr: u64,
    lines_per_second: f64,
    stderr_per_second: f64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(app: AppState, info: ContainerInfo, counters: Arc<Counters>) {
    let Ok(mut sub) = app.engine.subscribe(&info, StartAt::Tail(0)).await else {
        return;
    };
    while let Some(d) = sub.next().await {
        match d {
            Delivery::Lines(slice) => {
                let lines = slice.lines();
                counters
                    .lines
                    .fetch_add(lines.len() as u64, Ordering::Relaxed);
                let err = lines.iter().filter(|l| l.stream == Stream::Stderr).count();
                counters.stderr.fetch_add(err as u64, Ordering::Relaxed);
            }
            Delivery::Gap { count, .. } => {
                counters
                    .lines
                    .fetch_add(count.unwrap_or(0), Ordering::Relaxed);
            }
            Delivery::Status(_) => {}
        }
    }
}

async fn run(app: AppState) {
    let mut events = app.engine.container_events();
    let mut tracked: HashMap<DockerId, Tracked> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    let mut refresh = true;
    loop {
        if refresh {
            refresh = false;
            match app.engine.list(&Scope::AllLabContainers).await {
                Ok(list) => {
                    let ids: std::collections::HashSet<DockerId> =
                        list.iter().map(|c| c.id.clone()).collect();
                    tracked.retain(|id, _| ids.contains(id));
                    for c in list {
                        match tracked.get_mut(&c.id) {
                            Some(t) => t.info = c,
                            None => {
                                let counters = Arc::new(Counters::default());
                                let task =
                                    tokio::spawn(count(app.clone(), c.clone(), counters.clone()));
                                tracked.insert(
                                    c.id.clone(),
                                    Tracked {
                                        info: c,
                                        counters,
                                        task,
                                        last_lines: 0,
                                        last_stderr: 0,
                                        lines_per_second: 0.0,
                                        stderr_per_second: 0.0,
                                    },
                                );
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "dashboard: cannot list containers"),
            }
            send(&app, &tracked).await;
        }
        tokio::select! {
            _ = tick.tick() => {
                let dt = last_tick.elapsed().as_secs_f64().max(0.001);
                last_tick = Instant::now();
                for t in tracked.values_mut() {
                    let lines = t.counters.lines.load(Ordering::Relaxed);
                    let stderr = t.counters.stderr.load(Ordering::Relaxed);
                    t.lines_per_second = (lines - t.last_lines) as f64 / dt;
                    t.stderr_per_second = (stderr - t.last_stderr) as f64 / dt;
                    t.last_lines = lines;
                    t.last_stderr = stderr;
                }
                send(&app, &tracked).await;
            }
            ev = events.recv() => match ev {
                Ok(WatchEvent::Container(_)) | Ok(WatchEvent::Resync) | Err(RecvError::Lagged(_)) => refresh = true,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn send(app: &AppState, tracked: &HashMap<DockerId, Tracked>) {
    let mut rows: Vec<&Tracked> = tracked.values().collect();
    rows.sort_by(|a, b| (&a.info.owner, &a.info.name).cmp(&(&b.info.owner, &b.info.name)));
    let watching = app.watching().await;
    let containers: Vec<Value> = rows
        .iter()
        .map(|t| {
            let mut v = crate::wire::container_json(&t.info);
            v["linesPerSecond"] = json!((t.lines_per_second * 10.0).round() / 10.0);
            v["stderrPerSecond"] = json!((t.stderr_per_second * 10.0).round() / 10.0);
            v["lines"] = json!(t.counters.lines.load(Ordering::Relaxed));
            v["stderrLines"] = json!(t.counters.stderr.load(Ordering::Relaxed));
            v["watchers"] = json!(
                watching
                    .get(t.info.id.as_str())
                    .cloned()
                    .unwrap_or_default()
            );
            v
        })
        .collect();
    let snapshot = json!({
        "at": labtail_logs::format_rfc3339_nanos(crate::api::now_secs() * 1_000_000_000),
        "containers": containers,
    });
    app.dashboard.set_latest(snapshot.clone());
    if let Some(io) = app.io() {
        io.emit_local(vec![DASHBOARD_ROOM.to_owned()], "dashboard", &snapshot)
            .await;
    }
}

/// Pushes every lifecycle change of a lab container to its owner and to
/// instructors, for the whole life of the server.
pub async fn push_container_updates(app: AppState) {
    let mut events = app.engine.container_events();
    loop {
        let ev = match events.recv().await {
            Ok(WatchEvent::Container(ev)) => ev,
            Ok(WatchEvent::Resync) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let state = match ev.action {
            Action::Create => "created",
            Action::Start | Action::Restart | Action::Unpause => "running",
            Action::Die => "exited",
            Action::Pause => "paused",
            Action::Destroy => "removed",
            _ => continue,
        };
        let Some(owner) = ev.owner.clone() else {
            continue;
        };
        let update = json!({
            "name": ev.name.clone().unwrap_or_default(),
            "id": ev.id.short(),
            "owner": owner,
            "state": state,
            "exitCode": ev.exit_code,
        });
        if let Some(io) = app.io() {
            io.emit_local(
                vec![owner_room(&owner), INSTRUCTORS_ROOM.to_owned()],
                "container-update",
                &update,
            )
            .await;
        }
    }
}
