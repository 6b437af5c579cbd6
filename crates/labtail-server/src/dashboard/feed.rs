//! The dashboard feed: while a dashboard is open on this node, follow every
//! lab container, count its lines, and send a snapshot each second (and at
//! once on a lifecycle change).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use labtail_logs::{ContainerInfo, Delivery, DockerId, Scope, StartAt, Stream, WatchEvent};
use tokio::sync::broadcast::error::RecvError;

use crate::staff::Audience;
use crate::state::AppState;
use crate::wire::{Dashboard, DashboardRow, WireContainer, names};

/// Starts the feed; it runs until aborted (by the last viewer leaving).
pub fn spawn(app: &AppState) -> tokio::task::AbortHandle {
    tokio::spawn(run(app.clone())).abort_handle()
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
            // The dashboard lists containers from Docker, by their names now.
            Delivery::Status(_) | Delivery::Renamed(_) => {}
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
    // dockerd tells `die` before it marks the container stopped, so a list
    // taken at the event can still say "running": each event is followed
    // by a second list a moment later.
    let mut again: Option<Instant> = None;
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
                if again.is_some_and(|t| Instant::now() >= t) {
                    again = None;
                    refresh = true;
                }
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
                Ok(WatchEvent::Container(_)) | Ok(WatchEvent::Resync) | Err(RecvError::Lagged(_)) => {
                    refresh = true;
                    again = Some(Instant::now() + Duration::from_millis(800));
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn send(app: &AppState, tracked: &HashMap<DockerId, Tracked>) {
    let mut rows: Vec<&Tracked> = tracked.values().collect();
    rows.sort_by(|a, b| (&a.info.owner, &a.info.name).cmp(&(&b.info.owner, &b.info.name)));
    let watching = app.watching().await;
    // Attention: the list, and each container's checklist (read once per
    // snapshot; nothing without attention).
    let (attention, mut checklists) = match &app.attention {
        Some(a) => {
            let all = crate::attention::entries(a, &Scope::AllLabContainers).await;
            let ids: Vec<(String, Option<String>)> = rows
                .iter()
                .map(|t| (t.info.id.as_str().to_owned(), t.info.lab.clone()))
                .collect();
            let lists = crate::attention::checklists(a, &ids).await;
            if let Err(e) = all.as_ref().map(|_| ()).and(lists.as_ref().map(|_| ())) {
                tracing::debug!(error = %e, "dashboard: cannot read attention");
            }
            (all.unwrap_or_default(), lists.unwrap_or_default())
        }
        None => Default::default(),
    };
    let one_decimal = |v: f64| (v * 10.0).round() / 10.0;
    let containers = rows
        .iter()
        .map(|t| DashboardRow {
            container: WireContainer {
                checkpoints: checklists.remove(t.info.id.as_str()),
                ..WireContainer::from(&t.info)
            },
            lines_per_second: one_decimal(t.lines_per_second),
            stderr_per_second: one_decimal(t.stderr_per_second),
            lines: t.counters.lines.load(Ordering::Relaxed),
            stderr_lines: t.counters.stderr.load(Ordering::Relaxed),
            watchers: watching
                .get(t.info.id.as_str())
                .map(|w| w.iter().cloned().collect())
                .unwrap_or_default(),
            courses: t.info.course.iter().cloned().collect(),
        })
        .collect();
    let snapshot = Dashboard {
        at: crate::clock::now_rfc3339(),
        containers,
        attention,
    };
    app.dashboard.set_latest(snapshot.clone());
    if let Some(io) = app.io() {
        crate::staff::emit_scoped(
            io,
            Audience::Dashboard,
            None,
            names::DASHBOARD,
            &snapshot,
            |scope| Some(narrow(&snapshot, scope)),
        )
        .await;
    }
}

/// What of a snapshot `scope` may see: its rows, each with the courses of
/// the scope it counts for.
pub fn narrow(full: &Dashboard, scope: &Scope) -> Dashboard {
    let containers = full
        .containers
        .iter()
        .filter(|r| scope.covers(r.container.owner.as_deref(), r.container.course.as_deref()))
        .map(|r| {
            let mut r = r.clone();
            if let (Scope::Courses(courses), None, Some(owner)) =
                (scope, &r.container.course, &r.container.owner)
            {
                r.courses = courses
                    .iter()
                    .filter(|(_, students)| students.contains(owner))
                    .map(|(c, _)| c.clone())
                    .collect();
            }
            r
        })
        .collect();
    Dashboard {
        at: full.at.clone(),
        containers,
        attention: crate::attention::narrow(&full.attention, scope),
    }
}
