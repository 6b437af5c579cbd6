//! The benchmark scenarios. Each runs against one server (or against a bare
//! `docker logs -f`, the raw ceiling) and reports what viewers saw and what
//! it cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::env::{Containers, Kind, PASSWORD, Paths, Server};
use crate::procfs::{self, CpuMeter};
use crate::sio::{self, BoxError, Tally, Viewer};

/// What one run measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub server: String,
    pub viewers: usize,
    /// Lines each viewer should have received.
    pub expected: u64,
    pub delivered_min: u64,
    pub delivered_avg: f64,
    pub missing: u64,
    pub dups: u64,
    pub gap_events: u64,
    /// Lines per second per viewer, first line to last.
    pub lines_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub first_ms: Option<f64>,
    pub all_ms: Option<f64>,
    pub server_cpu: f64,
    pub server_rss_mb: f64,
    pub dockerd_cpu: f64,
    pub loadgen_cpu: f64,
    /// The whole machine's busy cores (of `cores`): near the core count,
    /// every process waits for CPU, the server included.
    pub machine_cpu: f64,
    pub per_socket_kb: Option<f64>,
    /// Lines per second each producer printed (0: flat out).
    pub rate: u64,
    /// Producer containers in the run.
    pub containers: usize,
    /// Lines delivered, summed over viewers.
    pub delivered_total: u64,
    /// CPU seconds the server (its whole process tree) used in the window.
    pub server_cpu_s: f64,
    /// `idle`: cores the server uses holding its sockets, after they connected.
    pub idle_cpu: Option<f64>,
    /// `storm`: sockets refused or not answered `ok` (connect or subscribe).
    pub refused: Option<u64>,
    /// `storm`: database queries per handshake (labtail's own count).
    pub db_per_handshake: Option<f64>,
    pub note: Option<String>,
}

impl Outcome {
    /// Lines delivered per CPU-second of the server: the efficiency headline.
    pub fn lines_per_cpu_s(&self) -> Option<f64> {
        (self.delivered_total > 0 && self.server_cpu_s > 0.0)
            .then(|| self.delivered_total as f64 / self.server_cpu_s)
    }

    /// `storm` (and `idle`'s connect phase): server CPU per socket, in ms.
    pub fn cpu_ms_per_socket(&self) -> Option<f64> {
        (self.viewers > 0 && self.server_cpu_s > 0.0)
            .then(|| self.server_cpu_s * 1000.0 / self.viewers as f64)
    }
}

/// A streaming scenario: `viewers` sockets watching producers at `rate`
/// lines/s (0 = flat out) printing `count` lines.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub viewers: usize,
    pub rate: u64,
    pub count: u64,
    pub pad: u32,
    /// Each viewer watches a container of its own (else all watch one).
    pub own_containers: bool,
}

fn users_for(kind: Kind, spec: &StreamSpec) -> Vec<(String, &'static str)> {
    if spec.own_containers {
        (0..spec.viewers)
            .map(|i| (format!("s{i}"), "student"))
            .collect()
    } else if kind == Kind::NodeTutorial {
        // One user per viewer: the tutorial design emits every `docker logs`
        // process's output to the room of its user, so viewers sharing a
        // user would each get every line once per viewer.
        (0..spec.viewers)
            .map(|i| (format!("v{i}"), "student"))
            .collect()
    } else {
        // labtail (and the shared Node design) fan one upstream out to any
        // number of sockets.
        vec![("watcher".into(), "instructor")]
    }
}

struct Meters {
    server: CpuMeter,
    dockerd: Option<CpuMeter>,
    me: CpuMeter,
    machine: procfs::MachineMeter,
    peak_rss: Arc<std::sync::atomic::AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Meters {
    fn start(server_pid: u32) -> Self {
        let peak_rss = Arc::new(std::sync::atomic::AtomicU64::new(procfs::tree_rss(
            server_pid,
        )));
        let peak = peak_rss.clone();
        let sampler = tokio::spawn(async move {
            loop {
                peak.fetch_max(
                    procfs::tree_rss(server_pid),
                    std::sync::atomic::Ordering::Relaxed,
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Meters {
            server: CpuMeter::start(server_pid),
            dockerd: procfs::find("dockerd").map(CpuMeter::start),
            me: CpuMeter::start(std::process::id()),
            machine: procfs::MachineMeter::start(),
            peak_rss,
            sampler,
        }
    }

    fn finish(self, o: &mut Outcome) {
        self.sampler.abort();
        o.server_cpu = self.server.cores();
        o.server_cpu_s = self.server.seconds();
        o.dockerd_cpu = self.dockerd.map(|m| m.cores()).unwrap_or(0.0);
        o.loadgen_cpu = self.me.cores();
        o.machine_cpu = self.machine.cores();
        o.server_rss_mb =
            self.peak_rss.load(std::sync::atomic::Ordering::Relaxed) as f64 / (1 << 20) as f64;
    }
}

fn summarise(tallies: &[Tally], o: &mut Outcome) {
    let mut hist: Option<hdrhistogram::Histogram<u64>> = None;
    let mut rates = Vec::new();
    o.delivered_min = u64::MAX;
    let mut total = 0u64;
    for t in tallies {
        o.delivered_min = o.delivered_min.min(t.lines);
        total += t.lines;
        o.missing += t.missing + o.expected.saturating_sub(t.last_seq);
        o.dups += t.dups;
        o.gap_events += t.gap_events;
        if let (Some(a), Some(b)) = (t.first_at, t.last_at)
            && b > a
            && t.lines > 1
        {
            rates.push((t.lines - 1) as f64 / ((b - a) as f64 / 1e9));
        }
        if let Some(h) = &t.latencies {
            match &mut hist {
                Some(acc) => {
                    let _ = acc.add(h);
                }
                None => hist = Some(h.clone()),
            }
        }
    }
    if tallies.is_empty() {
        o.delivered_min = 0;
    }
    o.delivered_avg = total as f64 / tallies.len().max(1) as f64;
    o.delivered_total = total;
    o.lines_per_sec = if rates.is_empty() {
        0.0
    } else {
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    if let Some(h) = hist.filter(|h| !h.is_empty()) {
        o.p50_ms = Some(h.value_at_quantile(0.5) as f64 / 1000.0);
        o.p99_ms = Some(h.value_at_quantile(0.99) as f64 / 1000.0);
        o.max_ms = Some(h.max() as f64 / 1000.0);
    }
}

async fn connect_all(
    addr: &str,
    cookies: &[String],
    n: usize,
    latency: bool,
) -> Result<Vec<Viewer>, BoxError> {
    let results: Vec<Result<Viewer, BoxError>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let cookie = cookies[i % cookies.len()].clone();
            let addr = addr.to_owned();
            async move { Viewer::connect(&addr, &cookie, latency).await }
        })
        .buffered(50)
        .collect()
        .await;
    results.into_iter().collect()
}

pub async fn stream(paths: &Paths, kind: Kind, spec: &StreamSpec) -> Result<Outcome, BoxError> {
    let users = users_for(kind, spec);
    let server = Server::start(kind, paths, &users).await?;
    let owners: Vec<String> = if spec.own_containers {
        users.iter().map(|(u, _)| u.clone()).collect()
    } else {
        vec!["nobody".into()]
    };
    let prefix = format!("labtail-bench-{}", spec.name);
    let containers =
        Containers::start(paths, &prefix, &owners, spec.rate, spec.count, spec.pad).await?;
    let mut cookies = Vec::new();
    for (u, _) in &users {
        cookies.push(sio::login(&server.addr, u, PASSWORD).await?);
    }
    let mut o = Outcome {
        scenario: spec.name.clone(),
        server: kind.name().into(),
        viewers: spec.viewers,
        expected: spec.count,
        rate: spec.rate,
        containers: containers.names.len(),
        ..Outcome::default()
    };
    let viewers = match connect_all(&server.addr, &cookies, spec.viewers, true).await {
        Ok(v) => v,
        Err(e) => {
            o.note = Some(format!("viewers could not connect: {e}"));
            server.stop().await;
            return Ok(o);
        }
    };
    let mut viewers = viewers;
    for (i, v) in viewers.iter_mut().enumerate() {
        let c = &containers.names[if spec.own_containers { i } else { 0 }];
        // No `tail`: the producers print nothing before the gate opens, so
        // every server's default shows every line. `tail: 0` made the shared
        // Node design run `docker logs -f --tail 0`, which misses whatever is
        // printed before that child has attached (all 2 000 lines of a smoke
        // flat_out on a loaded machine): a race of the request, not of any
        // server's streaming.
        let asked = v
            .ask(
                "start-container-logs",
                serde_json::json!({"containerName": c}),
            )
            .await;
        if let Err(e) = asked {
            // A server that drops sockets is a finding, not the end of the run.
            o.note = Some(format!("viewer {i} could not start watching: {e}"));
            server.stop().await;
            return Ok(o);
        }
    }
    let meters = Meters::start(server.pid);
    containers.open().await?;
    let expected_secs = if spec.rate > 0 {
        spec.count as f64 / spec.rate as f64
    } else {
        spec.count as f64 / 20_000.0
    };
    let deadline = Instant::now() + Duration::from_secs_f64(expected_secs * 2.0 + 20.0);
    loop {
        let done = viewers
            .iter()
            .all(|v| v.tally.lock().map(|t| t.end_seen).unwrap_or(false));
        if done || Instant::now() > deadline {
            if !done {
                o.note = Some("some viewers did not receive every line before the deadline".into());
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    meters.finish(&mut o);
    let tallies: Vec<Tally> = viewers
        .iter()
        .map(|v| std::mem::take(&mut *v.tally.lock().unwrap_or_else(|p| p.into_inner())))
        .collect();
    summarise(&tallies, &mut o);
    drop(viewers);
    server.stop().await;
    drop(containers);
    Ok(o)
}

/// The raw ceiling: one `docker logs -f` reading the same producer, no
/// server. With `timestamps` (`-t`), dockerd stamps every line as it does
/// for labtail, whose cursors need Docker's timestamps: the ceiling of any
/// reader that asks for them.
pub async fn raw_ceiling(
    paths: &Paths,
    spec: &StreamSpec,
    timestamps: bool,
) -> Result<Outcome, BoxError> {
    let prefix = format!("labtail-bench-raw-{}", spec.name);
    let containers = Containers::start(
        paths,
        &prefix,
        &["nobody".into()],
        spec.rate,
        spec.count,
        spec.pad,
    )
    .await?;
    let mut child = tokio::process::Command::new("docker")
        .args(["logs", "-f"])
        .args(timestamps.then_some("-t"))
        .arg(&containers.names[0])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("no pid")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let mut o = Outcome {
        scenario: spec.name.clone(),
        server: if timestamps {
            "docker logs -f -t"
        } else {
            "docker logs -f"
        }
        .into(),
        rate: spec.rate,
        containers: 1,
        viewers: 1,
        expected: spec.count,
        ..Outcome::default()
    };
    let meters = Meters::start(pid);
    containers.open().await?;
    let mut tally = Tally::new(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !tally.end_seen {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(l))) => {
                // `-t` puts Docker's timestamp and a space before the text.
                let text = if timestamps {
                    l.split_once(' ').map_or("", |(_, t)| t)
                } else {
                    &l
                };
                tally.feed(&format!("{text}\n"), sio::wall_ns());
            }
            _ => break,
        }
    }
    meters.finish(&mut o);
    summarise(&[tally], &mut o);
    let _ = child.kill().await;
    Ok(o)
}

/// `n` logged-in sockets doing nothing: the CPU of connecting them, memory
/// per socket, then the steady CPU of holding them over `idle_window`.
pub async fn idle(
    paths: &Paths,
    kind: Kind,
    n: usize,
    idle_window: Duration,
) -> Result<Outcome, BoxError> {
    let users = vec![("idler".to_owned(), "student")];
    let server = Server::start(kind, paths, &users).await?;
    let cookie = sio::login(&server.addr, "idler", PASSWORD).await?;
    let mut o = Outcome {
        scenario: "idle".into(),
        server: kind.name().into(),
        viewers: n,
        ..Outcome::default()
    };
    // One socket first, so what is counted is the cost of each further one.
    let warm = Viewer::connect(&server.addr, &cookie, false).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = procfs::tree_rss(server.pid);
    let meters = Meters::start(server.pid);
    let sockets = match connect_all(&server.addr, &[cookie], n, false).await {
        Ok(s) => s,
        Err(e) => {
            o.note = Some(format!("could not hold {n} sockets: {e}"));
            server.stop().await;
            return Ok(o);
        }
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = procfs::tree_rss(server.pid);
    meters.finish(&mut o);
    o.per_socket_kb = Some(after.saturating_sub(before) as f64 / n as f64 / 1024.0);
    // The steady cost of holding them: pings only (engine.io pings every
    // 25 s, so the window holds at least one round for every socket).
    let steady = CpuMeter::start(server.pid);
    tokio::time::sleep(idle_window).await;
    o.idle_cpu = Some(steady.cores());
    drop(sockets);
    drop(warm);
    server.stop().await;
    Ok(o)
}

/// Subscribing with a backlog of `lines` lines: time to the first and the last.
pub async fn backlog(paths: &Paths, kind: Kind, lines: u64) -> Result<Outcome, BoxError> {
    let users = vec![("reader".to_owned(), "instructor")];
    let server = Server::start(kind, paths, &users).await?;
    let containers = Containers::start(
        paths,
        "labtail-bench-backlog",
        &["nobody".into()],
        0,
        lines,
        0,
    )
    .await?;
    containers.open().await?;
    containers.wait_done(0, Duration::from_secs(60)).await?;
    let cookie = sio::login(&server.addr, "reader", PASSWORD).await?;
    let mut v = Viewer::connect(&server.addr, &cookie, false).await?;
    let mut o = Outcome {
        scenario: "backlog".into(),
        server: kind.name().into(),
        viewers: 1,
        expected: lines,
        ..Outcome::default()
    };
    let meters = Meters::start(server.pid);
    let t0 = sio::wall_ns();
    v.ask(
        "start-container-logs",
        serde_json::json!({"containerName": containers.names[0], "tail": lines + 1}),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut all_at = None;
    while Instant::now() < deadline {
        if let Ok(t) = v.tally.lock()
            && t.end_seen
        {
            all_at = t.last_at;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    meters.finish(&mut o);
    let t = std::mem::take(&mut *v.tally.lock().unwrap_or_else(|p| p.into_inner()));
    o.first_ms = t.first_at.map(|f| (f - t0) as f64 / 1e6);
    o.all_ms = all_at.map(|a| (a - t0) as f64 / 1e6);
    summarise(&[t], &mut o);
    if o.all_ms.is_none() {
        o.note = Some("not every line arrived within 30 s".into());
    }
    drop(v);
    server.stop().await;
    Ok(o)
}

/// What a storm is made of.
#[derive(Debug, Clone, Copy)]
pub struct StormSpec {
    /// Sockets connecting at once.
    pub sockets: usize,
    /// Logged-in users (sessions), each a student with a container of its own.
    pub users: usize,
    /// Lines each container printed before the storm.
    pub lines: u64,
    /// Connections opened at once by the load generator.
    pub concurrency: usize,
}

/// A reconnect storm, as after a labtail restart: `sockets` logged-in
/// sockets (several per session) connect at once and each asks, the moment
/// it is connected, to resume its student's container after a cursor it
/// was given before. No hub is open when the storm starts (the sockets that
/// took the cursors have left), sessions are in the database. Measured:
/// time until every socket is answered, server CPU per handshake, database
/// queries per handshake, refusals, and that every socket got exactly the
/// lines after its cursor.
pub async fn storm(paths: &Paths, kind: Kind, spec: StormSpec) -> Result<Outcome, BoxError> {
    let users: Vec<(String, &'static str)> = (0..spec.users)
        .map(|i| (format!("s{i}"), "student"))
        .collect();
    let owners: Vec<String> = users.iter().map(|(u, _)| u.clone()).collect();
    let server = Server::start(kind, paths, &users).await?;
    let containers =
        Containers::start(paths, "labtail-bench-storm", &owners, 0, spec.lines, 0).await?;
    containers.open().await?;
    for i in 0..containers.names.len() {
        containers.wait_done(i, Duration::from_secs(60)).await?;
    }
    let mut cookies = Vec::new();
    for (u, _) in &users {
        cookies.push(sio::login(&server.addr, u, PASSWORD).await?);
    }
    let mut o = Outcome {
        scenario: "storm".into(),
        server: kind.name().into(),
        viewers: spec.sockets,
        containers: containers.names.len(),
        ..Outcome::default()
    };
    // Each user's resume point: the cursor of its middle line (labtail);
    // the Node designs have no cursors and replay from the start.
    let resume_seq = spec.lines / 2;
    let mut resume: Vec<Option<String>> = vec![None; spec.users];
    if !kind.is_node() {
        for (i, c) in containers.names.iter().enumerate() {
            let mut t = Tally::new(false);
            t.cursors = Some(Vec::new());
            let mut v = Viewer::connect_with(&server.addr, &cookies[i], t).await?;
            v.ask(
                "start-container-logs",
                serde_json::json!({"containerName": c, "tail": spec.lines + 1}),
            )
            .await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                let cursor = v.tally.lock().ok().and_then(|t| {
                    t.cursors
                        .as_ref()?
                        .iter()
                        .find(|(seq, _)| *seq == resume_seq)
                        .map(|(_, c)| c.clone())
                });
                if cursor.is_some() {
                    resume[i] = cursor;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if resume[i].is_none() {
                return Err(format!("storm: no cursor for line {resume_seq} of {c}").into());
            }
        }
        // Let the hubs close with their last watcher.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let db_before = if kind.is_node() {
        None
    } else {
        sio::counter_sum(&server.addr, "labtail_db_queries_total")
            .await
            .ok()
    };
    let meters = Meters::start(server.pid);
    let t0 = Instant::now();
    let asks = (0..spec.sockets).map(|i| {
        let u = i % spec.users;
        let addr = server.addr.clone();
        let cookie = cookies[u].clone();
        let container = containers.names[u].clone();
        let after = resume[u].clone();
        async move {
            let mut t = Tally::new(false);
            let payload = match &after {
                Some(c) => {
                    t.last_seq = resume_seq;
                    serde_json::json!({"containerName": container, "after": c})
                }
                None => serde_json::json!({"containerName": container, "tail": spec.lines + 1}),
            };
            let mut v = Viewer::connect_with(&addr, &cookie, t).await?;
            let answer = v.ask("start-container-logs", payload).await?;
            if !answer.contains("\"ok\":true") {
                return Err(format!("not ok: {answer}").into());
            }
            Ok::<Viewer, BoxError>(v)
        }
    });
    let results: Vec<Result<Viewer, BoxError>> = futures_util::stream::iter(asks)
        .buffer_unordered(spec.concurrency.max(1))
        .collect()
        .await;
    let answered_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut viewers = Vec::new();
    let mut refused = 0u64;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(v) => viewers.push(v),
            Err(e) => {
                refused += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    // Every socket that was answered gets the rest of its container's log.
    // (The Node designs cannot resume, and the shared one gives a later
    // watcher of a container only what is printed after it joined: for
    // them only the handshakes and subscribes are measured.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kind.is_node()
        && Instant::now() < deadline
        && !viewers
            .iter()
            .all(|v| v.tally.lock().map(|t| t.end_seen).unwrap_or(false))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    meters.finish(&mut o);
    o.all_ms = Some(answered_ms);
    o.refused = Some(refused);
    if let (Some(before), Ok(after)) = (
        db_before,
        sio::counter_sum(&server.addr, "labtail_db_queries_total").await,
    ) {
        o.db_per_handshake = Some((after - before) / spec.sockets as f64);
    }
    let expected = if kind.is_node() {
        spec.lines
    } else {
        spec.lines - resume_seq
    };
    o.expected = expected;
    let tallies: Vec<Tally> = viewers
        .iter()
        .map(|v| std::mem::take(&mut *v.tally.lock().unwrap_or_else(|p| p.into_inner())))
        .collect();
    summarise(&tallies, &mut o);
    // `summarise` counts what is missing from sequence 0; a resumed socket
    // starts after its cursor.
    o.missing = if kind.is_node() {
        0
    } else {
        tallies
            .iter()
            .map(|t| t.missing + spec.lines.saturating_sub(t.last_seq))
            .sum()
    };
    if let Some(e) = first_error {
        o.note = Some(format!("{refused} refused or unanswered, first: {e}"));
    } else if !kind.is_node() && !tallies.iter().all(|t| t.end_seen) {
        o.note = Some("some sockets did not get the rest of their log within 60 s".into());
    }
    drop(viewers);
    server.stop().await;
    drop(containers);
    Ok(o)
}
