//! Where a container's run boundaries fall among its lines.
//!
//! Docker tells a container's lifecycle on three channels that race one
//! another: the follow stream (lines), the event stream (`die`, `start`)
//! and `inspect` (the current run). A follow stream opened just as the
//! container restarts may already follow the new run, and a follow stream
//! of the old run may still yield the new run's lines before it closes. So
//! the order in which labtail *receives* those never decides where a status
//! goes; the data does:
//!
//! - a line carries Docker's timestamp, taken as its copier read it;
//! - a `die` event carries the time dockerd logged it, after the run's
//!   output was copied (dockerd waits for its copiers first) and before any
//!   next run was created;
//! - `inspect` carries the current run's `StartedAt`.
//!
//! [`place`] turns "the lines after the last published one" plus what is
//! known of the runs into the order a watcher must see: each run's lines,
//! its exit (with its code), the next run's start, that run's lines.
//! [`RunEvents`] gathers the `die` events of one container from the shared
//! event stream.

use std::collections::VecDeque;

use tokio::sync::broadcast;

use crate::batch::RunStatus;
use crate::docker::{Action, DockerId, RunInfo};
use crate::events::WatchEvent;
use crate::line::Line;

/// The end of one run, as Docker's `die` event tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Death {
    /// When dockerd logged the `die` (nanoseconds since the epoch): after
    /// every line of the run, before any line of the next.
    pub at: i64,
    pub exit_code: Option<i64>,
}

/// What the event stream said about one container, as the upstream reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heard {
    /// A run ended.
    Died(Death),
    /// A run started (Docker logs `start` after the run began).
    Started,
    /// The container was removed.
    Destroyed,
    /// The container was renamed (Docker's name, without a host).
    Renamed(String),
    /// Events may have been missed: only `inspect` knows.
    Blind,
}

/// The `die` events of one container, read from the engine's shared event
/// stream and kept until they are placed among the lines.
#[derive(Debug)]
pub(crate) struct RunEvents {
    id: DockerId,
    rx: broadcast::Receiver<WatchEvent>,
    /// Deaths not placed yet, oldest first.
    deaths: VecDeque<Death>,
    /// A rename heard and not yet passed on.
    renamed: Option<String>,
}

/// Deaths kept unplaced at most (a container crash-looping while labtail
/// could not read its log); the oldest go first, their runs then blur.
const MAX_UNPLACED: usize = 64;

impl RunEvents {
    pub(crate) fn new(id: DockerId, rx: broadcast::Receiver<WatchEvent>) -> Self {
        RunEvents {
            id,
            rx,
            deaths: VecDeque::new(),
            renamed: None,
        }
    }

    fn take(&mut self, ev: WatchEvent) -> Option<Heard> {
        match ev {
            WatchEvent::Container(e) if e.id == self.id => match e.action {
                Action::Die => {
                    let d = Death {
                        at: e.time_nanos,
                        exit_code: e.exit_code,
                    };
                    if self.deaths.len() == MAX_UNPLACED {
                        self.deaths.pop_front();
                    }
                    self.deaths.push_back(d);
                    Some(Heard::Died(d))
                }
                Action::Start | Action::Restart => Some(Heard::Started),
                Action::Destroy => Some(Heard::Destroyed),
                Action::Rename => e.name.map(|n| {
                    let n = n.trim_start_matches('/').to_owned();
                    self.renamed = Some(n.clone());
                    Heard::Renamed(n)
                }),
                _ => None,
            },
            WatchEvent::Container(_) => None,
            WatchEvent::Resync => Some(Heard::Blind),
        }
    }

    /// The next thing the event stream tells about this container.
    /// `None`: the event stream is gone for good (the engine is dropped).
    pub(crate) async fn next(&mut self) -> Option<Heard> {
        loop {
            match self.rx.recv().await {
                Ok(ev) => {
                    if let Some(t) = self.take(ev) {
                        return Some(t);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Heard::Blind),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// What the event stream has told already, without waiting: the most
    /// telling of it (a death over a start over nothing; blind over all).
    pub(crate) fn poll(&mut self) -> Option<Heard> {
        let mut told = None;
        loop {
            let t = match self.rx.try_recv() {
                Ok(ev) => self.take(ev),
                Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Heard::Blind),
                Err(_) => break,
            };
            // A rename is kept in `renamed` (see `take_rename`).
            let t = t.filter(|h| !matches!(h, Heard::Renamed(_)));
            told = match (told, t) {
                (Some(Heard::Blind), _) | (_, Some(Heard::Blind)) => Some(Heard::Blind),
                (_, Some(Heard::Destroyed)) | (Some(Heard::Destroyed), _) => Some(Heard::Destroyed),
                (_, Some(d @ Heard::Died(_))) => Some(d),
                (Some(d @ Heard::Died(_)), _) => Some(d),
                (a, b) => b.or(a),
            };
        }
        told
    }

    /// Waits up to `wait` for a death between `after` and `before` (a
    /// quick restart whose `die` event is still on its way).
    pub(crate) async fn await_death(&mut self, after: i64, before: i64, wait: std::time::Duration) {
        let found = |me: &Self| me.deaths.iter().any(|d| d.at > after && d.at < before);
        self.poll();
        if found(self) {
            return;
        }
        let _ = tokio::time::timeout(wait, async {
            while self.next().await.is_some() {
                if found(self) {
                    return;
                }
            }
        })
        .await;
    }

    /// The deaths heard so far after `after`, oldest first.
    pub(crate) fn deaths_after(&mut self, after: i64) -> Vec<Death> {
        self.poll();
        self.deaths
            .iter()
            .filter(|d| d.at > after)
            .copied()
            .collect()
    }

    /// The container's new name, if a rename was heard since the last call.
    pub(crate) fn take_rename(&mut self) -> Option<String> {
        self.renamed.take()
    }

    /// The deaths heard after `after` (older ones are of runs placed
    /// already), handed over for placing.
    pub(crate) fn take_deaths(&mut self, after: i64) -> Vec<Death> {
        self.poll();
        self.deaths.retain(|d| d.at > after);
        self.deaths.drain(..).collect()
    }

    /// Deaths a placing left for later (runs that ended after its inspect).
    pub(crate) fn give_back(&mut self, deaths: Vec<Death>) {
        for d in deaths.into_iter().rev() {
            self.deaths.push_front(d);
        }
    }
}

/// One step of what a hub publishes: lines, or a lifecycle change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Lines(Vec<Line>),
    Status(RunStatus),
}

/// What the hub's watchers have been told of the runs so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Told {
    /// `StartedAt` of the run whose start was told and whose exit was not
    /// (its lines are being published); `None` once its exit was told.
    pub open_run: Option<i64>,
    /// The open run is one whose end is a death already heard (a run
    /// between two exits, its `StartedAt` unknown): it is over.
    pub open_ends: bool,
    /// `StartedAt` of the newest run told (open or ended).
    pub last_run: i64,
    /// Deaths at or before this time are placed already.
    pub placed_until: i64,
    /// `StartedAt` of a run whose exit was told from `inspect`, its `die`
    /// not heard yet: the first death after it is that run's, told already.
    pub unheard_exit: Option<i64>,
}

impl Told {
    /// What a new hub tells from its first `inspect`.
    pub(crate) fn first(run: &RunInfo) -> Told {
        let start = run.started_at.unwrap_or(i64::MIN);
        Told {
            open_run: run.running.then_some(start),
            open_ends: false,
            last_run: start,
            placed_until: start,
            unheard_exit: (!run.running).then_some(start),
        }
    }

    /// Whether `now` shows a run other than the one told: its exit, a new
    /// start or both are still to be told.
    pub(crate) fn is_stale(&self, now: &RunInfo) -> bool {
        let now_start = now.started_at.unwrap_or(i64::MIN);
        match self.open_run {
            _ if self.open_ends => true,
            Some(s) => !now.running || now_start != s,
            None => now.running || now_start != self.last_run,
        }
    }

    /// Whether `now` shows a restart whose `die` is not among `deaths`:
    /// its exit code (and its place) is worth waiting for.
    pub(crate) fn awaits_death(&self, now: &RunInfo, deaths: &[Death]) -> bool {
        let now_start = now.started_at.unwrap_or(i64::MIN);
        now.running
            && self.open_run.is_some_and(|s| s != now_start)
            && !self.open_ends
            && !deaths.iter().any(|d| d.at < now_start)
    }
}

/// Places run boundaries among `lines`, the log after the last published
/// line (in Docker's order), given `now`, what `inspect` showed *before*
/// the read began, and `deaths`, the `die` events heard before it began
/// (after `told.placed_until`). Every line written before the inspect and
/// every run that ended before it is in the read; a run that began after
/// it is not known yet, so its lines are held back (not in the steps):
/// the next read, after the next inspect, places them.
///
/// - each death ends a run: its exit goes after the last line stamped
///   before it;
/// - a restart that no death explains (its `die` was lost) ended the run
///   followed before `now.started_at`; a stop that no death explains ended
///   it at `now.finished_at`, with `now.exit_code`;
/// - a start is told before the first line or exit of each run after the
///   last exit told, and for the run `now` shows running.
///
/// `fence`: deaths heard after the read began (not placed here, as the
/// read may not cover their runs); lines after the first of them that ends
/// the run `now` shows are held back too.
///
/// `complete`: the read reached the end of the log; if not, only what the
/// lines read reach past is placed, and the rest of the read is for next
/// time.
///
/// Returns the steps, what watchers have then been told, and the deaths
/// left for a later placing (runs that ended after the inspect).
pub(crate) fn place(
    lines: Vec<Line>,
    deaths: Vec<Death>,
    fence: &[Death],
    now: &RunInfo,
    complete: bool,
    told: Told,
) -> (Vec<Step>, Told, Vec<Death>) {
    let now_start = now.started_at.unwrap_or(i64::MIN);
    let mut told = told;
    let mut deaths = deaths;
    deaths.sort_by_key(|d| d.at);
    if let Some(s) = told.unheard_exit
        && let Some(i) = deaths.iter().position(|d| d.at > s)
    {
        // That run's own `die`: its exit was told already.
        told.placed_until = told.placed_until.max(deaths[i].at);
        deaths.remove(i);
        told.unheard_exit = None;
    }
    // The ends to place, in time order; the rest are of runs that began
    // after the inspect (or ended after it), for next time.
    let mut ends: Vec<Death>;
    let mut later: Vec<Death> = Vec::new();
    // Lines from this time on are of a run not known yet: held back.
    let mut hold_from = i64::MAX;
    // The end of the run `now` shows is among `ends`.
    let mut s_over = false;
    if now.running {
        let (before, after): (Vec<Death>, Vec<Death>) =
            deaths.into_iter().partition(|d| d.at < now_start);
        ends = before;
        if ends.is_empty() && told.open_run.is_some_and(|s| s != now_start) && !told.open_ends {
            // The run followed ended unheard, before this one began.
            ends.push(Death {
                at: now_start,
                exit_code: None,
            });
        }
        // The run `now` shows ended after the inspect (its death heard
        // before the read): its end is placed; what follows it waits.
        if let Some((first, rest)) = after.split_first() {
            hold_from = first.at;
            later = rest.to_vec();
            ends.push(*first);
            s_over = true;
        }
        if let Some(d) = fence.iter().find(|d| d.at > now_start) {
            hold_from = hold_from.min(d.at);
        }
    } else {
        let finished = now.finished_at.unwrap_or(i64::MIN);
        // The death of the run `now` shows is the first at or after its end.
        let own = deaths.iter().position(|d| d.at >= finished);
        let (mine, after) = match own {
            Some(i) => {
                let after = deaths.split_off(i + 1);
                (deaths, after)
            }
            None => (deaths, Vec::new()),
        };
        ends = mine;
        later = after;
        let told_already = told.open_run.is_none() && !told.open_ends && told.last_run == now_start;
        if own.is_none() && !told_already {
            // The run `now` shows ended unheard: after its last line.
            ends.push(Death {
                at: finished.saturating_add(1),
                exit_code: now.exit_code,
            });
            told.unheard_exit = Some(now_start);
        }
        hold_from = ends.last().map_or(hold_from, |d| d.at);
    }

    let mut steps = Steps {
        out: Vec::new(),
        open: told.open_run.is_some(),
    };
    let mut lines = lines;
    // Lines of runs not known yet are not placed now.
    let unknown = split_at_time(&mut lines, hold_from);
    let reached =
        |lines: &[Line], at: i64| complete || lines.iter().any(|l| l.cursor.ts_nanos >= at);
    let mut placed_all = true;
    for (k, end) in ends.iter().enumerate() {
        if !reached(&lines, end.at) && !reached(&unknown, end.at) {
            // The read stopped short of this end: the lines before it are
            // the open run's (or the next run's), the end comes next time.
            placed_all = false;
            steps.lines(std::mem::take(&mut lines));
            if steps.open {
                // Open, and known to end at this death.
                told.open_run = Some(told.open_run.unwrap_or(i64::MIN));
                told.open_ends = true;
            }
            later.splice(0..0, ends[k..].iter().copied());
            break;
        }
        let rest = split_at_time(&mut lines, end.at);
        steps.lines(lines);
        steps.exit(end.exit_code);
        lines = rest;
        told.placed_until = told.placed_until.max(end.at);
        told.open_run = None;
        told.open_ends = false;
    }
    if placed_all {
        if now.running && !s_over {
            // The run `now` shows, running: its start, then its lines.
            steps.start();
            steps.lines(lines);
            told.open_run = Some(now_start);
            told.placed_until = told.placed_until.max(now_start);
        } else {
            // Its end is placed; every line after it was split off above.
            debug_assert!(lines.is_empty());
            told.open_run = None;
        }
        told.open_ends = false;
        told.last_run = now_start;
    }
    // `unknown`: lines of runs not known yet, read again next time.
    drop(unknown);
    (steps.out, told, later)
}
/// Splits off the lines from the first one stamped at or after `at`.
fn split_at_time(lines: &mut Vec<Line>, at: i64) -> Vec<Line> {
    let cut = lines
        .iter()
        .position(|l| l.cursor.ts_nanos >= at)
        .unwrap_or(lines.len());
    lines.split_off(cut)
}

/// The steps being placed, and whether a run is open in them.
struct Steps {
    out: Vec<Step>,
    open: bool,
}

impl Steps {
    fn start(&mut self) {
        if !self.open {
            self.out.push(Step::Status(RunStatus::Running));
            self.open = true;
        }
    }

    fn lines(&mut self, lines: Vec<Line>) {
        if !lines.is_empty() {
            self.start();
            self.out.push(Step::Lines(lines));
        }
    }

    fn exit(&mut self, exit_code: Option<i64>) {
        self.start();
        self.out.push(Step::Status(RunStatus::Exited { exit_code }));
        self.open = false;
    }
}

#[cfg(test)]
mod tests {
    //! `place` alone, fast; the seams against the scripted engine are in
    //! `seam_tests.rs`, the real engine in `tests/engine.rs`.
    use super::*;
    use crate::line::{Cursor, Stream};

    fn line(ts: i64) -> Line {
        Line {
            cursor: Cursor::new(ts, Stream::Stdout, 0),
            stream: Stream::Stdout,
            text: ts.to_string(),
            truncated: 0,
        }
    }

    fn running(started: i64) -> RunInfo {
        RunInfo {
            running: true,
            restarting: false,
            exit_code: None,
            state: "running".into(),
            started_at: Some(started),
            finished_at: None,
        }
    }

    fn stopped(started: i64, finished: i64, code: i64) -> RunInfo {
        RunInfo {
            running: false,
            restarting: false,
            exit_code: Some(code),
            state: "exited".into(),
            started_at: Some(started),
            finished_at: Some(finished),
        }
    }

    fn show(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .flat_map(|s| match s {
                Step::Lines(l) => l.iter().map(|l| l.text.clone()).collect(),
                Step::Status(RunStatus::Running) => vec!["run".into()],
                Step::Status(RunStatus::Exited { exit_code }) => {
                    vec![format!("exit {}", exit_code.unwrap_or(-1))]
                }
                Step::Status(s) => vec![format!("{s:?}")],
            })
            .collect()
    }

    fn died(at: i64, code: i64) -> Death {
        Death {
            at,
            exit_code: Some(code),
        }
    }

    #[test]
    fn each_death_ends_its_runs_lines_and_the_next_run_starts_after_it() {
        let told = Told::first(&running(10));
        let lines = [11, 12, 25, 35, 41].map(line).to_vec();
        let (steps, told, later) = place(
            lines,
            vec![died(30, 2), died(20, 1)],
            &[],
            &running(40),
            true,
            told,
        );
        assert_eq!(
            show(&steps),
            [
                "11", "12", "exit 1", "run", "25", "exit 2", "run", "35", "41"
            ]
        );
        assert_eq!(told.open_run, Some(40));
        assert!(later.is_empty());
    }

    #[test]
    fn a_stop_no_death_explains_ends_at_its_finish_and_its_die_is_not_told_twice() {
        let told = Told::first(&running(10));
        let (steps, told, _) = place(
            [11, 12].map(line).to_vec(),
            vec![],
            &[],
            &stopped(10, 20, 3),
            true,
            told,
        );
        assert_eq!(show(&steps), ["11", "12", "exit 3"]);
        // The late `die` of that run, then a new run.
        let (steps, told, _) = place(
            [31].map(line).to_vec(),
            vec![died(21, 3)],
            &[],
            &running(30),
            true,
            told,
        );
        assert_eq!(show(&steps), ["run", "31"]);
        assert_eq!(told.open_run, Some(30));
    }

    #[test]
    fn lines_of_a_run_newer_than_the_inspect_are_held_back() {
        // `now` shows run 10 stopped at 20; run 30 began after the inspect.
        let told = Told::first(&running(10));
        let (steps, told, later) = place(
            [11, 31].map(line).to_vec(),
            vec![died(21, 1), died(40, 2)],
            &[],
            &stopped(10, 20, 1),
            true,
            told,
        );
        assert_eq!(show(&steps), ["11", "exit 1"]);
        assert_eq!(told.open_run, None);
        assert_eq!(later, [died(40, 2)]);
        // A death heard during the read fences the running run's lines.
        let told = Told::first(&running(10));
        let (steps, told, _) = place(
            [11, 25].map(line).to_vec(),
            vec![],
            &[died(20, 1)],
            &running(10),
            true,
            told,
        );
        assert_eq!(show(&steps), ["11"]);
        assert_eq!(told.open_run, Some(10));
    }

    #[test]
    fn a_read_cut_short_places_only_what_it_reaches() {
        let told = Told::first(&running(10));
        // The read stopped before the death at 30: no exit yet.
        let (steps, told, later) = place(
            [11, 12].map(line).to_vec(),
            vec![died(30, 1)],
            &[],
            &running(40),
            false,
            told,
        );
        assert_eq!(show(&steps), ["11", "12"]);
        assert!(told.open_ends && told.open_run.is_some());
        assert_eq!(later, [died(30, 1)]);
        // The next read goes on from there.
        let (steps, told, _) = place(
            [13, 41].map(line).to_vec(),
            later,
            &[],
            &running(40),
            true,
            told,
        );
        assert_eq!(show(&steps), ["13", "exit 1", "run", "41"]);
        assert_eq!(told.open_run, Some(40));
    }

    #[test]
    fn a_restart_no_death_explains_is_an_exit_of_unknown_code() {
        let told = Told::first(&running(10));
        let (steps, _, _) = place(
            [11, 21].map(line).to_vec(),
            vec![],
            &[],
            &running(20),
            true,
            told,
        );
        assert_eq!(show(&steps), ["11", "exit -1", "run", "21"]);
    }

    #[test]
    fn a_run_that_came_and_went_unseen_is_told_whole() {
        // Told: exited (run 10). Run 20 ran and stopped while labtail waited.
        let told = Told::first(&stopped(10, 15, 0));
        let (steps, told, _) = place(
            [21].map(line).to_vec(),
            vec![died(16, 0)],
            &[],
            &stopped(20, 25, 4),
            true,
            told,
        );
        // The death at 16 is run 10's, told already; run 20 ended unheard.
        assert_eq!(show(&steps), ["run", "21", "exit 4"]);
        assert!(!told.is_stale(&stopped(20, 25, 4)));
    }
}
