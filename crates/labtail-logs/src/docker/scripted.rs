//! A Docker engine played from a script: a fake, for tests.
//!
//! It exists for what a real dockerd cannot be made to do on demand: stamp
//! stdout and stderr with the very same nanosecond in a chosen order, cut a
//! follow stream after an exact line, go away and come back between two
//! lines. Everything else about it follows Docker's behaviour as labtail
//! relies on it: logs in the order they were written, `since` in whole
//! seconds (a line stamped in that second or later), `tail` counting
//! messages, a follow stream that delivers what is there and then what
//! comes, and ends when the container stops; lifecycle events; `NotFound`
//! for a removed container. The real-engine tests
//! (`crates/labtail-logs/tests/engine.rs`, the e2e suite) check labtail
//! against the real thing.

use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::{broadcast, watch};

use super::{
    Action, ContainerEvent, ContainerInfo, DockerApi, DockerError, DockerId, Limits, ReadFrom,
    RunInfo, Scope, Usage,
};
use crate::frame::{Bytes, Frame};
use crate::line::Stream;
use crate::timefmt::format_rfc3339_nanos;

/// What labtail asked of the scripted engine, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    List,
    Inspect(DockerId),
    Logs {
        id: DockerId,
        from: ReadFrom,
        follow: bool,
    },
    Events,
    Stats(DockerId),
}

/// A scripted Docker engine. Clones share the engine.
#[derive(Clone)]
pub struct ScriptedDocker {
    shared: Arc<Shared>,
}

struct Shared {
    owner_label: String,
    state: Mutex<State>,
    /// Bumped on every change, to wake follow streams.
    changed: watch::Sender<u64>,
    events: broadcast::Sender<ContainerEvent>,
}

#[derive(Default)]
struct State {
    containers: Vec<Scripted>,
    down: bool,
    /// Bumped to end every open stream with an error.
    epoch: u64,
    requests: Vec<Request>,
    open_follows: usize,
    next_id: u64,
    clock: i64,
    /// Inspect calls to let through before holding the next ones.
    hold_inspect_after: Option<usize>,
    /// Log requests to let through before holding the next ones, follows
    /// (`[1]`) and reads to the end (`[0]`) apart.
    hold_logs_after: [Option<usize>; 2],
    /// Log requests waiting to be answered, likewise.
    held_logs: [usize; 2],
    /// Events held back (a late event stream), in order.
    held_events: Option<Vec<ContainerEvent>>,
    /// Follow streams go on into later runs' lines (as dockerd 20.10's can
    /// while it drains the old run's stream), ending only when the
    /// container is stopped and its log read to the end.
    follow_outlives_run: bool,
}

struct Scripted {
    id: DockerId,
    name: String,
    owner: Option<String>,
    course: Option<String>,
    lab: Option<String>,
    running: bool,
    exit_code: Option<i64>,
    removed: bool,
    log: Vec<Message>,
    /// Stamp of the current run's start: after every line written so far.
    started_at: i64,
    /// Stamp of the last run's end.
    finished_at: Option<i64>,
    /// Which run this is (0 for the first): a follow stream ends with its run.
    run: u32,
    usage: Usage,
    limits: Limits,
}

struct Message {
    /// The run that wrote it.
    run: u32,
    stream: Stream,
    ts_nanos: i64,
    /// The message as Docker stores it: a line with its `\n`, or a part of
    /// a long line without one.
    text: Bytes,
}

impl std::fmt::Debug for ScriptedDocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScriptedDocker")
    }
}

fn unreachable() -> DockerError {
    DockerError::Unreachable("the scripted Docker engine is down".into())
}

impl ScriptedDocker {
    pub fn new(owner_label: &str) -> Self {
        let (changed, _) = watch::channel(0);
        let (events, _) = broadcast::channel(1024);
        ScriptedDocker {
            shared: Arc::new(Shared {
                owner_label: owner_label.to_owned(),
                state: Mutex::new(State::default()),
                changed,
                events,
            }),
        }
    }

    /// This engine as the log engine holds one.
    pub fn handle(&self) -> super::Docker {
        Arc::new(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.shared.changed.send_modify(|v| *v += 1);
    }

    /// The engine's clock: after every line written so far and every
    /// event before (lines carry the test's stamps, events and run starts
    /// are stamped here, in the same time).
    fn tick(st: &mut State) -> i64 {
        let newest_line = st
            .containers
            .iter()
            .flat_map(|c| c.log.iter().map(|m| m.ts_nanos))
            .max()
            .unwrap_or(i64::MIN);
        st.clock = st.clock.max(newest_line).saturating_add(1);
        st.clock
    }

    fn event(&self, st: &mut State, i: usize, action: Action) {
        let time_nanos = Self::tick(st);
        let c = &st.containers[i];
        let ev = ContainerEvent {
            id: c.id.clone(),
            name: Some(c.name.clone()),
            owner: c.owner.clone(),
            course: c.course.clone(),
            lab: c.lab.clone(),
            image: Some("scripted:latest".into()),
            action,
            exit_code: if action == Action::Die {
                c.exit_code
            } else {
                None
            },
            time_nanos,
        };
        match &mut st.held_events {
            Some(held) => held.push(ev),
            None => {
                let _ = self.shared.events.send(ev);
            }
        }
    }

    fn index(st: &State, id: &DockerId) -> Option<usize> {
        st.containers.iter().position(|c| &c.id == id && !c.removed)
    }

    /// Creates and starts a container; `owner` is its owner label's value.
    pub fn run(&self, name: &str, owner: Option<&str>) -> DockerId {
        let id = {
            let mut st = self.lock();
            st.next_id += 1;
            let id = DockerId::from_docker(format!("{:064x}", 0xdac0_0000_u64 + st.next_id))
                .unwrap_or_else(|| unreachable!("64 hex digits"));
            st.containers.push(Scripted {
                id: id.clone(),
                name: name.to_owned(),
                owner: owner.map(str::to_owned),
                course: None,
                lab: None,
                running: true,
                exit_code: None,
                removed: false,
                log: Vec::new(),
                started_at: i64::MIN,
                finished_at: None,
                run: 0,
                usage: Usage::default(),
                limits: Limits::default(),
            });
            let i = st.containers.len() - 1;
            self.event(&mut st, i, Action::Create);
            self.event(&mut st, i, Action::Start);
            id
        };
        self.changed();
        id
    }

    /// Changes a container (if it exists), then wakes the streams.
    fn change(&self, id: &DockerId, f: impl FnOnce(&mut State, usize)) {
        {
            let mut st = self.lock();
            let Some(i) = Self::index(&st, id) else {
                return;
            };
            f(&mut st, i);
        }
        self.changed();
    }

    fn append(&self, id: &DockerId, stream: Stream, ts_nanos: i64, text: Bytes) {
        self.change(id, |st, i| {
            let c = &mut st.containers[i];
            c.log.push(Message {
                run: c.run,
                stream,
                ts_nanos,
                text,
            });
        });
    }

    /// The container writes one line, stamped `ts_nanos`.
    pub fn line(&self, id: &DockerId, stream: Stream, ts_nanos: i64, text: &str) {
        self.append(id, stream, ts_nanos, Bytes::from(format!("{text}\n")));
    }

    /// A part of a long line (Docker splits lines over 16 KiB into several
    /// messages with the first part's stamp; only the last ends in `\n`).
    pub fn partial(&self, id: &DockerId, stream: Stream, ts_nanos: i64, text: &str) {
        self.append(id, stream, ts_nanos, Bytes::from(text.to_owned()));
    }

    /// The container exits: its follow streams end after what it wrote.
    pub fn stop(&self, id: &DockerId, exit_code: i64) {
        self.change(id, |st, i| self.end_run(st, i, exit_code));
    }

    /// The run ends (after every line written so far), then dockerd tells
    /// its `die`.
    fn end_run(&self, st: &mut State, i: usize, exit_code: i64) {
        let at = Self::tick(st);
        let c = &mut st.containers[i];
        c.running = false;
        c.exit_code = Some(exit_code);
        c.finished_at = Some(at);
        self.event(st, i, Action::Die);
    }

    /// A new run starts (after every line written and event told so far).
    fn new_run(st: &mut State, i: usize) {
        let at = Self::tick(st);
        let c = &mut st.containers[i];
        c.running = true;
        c.started_at = at;
        c.run += 1;
    }

    /// The container starts again (its log goes on).
    pub fn start(&self, id: &DockerId) {
        self.change(id, |st, i| {
            Self::new_run(st, i);
            self.event(st, i, Action::Start);
        });
    }

    /// `docker restart`: the run ends with `exit_code` and a new one starts
    /// at once, before labtail can look in between.
    pub fn restart(&self, id: &DockerId, exit_code: i64) {
        self.change(id, |st, i| {
            self.end_run(st, i, exit_code);
            Self::new_run(st, i);
            self.event(st, i, Action::Start);
        });
    }

    /// When the current run of a container started (in the engine's clock):
    /// a test stamps the new run's lines after it.
    pub fn started_at(&self, id: &DockerId) -> i64 {
        let st = self.lock();
        Self::index(&st, id).map_or(i64::MIN, |i| st.containers[i].started_at)
    }

    /// Holds every event from now on until [`ScriptedDocker::release_events`]:
    /// the event stream lags behind the logs and `inspect`.
    pub fn hold_events(&self) {
        let mut st = self.lock();
        if st.held_events.is_none() {
            st.held_events = Some(Vec::new());
        }
    }

    /// Sends the held events, in order, and stops holding.
    pub fn release_events(&self) {
        let held = self.lock().held_events.take().unwrap_or_default();
        for ev in held {
            let _ = self.shared.events.send(ev);
        }
    }

    /// Follow streams go on into the next runs' lines rather than ending
    /// with their run (dockerd 20.10 draining an old run's follow stream
    /// while the next run writes to the same file).
    pub fn follow_outlives_run(&self, on: bool) {
        self.lock().follow_outlives_run = on;
        self.changed();
    }

    /// Lets `n` more follow requests through, then holds the following ones
    /// (before they bind to a run, as dockerd does when it answers) until
    /// [`ScriptedDocker::release`].
    pub fn hold_follows_after(&self, n: usize) {
        self.lock().hold_logs_after[1] = Some(n);
    }

    /// `docker rename`: the same container (and log) under a new name.
    pub fn rename(&self, id: &DockerId, name: &str) {
        self.change(id, |st, i| {
            st.containers[i].name = name.to_owned();
            self.event(st, i, Action::Rename);
        });
    }

    /// Sets the container's course and lab labels.
    pub fn set_labels(&self, id: &DockerId, course: Option<&str>, lab: Option<&str>) {
        self.change(id, |st, i| {
            st.containers[i].course = course.map(str::to_owned);
            st.containers[i].lab = lab.map(str::to_owned);
        });
    }

    /// `docker rm -f`: gone, its log too.
    pub fn remove(&self, id: &DockerId) {
        self.change(id, |st, i| {
            if st.containers[i].running {
                self.end_run(st, i, 137);
            }
            st.containers[i].removed = true;
            self.event(st, i, Action::Destroy);
        });
    }

    /// Every open stream (logs, events) fails now, as when dockerd
    /// restarts; the engine answers again at once.
    pub fn cut_streams(&self) {
        self.lock().epoch += 1;
        self.changed();
    }

    /// The engine stops answering (every call and open stream fails with
    /// "unreachable"), or answers again.
    pub fn set_down(&self, down: bool) {
        {
            let mut st = self.lock();
            st.down = down;
            st.epoch += 1;
        }
        self.changed();
    }

    /// Lets `n` more inspect calls through, then holds the following ones
    /// until [`ScriptedDocker::release`]: time for the test to act between
    /// two steps of labtail's.
    pub fn hold_inspects_after(&self, n: usize) {
        self.lock().hold_inspect_after = Some(n);
    }

    /// Lets held calls go on.
    pub fn release(&self) {
        {
            let mut st = self.lock();
            st.hold_inspect_after = None;
            st.hold_logs_after = [None, None];
        }
        self.changed();
    }

    /// What the container uses now (what `stats` answers while it runs).
    pub fn set_usage(&self, id: &DockerId, usage: Usage) {
        self.change(id, |st, i| st.containers[i].usage = usage);
    }

    /// The container's limits.
    pub fn set_limits(&self, id: &DockerId, limits: Limits) {
        self.change(id, |st, i| st.containers[i].limits = limits);
    }

    /// Lets held reads (and follows) go on; held inspects stay held.
    pub fn release_reads(&self) {
        self.lock().hold_logs_after = [None, None];
        self.changed();
    }

    /// What labtail asked so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Waits until `n` follow requests are held, unanswered.
    pub async fn wait_held_follows(&self, n: usize) {
        self.wait_held_logs(true, n).await;
    }

    /// Lets `n` more reads to the end (no follow) through, then holds the
    /// following ones until [`ScriptedDocker::release`].
    pub fn hold_reads_after(&self, n: usize) {
        self.lock().hold_logs_after[0] = Some(n);
    }

    /// Waits until `n` reads to the end are held, unanswered.
    pub async fn wait_held_reads(&self, n: usize) {
        self.wait_held_logs(false, n).await;
    }

    async fn wait_held_logs(&self, follow: bool, n: usize) {
        let k = usize::from(follow);
        let mut rx = self.shared.changed.subscribe();
        while self.lock().held_logs[k] != n {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Follow streams open right now.
    pub fn open_follows(&self) -> usize {
        self.lock().open_follows
    }

    /// Waits until `n` follow streams are open (the upstream is live).
    pub async fn wait_follows(&self, n: usize) {
        let mut rx = self.shared.changed.subscribe();
        while self.open_follows() != n {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn record(&self, r: Request) -> Result<(), DockerError> {
        let mut st = self.lock();
        st.requests.push(r);
        if st.down { Err(unreachable()) } else { Ok(()) }
    }
}

impl ScriptedDocker {
    /// Waits while log requests of this kind are held.
    async fn wait_to_answer(&self, follow: bool) {
        let k = usize::from(follow);
        let mut rx = self.shared.changed.subscribe();
        let mut counted = false;
        loop {
            {
                let mut st = self.lock();
                let go = match st.hold_logs_after[k] {
                    Some(0) => false,
                    Some(n) => {
                        st.hold_logs_after[k] = Some(n - 1);
                        true
                    }
                    None => true,
                };
                if go {
                    if counted {
                        st.held_logs[k] -= 1;
                    }
                    return;
                }
                if !counted {
                    counted = true;
                    st.held_logs[k] += 1;
                    drop(st);
                    self.changed();
                    continue;
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Answers a log request: a reader bound to the container's current run.
    fn bind_logs(
        &self,
        id: &DockerId,
        from: ReadFrom,
        follow: bool,
    ) -> BoxStream<'static, Result<Frame, DockerError>> {
        let start = self
            .record(Request::Logs {
                id: id.clone(),
                from,
                follow,
            })
            .and_then(|()| {
                let mut st = self.lock();
                let i = Self::index(&st, id).ok_or(DockerError::NotFound)?;
                let len = st.containers[i].log.len();
                let follows = follow && st.containers[i].running;
                if follows {
                    st.open_follows += 1;
                }
                Ok((len, follows, st.epoch, st.containers[i].run))
            });
        let (len, follows, epoch, run) = match start {
            Ok(s) => s,
            Err(e) => return futures_util::stream::iter([Err(e)]).boxed(),
        };
        if follows {
            self.changed();
        }
        let (pos, since_nanos) = match from {
            ReadFrom::Tail(n) => (
                len.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
                i64::MIN,
            ),
            ReadFrom::SinceSecs(s) if s > 0 => (0, s.saturating_mul(1_000_000_000)),
            ReadFrom::SinceSecs(_) => (0, i64::MIN),
        };
        let reader = LogReader {
            docker: self.clone(),
            id: id.clone(),
            pos,
            since_nanos,
            follow,
            run,
            epoch,
            rx: self.shared.changed.subscribe(),
            _guard: follows.then(|| FollowGuard(self.clone())),
        };
        futures_util::stream::unfold(Some(reader), |reader| async move {
            let mut r = reader?;
            loop {
                match r.step() {
                    Step::Frame(f) => return Some((Ok(f), Some(r))),
                    Step::Skip => {}
                    Step::Wait => {
                        if r.rx.changed().await.is_err() {
                            return None;
                        }
                    }
                    Step::End => return None,
                    Step::Fail(e) => return Some((Err(e), None)),
                }
            }
        })
        .boxed()
    }
}

/// Counts an open follow stream while alive.
struct FollowGuard(ScriptedDocker);

impl Drop for FollowGuard {
    fn drop(&mut self) {
        {
            let mut st = self.0.lock();
            st.open_follows = st.open_follows.saturating_sub(1);
        }
        self.0.changed();
    }
}

/// A reader of one container's log.
struct LogReader {
    docker: ScriptedDocker,
    id: DockerId,
    pos: usize,
    since_nanos: i64,
    follow: bool,
    /// The run a follow stream follows: it ends with that run.
    run: u32,
    epoch: u64,
    rx: watch::Receiver<u64>,
    _guard: Option<FollowGuard>,
}

enum Step {
    Frame(Frame),
    Skip,
    Wait,
    End,
    Fail(DockerError),
}

impl LogReader {
    fn step(&mut self) -> Step {
        let st = self.docker.lock();
        if st.down || st.epoch != self.epoch {
            return Step::Fail(unreachable());
        }
        let Some(i) = ScriptedDocker::index(&st, &self.id) else {
            return Step::End;
        };
        let c = &st.containers[i];
        match c.log.get(self.pos) {
            Some(m) if self.follow && m.run > self.run && !st.follow_outlives_run => Step::End,
            Some(m) => {
                self.pos += 1;
                if m.ts_nanos < self.since_nanos {
                    return Step::Skip;
                }
                let mut bytes = format_rfc3339_nanos(m.ts_nanos).into_bytes();
                bytes.push(b' ');
                bytes.extend_from_slice(&m.text);
                Step::Frame(Frame {
                    stream: m.stream,
                    bytes: Bytes::from(bytes),
                    ts: None,
                })
            }
            None if self.follow && c.running && (c.run == self.run || st.follow_outlives_run) => {
                Step::Wait
            }
            None => Step::End,
        }
    }
}

#[async_trait::async_trait]
impl DockerApi for ScriptedDocker {
    fn host(&self) -> &str {
        "scripted"
    }

    fn owner_label(&self) -> &str {
        &self.shared.owner_label
    }

    async fn negotiate(&self) -> Result<(), DockerError> {
        if self.lock().down {
            Err(unreachable())
        } else {
            Ok(())
        }
    }

    async fn ping(&self) -> Result<(), DockerError> {
        self.record(Request::Ping)
    }

    async fn engine_id(&self) -> Result<String, DockerError> {
        if self.lock().down {
            return Err(unreachable());
        }
        // Clones share the engine, and so its ID.
        Ok(format!("scripted-{:p}", Arc::as_ptr(&self.shared)))
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<ContainerInfo>, DockerError> {
        self.record(Request::List)?;
        let st = self.lock();
        let mut out: Vec<ContainerInfo> = st
            .containers
            .iter()
            .filter(|c| !c.removed && scope.covers(c.owner.as_deref(), c.course.as_deref()))
            .map(|c| ContainerInfo {
                id: c.id.clone(),
                name: c.name.clone(),
                owner: c.owner.clone(),
                state: if c.running { "running" } else { "exited" }.into(),
                status: if c.running { "Up" } else { "Exited" }.into(),
                image: "scripted:latest".into(),
                created: 0,
                course: c.course.clone(),
                lab: c.lab.clone(),
                host: None,
                host_down: false,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn inspect_run(&self, id: &DockerId) -> Result<RunInfo, DockerError> {
        self.record(Request::Inspect(id.clone()))?;
        let mut rx = self.shared.changed.subscribe();
        loop {
            {
                let mut st = self.lock();
                match st.hold_inspect_after {
                    Some(0) => {}
                    Some(n) => {
                        st.hold_inspect_after = Some(n - 1);
                        break;
                    }
                    None => break,
                }
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
        let st = self.lock();
        let i = Self::index(&st, id).ok_or(DockerError::NotFound)?;
        let c = &st.containers[i];
        Ok(RunInfo {
            running: c.running,
            restarting: false,
            exit_code: c.exit_code,
            state: if c.running { "running" } else { "exited" }.into(),
            started_at: Some(c.started_at),
            finished_at: c.finished_at,
        })
    }

    fn logs(
        &self,
        id: &DockerId,
        from: ReadFrom,
        follow: bool,
    ) -> BoxStream<'static, Result<Frame, DockerError>> {
        // Like dockerd, the request binds to the container's run when it is
        // answered (the stream's first poll), not when it is made.
        let docker = self.clone();
        let id = id.clone();
        futures_util::stream::once(async move {
            docker.wait_to_answer(follow).await;
            docker.bind_logs(&id, from, follow)
        })
        .flatten()
        .boxed()
    }

    async fn usage(&self, id: &DockerId) -> Result<Usage, DockerError> {
        self.record(Request::Stats(id.clone()))?;
        let st = self.lock();
        match Self::index(&st, id) {
            Some(i) if st.containers[i].running => Ok(st.containers[i].usage),
            Some(_) => Err(DockerError::Other("409: container is not running".into())),
            None => Err(DockerError::NotFound),
        }
    }

    async fn limits(&self, id: &DockerId) -> Result<Limits, DockerError> {
        self.record(Request::Inspect(id.clone()))?;
        let st = self.lock();
        Self::index(&st, id)
            .map(|i| st.containers[i].limits)
            .ok_or(DockerError::NotFound)
    }

    fn events(&self) -> BoxStream<'static, Result<ContainerEvent, DockerError>> {
        let epoch = match self.record(Request::Events) {
            Ok(()) => self.lock().epoch,
            Err(e) => return futures_util::stream::iter([Err(e)]).boxed(),
        };
        let state = (
            self.clone(),
            self.shared.events.subscribe(),
            self.shared.changed.subscribe(),
        );
        futures_util::stream::unfold(Some(state), move |state| async move {
            let (docker, mut events, mut changed) = state?;
            loop {
                {
                    let st = docker.lock();
                    if st.down || st.epoch != epoch {
                        drop(st);
                        return Some((Err(unreachable()), None));
                    }
                }
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(ev) => return Some((Ok(ev), Some((docker, events, changed)))),
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    r = changed.changed() => if r.is_err() { return None },
                }
            }
        })
        .boxed()
    }
}
