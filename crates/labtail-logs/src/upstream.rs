//! The upstream task of a hub: the only reader of one container's log.
//!
//! It reads the backlog, then follows the log, and re-opens the follow
//! stream after every interruption (container restart, engine outage) from
//! just before the last published line, so nothing is lost or repeated
//! (see `reread.rs`). It reports the container's lifecycle to the hub.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::broadcast;

use crate::batch::RunStatus;
use crate::config::EngineConfig;
use crate::docker::{Backoff, Docker, DockerError, ReadFrom, RunInfo};
use crate::events::{EventWatcher, WatchEvent};
use crate::frame::Framer;
use crate::hub::{Hub, Phase, StartError};
use crate::lifecycle::{Heard, RunEvents, Step, Told, place};
use crate::line::Line;
use crate::metrics::GaugeGuard;
use crate::reread::{REREAD_MARGIN_SECS, Seek, read_backlog};

/// Starts the upstream task of `hub`.
pub(crate) fn spawn(hub: &Arc<Hub>, docker: Docker, events: &EventWatcher, cfg: EngineConfig) {
    // Subscribe before the first look so no start/destroy event falls between.
    let ev_rx = events.subscribe();
    let task = tokio::spawn(run(hub.clone(), docker, ev_rx, cfg));
    hub.set_task(task.abort_handle());
}

#[derive(Debug)]
enum FollowEnd {
    /// Docker closed the stream: the container stopped, restarted or went away.
    Closed,
    /// The followed run ended or may have (a `die` was heard, or the stream
    /// turned out to follow another run): what is left is placed by
    /// [`catch_up`], not published from this stream.
    RunEnded,
    Failed(DockerError),
}

async fn run(
    hub: Arc<Hub>,
    docker: Docker,
    ev_rx: broadcast::Receiver<WatchEvent>,
    cfg: EngineConfig,
) {
    let id = hub.container.id.clone();
    let mut events = RunEvents::new(id.clone(), ev_rx);

    // Start-up: the current state and the backlog, or a clear failure.
    let mut first = match docker.inspect_run(&id).await {
        Ok(run) => {
            tracing::debug!(container = %hub.container.name, ?run, "following");
            run
        }
        Err(e) => {
            hub.set_phase(Phase::Failed(start_error(e)));
            return;
        }
    };
    // The status told after the backlog must be the backlog's: a container
    // seen `created` (or exited) that starts while its backlog is read has
    // that new run's lines in it, and "exited" told after them would put
    // an end where none was. So the backlog is read until `inspect` shows
    // the same run before and after the read (a few tries; a container
    // restarting faster than that is placed by `catch_up` below).
    let mut tries = 0;
    let lines = loop {
        let lines = match read_backlog(docker.as_ref(), &id, cfg.backlog_lines, &cfg).await {
            Ok(lines) => lines,
            Err(e) => {
                hub.set_phase(Phase::Failed(start_error(e)));
                return;
            }
        };
        tries += 1;
        if tries >= BACKLOG_TRIES {
            break lines;
        }
        match docker.inspect_run(&id).await {
            Ok(now) if !same_run(&first, &now) => {
                tracing::debug!(container = %hub.container.name, ?now, "the run changed during the backlog read");
                first = now;
            }
            _ => break lines,
        }
    };
    hub.publish(lines, &cfg);
    // The status last told (what the hub says again after an outage). A
    // container waiting for its restart policy has exited: the next run's
    // start is told when it comes.
    let mut status = if first.running {
        RunStatus::Running
    } else {
        RunStatus::Exited {
            exit_code: first.exit_code,
        }
    };
    hub.set_status(status.clone());
    hub.set_phase(Phase::Ready);

    let mut backoff = Backoff::new(cfg.reconnect_max_delay);
    // What watchers have been told of the runs: which one is open, which
    // deaths are placed.
    let mut told = Told::first(&first);
    loop {
        let run = match docker.inspect_run(&id).await {
            Ok(run) => run,
            Err(DockerError::NotFound) => {
                tracing::debug!(container = %hub.container.name, "gone");
                // Gone (`--rm`, `rm -f`). What it wrote and was not
                // published yet (a follow cut short, a burst under load)
                // is read from its log file, held open since it started
                // (`docker::files`' pins); each run's lines before its exit,
                // then the removal.
                let mut rest = Vec::new();
                if let ReadEnd::Failed(e) = read_into(&hub, &docker, &cfg, &mut rest).await {
                    tracing::debug!(container = %hub.container.name, error = %e, "nothing more to read of a removed container");
                }
                let deaths = if told.open_run.is_some() {
                    events.take_deaths(told.placed_until)
                } else {
                    Vec::new()
                };
                let mut rest = rest.into_iter().peekable();
                for d in deaths {
                    let before: Vec<Line> =
                        std::iter::from_fn(|| rest.next_if(|l| l.cursor.ts_nanos < d.at)).collect();
                    hub.publish(before, &cfg);
                    hub.set_status(RunStatus::Exited {
                        exit_code: d.exit_code,
                    });
                }
                hub.publish(rest.collect(), &cfg);
                hub.set_status(RunStatus::Removed);
                return;
            }
            Err(e) => {
                tracing::debug!(container = %hub.container.name, error = %e, "inspect failed");
                hub.set_status(RunStatus::EngineDown);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        // Back from an outage: what was told before it holds again (a
        // change meanwhile is placed below).
        hub.set_status(status.clone());
        if told.is_stale(&run) {
            // The run told is over, or another began: what it wrote since
            // the last line read comes first, then its exit, then the start
            // of what runs now (however many runs came between).
            (told, status) = catch_up(&hub, &docker, &cfg, &mut events, told, status, &run).await;
            continue;
        }
        if let Some(run_start) = told.open_run {
            let opened = tokio::time::Instant::now();
            let end = read_on(&hub, &docker, &cfg, &mut events, run_start).await;
            tracing::debug!(container = %hub.container.name, ?end, "follow ended");
            match end {
                FollowEnd::Closed | FollowEnd::RunEnded => {
                    // The run ended (or the stream did): the next inspect
                    // says which. A stream that ends at once while the
                    // container still runs must not become a busy loop.
                    if opened.elapsed() < Duration::from_millis(500) {
                        tokio::time::sleep(backoff.next_delay()).await;
                    } else {
                        backoff.reset();
                    }
                }
                FollowEnd::Failed(DockerError::NotFound) => {
                    hub.set_status(RunStatus::Removed);
                    return;
                }
                FollowEnd::Failed(DockerError::Other(msg)) => {
                    // E.g. a logging driver Docker cannot read back ("none").
                    tracing::warn!(container = %hub.container.name, %msg, "cannot follow log");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                FollowEnd::Failed(e) => {
                    tracing::debug!(container = %hub.container.name, error = %e, "follow failed");
                    hub.set_status(RunStatus::EngineDown);
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
            continue;
        }
        // Stopped, and told so: wait for it to start again or to be removed.
        loop {
            match events.next().await {
                Some(Heard::Renamed(_)) => pass_rename(&hub, &mut events),
                Some(Heard::Started | Heard::Blind) => break,
                Some(Heard::Destroyed) => {
                    hub.set_status(RunStatus::Removed);
                    return;
                }
                // Kept by `events` for the next placing.
                Some(Heard::Died(_)) => {}
                None => return,
            }
        }
    }
}

/// Backlog reads at start-up at most, while the run changes under them.
const BACKLOG_TRIES: u32 = 3;

/// Whether two `inspect`s show the same run in the same state.
fn same_run(a: &RunInfo, b: &RunInfo) -> bool {
    a.started_at == b.started_at && a.running == b.running && a.restarting == b.restarting
}

/// How long to wait for the `die` event of a run that ended, when `inspect`
/// already shows it over: the event says when it ended and with what code.
const DIE_EVENT_WAIT: Duration = Duration::from_secs(2);

/// Publishes what the container wrote after the last published line (to
/// the end of its log, or `max_resume_lines` of it) with the run
/// boundaries placed by the data ([`place`]): each run's lines, its exit
/// with its code, the next run's start. `now` is what `inspect` showed
/// before this: the read that follows covers every line written before
/// it. Returns what watchers have then been told, and the last status.
async fn catch_up(
    hub: &Arc<Hub>,
    docker: &Docker,
    cfg: &EngineConfig,
    events: &mut RunEvents,
    told: Told,
    status: RunStatus,
    now: &RunInfo,
) -> (Told, RunStatus) {
    if told.awaits_death(now, &events.deaths_after(told.placed_until)) {
        // A restart: its `die`, usually heard already, says when the run
        // ended and with what code; wait a little for a late one.
        let before = now.started_at.unwrap_or(i64::MIN);
        events
            .await_death(told.placed_until, before, DIE_EVENT_WAIT)
            .await;
    }
    // Deaths heard before the read: their runs' lines are all in it.
    let deaths = events.take_deaths(told.placed_until);
    let mut lines = Vec::new();
    let complete = match read_into(hub, docker, cfg, &mut lines).await {
        ReadEnd::Complete => true,
        ReadEnd::Bounded => false,
        ReadEnd::Failed(e) => {
            tracing::debug!(container = %hub.container.name, error = %e, "catch-up read failed");
            false
        }
    };
    // Deaths heard since: runs that ended after `now`; the lines after
    // the first of them are a run `now` does not show, held back.
    let fence = events.deaths_after(told.placed_until);
    if let Some(last) = hub.last_cursor() {
        // A death placed before lines already published: the follow stream
        // outran the event stream. Counted; the order cannot be mended.
        for d in deaths.iter().filter(|d| d.at < last.ts_nanos) {
            late_status(hub, d.at);
        }
    }
    let (steps, told, later) = place(lines, deaths, &fence, now, complete, told);
    events.give_back(later);
    let mut status = status;
    for step in steps {
        match step {
            Step::Lines(lines) => hub.publish(lines, cfg),
            Step::Status(s) => {
                hub.set_status(s.clone());
                status = s;
            }
        }
    }
    (told, status)
}

pub(crate) fn start_error(e: DockerError) -> StartError {
    match e {
        DockerError::NotFound => StartError::NotFound,
        DockerError::Unreachable(m) => StartError::Unavailable(m),
        DockerError::Other(m) => StartError::Unreadable(m),
        // Lookups by name are the fleet's; a log read takes an ID.
        e @ DockerError::Ambiguous(_) => StartError::Unreadable(e.to_string()),
    }
}

/// Where a read that goes on from the last published line starts: a
/// whole second (Docker's `since`) before it, or the whole log.
fn reread_from(hub: &Hub) -> ReadFrom {
    ReadFrom::SinceSecs(
        hub.last_cursor()
            .map(|c| (c.floor_secs() - REREAD_MARGIN_SECS).max(1))
            .unwrap_or(0),
    )
}

enum ReadEnd {
    /// The read reached the end of the log.
    Complete,
    /// `max_resume_lines` lines were read; more may follow.
    Bounded,
    Failed(DockerError),
}

/// Reads (no follow) the lines after the last published one into `out`,
/// at most `cfg.max_resume_lines` of them: memory stays bounded, and the
/// rest is read after these are published.
async fn read_into(
    hub: &Arc<Hub>,
    docker: &Docker,
    cfg: &EngineConfig,
    out: &mut Vec<Line>,
) -> ReadEnd {
    let mut stream = docker.logs(&hub.container.id, reread_from(hub), false);
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut seek = Seek::new(hub.last_cursor());
    let mut buf = Vec::new();
    let bound = cfg.max_resume_lines.max(1);
    let end = loop {
        match stream.next().await {
            Some(Ok(frame)) => framer.push(&frame, &mut buf),
            Some(Err(e)) => break ReadEnd::Failed(e),
            None => {
                framer.flush(&mut buf);
                break ReadEnd::Complete;
            }
        }
        out.extend(seek.filter(std::mem::take(&mut buf)));
        if out.len() >= bound {
            // A line cut short by the bound would come back whole next time.
            break ReadEnd::Bounded;
        }
    };
    out.extend(seek.filter(buf));
    if matches!(end, ReadEnd::Complete) {
        // The log ended without the line sought: what was set aside is new.
        out.append(&mut seek.aside);
    }
    end
}

/// Follows the log of the run that started at `run_start` from the last
/// published line (re-reading from just before its second), publishing as
/// lines come, until Docker ends the stream or the run ends.
///
/// Only lines of that run are published here; the stream is left to
/// [`catch_up`] (which places run boundaries by the data) as soon as it may
/// hold another run's:
/// - before its first lines are published, `inspect` must still show that
///   run: dockerd binds a follow stream to the run current when it answers,
///   which may be a newer run than the one inspected before the request;
/// - a `die` (or removal) of the container heard on the event stream ends
///   the follow at once: an old run's stream can go on yielding the next
///   run's lines while it drains;
/// - the lines of a stream that closes are not published from it: its
///   tail may be the next run's.
///
/// Batching adapts to the rate and to the audience: a line after a quiet
/// moment goes out at once (latency); while the container prints fast,
/// lines are gathered until [`batch_interval`] has passed since the last
/// batch (throughput), never more than the batch bounds.
async fn read_on(
    hub: &Arc<Hub>,
    docker: &Docker,
    cfg: &EngineConfig,
    events: &mut RunEvents,
    run_start: i64,
) -> FollowEnd {
    let mut stream = docker.logs(&hub.container.id, reread_from(hub), true);
    let _gauge = GaugeGuard::new(crate::metrics::UPSTREAM_STREAMS_OPEN);
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut seek = Seek::new(hub.last_cursor());
    let mut lines = Vec::new();
    let mut last_publish: Option<tokio::time::Instant> = None;
    let max_lines = cfg.batch_max_lines.max(1);
    // Whether this stream is known to follow `run_start`'s run.
    let mut verified = false;
    loop {
        let mut end = None;
        let next = tokio::select! {
            // Events first: a `die` heard ends the follow before another
            // line of this stream is taken.
            biased;
            heard = events.next() => match heard {
                // An earlier run's, heard late: kept for placing.
                Some(Heard::Died(d)) if d.at <= run_start => continue,
                Some(Heard::Died(d)) => {
                    let old = std::mem::take(&mut lines);
                    drain_run(hub, &mut stream, &mut framer, &mut seek, old, d.at, cfg).await;
                    return run_ended(hub, d.at);
                }
                Some(Heard::Destroyed) | None => return FollowEnd::RunEnded,
                // Events were missed (the event stream was re-opened): a
                // stop may be among them; look again.
                Some(Heard::Blind) => return FollowEnd::RunEnded,
                // A start (of this run, told late, or of another): look
                // again before the next publish.
                Some(Heard::Started) => {
                    verified = false;
                    continue;
                }
                Some(Heard::Renamed(_)) => {
                    pass_rename(hub, events);
                    continue;
                }
            },
            next = stream.next() => next,
        };
        match next {
            Some(Ok(frame)) => framer.push(&frame, &mut lines),
            Some(Err(e)) => end = Some(FollowEnd::Failed(e)),
            None => end = Some(FollowEnd::Closed),
        }
        // In a burst (the last batch went out less than an interval ago)
        // keep gathering until the interval is over; otherwise only take
        // what is already there.
        let interval = batch_interval(hub.subscriber_count(), cfg);
        let gather_until = match last_publish {
            Some(t) if interval >= MIN_TIMED_GATHER && t.elapsed() < interval => Some(t + interval),
            _ => None,
        };
        let mut bytes = 0usize;
        let mut yielded = false;
        while end.is_none() && lines.len() < max_lines && bytes < cfg.batch_max_bytes {
            let next = match gather_until {
                Some(deadline) => tokio::time::timeout_at(deadline, stream.next()).await.ok(),
                None => match stream.next().now_or_never() {
                    Some(next) => {
                        yielded = false;
                        Some(next)
                    }
                    // hyper hands a response body over one chunk (one
                    // Docker message) at a time from its connection task:
                    // let that task run once, and keep what it had read.
                    None if !yielded => {
                        yielded = true;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    None => None,
                },
            };
            match next {
                Some(Some(Ok(frame))) => {
                    bytes += frame.bytes.len();
                    framer.push(&frame, &mut lines);
                }
                Some(Some(Err(e))) => end = Some(FollowEnd::Failed(e)),
                Some(None) => end = Some(FollowEnd::Closed),
                None => break,
            }
        }
        if let Some(end) = end {
            // Closed: the run ended or the stream did; catch_up (or the
            // next follow) reads what was not published, in its place.
            return end;
        }
        let fresh = seek.filter(std::mem::take(&mut lines));
        if fresh.is_empty() {
            continue;
        }
        match events.poll() {
            Some(Heard::Died(d)) if d.at > run_start => {
                drain_run(hub, &mut stream, &mut framer, &mut seek, fresh, d.at, cfg).await;
                return run_ended(hub, d.at);
            }
            Some(Heard::Died(_)) => {}
            Some(Heard::Destroyed) | Some(Heard::Blind) => return FollowEnd::RunEnded,
            Some(Heard::Started) => verified = false,
            Some(Heard::Renamed(_)) | None => {}
        }
        pass_rename(hub, events);
        if !verified {
            match docker.inspect_run(&hub.container.id).await {
                Ok(run) if run.started_at == Some(run_start) => verified = true,
                // Another run: this stream may be following it.
                Ok(_) => return FollowEnd::RunEnded,
                // Gone already (`--rm` right after it wrote): no run began
                // after the one this stream follows, so its lines are that
                // run's, the last. They are read to the stream's end (a
                // log file is held open through the removal), not dropped.
                Err(DockerError::NotFound) => {
                    tracing::debug!(container = %hub.container.name, "removed while its lines were read; reading them to the end");
                    verified = true;
                }
                Err(e) => return FollowEnd::Failed(e),
            }
            match events.poll() {
                Some(Heard::Died(d)) if d.at > run_start => return run_ended(hub, d.at),
                Some(Heard::Destroyed) => return FollowEnd::RunEnded,
                _ => {}
            }
        }
        hub.publish(fresh, cfg);
        last_publish = Some(tokio::time::Instant::now());
    }
}

/// Passes a rename heard on to the hub, named as the fleet names it.
fn pass_rename(hub: &Hub, events: &mut RunEvents) {
    if let Some(name) = events.take_rename() {
        let name = match &hub.container.host {
            Some(host) => format!("{host}/{name}"),
            None => name,
        };
        hub.rename(name);
    }
}

/// How long the stream of a run that ended may stay quiet before what it
/// held is taken as all of it, and how long draining it may take at most.
const DRAIN_QUIET: Duration = Duration::from_millis(250);
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// The run of the stream ended (its `die` was heard): reads what the
/// stream still holds of it and publishes it, before the exit is placed.
/// Everything the run wrote is in Docker's log before its `die`, so it is
/// there to read; a stream that reads the log file holds the file open,
/// so this works even when the container is removed at once (`--rm`).
/// Lines stamped after the death are the next run's: left to the catch-up.
async fn drain_run(
    hub: &Arc<Hub>,
    stream: &mut futures_util::stream::BoxStream<'static, Result<crate::frame::Frame, DockerError>>,
    framer: &mut Framer,
    seek: &mut Seek,
    mut lines: Vec<Line>,
    died_at: i64,
    cfg: &EngineConfig,
) {
    let until = tokio::time::Instant::now() + DRAIN_MAX;
    while lines.last().is_none_or(|l| l.cursor.ts_nanos < died_at) {
        let quiet = (tokio::time::Instant::now() + DRAIN_QUIET).min(until);
        match tokio::time::timeout_at(quiet, stream.next()).await {
            Ok(Some(Ok(frame))) => framer.push(&frame, &mut lines),
            _ => break,
        }
    }
    // The run is over: its last line is whole even without a line end.
    framer.flush(&mut lines);
    let mut fresh = seek.filter(lines);
    fresh.retain(|l| l.cursor.ts_nanos < died_at);
    hub.publish(fresh, cfg);
}

/// A `die` heard while following: the follow ends; if lines stamped after
/// the death were published already (dockerd's follow stream of the old run
/// delivered the next run's lines before its event stream delivered the
/// `die`), that is counted: the order can no longer be mended.
fn run_ended(hub: &Hub, died_at: i64) -> FollowEnd {
    if hub.last_cursor().is_some_and(|c| c.ts_nanos > died_at) {
        late_status(hub, died_at);
    }
    FollowEnd::RunEnded
}

fn late_status(hub: &Hub, died_at: i64) {
    metrics::counter!(crate::metrics::STATUS_LATE).increment(1);
    tracing::warn!(
        container = %hub.container.name,
        died_at,
        "a run's exit was heard after lines of the next run were published"
    );
}

/// Below this, a batch interval is not waited for: tokio's timers tick in
/// whole milliseconds, so a sub-millisecond wait (a few viewers) lasted up
/// to a millisecond and put that on every line's latency while a container
/// printed fast. Such a hub takes only what is already read.
const MIN_TIMED_GATHER: Duration = Duration::from_millis(1);

/// The shortest time between two batches of a hub with `subscribers`
/// viewers: `batch_linger × (subscribers / linger_viewers)²`, at most
/// `batch_linger`. Each batch costs one event per viewer, and what an event
/// costs grows with the sockets being written to at once, so spacing that
/// grows with the square of the audience keeps the few viewers fast and the
/// many cheap. With the defaults (50 ms, 500): one viewer gets every line as
/// soon as it is read (0.2 µs, not waited for), ten 20 µs, a hundred 2 ms,
/// 250 12.5 ms, 500 and more 50 ms. Measured in `docs/benchmarks.md`: a
/// linear rule (events per second per hub) that gave 100 viewers 2 ms gave
/// 1 000 viewers 20 ms, and at 1 000 lines/s that took twice the CPU and
/// twice the p99 of 50 ms; 5 ms for 100 viewers was behind Node at p50.
pub(crate) fn batch_interval(subscribers: usize, cfg: &EngineConfig) -> std::time::Duration {
    if cfg.linger_viewers == 0 {
        return cfg.batch_linger;
    }
    let share = (subscribers as f64 / f64::from(cfg.linger_viewers)).min(1.0);
    cfg.batch_linger.mul_f64(share * share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn batches_are_spaced_by_the_audience_within_the_linger() {
        let cfg = EngineConfig::default();
        assert_eq!(batch_interval(0, &cfg), Duration::ZERO);
        assert_eq!(batch_interval(1, &cfg), Duration::from_nanos(200));
        assert!(batch_interval(1, &cfg) < MIN_TIMED_GATHER);
        assert_eq!(batch_interval(10, &cfg), Duration::from_micros(20));
        assert_eq!(batch_interval(100, &cfg), Duration::from_millis(2));
        assert_eq!(batch_interval(250, &cfg), Duration::from_micros(12_500));
        assert_eq!(batch_interval(500, &cfg), cfg.batch_linger);
        assert_eq!(batch_interval(1_000, &cfg), cfg.batch_linger);
        assert_eq!(batch_interval(100_000, &cfg), cfg.batch_linger);
        let zero = EngineConfig {
            linger_viewers: 0,
            ..EngineConfig::default()
        };
        assert_eq!(batch_interval(0, &zero), cfg.batch_linger);
        assert_eq!(batch_interval(2, &zero), cfg.batch_linger);
    }
}
