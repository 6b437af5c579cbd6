//! Runaway sampling: what each running lab container this node records
//! uses, one `docker stats` sample (no stream, `one-shot`) every
//! `runaway_interval`, against its limits (`inspect`, once per container).
//!
//! The cost to dockerd is bounded: at most `runaway_concurrency` calls in
//! flight, at most `runaway_max_containers` containers per round (the
//! others are taken in the next rounds), each call given up after a
//! timeout; a round starts only after the last one ended. CPU is the
//! difference of two samples (cores used between them), so a container's
//! first sample tells only its memory.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use labtail_logs::{Docker, DockerId, Limits, Usage};
use tokio::time::Instant;

use crate::config::AttentionConfig;
use crate::evaluate::Sample;

/// What the sampler samples for and reports to (the service).
pub trait UsageSink: Send + Sync + 'static {
    fn config(&self) -> &AttentionConfig;
    /// The running lab containers this node evaluates (engine, ID).
    fn running_containers(&self) -> Vec<(String, DockerId)>;
    /// One sample of a container's use.
    fn usage(&self, container_id: &str, sample: &Sample);
}

/// One `stats` or `inspect` call at most this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The last sample of a container, and its limits.
struct Seen {
    at: Instant,
    cpu_ns: u64,
    limits: Limits,
}

pub(crate) async fn run<S: UsageSink>(me: Weak<S>, engines: HashMap<String, Docker>) {
    let cfg = match me.upgrade() {
        Some(a) => a.config().clone(),
        None => return,
    };
    if cfg.runaway_interval.is_zero() || engines.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(cfg.runaway_interval.max(Duration::from_millis(200)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let permits = Arc::new(tokio::sync::Semaphore::new(cfg.runaway_concurrency.max(1)));
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut offset = 0usize;
    loop {
        tick.tick().await;
        let Some(a) = me.upgrade() else {
            return;
        };
        let mut running = a.running_containers();
        drop(a);
        running.sort();
        // Beyond the bound, a different slice each round.
        let max = cfg.runaway_max_containers.max(1);
        let round: Vec<(String, DockerId)> = if running.len() > max {
            offset %= running.len();
            let r = running
                .iter()
                .cycle()
                .skip(offset)
                .take(max)
                .cloned()
                .collect();
            offset += max;
            r
        } else {
            running.clone()
        };
        let mut calls = tokio::task::JoinSet::new();
        for (engine, id) in round {
            let Some(docker) = engines.get(&engine) else {
                continue;
            };
            let docker = docker.clone();
            let permits = permits.clone();
            let known = seen.get(id.as_str()).map(|s| s.limits);
            calls.spawn(async move {
                let _permit = permits.acquire_owned().await.ok()?;
                let limits = match known {
                    Some(l) => l,
                    None => tokio::time::timeout(CALL_TIMEOUT, docker.limits(&id))
                        .await
                        .ok()?
                        .ok()?,
                };
                let usage = tokio::time::timeout(CALL_TIMEOUT, docker.usage(&id))
                    .await
                    .ok()?
                    .ok()?;
                Some((id.as_str().to_owned(), Instant::now(), usage, limits))
            });
        }
        let mut samples = Vec::new();
        while let Some(r) = calls.join_next().await {
            if let Ok(Some((id, at, usage, limits))) = r {
                let sample = measure(seen.get(&id), at, &usage, &limits);
                seen.insert(
                    id.clone(),
                    Seen {
                        at,
                        cpu_ns: usage.cpu_ns,
                        limits,
                    },
                );
                samples.push((id, sample));
            }
        }
        seen.retain(|id, _| running.iter().any(|(_, r)| r.as_str() == id));
        let Some(a) = me.upgrade() else {
            return;
        };
        for (id, sample) in samples {
            a.usage(&id, &sample);
        }
    }
}

/// A sample against the limits; CPU from the previous sample of the same
/// run (a counter that went back means a new run: no CPU measure yet).
fn measure(prev: Option<&Seen>, at: Instant, u: &Usage, limits: &Limits) -> Sample {
    let cpu = prev
        .filter(|p| u.cpu_ns >= p.cpu_ns && at > p.at)
        .and_then(|p| {
            let cores = (u.cpu_ns - p.cpu_ns) as f64 / (at - p.at).as_nanos() as f64;
            let limit = limits
                .cpus
                .or((u.online_cpus > 0).then_some(f64::from(u.online_cpus)))?;
            (limit > 0.0).then_some((cores, limit))
        });
    let memory = limits
        .memory_bytes
        .filter(|m| *m > 0)
        .map(|m| (u.memory_bytes, m));
    Sample { cpu, memory }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_the_difference_of_two_samples_against_the_limit_or_the_machine() {
        let t0 = Instant::now();
        let prev = Seen {
            at: t0,
            cpu_ns: 1_000_000_000,
            limits: Limits::default(),
        };
        let u = Usage {
            cpu_ns: 1_200_000_000,
            online_cpus: 2,
            memory_bytes: 30 << 20,
        };
        let at = t0 + Duration::from_secs(1);
        let limited = Limits {
            cpus: Some(0.2),
            memory_bytes: Some(32 << 20),
        };
        let s = measure(Some(&prev), at, &u, &limited);
        let (cores, limit) = s.cpu.expect("cpu");
        assert!((cores - 0.2).abs() < 1e-9 && (limit - 0.2).abs() < 1e-9);
        assert_eq!(s.memory, Some((30 << 20, 32 << 20)));
        // No limits: the machine's CPUs; no memory limit, no memory measure.
        let s = measure(Some(&prev), at, &u, &Limits::default());
        assert_eq!(s.cpu.map(|c| c.1), Some(2.0));
        assert_eq!(s.memory, None);
        // The first sample, or a counter that went back (a new run): no CPU.
        assert_eq!(measure(None, at, &u, &limited).cpu, None);
        let back = Usage { cpu_ns: 5, ..u };
        assert_eq!(measure(Some(&prev), at, &back, &limited).cpu, None);
    }
}
