//! The engine's seams against a scripted Docker engine: deterministic, on
//! paused time, no Docker needed (well under a second for all of them).
//!
//! A fake because these are the edges a real dockerd cannot be made to
//! produce on demand: stdout and stderr stamped with the very same
//! nanosecond, in an interleaving chosen by the test; a follow stream cut
//! right after a given line; an engine gone between two lines. Each test
//! names the invariant of ARCHITECTURE.md it checks. The same behaviours
//! against the real engine are in `tests/engine.rs` and `tests/e2e/`.

use std::time::Duration;

use crate::docker::{ReadFrom, Request, ScriptedDocker};
use crate::{
    ContainerInfo, Cursor, Delivery, EngineConfig, LogEngine, Mark, RunStatus, Scope, StartAt,
    Stream, Subscription,
};

const OWNER: &str = "ann";
/// A whole second, so that `since` reads start exactly here.
const T: i64 = 1_700_000_000_000_000_000;
const US: i64 = 1_000;
const S: i64 = 1_000_000_000;

struct Lab {
    docker: ScriptedDocker,
    engine: LogEngine,
    info: ContainerInfo,
}

impl Lab {
    async fn new(cfg: EngineConfig) -> Lab {
        let docker = ScriptedDocker::new("label");
        docker.run("box", Some(OWNER));
        let engine = LogEngine::new(docker.handle(), cfg);
        let info = Self::find(&engine).await;
        Lab {
            docker,
            engine,
            info,
        }
    }

    async fn find(engine: &LogEngine) -> ContainerInfo {
        crate::find(engine.docker().as_ref(), &Scope::Owner(OWNER.into()), "box")
            .await
            .expect("list")
            .expect("the owner sees the container")
    }

    /// labtail restarted: a new engine over the same Docker engine, with
    /// nothing in memory.
    fn restart(&mut self, cfg: EngineConfig) {
        self.engine = LogEngine::new(self.docker.handle(), cfg);
    }

    fn line(&self, stream: Stream, ts: i64, text: &str) {
        self.docker.line(&self.info.id, stream, ts, text);
    }

    async fn subscribe(&self, at: StartAt) -> Subscription {
        self.engine
            .subscribe(&self.info, at)
            .await
            .expect("subscribe")
    }
}

/// The log: dockerd stamped stderr `1` at T, stderr `3` at
/// T+38 µs, stdout `2` at T again (the copiers race), then more of both,
/// with two more equal stamps on different streams.
const RACING_LOG: [(Stream, i64, &str); 6] = [
    (Stream::Stderr, T, "1"),
    (Stream::Stderr, T + 38 * US, "3"),
    (Stream::Stdout, T, "2"),
    (Stream::Stdout, T + 40 * US, "4"),
    (Stream::Stderr, T + 40 * US, "5"),
    (Stream::Stdout, T + 40 * US, "6"),
];

fn racing_log(lab: &Lab) {
    for (stream, ts, text) in RACING_LOG {
        lab.line(stream, ts, text);
    }
}

const RACING: [&str; 6] = ["1", "3", "2", "4", "5", "6"];

#[derive(Debug, Default)]
struct Got {
    lines: Vec<(Cursor, String)>,
    gaps: Vec<(Option<Cursor>, Option<Cursor>, Option<u64>)>,
    statuses: Vec<RunStatus>,
    renames: Vec<String>,
}

impl Got {
    fn texts(&self) -> Vec<&str> {
        self.lines.iter().map(|(_, t)| t.as_str()).collect()
    }

    fn cursor_of(&self, text: &str) -> Cursor {
        self.lines
            .iter()
            .find(|(_, t)| t == text)
            .map(|(c, _)| *c)
            .unwrap_or_else(|| panic!("no line {text:?} in {:?}", self.texts()))
    }
}

/// Takes deliveries until `done`; fails (in virtual time, at once) if they
/// stop coming first.
async fn take_until(sub: &mut Subscription, got: &mut Got, done: impl Fn(&Got) -> bool) {
    while !done(got) {
        let d = tokio::time::timeout(Duration::from_secs(60), sub.next())
            .await
            .unwrap_or_else(|_| panic!("stuck with {got:?}"))
            .unwrap_or_else(|| panic!("subscription ended with {got:?}"));
        match d {
            Delivery::Lines(s) => got
                .lines
                .extend(s.lines().iter().map(|l| (l.cursor, l.text.clone()))),
            Delivery::Gap { from, to, count } => got.gaps.push((from, to, count)),
            Delivery::Status(s) => got.statuses.push(s),
            Delivery::Renamed(n) => got.renames.push(n),
        }
    }
}

async fn lines(sub: &mut Subscription, n: usize) -> Got {
    let mut got = Got::default();
    take_until(sub, &mut got, |g| g.lines.len() >= n).await;
    got
}

/// Nothing more is delivered (the engine is idle).
async fn nothing_more(sub: &mut Subscription) {
    if let Ok(d) = tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
        panic!("unexpected delivery {d:?}");
    }
}

// Invariant "Order and uniqueness": every line Docker serves is delivered
// once, in Docker's order, also lines that share a timestamp.

#[tokio::test(start_paused = true)]
async fn equal_stamps_on_both_streams_are_all_delivered_live() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    // One at a time, as a live container writes them: each goes out in its
    // own batch.
    let mut got = Got::default();
    for (stream, ts, text) in RACING_LOG {
        lab.line(stream, ts, text);
        let n = got.lines.len() + 1;
        take_until(&mut sub, &mut got, |g| g.lines.len() >= n).await;
    }
    assert_eq!(got.texts(), RACING);
    nothing_more(&mut sub).await;
}

#[tokio::test(start_paused = true)]
async fn equal_stamps_on_both_streams_are_all_in_the_backlog() {
    let lab = Lab::new(EngineConfig::default()).await;
    racing_log(&lab);
    let mut sub = lab.subscribe(StartAt::Tail(100)).await;
    let got = lines(&mut sub, 6).await;
    assert_eq!(got.texts(), RACING);
    let unique: std::collections::HashSet<_> = got.lines.iter().map(|(c, _)| *c).collect();
    assert_eq!(unique.len(), 6);
}

// Invariant: a resume `after` any cursor delivers exactly the lines after
// it, in the order they were first delivered: from the ring, and across a
// restart (read back from Docker).

#[tokio::test(start_paused = true)]
async fn a_resume_after_each_racing_line_is_exact_from_the_ring_and_after_a_restart() {
    let mut lab = Lab::new(EngineConfig::default()).await;
    racing_log(&lab);
    let mut first = lab.subscribe(StartAt::Tail(100)).await;
    let got = lines(&mut first, 6).await;
    for restarted in [false, true] {
        if restarted {
            // The new labtail's ring holds only the last line: the rest is
            // read back from Docker.
            drop(first);
            lab.restart(EngineConfig {
                backlog_lines: 1,
                ..EngineConfig::default()
            });
            first = lab.subscribe(StartAt::Tail(0)).await;
        }
        for (i, text) in RACING.iter().enumerate() {
            let after = got.cursor_of(text);
            let mut sub = lab.subscribe(StartAt::After(Mark::Cursor(after))).await;
            let want = &RACING[i + 1..];
            let mut rest = Got::default();
            if !want.is_empty() {
                take_until(&mut sub, &mut rest, |g| g.lines.len() >= want.len()).await;
            }
            assert_eq!(rest.texts(), want, "after {text} (restarted: {restarted})");
            assert!(rest.gaps.is_empty());
            nothing_more(&mut sub).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_reads_back_what_a_client_missed_once() {
    // The ring of the new labtail holds only the last two lines: the rest
    // comes from Docker, up to where the ring begins, with no duplicate.
    let mut lab = Lab::new(EngineConfig::default()).await;
    racing_log(&lab);
    let mut s = lab.subscribe(StartAt::Tail(100)).await;
    let got = lines(&mut s, 6).await;
    drop(s);
    lab.restart(EngineConfig {
        backlog_lines: 2,
        ..EngineConfig::default()
    });
    let mut sub = lab
        .subscribe(StartAt::After(Mark::Cursor(got.cursor_of("3"))))
        .await;
    let rest = lines(&mut sub, 4).await;
    assert_eq!(rest.texts(), ["2", "4", "5", "6"]);
    nothing_more(&mut sub).await;
}

#[tokio::test(start_paused = true)]
async fn old_cursors_still_resume() {
    // labtail 0.1 named lines `<nanos>-<n>`: the n-th line with that stamp.
    let lab = Lab::new(EngineConfig::default()).await;
    racing_log(&lab);
    let mark: Mark = format!("{}-000001", T + 40 * US).parse().unwrap();
    let mut sub = lab.subscribe(StartAt::After(mark)).await;
    let rest = lines(&mut sub, 1).await;
    assert_eq!(rest.texts(), ["6"]);
    let mark: Mark = format!("{T}-000001").parse().unwrap();
    let mut sub = lab.subscribe(StartAt::After(mark)).await;
    assert_eq!(lines(&mut sub, 3).await.texts(), ["4", "5", "6"]);
}

#[tokio::test(start_paused = true)]
async fn a_mark_not_in_the_log_is_told_as_a_gap_of_unknown_size() {
    let lab = Lab::new(EngineConfig::default()).await;
    racing_log(&lab);
    let gone = Cursor::new(T + 39 * US, Stream::Stdout, 0);
    let mut sub = lab.subscribe(StartAt::After(Mark::Cursor(gone))).await;
    let got = lines(&mut sub, 3).await;
    assert_eq!(got.gaps, [(Some(gone), Some(got.lines[0].0), None)]);
    // What follows by cursor: the lines stamped after it.
    assert_eq!(got.texts(), ["4", "5", "6"]);
}

// Invariant: re-reads after a reconnect skip what was published by exact
// position, even where the two streams raced across the cut.

#[tokio::test(start_paused = true)]
async fn a_follow_stream_cut_in_a_race_resumes_with_no_loss_and_no_duplicate() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stderr, T + 10 * US, "a");
    lab.line(Stream::Stdout, T + 20 * US, "b");
    let got = lines(&mut sub, 2).await;
    assert_eq!(got.texts(), ["a", "b"]);
    // dockerd restarts right after "b"; meanwhile stderr wrote a line stamped
    // before "b", and stdout one with "b"'s very stamp.
    lab.docker.cut_streams();
    lab.docker.wait_follows(0).await;
    lab.line(Stream::Stderr, T + 15 * US, "c");
    lab.line(Stream::Stderr, T + 20 * US, "d");
    lab.line(Stream::Stdout, T + 20 * US, "e");
    let mut rest = Got::default();
    take_until(&mut sub, &mut rest, |g| g.lines.len() >= 3).await;
    assert_eq!(rest.texts(), ["c", "d", "e"]);
    nothing_more(&mut sub).await;
    // The re-read started a second early, at a whole second.
    let since: Vec<ReadFrom> = lab
        .docker
        .requests()
        .into_iter()
        .filter_map(|r| match r {
            Request::Logs {
                from, follow: true, ..
            } => Some(from),
            _ => None,
        })
        .collect();
    assert_eq!(
        since.last(),
        Some(&ReadFrom::SinceSecs(T / S - 1)),
        "{since:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_engine_outage_is_reported_and_then_every_line_comes_once() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "1");
    let mut got = lines(&mut sub, 1).await;
    lab.docker.set_down(true);
    take_until(&mut sub, &mut got, |g| {
        g.statuses.contains(&RunStatus::EngineDown)
    })
    .await;
    lab.line(Stream::Stdout, T + 1, "2");
    lab.docker.set_down(false);
    lab.line(Stream::Stdout, T + 2, "3");
    take_until(&mut sub, &mut got, |g| g.lines.len() >= 3).await;
    assert_eq!(got.texts(), ["1", "2", "3"]);
    assert_eq!(got.statuses, [RunStatus::EngineDown, RunStatus::Running]);
}

// Invariant: the seam between a subscriber's backlog and its live lines is
// exact.

#[tokio::test(start_paused = true)]
async fn a_late_joiner_gets_backlog_then_live_with_no_gap_or_duplicate() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut early = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    for i in 0..300 {
        lab.line(Stream::Stdout, T + i * US, &i.to_string());
    }
    lines(&mut early, 300).await;
    let mut late = lab.subscribe(StartAt::Tail(1000)).await;
    for i in 300..600 {
        lab.line(Stream::Stdout, T + i * US, &i.to_string());
    }
    let got = lines(&mut late, 600).await;
    let want: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    assert_eq!(got.texts(), want);
    assert_eq!(lines(&mut early, 300).await.lines.len(), 300);
}

#[tokio::test(start_paused = true)]
async fn a_tail_read_inside_a_run_of_equal_stamps_gives_the_cursors_of_any_other_read() {
    // 30 stdout lines share one stamp (a coarse clock), then a few more; the
    // backlog read (a tail) starts inside that run. The cursors it keeps must
    // be the ones a whole-second read gives, so a resume after any of them,
    // after a restart, is exact.
    let mut lab = Lab::new(EngineConfig {
        backlog_lines: 10,
        ..EngineConfig::default()
    })
    .await;
    for i in 0..30 {
        lab.line(Stream::Stdout, T + 5 * US, &format!("r{i}"));
    }
    for i in 0..5 {
        lab.line(Stream::Stdout, T + (10 + i) * US, &format!("s{i}"));
    }
    let mut tail = lab.subscribe(StartAt::Tail(10)).await;
    let got = lines(&mut tail, 10).await;
    assert_eq!(got.texts().last(), Some(&"s4"));
    drop(tail);
    lab.restart(EngineConfig {
        backlog_lines: 1,
        ..EngineConfig::default()
    });
    for (i, (cursor, text)) in got.lines.iter().enumerate() {
        let mut sub = lab.subscribe(StartAt::After(Mark::Cursor(*cursor))).await;
        let want: Vec<&str> = got.texts()[i + 1..].to_vec();
        let mut rest = Got::default();
        if !want.is_empty() {
            take_until(&mut sub, &mut rest, |g| g.lines.len() >= want.len()).await;
        }
        assert_eq!(rest.texts(), want, "after {text}");
        nothing_more(&mut sub).await;
    }
}

// Invariant "Nothing blocks the hub": a queue over its bound drops its
// oldest batches; the subscriber learns the exact count.

#[tokio::test(start_paused = true)]
async fn a_stalled_subscriber_is_told_exactly_what_it_missed() {
    const N: i64 = 5_000;
    let cfg = EngineConfig {
        subscriber_buffer_lines: 1000,
        batch_max_lines: 100,
        backlog_lines: 10,
        ..EngineConfig::default()
    };
    let lab = Lab::new(cfg.clone()).await;
    let mut healthy = lab.subscribe(StartAt::Tail(0)).await;
    let mut stalled = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    // The healthy one reads every 500 lines: it never falls behind its bound.
    for chunk in 0..N / 500 {
        for i in chunk * 500 + 1..=(chunk + 1) * 500 {
            lab.line(Stream::Stdout, T + i * US, &i.to_string());
        }
        let got = lines(&mut healthy, 500).await;
        assert_eq!(got.lines.len(), 500);
        assert!(got.gaps.is_empty());
    }
    // The stalled one read nothing meanwhile; now it catches up.
    let mut late = Got::default();
    take_until(&mut stalled, &mut late, |g| {
        g.lines.last().is_some_and(|(_, t)| t == &N.to_string())
    })
    .await;
    let numbers: Vec<i64> = late.lines.iter().map(|(_, t)| t.parse().unwrap()).collect();
    let missed: u64 = late
        .gaps
        .iter()
        .map(|g| g.2.expect("live gaps are counted"))
        .sum();
    assert!(!late.gaps.is_empty(), "it was told it lost lines");
    assert_eq!(
        numbers.len() as u64 + missed,
        N as u64,
        "delivered + missed = all"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order, once");
    // It held at most its bound plus one batch.
    assert!(numbers.len() <= cfg.subscriber_buffer_lines + cfg.batch_max_lines);
    // Each gap names the lines around it.
    for (from, to, count) in &late.gaps {
        let from_n: i64 = from.map_or(0, |c| (c.ts_nanos - T) / US);
        let to_n: i64 = to.map(|c| (c.ts_nanos - T) / US).expect("a next line");
        assert_eq!(to_n - from_n - 1, count.unwrap() as i64);
    }
}

#[tokio::test(start_paused = true)]
async fn a_resume_from_further_back_than_the_limit_is_told_the_exact_gap() {
    let lab = Lab::new(EngineConfig {
        backlog_lines: 50,
        max_resume_lines: 100,
        ..EngineConfig::default()
    })
    .await;
    for i in 1..=1000 {
        lab.line(Stream::Stdout, T + i * US, &i.to_string());
    }
    let mut first = lab.subscribe(StartAt::Tail(0)).await;
    nothing_more(&mut first).await;
    let ten = Cursor::new(T + 10 * US, Stream::Stdout, 0);
    let mut sub = lab.subscribe(StartAt::After(Mark::Cursor(ten))).await;
    let got = lines(&mut sub, 150).await;
    // 990 lines after line 10: 100 read back, 50 from the ring, the gap
    // counts the rest.
    assert_eq!(got.gaps, [(Some(ten), Some(got.lines[0].0), Some(840))]);
    let want: Vec<String> = (851..=1000).map(|i| i.to_string()).collect();
    assert_eq!(got.texts(), want);
}

#[tokio::test(start_paused = true)]
async fn since_starts_at_the_first_line_stamped_then_or_later() {
    let lab = Lab::new(EngineConfig::default()).await;
    for i in 0..10 {
        lab.line(Stream::Stdout, T + i * S / 2, &i.to_string());
    }
    let mut sub = lab.subscribe(StartAt::Since(T + 3 * S)).await;
    assert_eq!(lines(&mut sub, 4).await.texts(), ["6", "7", "8", "9"]);
}

#[tokio::test(start_paused = true)]
async fn since_within_the_rings_first_second_starts_at_the_right_line() {
    // The ring starts less than a second before `since`: a line of the other
    // stream could sit before the ring, so it is read from Docker, and the
    // ring's own lines before `since` are not sent.
    let lab = Lab::new(EngineConfig::default()).await;
    for i in 0..100 {
        lab.line(Stream::Stdout, T + i * 1_000 * US, &i.to_string());
    }
    let mut sub = lab.subscribe(StartAt::Since(T + 51_000 * US)).await;
    let got = lines(&mut sub, 49).await;
    let want: Vec<String> = (51..100).map(|i| i.to_string()).collect();
    assert_eq!(got.texts(), want);
    nothing_more(&mut sub).await;
}

// A quick `docker restart`: the run that was followed ends and the next one
// starts before labtail looks. Watchers still learn that it exited (with
// its code), then that it runs, then get the new run's lines.

#[tokio::test(start_paused = true)]
async fn a_quick_restart_is_told_as_an_exit_and_a_start_before_the_new_lines() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "run 1");
    let mut got = lines(&mut sub, 1).await;
    lab.docker.restart(&lab.info.id, 137);
    lab.line(Stream::Stdout, T + S, "run 2");
    let mut order = Vec::new();
    while !order.iter().any(|o: &String| o == "run 2") {
        match tokio::time::timeout(Duration::from_secs(60), sub.next()).await {
            Ok(Some(Delivery::Lines(s))) => order.extend(s.lines().iter().map(|l| l.text.clone())),
            Ok(Some(Delivery::Status(st))) => order.push(format!("{st:?}")),
            other => panic!("{other:?} after {order:?}"),
        }
    }
    assert_eq!(
        order,
        ["Exited { exit_code: Some(137) }", "Running", "run 2"],
        "{got:?}"
    );
    got.lines.clear();
}

// Issue 29: Docker's follow stream, its event stream and `inspect` race one
// another across a restart. Whatever order they answer in, a watcher sees
// the old run's lines, its exit with its code, the new run's start, then
// the new run's lines: the order is decided by the data (the lines'
// stamps, the `die` event's time, `StartedAt`), not by which came first.

/// Deliveries until a line `last` arrives, statuses written as `{:?}`.
async fn order_until(sub: &mut Subscription, last: &str) -> Vec<String> {
    let mut order = Vec::new();
    while !order.iter().any(|o: &String| o == last) {
        match tokio::time::timeout(Duration::from_secs(60), sub.next()).await {
            Ok(Some(Delivery::Lines(s))) => order.extend(s.lines().iter().map(|l| l.text.clone())),
            Ok(Some(Delivery::Status(st))) => order.push(format!("{st:?}")),
            other => panic!("{other:?} after {order:?}"),
        }
    }
    order
}

const RESTARTED: [&str; 4] = [
    "run 1",
    "Exited { exit_code: Some(137) }",
    "Running",
    "run 2",
];

#[tokio::test(start_paused = true)]
async fn a_follow_answered_after_a_restart_is_placed_after_the_new_start() {
    // labtail inspects run 1 and asks to follow; dockerd answers only after
    // the container restarted, so the stream follows run 2.
    let lab = Lab::new(EngineConfig::default()).await;
    lab.line(Stream::Stdout, T, "run 1");
    lab.docker.hold_follows_after(0);
    let mut sub = lab.subscribe(StartAt::Tail(10)).await;
    lab.docker.wait_held_follows(1).await;
    lab.docker.restart(&lab.info.id, 137);
    let started = lab.docker.started_at(&lab.info.id);
    lab.line(Stream::Stdout, started + S, "run 2");
    lab.docker.release();
    assert_eq!(order_until(&mut sub, "run 2").await, RESTARTED);
}

#[tokio::test(start_paused = true)]
async fn a_late_die_event_still_gives_the_exit_its_code_and_its_place() {
    // As above, and the event stream lags a second behind: inspect already
    // shows run 2 while the `die` of run 1 is still on its way.
    let lab = Lab::new(EngineConfig::default()).await;
    lab.line(Stream::Stdout, T, "run 1");
    lab.docker.hold_follows_after(0);
    let mut sub = lab.subscribe(StartAt::Tail(10)).await;
    lab.docker.wait_held_follows(1).await;
    lab.docker.hold_events();
    lab.docker.restart(&lab.info.id, 137);
    let started = lab.docker.started_at(&lab.info.id);
    lab.line(Stream::Stdout, started + S, "run 2");
    lab.docker.release();
    let docker = lab.docker.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        docker.release_events();
    });
    assert_eq!(order_until(&mut sub, "run 2").await, RESTARTED);
    late.await.expect("released");
}

#[tokio::test(start_paused = true)]
async fn a_lost_die_event_is_an_exit_of_unknown_code_before_the_new_start() {
    // The `die` never comes (events were lost): the exit is told without a
    // code, in its place; when the event does turn up later it is not told
    // twice.
    let lab = Lab::new(EngineConfig::default()).await;
    lab.line(Stream::Stdout, T, "run 1");
    lab.docker.hold_follows_after(0);
    let mut sub = lab.subscribe(StartAt::Tail(10)).await;
    lab.docker.wait_held_follows(1).await;
    lab.docker.hold_events();
    lab.docker.restart(&lab.info.id, 137);
    let started = lab.docker.started_at(&lab.info.id);
    lab.line(Stream::Stdout, started + S, "run 2");
    lab.docker.release();
    assert_eq!(
        order_until(&mut sub, "run 2").await,
        ["run 1", "Exited { exit_code: None }", "Running", "run 2"]
    );
    lab.docker.release_events();
    lab.line(Stream::Stdout, started + 2 * S, "run 2 again");
    assert_eq!(order_until(&mut sub, "run 2 again").await, ["run 2 again"]);
    lab.docker.stop(&lab.info.id, 3);
    let mut got = Got::default();
    take_until(&mut sub, &mut got, |g| !g.statuses.is_empty()).await;
    assert_eq!(got.statuses, [RunStatus::Exited { exit_code: Some(3) }]);
}

#[tokio::test(start_paused = true)]
async fn an_old_runs_follow_yielding_the_next_runs_lines_is_cut_at_the_die() {
    // dockerd 20.10 may go on draining run 1's follow stream into run 2's
    // lines (they share a log file) before it closes that stream.
    let lab = Lab::new(EngineConfig::default()).await;
    lab.docker.follow_outlives_run(true);
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "run 1");
    lines(&mut sub, 1).await;
    lab.docker.restart(&lab.info.id, 137);
    let started = lab.docker.started_at(&lab.info.id);
    lab.line(Stream::Stdout, started + S, "run 2");
    assert_eq!(order_until(&mut sub, "run 2").await, RESTARTED[1..]);
}

#[tokio::test(start_paused = true)]
async fn a_restart_loop_tells_every_run_apart() {
    // Three runs start, write and die while labtail cannot look (its
    // inspect is held); each run's lines come between its start and its
    // exit, each exit with its own code.
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "run 1");
    lines(&mut sub, 1).await;
    lab.docker.hold_inspects_after(0);
    for (run, code) in [(2, 1), (3, 2), (4, 3)] {
        lab.docker.restart(&lab.info.id, code);
        let started = lab.docker.started_at(&lab.info.id);
        lab.line(Stream::Stdout, started + S, &format!("run {run}"));
    }
    lab.docker.release();
    let order = order_until(&mut sub, "run 4").await;
    assert_eq!(
        order,
        [
            "Exited { exit_code: Some(1) }",
            "Running",
            "run 2",
            "Exited { exit_code: Some(2) }",
            "Running",
            "run 3",
            "Exited { exit_code: Some(3) }",
            "Running",
            "run 4",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_ends_while_labtail_reads_keeps_its_lines_before_its_exit() {
    // labtail looks (run 2 runs), then reads; meanwhile run 2 writes and
    // dies, run 3 starts and writes. The read holds lines of both; run 3's
    // wait until labtail knows run 3, after run 2's exit.
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "run 1");
    lines(&mut sub, 1).await;
    lab.docker.hold_reads_after(0);
    lab.docker.restart(&lab.info.id, 1);
    lab.docker.wait_held_reads(1).await;
    let started = lab.docker.started_at(&lab.info.id);
    lab.line(Stream::Stdout, started + S, "run 2");
    lab.docker.restart(&lab.info.id, 2);
    let started = lab.docker.started_at(&lab.info.id);
    lab.line(Stream::Stdout, started + S, "run 3");
    // dockerd sends run 2's `die` before run 3 exists; let it arrive (time
    // is paused: this only runs what is ready) before the read answers.
    tokio::time::sleep(Duration::from_millis(1)).await;
    lab.docker.release();
    assert_eq!(
        order_until(&mut sub, "run 3").await,
        [
            "Exited { exit_code: Some(1) }",
            "Running",
            "run 2",
            "Exited { exit_code: Some(2) }",
            "Running",
            "run 3",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_rename_reaches_every_watcher_in_place_and_new_watchers_get_the_new_name() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut a = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "before");
    lab.docker.rename(&lab.info.id, "renamed-box");
    lab.line(Stream::Stdout, T + S, "after");
    let mut got = Got::default();
    take_until(&mut a, &mut got, |g| {
        g.lines.len() >= 2 && !g.renames.is_empty()
    })
    .await;
    assert_eq!(got.texts(), ["before", "after"]);
    assert_eq!(got.renames, ["renamed-box"]);
    assert_eq!(a.name(), "renamed-box");
    let b = lab.subscribe(StartAt::Tail(10)).await;
    assert_eq!(b.name(), "renamed-box");
}

// Invariant "One upstream per container".

#[tokio::test(start_paused = true)]
async fn watchers_share_one_upstream_that_closes_with_the_last() {
    let lab = Lab::new(EngineConfig::default()).await;
    let a = lab.subscribe(StartAt::Tail(0)).await;
    let b = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    assert_eq!(lab.engine.open_hubs(), 1);
    drop(a);
    assert_eq!(lab.engine.open_hubs(), 1);
    drop(b);
    assert_eq!(lab.engine.open_hubs(), 0);
    lab.docker.wait_follows(0).await;
}

#[tokio::test(start_paused = true)]
async fn stop_start_and_removal_are_reported_in_order() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T, "run 1");
    let mut got = lines(&mut sub, 1).await;
    lab.docker.stop(&lab.info.id, 3);
    take_until(&mut sub, &mut got, |g| !g.statuses.is_empty()).await;
    lab.docker.start(&lab.info.id);
    lab.docker.wait_follows(1).await;
    lab.line(Stream::Stdout, T + S, "run 2");
    take_until(&mut sub, &mut got, |g| g.lines.len() >= 2).await;
    lab.docker.remove(&lab.info.id);
    take_until(&mut sub, &mut got, |g| {
        g.statuses.contains(&RunStatus::Removed)
    })
    .await;
    assert_eq!(got.texts(), ["run 1", "run 2"]);
    assert_eq!(
        got.statuses[..2],
        [RunStatus::Exited { exit_code: Some(3) }, RunStatus::Running]
    );
    // `rm -f` kills it first: an exit may come before the removal, never after.
    assert_eq!(got.statuses.last(), Some(&RunStatus::Removed));
    assert!(
        got.statuses[2..got.statuses.len() - 1]
            .iter()
            .all(|s| matches!(s, RunStatus::Exited { .. })),
        "{:?}",
        got.statuses
    );
    assert!(sub.next().await.is_none(), "removal ends the subscription");
}

#[tokio::test(start_paused = true)]
async fn lines_written_just_before_an_exit_are_read_even_if_the_follow_never_opened() {
    // The container prints and exits between the backlog read and the
    // follow stream's start: the follow finds it stopped and must still
    // read what it wrote.
    let lab = Lab::new(EngineConfig::default()).await;
    lab.line(Stream::Stdout, T, "1");
    let engine = lab.engine.clone();
    let info = lab.info.clone();
    let docker = lab.docker.clone();
    // The hub's start-up inspects (before and after the backlog read) go
    // through, the next one (before the follow) is held while the
    // container prints and exits.
    docker.hold_inspects_after(2);
    let mut sub = engine
        .subscribe(&info, StartAt::Tail(10))
        .await
        .expect("subscribe");
    docker.line(&info.id, Stream::Stdout, T + 1, "2");
    docker.stop(&info.id, 0);
    docker.release();
    let mut got = Got::default();
    take_until(&mut sub, &mut got, |g| !g.statuses.is_empty()).await;
    assert_eq!(got.texts(), ["1", "2"]);
    assert_eq!(got.statuses, [RunStatus::Exited { exit_code: Some(0) }]);
}

#[tokio::test(start_paused = true)]
async fn a_run_begun_during_the_backlog_read_is_not_told_exited_after_its_lines() {
    // The hub looks at a stopped container; while it reads the backlog the
    // container starts, writes and exits again (a quick lab job). The
    // status told after the backlog must be the backlog's: the new run's
    // exit, never the old "exited 0" after the new run's lines (history
    // would place an end in the middle of the run).
    let lab = Lab::new(EngineConfig::default()).await;
    lab.line(Stream::Stdout, T, "old");
    let docker = lab.docker.clone();
    docker.stop(&lab.info.id, 0);
    // The backlog read is held while the container runs again; every
    // inspect after the first is held until a subscriber could attach.
    docker.hold_reads_after(0);
    docker.hold_inspects_after(1);
    let (engine, info) = (lab.engine.clone(), lab.info.clone());
    let sub = tokio::spawn(async move { engine.subscribe(&info, StartAt::Tail(10)).await });
    docker.wait_held_reads(1).await;
    docker.start(&lab.info.id);
    let at = docker.started_at(&lab.info.id);
    docker.line(&lab.info.id, Stream::Stdout, at + 1, "new");
    docker.stop(&lab.info.id, 3);
    docker.release_reads();
    // Whatever a subscriber attached now is handed, before the hub looks
    // again, is taken now (statuses queued later would coalesce).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut seen: Vec<String> = Vec::new();
    let mut sub = if sub.is_finished() {
        let mut sub = sub.await.expect("task").expect("subscribe");
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
            note(&mut seen, d);
        }
        docker.release();
        sub
    } else {
        docker.release();
        sub.await.expect("task").expect("subscribe")
    };
    while !seen.iter().any(|s| s == "exit 3") {
        let d = tokio::time::timeout(Duration::from_secs(60), sub.next())
            .await
            .unwrap_or_else(|_| panic!("stuck with {seen:?}"))
            .unwrap_or_else(|| panic!("ended with {seen:?}"));
        note(&mut seen, d);
    }
    fn note(seen: &mut Vec<String>, d: Delivery) {
        match d {
            Delivery::Lines(b) => seen.extend(b.lines().iter().map(|l| l.text.clone())),
            Delivery::Status(RunStatus::Running) => seen.push("run".into()),
            Delivery::Status(RunStatus::Exited { exit_code }) => {
                seen.push(format!("exit {}", exit_code.unwrap_or(-1)));
            }
            other => panic!("unexpected {other:?} after {seen:?}"),
        }
    }
    let new = seen
        .iter()
        .position(|s| s == "new")
        .expect("the new run's line");
    assert_eq!(seen[new..], ["new", "exit 3"], "{seen:?}");
    assert_eq!(seen[0], "old", "{seen:?}");
}

// Batching adapts to the rate (upstream.rs): a line after a quiet moment
// goes out alone and at once; a burst goes out in full batches within the
// bounds. Deterministic here because time is the test's.

#[tokio::test(start_paused = true)]
async fn batching_sends_a_lone_line_at_once_and_a_burst_in_full_batches() {
    let cfg = EngineConfig::default();
    let lab = Lab::new(cfg.clone()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    for i in 0..10 {
        lab.line(Stream::Stdout, T + i * 100 * US, &format!("slow {i}"));
        let sent = tokio::time::Instant::now();
        match sub.next().await {
            Some(Delivery::Lines(s)) => {
                assert_eq!(s.lines().len(), 1, "alone");
                assert_eq!(sent.elapsed(), Duration::ZERO, "at once");
            }
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    const BURST: usize = 20_000;
    for i in 0..BURST {
        lab.line(Stream::Stdout, T + S + i as i64, &i.to_string());
    }
    let mut batches = Vec::new();
    let mut n = 0;
    while n < BURST {
        match sub.next().await {
            Some(Delivery::Lines(s)) => {
                n += s.lines().len();
                batches.push(s.lines().len());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        batches.iter().all(|&b| b <= cfg.batch_max_lines),
        "{batches:?}"
    );
    assert_eq!(
        batches.len(),
        BURST.div_ceil(cfg.batch_max_lines),
        "{batches:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_line_split_by_docker_is_one_line() {
    let lab = Lab::new(EngineConfig::default()).await;
    let mut sub = lab.subscribe(StartAt::Tail(0)).await;
    lab.docker.wait_follows(1).await;
    lab.docker
        .partial(&lab.info.id, Stream::Stdout, T, "first half ");
    lab.line(Stream::Stderr, T, "between");
    lab.line(Stream::Stdout, T, "second half");
    let got = lines(&mut sub, 2).await;
    assert_eq!(got.texts(), ["between", "first half second half"]);
}
