//! The log engine against a real Docker engine.
//!
//! Needs dockerd on `DOCKER_HOST` (default the local socket) and the test image
//! `LABTAIL_TEST_IMAGE` (default `labtail-busybox:test`, built by
//! `scripts/test-image.sh`). Containers print numbered lines so every test can
//! assert the exact sequence it received.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use labtail_logs::{
    BollardDocker, Delivery, EngineConfig, LogEngine, Mark, RunStatus, Scope, StartAt, Stream,
    Subscription,
};

const LABEL: &str = "labtail.test-owner";

fn image() -> String {
    std::env::var("LABTAIL_TEST_IMAGE").unwrap_or_else(|_| "labtail-busybox:test".into())
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// A container removed when the test ends, pass or fail.
struct TestContainer {
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestContainer {
    fn run(owner: &str, script: &str, extra: &[&str]) -> Self {
        let name = format!(
            "labtail-logs-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let label = format!("{LABEL}={owner}");
        let mut args = vec!["run", "-d", "--name", &name, "--label", &label];
        args.extend_from_slice(extra);
        let img = image();
        args.extend_from_slice(&[&img, "sh", "-c", script]);
        let out = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TestContainer { name }
    }

    fn docker_exec(&self, cmd: &[&str]) {
        let out = Command::new("docker")
            .arg("exec")
            .arg(&self.name)
            .args(cmd)
            .output()
            .expect("docker CLI");
        assert!(out.status.success(), "docker exec failed");
    }

    fn docker(&self, verb: &str) {
        let out = Command::new("docker")
            .args([verb, &self.name])
            .output()
            .expect("docker CLI");
        assert!(out.status.success(), "docker {verb} failed");
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

fn engine(cfg: EngineConfig) -> LogEngine {
    let docker = BollardDocker::new(&docker_host(), LABEL).expect("docker client");
    LogEngine::new(std::sync::Arc::new(docker), cfg)
}

async fn find(engine: &LogEngine, owner: &str, name: &str) -> labtail_logs::ContainerInfo {
    engine.docker().negotiate().await.expect("engine reachable");
    labtail_logs::find(engine.docker().as_ref(), &Scope::Owner(owner.into()), name)
        .await
        .expect("list")
        .expect("container visible to its owner")
}

/// Collects deliveries until `done` says stop, with an overall deadline.
async fn collect_until(
    sub: &mut Subscription,
    secs: u64,
    mut done: impl FnMut(&[(Stream, String)], &[Delivery]) -> bool,
) -> (Vec<(Stream, String)>, Vec<Delivery>) {
    let mut lines = Vec::new();
    let mut other = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done(&lines, &other) {
        let next = tokio::time::timeout_at(deadline, sub.next()).await;
        match next {
            Ok(Some(Delivery::Lines(s))) => {
                lines.extend(s.lines().iter().map(|l| (l.stream, l.text.clone())))
            }
            Ok(Some(d)) => other.push(d),
            Ok(None) => break,
            Err(_) => panic!(
                "timed out after {secs}s with {} lines and {:?}",
                lines.len(),
                other
            ),
        }
    }
    (lines, other)
}

fn numbers(lines: &[(Stream, String)], stream: Stream) -> Vec<u64> {
    lines
        .iter()
        .filter(|(s, _)| *s == stream)
        .map(|(_, t)| t.parse().unwrap_or_else(|_| panic!("not a number: {t:?}")))
        .collect()
}

#[tokio::test]
async fn backlog_of_an_exited_container_is_complete_ordered_and_split_by_stream() {
    let c = TestContainer::run("ann", "seq 1 500; seq 1001 1010 >&2; exit 3", &[]);
    let engine = engine(EngineConfig::default());
    // Wait for the exit so the whole log exists.
    let out = Command::new("docker")
        .args(["wait", &c.name])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    let info = find(&engine, "ann", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(1000)).await.unwrap();
    let (lines, other) = collect_until(&mut sub, 20, |_, o| !o.is_empty()).await;
    assert_eq!(
        numbers(&lines, Stream::Stdout),
        (1..=500).collect::<Vec<_>>()
    );
    assert_eq!(
        numbers(&lines, Stream::Stderr),
        (1001..=1010).collect::<Vec<_>>()
    );
    assert!(matches!(
        other[0],
        Delivery::Status(RunStatus::Exited { exit_code: Some(3) })
    ));
}

#[tokio::test]
async fn tail_is_bounded_by_the_backlog_size() {
    let c = TestContainer::run("ann", "seq 1 300; sleep 60", &[]);
    let cfg = EngineConfig {
        backlog_lines: 50,
        ..EngineConfig::default()
    };
    let engine = engine(cfg);
    let info = find(&engine, "ann", &c.name).await;
    // Wait until all 300 lines were written.
    let mut probe = engine.subscribe(&info, StartAt::Tail(1)).await.unwrap();
    collect_until(&mut probe, 20, |l, _| {
        l.last().is_some_and(|(_, t)| t == "300")
    })
    .await;
    let mut sub = engine
        .subscribe(&info, StartAt::Tail(10_000))
        .await
        .unwrap();
    let (lines, _) = collect_until(&mut sub, 20, |l, _| l.len() >= 50).await;
    assert_eq!(
        numbers(&lines, Stream::Stdout),
        (251..=300).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn live_lines_arrive_in_order_and_exit_is_reported() {
    let c = TestContainer::run(
        "bob",
        "i=1; while [ $i -le 40 ]; do echo $i; i=$((i+1)); sleep 0.02; done; exit 7",
        &[],
    );
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "bob", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(0)).await.unwrap();
    let (lines, other) = collect_until(&mut sub, 30, |_, o| {
        o.iter()
            .any(|d| matches!(d, Delivery::Status(RunStatus::Exited { .. })))
    })
    .await;
    let got = numbers(&lines, Stream::Stdout);
    // Tail(0) starts wherever the log was at subscribe time; from there on,
    // every line exactly once and in order, through to the last.
    assert!(!got.is_empty());
    let first = got[0];
    assert_eq!(got, (first..=40).collect::<Vec<_>>());
    assert!(other.iter().any(|d| matches!(
        d,
        Delivery::Status(RunStatus::Exited { exit_code: Some(7) })
    )));
}

#[tokio::test]
async fn watchers_share_one_upstream_and_it_closes_with_the_last() {
    let c = TestContainer::run("cat", "seq 1 5; sleep 60", &[]);
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "cat", &c.name).await;
    let mut a = engine.subscribe(&info, StartAt::Tail(100)).await.unwrap();
    let mut b = engine.subscribe(&info, StartAt::Tail(100)).await.unwrap();
    assert_eq!(engine.open_hubs(), 1);
    let (la, _) = collect_until(&mut a, 20, |l, _| l.len() >= 5).await;
    let (lb, _) = collect_until(&mut b, 20, |l, _| l.len() >= 5).await;
    assert_eq!(la, lb);
    drop(a);
    assert_eq!(engine.open_hubs(), 1, "one watcher left keeps the upstream");
    drop(b);
    assert_eq!(engine.open_hubs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_backlog_then_live_with_no_gap_or_duplicate() {
    // About three seconds of output, so the late joiner arrives mid-stream.
    let c = TestContainer::run(
        "dan",
        "i=1; while [ $i -le 3000 ]; do echo $i; \
         if [ $((i % 50)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done; sleep 60",
        &[],
    );
    let engine = engine(EngineConfig {
        backlog_lines: 5000,
        ..EngineConfig::default()
    });
    let info = find(&engine, "dan", &c.name).await;
    let mut early = engine.subscribe(&info, StartAt::Tail(5000)).await.unwrap();
    let (seen, _) = collect_until(&mut early, 30, |l, _| l.len() >= 1000).await;
    let mut late = engine.subscribe(&info, StartAt::Tail(5000)).await.unwrap();
    let (lines, _) = collect_until(&mut late, 30, |l, _| {
        l.last().is_some_and(|(_, t)| t == "3000")
    })
    .await;
    assert_eq!(
        numbers(&lines, Stream::Stdout),
        (1..=3000).collect::<Vec<_>>()
    );
    assert!(
        seen.len() < 3000,
        "joined while the container was still printing"
    );
}

#[tokio::test]
async fn removal_ends_the_subscription() {
    let c = TestContainer::run("eve", "echo up; sleep 60", &[]);
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "eve", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(10)).await.unwrap();
    collect_until(&mut sub, 20, |l, _| !l.is_empty()).await;
    let out = Command::new("docker")
        .args(["rm", "-f", &c.name])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_, other) = collect_until(&mut sub, 30, |_, o| {
        o.iter()
            .any(|d| matches!(d, Delivery::Status(RunStatus::Removed)))
    })
    .await;
    assert!(matches!(
        other.last(),
        Some(Delivery::Status(RunStatus::Removed))
    ));
    assert!(sub.next().await.is_none());
}

#[tokio::test]
async fn a_restarted_container_keeps_streaming_to_its_watchers() {
    let c = TestContainer::run("fay", "echo run; sleep 60", &[]);
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "fay", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(10)).await.unwrap();
    collect_until(&mut sub, 20, |l, _| l.len() == 1).await;
    c.docker("stop");
    let (_, other) = collect_until(&mut sub, 30, |_, o| {
        o.iter()
            .any(|d| matches!(d, Delivery::Status(RunStatus::Exited { .. })))
    })
    .await;
    assert!(!other.is_empty());
    c.docker("start");
    let (lines, other) = collect_until(&mut sub, 30, |l, _| !l.is_empty()).await;
    assert!(
        other
            .iter()
            .any(|d| matches!(d, Delivery::Status(RunStatus::Running)))
    );
    assert_eq!(lines, vec![(Stream::Stdout, "run".to_string())]);
}

/// Issue 29: a crash loop under a restart policy, watched from before its
/// first run: each run's lines come between its start and its exit, each
/// exit with its own code, however the follow stream, the events and
/// `inspect` raced on this machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loops_runs_are_told_apart_with_their_exit_codes() {
    // Run n waits for the gate (so the test watches from the start),
    // prints five lines and exits with code n; on-failure:3 gives 4 runs.
    let c = TestContainer::run(
        "ann",
        "while [ ! -f /tmp/go ]; do sleep 0.05; done; \
         n=$(cat /tmp/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/runs; \
         for i in 1 2 3 4 5; do echo \"run$n $i\"; done; exit $n",
        &["--restart", "on-failure:3"],
    );
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "ann", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(1000)).await.unwrap();
    c.docker_exec(&["touch", "/tmp/go"]);
    let mut order = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !order.iter().any(|o: &String| o == "exited 4") {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(Delivery::Lines(s))) => order.extend(s.lines().iter().map(|l| l.text.clone())),
            Ok(Some(Delivery::Status(RunStatus::Exited { exit_code }))) => {
                order.push(format!("exited {}", exit_code.unwrap_or(-1)))
            }
            Ok(Some(Delivery::Status(RunStatus::Running))) => order.push("running".into()),
            Ok(Some(other)) => panic!("{other:?} after {order:?}"),
            Ok(None) | Err(_) => panic!("stopped after {order:?}"),
        }
    }
    let mut want = Vec::new();
    for n in 1..=4 {
        if n > 1 {
            want.push("running".to_string());
        }
        want.extend((1..=5).map(|i| format!("run{n} {i}")));
        want.push(format!("exited {n}"));
    }
    assert_eq!(order, want);
}

#[tokio::test]
async fn tty_containers_stream_as_console() {
    let c = TestContainer::run("gus", "echo one; echo two >&2; sleep 60", &["-t"]);
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "gus", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(10)).await.unwrap();
    let (lines, _) = collect_until(&mut sub, 20, |l, _| l.len() >= 2).await;
    assert_eq!(
        lines,
        vec![
            (Stream::Console, "one".to_string()),
            (Stream::Console, "two".to_string())
        ]
    );
}

/// Everything a subscriber got: lines (as numbers) and what gaps said it missed.
async fn drain_numbers(sub: &mut Subscription, last: u64, secs: u64) -> (Vec<u64>, u64, usize) {
    let mut got: Vec<u64> = Vec::new();
    let mut missed = 0u64;
    let mut gaps = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while got.last() != Some(&last) {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(Delivery::Lines(s))) => {
                got.extend(s.lines().iter().map(|l| l.text.parse::<u64>().unwrap()))
            }
            Ok(Some(Delivery::Gap { count, .. })) => {
                gaps += 1;
                missed += count.expect("live gaps are counted");
            }
            other => panic!("unexpected {other:?} after {} lines", got.len()),
        }
    }
    (got, missed, gaps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_gets_an_exact_gap_and_never_slows_the_others() {
    const N: u64 = 20_000;
    let c = TestContainer::run(
        "hal",
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; \
         i=1; while [ $i -le 20000 ]; do echo $i; i=$((i+1)); done; sleep 60",
        &[],
    );
    let cfg = EngineConfig {
        subscriber_buffer_lines: 5000,
        backlog_lines: 100,
        ..EngineConfig::default()
    };
    let engine = engine(cfg.clone());
    let info = find(&engine, "hal", &c.name).await;
    let mut healthy = engine.subscribe(&info, StartAt::Tail(0)).await.unwrap();
    let mut stalled = engine.subscribe(&info, StartAt::Tail(0)).await.unwrap();
    c.docker_exec(&["touch", "/tmp/go"]);
    // The healthy one reads all of it while the stalled one reads nothing:
    // the stalled one must not hold it up. (On a busy machine the healthy
    // one may itself fall behind its bound for a moment; then it too is
    // told exactly what it missed.)
    let (got, missed, _) = drain_numbers(&mut healthy, N, 60).await;
    assert_eq!(
        got.len() as u64 + missed,
        N,
        "healthy: delivered + missed = all"
    );
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "healthy: in order, once"
    );
    // Now the stalled one catches up.
    let (got, missed, gaps) = drain_numbers(&mut stalled, N, 30).await;
    assert!(gaps >= 1, "the stalled subscriber was told it lost lines");
    assert_eq!(got.len() as u64 + missed, N, "delivered + missed = all");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicate"
    );
    // It held at most its bound plus one batch while it read nothing.
    let held = (cfg.subscriber_buffer_lines + cfg.batch_max_lines) as u64;
    assert!(
        missed >= N - held,
        "missed {missed}, so it held more than {held}"
    );
}

#[tokio::test]
async fn resume_after_a_cursor_in_the_backlog_is_exact() {
    let c = TestContainer::run("ida", "seq 1 100; sleep 60", &[]);
    let engine = engine(EngineConfig::default());
    let info = find(&engine, "ida", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(1000)).await.unwrap();
    let mut cursors = HashMap::new();
    while cursors.len() < 100 {
        if let Some(Delivery::Lines(s)) = sub.next().await {
            for l in s.lines() {
                cursors.insert(l.text.clone(), l.cursor);
            }
        }
    }
    let mut resumed = engine
        .subscribe(&info, StartAt::After(Mark::Cursor(cursors["60"])))
        .await
        .unwrap();
    let (lines, other) = collect_until(&mut resumed, 20, |l, _| l.len() >= 40).await;
    assert!(other.is_empty());
    assert_eq!(
        numbers(&lines, Stream::Stdout),
        (61..=100).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_racing_at_full_speed_lose_nothing() {
    // Docker's two copiers race: its log is not in strict timestamp order
    // across streams. Every line must still arrive exactly once.
    let c = TestContainer::run(
        "ivy",
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; \
         seq 1 20000 & seq 100001 120000 >&2; wait; sleep 60",
        &[],
    );
    // A subscriber bound far above the output: this test is about order
    // and completeness, not about a reader falling behind.
    let engine = engine(EngineConfig {
        subscriber_buffer_lines: 1_000_000,
        subscriber_buffer_bytes: 1 << 30,
        ..EngineConfig::default()
    });
    let info = find(&engine, "ivy", &c.name).await;
    let mut sub = engine.subscribe(&info, StartAt::Tail(0)).await.unwrap();
    c.docker_exec(&["touch", "/tmp/go"]);
    let (lines, other) = collect_until(&mut sub, 60, |l, _| l.len() >= 40_000).await;
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(
        numbers(&lines, Stream::Stdout),
        (1..=20000).collect::<Vec<_>>()
    );
    assert_eq!(
        numbers(&lines, Stream::Stderr),
        (100_001..=120_000).collect::<Vec<_>>()
    );
}
