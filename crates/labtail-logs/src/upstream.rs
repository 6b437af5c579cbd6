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
use crate::docker::{Action, Backoff, Docker, DockerError, ReadFrom};
use crate::events::{EventWatcher, WatchEvent};
use crate::frame::Framer;
use crate::hub::{Hub, Phase, StartError};
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

enum FollowEnd {
    /// Docker closed the stream: the container stopped, restarted or went away.
    Closed,
    Failed(DockerError),
}

async fn run(
    hub: Arc<Hub>,
    docker: Docker,
    mut ev_rx: broadcast::Receiver<WatchEvent>,
    cfg: EngineConfig,
) {
    let id = hub.container.id.clone();

    // Start-up: the current state and the backlog, or a clear failure.
    let first = match docker.inspect_run(&id).await {
        Ok(run) => run,
        Err(e) => {
            hub.set_phase(Phase::Failed(start_error(e)));
            return;
        }
    };
    match read_backlog(docker.as_ref(), &id, cfg.backlog_lines, &cfg).await {
        Ok(lines) => hub.publish(lines, &cfg),
        Err(e) => {
            hub.set_phase(Phase::Failed(start_error(e)));
            return;
        }
    }
    hub.set_status(if first.running || first.restarting {
        RunStatus::Running
    } else {
        RunStatus::Exited {
            exit_code: first.exit_code,
        }
    });
    hub.set_phase(Phase::Ready);

    let mut backoff = Backoff::new(cfg.reconnect_max_delay);
    // The start of the run last followed: a different one means the
    // container restarted in between (however quickly).
    let mut following = first.running.then_some(first.started_at).flatten();
    loop {
        let run = match docker.inspect_run(&id).await {
            Ok(run) => run,
            Err(DockerError::NotFound) => {
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
        if run.running {
            if following.is_some() && following != run.started_at {
                // A quick `docker restart`: the run that was followed ended
                // while labtail was not looking. Say so before the new one.
                let exit_code = exit_of_last_run(&mut ev_rx, &hub).await;
                hub.set_status(RunStatus::Exited { exit_code });
            }
            hub.set_status(RunStatus::Running);
            following = run.started_at;
            let opened = tokio::time::Instant::now();
            match read_on(&hub, &docker, &cfg, true).await {
                FollowEnd::Closed => {
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
        // Stopped. What it wrote since the last line read comes first (it
        // may have printed and exited between the backlog read and the
        // follow), then the exit; it may even have started again meanwhile.
        let exited = RunStatus::Exited {
            exit_code: run.exit_code,
        };
        following = catch_up(&hub, &docker, &cfg, exited).await;
        if following.is_some() {
            continue;
        }
        // Stopped: wait for it to start again or to be removed.
        loop {
            match ev_rx.recv().await {
                Ok(WatchEvent::Container(ev)) if ev.id == id => match ev.action {
                    Action::Start | Action::Restart => break,
                    Action::Destroy => {
                        hub.set_status(RunStatus::Removed);
                        return;
                    }
                    _ => {}
                },
                Ok(WatchEvent::Container(_)) => {}
                // Events may have been missed: look again.
                Ok(WatchEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// How long to wait for the `die` event of a run that ended unseen.
const DIE_EVENT_WAIT: Duration = Duration::from_secs(2);

/// The exit code of the container's last `die` event: among those already
/// received, else the next within [`DIE_EVENT_WAIT`]; `None` if none comes.
async fn exit_of_last_run(ev_rx: &mut broadcast::Receiver<WatchEvent>, hub: &Hub) -> Option<i64> {
    let is_die = |ev: &WatchEvent| match ev {
        WatchEvent::Container(e) if e.id == hub.container.id && e.action == Action::Die => {
            Some(e.exit_code)
        }
        _ => None,
    };
    let mut died = None;
    loop {
        match ev_rx.try_recv() {
            Ok(ev) => died = is_die(&ev).or(died),
            Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    if let Some(code) = died {
        return code;
    }
    let wait = async {
        loop {
            match ev_rx.recv().await {
                Ok(ev) => {
                    if let Some(code) = is_die(&ev) {
                        return code;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(DIE_EVENT_WAIT, wait)
        .await
        .ok()
        .flatten()
}

/// Reads what a stopped container wrote after the last published line and
/// publishes it, then `exited`. If the container has started again
/// meanwhile (the read may then hold the new run's first lines), the new
/// run's lines come after `Running`, and its start is returned.
async fn catch_up(
    hub: &Arc<Hub>,
    docker: &Docker,
    cfg: &EngineConfig,
    exited: RunStatus,
) -> Option<i64> {
    let mut lines = Vec::new();
    if let FollowEnd::Failed(e) = read_into(hub, docker, cfg, &mut lines).await {
        tracing::debug!(container = %hub.container.name, error = %e, "catch-up read failed");
    }
    let run = docker.inspect_run(&hub.container.id).await.ok();
    let restarted = run.filter(|r| r.running).and_then(|r| r.started_at);
    // The new run's lines were all written after it started.
    let split = restarted
        .and_then(|started| lines.iter().position(|l| l.cursor.ts_nanos >= started))
        .unwrap_or(lines.len());
    let new_run = lines.split_off(split);
    hub.publish(lines, cfg);
    hub.set_status(exited);
    if restarted.is_some() {
        hub.set_status(RunStatus::Running);
        hub.publish(new_run, cfg);
    }
    restarted
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

/// Reads (no follow) the lines after the last published one into `out`.
/// Past `cfg.max_resume_lines` gathered, the older ones are published at
/// once rather than held: memory stays bounded.
async fn read_into(
    hub: &Arc<Hub>,
    docker: &Docker,
    cfg: &EngineConfig,
    out: &mut Vec<Line>,
) -> FollowEnd {
    let mut stream = docker.logs(&hub.container.id, reread_from(hub), false);
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut seek = Seek::new(hub.last_cursor());
    let mut buf = Vec::new();
    let bound = cfg.max_resume_lines.max(1);
    let end = loop {
        match stream.next().await {
            Some(Ok(frame)) => framer.push(&frame, &mut buf),
            Some(Err(e)) => break FollowEnd::Failed(e),
            None => {
                framer.flush(&mut buf);
                break FollowEnd::Closed;
            }
        }
        out.extend(seek.filter(std::mem::take(&mut buf)));
        if out.len() > bound {
            hub.publish(std::mem::take(out), cfg);
        }
    };
    out.extend(seek.filter(buf));
    if matches!(end, FollowEnd::Closed) {
        // The log ended without the line sought: what was set aside is new.
        out.append(&mut seek.aside);
    }
    end
}

/// Reads the log on from the last published line (re-reading from just
/// before its second), publishing as lines come; with `follow`, until
/// Docker ends the stream, else to the end of what is written. Batching
/// adapts to the rate and to the audience: a line after a quiet moment goes
/// out at once (latency); while the container prints fast, lines are
/// gathered until [`batch_interval`] has passed since the last batch
/// (throughput), never more than the batch bounds.
async fn read_on(hub: &Arc<Hub>, docker: &Docker, cfg: &EngineConfig, follow: bool) -> FollowEnd {
    let mut stream = docker.logs(&hub.container.id, reread_from(hub), follow);
    let _gauge = follow.then(|| GaugeGuard::new(crate::metrics::UPSTREAM_STREAMS_OPEN));
    let mut framer = Framer::new(cfg.max_line_bytes);
    let mut seek = Seek::new(hub.last_cursor());
    let mut lines = Vec::new();
    let mut last_publish: Option<tokio::time::Instant> = None;
    let max_lines = cfg.batch_max_lines.max(1);
    loop {
        let mut end = None;
        match stream.next().await {
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
        if matches!(end, Some(FollowEnd::Closed)) {
            framer.flush(&mut lines);
        }
        let mut fresh = seek.filter(std::mem::take(&mut lines));
        if matches!(end, Some(FollowEnd::Closed)) {
            // The log ended without the line: what was set aside is new.
            fresh.append(&mut seek.aside);
        }
        if !fresh.is_empty() {
            hub.publish(fresh, cfg);
            last_publish = Some(tokio::time::Instant::now());
        }
        if let Some(end) = end {
            return end;
        }
    }
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
