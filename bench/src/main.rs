//! labtail's benchmarks: labtail against two Node designs (the tutorial
//! design it replaces, and the shared design a competent Node developer
//! writes) and against a bare `docker logs -f`, scenario by scenario,
//! servers alternated; then curves against viewers and containers.
//!
//!   cargo build --release -p labtail && cargo run --release -p labtail-bench -- \
//!       --out docs/benchmarks.md [--before <older labtail binary>]
//!   cargo run -p labtail-bench -- --smoke      # every scenario at a tiny size
//!
//! Needs: a Docker engine, the test image (scripts/test-image.sh), a C
//! compiler with static libc (the producer), Node with the baselines'
//! modules (`npm ci` in bench/baselines/node-design).

mod attention;
mod env;
mod history;
mod procfs;
mod report;
mod scenarios;
mod sio;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use env::{Kind, Paths};
use scenarios::{Outcome, StreamSpec};

#[derive(Parser, Debug)]
#[command(about = "labtail benchmarks: labtail vs the Node design vs docker logs -f")]
struct Args {
    /// Runs per scenario and server (alternated).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Every scenario at a tiny size, once: proves the benchmark still works.
    #[arg(long)]
    smoke: bool,
    /// Where to write the report (plots go next to it). Smoke runs write
    /// nothing unless given.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these scenarios (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The labtail binary (default: target/release/labtail, or debug for --smoke).
    #[arg(long)]
    labtail: Option<PathBuf>,
    /// An older labtail binary, run beside the current one as
    /// "labtail before" in the scenarios (what the changes bought).
    #[arg(long)]
    before: Option<PathBuf>,
    /// Extra arguments for every `labtail serve` (e.g. "--batch-linger=5ms").
    #[arg(long, allow_hyphen_values = true, value_delimiter = ' ')]
    labtail_args: Vec<String>,
    /// Only these servers, by report name (comma-separated: labtail,
    /// "labtail+redis", "labtail before", "node tutorial", "node shared").
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Leave out the curves (viewers and containers sweeps).
    #[arg(long)]
    no_curves: bool,
    /// The points of the viewers curve (default 1,10,100,1000,2000,5000).
    #[arg(long, value_delimiter = ',')]
    curve_viewers: Vec<usize>,
    /// The points of the containers curve (default 1,10,100,250,500).
    #[arg(long, value_delimiter = ',')]
    curve_containers: Vec<usize>,
    /// More real output for the history storage benchmark: NAME=FILE
    /// (e.g. "cargo build=build.log"), repeatable.
    #[arg(long)]
    corpus: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn specs(smoke: bool) -> Vec<StreamSpec> {
    let s = |name: &str, viewers, rate, count, own| StreamSpec {
        name: name.into(),
        viewers,
        rate,
        count,
        pad: 40,
        own_containers: own,
    };
    if smoke {
        vec![
            s("flat_out", 1, 0, 2_000, false),
            s("rate_1", 1, 20, 20, false),
            s("rate_100", 1, 100, 100, false),
            s("rate_1k", 1, 500, 500, false),
            s("rate_10k", 1, 2_000, 2_000, false),
            s("fanout_100", 3, 200, 200, false),
            s("fanout_1000", 5, 200, 200, false),
            s("own_50", 3, 100, 100, true),
            s("record_100", 3, 100, 100, true),
        ]
    } else {
        vec![
            s("flat_out", 1, 0, 500_000, false),
            // 1 line/s: 30 samples, each line alone (no batching possible).
            s("rate_1", 1, 1, 30, false),
            s("rate_100", 1, 100, 3_000, false),
            s("rate_1k", 1, 1_000, 10_000, false),
            s("rate_10k", 1, 10_000, 100_000, false),
            s("fanout_100", 100, 1_000, 10_000, false),
            s("fanout_1000", 1_000, 1_000, 10_000, false),
            s("own_50", 50, 100, 1_000, true),
            // Lab history's cost: 100 containers at 100 lines/s each, one
            // viewer each, with history on, off, and the Node design.
            s("record_100", 100, 100, 3_000, true),
        ]
    }
}

/// The servers of a scenario, in the order of run `r` (alternated, so drift
/// in the machine's state favours no one).
fn order(name: &str, r: usize, before: bool) -> Vec<Kind> {
    let mut order = vec![Kind::Labtail, Kind::NodeShared, Kind::NodeTutorial];
    // What recording history costs: the same binary with history off.
    if matches!(name, "record_100" | "rate_1k" | "flat_out") {
        order.insert(1, Kind::LabtailLive);
    }
    // What attention costs the live path: history on, attention off.
    if matches!(name, "record_100" | "rate_1k") {
        order.insert(1, Kind::LabtailQuiet);
    }
    if before {
        order.insert(1, Kind::LabtailBefore);
    }
    // With the Redis adapter, on the scenario where a node does the most
    // fan-out per line: Redis must not be on that path.
    if name == "fanout_100" {
        order.insert(1, Kind::LabtailRedis);
    }
    if r % 2 == 1 {
        order.reverse();
    }
    order
}

fn wanted(only: &[String], name: &str) -> bool {
    only.is_empty() || only.iter().any(|o| o == name)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("labtail-bench: error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), sio::BoxError> {
    let root = root();
    let work = std::env::temp_dir().join(format!("labtail-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target"));
    let labtail = args.labtail.clone().unwrap_or_else(|| {
        target
            .join(if args.smoke { "debug" } else { "release" })
            .join("labtail")
    });
    if !labtail.is_file() {
        return Err(format!(
            "no labtail binary at {} (cargo build{} -p labtail)",
            labtail.display(),
            if args.smoke { "" } else { " --release" }
        )
        .into());
    }
    if let Some(dir) = args.out.as_deref().and_then(|o| o.parent()) {
        // Made now, not after an hour of runs: a report that cannot be
        // written fails before anything is measured.
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make {} for --out: {e}", dir.display()))?;
        }
    }
    let paths = Paths {
        labtail,
        before: args.before.clone(),
        labtail_args: {
            // The smoke run pings often and waits little, so a client that
            // misses a ping (as this one once missed the one engineioxide
            // sends before CONNECT is answered) fails within seconds,
            // inside the run, instead of 20 s later in a long benchmark.
            let mut a: Vec<String> = if args.smoke {
                ["--ping-interval", "250ms", "--ping-timeout", "3s"]
                    .map(String::from)
                    .to_vec()
            } else {
                Vec::new()
            };
            a.extend(args.labtail_args.iter().cloned());
            a
        },
        baseline: root.join("bench/baselines/node-design"),
        producer: env::build_producer(&root.join("bench/producer/producer.c"), &work)?,
        work: work.clone(),
    };
    if !paths.baseline.join("node_modules").is_dir() {
        return Err(
            "the baseline's modules are missing: npm ci in bench/baselines/node-design".into(),
        );
    }
    let fds = procfs::raise_fd_limit();
    let runs = if args.smoke { 1 } else { args.runs.max(1) };
    let load_before = procfs::machine_load();
    let busy = busy_processes();
    let mut all: Vec<Outcome> = Vec::new();
    let mut record = |o: Outcome| {
        eprintln!(
            "  {:<12} {:<15} delivered {:>7} missing {:>6} dup {:>4} lines/s {:>8.0} p50 {:>7} p99 {:>8} ms  cpu {:.2}  rss {:.1} MB  dockerd {:.2}  loadgen {:.2}  machine {:.2}{}{}",
            o.scenario,
            o.server,
            o.delivered_min,
            o.missing,
            o.dups,
            o.lines_per_sec,
            o.p50_ms.map(|v| format!("{v:.2}")).unwrap_or("-".into()),
            o.p99_ms.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
            o.server_cpu,
            o.server_rss_mb,
            o.dockerd_cpu,
            o.loadgen_cpu,
            o.machine_cpu,
            sockets_part(&o),
            o.note
                .as_ref()
                .map(|n| format!("  [{n}]"))
                .unwrap_or_default()
        );
        all.push(o);
    };

    let serve =
        |kind: Kind| args.servers.is_empty() || args.servers.iter().any(|n| n == kind.name());
    let before = paths.before.is_some();
    for spec in specs(args.smoke) {
        if !wanted(&args.only, &spec.name) {
            continue;
        }
        eprintln!(
            "{} ({} viewers, {} lines/s, {} lines)",
            spec.name, spec.viewers, spec.rate, spec.count
        );
        for r in 0..runs {
            for kind in order(&spec.name, r, before) {
                if !serve(kind) {
                    continue;
                }
                if kind == Kind::NodeTutorial && spec.name == "fanout_1000" && !args.smoke {
                    record(Outcome {
                        scenario: spec.name.clone(),
                        server: kind.name().into(),
                        viewers: spec.viewers,
                        expected: spec.count,
                        note: Some("not run: one `docker logs` process per viewer; 100 viewers already took ~2.5 GB".into()),
                        ..Outcome::default()
                    });
                    continue;
                }
                record(scenarios::stream(&paths, kind, &spec).await?);
            }
            if spec.name == "flat_out" {
                record(scenarios::raw_ceiling(&paths, &spec, false).await?);
                record(scenarios::raw_ceiling(&paths, &spec, true).await?);
            }
        }
    }
    if wanted(&args.only, "idle") {
        let n = if args.smoke {
            20
        } else {
            10_000.min((fds as usize).saturating_sub(500))
        };
        let window = Duration::from_secs(if args.smoke { 2 } else { 30 });
        eprintln!("idle ({n} sockets, then {window:?} holding them)");
        for r in 0..runs {
            for kind in order("idle", r, before) {
                if serve(kind) {
                    record(scenarios::idle(&paths, kind, n, window).await?);
                }
            }
        }
    }
    if wanted(&args.only, "storm") {
        let spec = if args.smoke {
            scenarios::StormSpec {
                sockets: 40,
                users: 4,
                lines: 20,
                concurrency: 40,
            }
        } else {
            let sockets = 5_000.min((fds as usize).saturating_sub(1_000) / 2);
            scenarios::StormSpec {
                sockets,
                users: 50,
                lines: 200,
                concurrency: 1_000,
            }
        };
        eprintln!(
            "storm ({} sockets of {} sessions at once)",
            spec.sockets, spec.users
        );
        for r in 0..runs {
            for kind in order("storm", r, before) {
                if !serve(kind) {
                    continue;
                }
                if kind == Kind::NodeTutorial && !args.smoke {
                    record(Outcome {
                        scenario: "storm".into(),
                        server: kind.name().into(),
                        viewers: spec.sockets,
                        note: Some("not run: one `docker logs` process per socket".into()),
                        ..Outcome::default()
                    });
                    continue;
                }
                record(scenarios::storm(&paths, kind, spec).await?);
            }
        }
    }
    if wanted(&args.only, "backlog") {
        let n = if args.smoke { 500 } else { 10_000 };
        eprintln!("backlog ({n} lines)");
        for r in 0..runs {
            for kind in order("backlog", r, before) {
                if serve(kind) {
                    record(scenarios::backlog(&paths, kind, n).await?);
                }
            }
        }
    }
    let mut history_section = None;
    if wanted(&args.only, "history") {
        eprintln!("history (storage, reads, searches; in process)");
        history_section = Some(history::run(&work, &args.corpus, args.smoke).await?);
    }
    let mut attention_section = None;
    if wanted(&args.only, "attention") {
        eprintln!("attention (evaluation cost; in process)");
        attention_section = Some(attention::run(&args.corpus, args.smoke)?);
    }
    if !args.no_curves && (args.only.is_empty() || wanted(&args.only, "curves")) {
        let (mut viewers, mut containers): (&[usize], &[usize]) = if args.smoke {
            (&[1, 4], &[1, 3])
        } else {
            (&[1, 10, 100, 1_000, 2_000, 5_000], &[1, 10, 100, 250, 500])
        };
        if !args.curve_viewers.is_empty() {
            viewers = &args.curve_viewers;
        }
        if !args.curve_containers.is_empty() {
            containers = &args.curve_containers;
        }
        let count = if args.smoke { 100 } else { 1_500 };
        let sweeps = [
            ("viewers", viewers, false, "viewers of one container"),
            (
                "containers",
                containers,
                true,
                "containers, one viewer each",
            ),
        ];
        for (stem, points, own, what) in sweeps {
            for (i, &n) in points.iter().enumerate() {
                let spec = StreamSpec {
                    name: format!("{stem}_{n}"),
                    viewers: n,
                    rate: 100,
                    count,
                    pad: 40,
                    own_containers: own,
                };
                eprintln!("curve {} ({n} {what}, 100 lines/s)", spec.name);
                for kind in order("curve", i, false)
                    .into_iter()
                    .filter(|k| matches!(k, Kind::Labtail | Kind::NodeShared))
                {
                    if serve(kind) {
                        record(scenarios::stream(&paths, kind, &spec).await?);
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    let targets = targets(&all);
    for (s, t, ok) in &targets {
        eprintln!("target {s}: {t}: {}", if *ok { "met" } else { "MISSED" });
    }
    if args.smoke {
        // The smoke run proves the pipeline, not the figures: every server
        // must have delivered every line in every streaming scenario.
        let broken: Vec<&Outcome> = all
            .iter()
            .filter(|o| {
                o.note.is_some()
                    || (o.expected > 0
                        && o.server.starts_with("labtail")
                        && (o.missing > 0 || o.dups > 0))
            })
            .collect();
        if !broken.is_empty() {
            return Err(format!("smoke run failed: {broken:?}").into());
        }
    }
    if let Some(out) = args.out {
        let ctx = report::Context {
            date: std::process::Command::new("date")
                .arg("-u")
                .arg("+%Y-%m-%d %H:%M UTC")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default(),
            machine: machine(),
            load_before,
            load_after: procfs::machine_load(),
            busy,
            runs,
            command: std::iter::once("labtail-bench".to_owned())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" "),
        };
        report::write(&out, &ctx, &all, &targets)?;
        if let Some(section) = &history_section {
            history::splice(&out, "history", section)?;
        }
        if let Some(section) = &attention_section {
            history::splice(&out, "attention", section)?;
        }
        let dir = out.parent().map(PathBuf::from).unwrap_or_default();
        report::plots(&dir, &all).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("benchmarks.json"),
            serde_json::to_string_pretty(&all)?,
        )?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// What `idle` and `storm` measure per socket, for the progress line.
fn sockets_part(o: &Outcome) -> String {
    let mut out = String::new();
    if let Some(kb) = o.per_socket_kb {
        out.push_str(&format!("  {kb:.1} KB/socket"));
    }
    if (o.scenario == "idle" || o.scenario == "storm")
        && let Some(ms) = o.cpu_ms_per_socket()
    {
        out.push_str(&format!("  {ms:.3} CPU ms/socket"));
    }
    if let Some(idle) = o.idle_cpu {
        out.push_str(&format!("  idle {idle:.3} cores"));
    }
    if let Some(r) = o.refused {
        out.push_str(&format!("  refused {r}"));
    }
    if let Some(q) = o.db_per_handshake {
        out.push_str(&format!("  {q:.2} queries/handshake"));
    }
    if let Some(ms) = o.all_ms {
        out.push_str(&format!("  all {ms:.0} ms"));
    }
    out
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    });
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| l.starts_with("model name"))?
            .split(':')
            .nth(1)
            .map(|s| s.trim().to_owned())
    });
    let docker = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cores} cores ({}), {:.0} GiB, Docker {docker}, json-file logging",
        cpu.unwrap_or_default(),
        mem.unwrap_or(0) as f64 / 1024.0 / 1024.0
    )
}

/// Processes using CPU right now (other load on the machine).
fn busy_processes() -> String {
    let out = std::process::Command::new("ps")
        .args(["-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"])
        .output();
    let Ok(out) = out else {
        return "unknown".into();
    };
    let list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let pct: f64 = it.next()?.parse().ok()?;
            let name = it.next()?;
            (pct >= 1.0).then(|| format!("{name} {pct:.0}%"))
        })
        .take(5)
        .collect();
    if list.is_empty() {
        "nothing above 1% CPU".into()
    } else {
        list.join(", ")
    }
}

fn targets(all: &[Outcome]) -> Vec<(String, String, bool)> {
    use report::{best_node, med, runs};
    let lab = |s: &str| runs(all, s, "labtail");
    let mut t = Vec::new();
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or("—".into());
    let lossless = |r: &[&Outcome]| {
        !r.is_empty()
            && r.iter()
                .all(|o| o.missing == 0 && o.dups == 0 && o.note.is_none())
    };
    if !lab("flat_out").is_empty() {
        let a = med(&lab("flat_out"), |o| Some(o.lines_per_sec));
        let b = med(&runs(all, "flat_out", "docker logs -f"), |o| {
            Some(o.lines_per_sec)
        });
        let stamped = med(&runs(all, "flat_out", "docker logs -f -t"), |o| {
            Some(o.lines_per_sec)
        });
        let ok = matches!((a, b), (Some(a), Some(b)) if a >= 0.95 * b);
        let pct = |x: Option<f64>| match (a, x) {
            (Some(a), Some(x)) if x > 0.0 => format!("{:.0} %", 100.0 * a / x),
            _ => "—".into(),
        };
        t.push((
            "flat_out".into(),
            format!(
                "≥ 95 % of the raw ceiling: {} vs {} lines/s ({}; {} of `docker logs -f -t`'s {}, the ceiling with Docker's timestamps)",
                fmt(a),
                fmt(b),
                pct(b),
                pct(stamped),
                fmt(stamped)
            ),
            ok,
        ));
    }
    // Latency at every rate: p50 and p99 at or below the better Node
    // design's, with every line delivered.
    for s in ["rate_1", "rate_100", "rate_1k", "rate_10k", "fanout_100"] {
        let l = lab(s);
        if l.is_empty() {
            continue;
        }
        let (p50, p99) = (med(&l, |o| o.p50_ms), med(&l, |o| o.p99_ms));
        let (n50, n99) = (
            best_node(all, s, |o| o.p50_ms, true),
            best_node(all, s, |o| o.p99_ms, true),
        );
        let ok = matches!((p50, n50), (Some(a), Some((_, b))) if a <= b)
            && matches!((p99, n99), (Some(a), Some((_, b))) if a <= b)
            && lossless(&l);
        t.push((
            s.into(),
            format!(
                "p50 / p99 ≤ the better Node design's, every line: {} / {} ms vs {} / {} ms",
                fmt(p50),
                fmt(p99),
                fmt(n50.map(|n| n.1)),
                fmt(n99.map(|n| n.1))
            ),
            ok,
        ));
    }
    // CPU per delivered line well below Node's: at least twice the lines
    // per CPU-second, where the CPU is large enough to measure.
    for s in [
        "flat_out",
        "rate_1k",
        "rate_10k",
        "fanout_100",
        "fanout_1000",
    ] {
        let l = lab(s);
        let (Some(a), Some((n, b))) = (
            med(&l, Outcome::lines_per_cpu_s),
            best_node(all, s, Outcome::lines_per_cpu_s, false),
        ) else {
            continue;
        };
        t.push((
            s.into(),
            format!(
                "lines per CPU-second ≥ 2× the better Node design's: {a:.0} vs {b:.0} ({n}), {:.1}×",
                a / b
            ),
            a >= 2.0 * b,
        ));
    }
    if !lab("fanout_1000").is_empty() {
        let p99 = med(&lab("fanout_1000"), |o| o.p99_ms);
        let cpu = med(&lab("fanout_1000"), |o| Some(o.server_cpu));
        t.push((
            "fanout_1000".into(),
            format!(
                "every line, p99 ≤ 250 ms, server < 1 core: p99 {} ms, {} cores",
                fmt(p99),
                fmt(cpu)
            ),
            p99.is_some_and(|p| p <= 250.0)
                && cpu.is_some_and(|c| c < 1.0)
                && lossless(&lab("fanout_1000")),
        ));
    }
    if !lab("storm").is_empty() {
        let l = lab("storm");
        let cpu = med(&l, Outcome::cpu_ms_per_socket);
        let node = best_node(all, "storm", Outcome::cpu_ms_per_socket, true);
        let refused: u64 = l.iter().filter_map(|o| o.refused).sum();
        let ok = refused == 0
            && lossless(&l)
            && matches!((cpu, node), (Some(a), Some((_, b))) if a <= b);
        t.push((
            "storm".into(),
            format!(
                "CPU per handshake ≤ the Node design's, no refusal, all resumed exactly: {} vs {} ms, {refused} refused",
                fmt(cpu),
                fmt(node.map(|n| n.1))
            ),
            ok,
        ));
    }
    if !lab("idle").is_empty() {
        let kb = med(&lab("idle"), |o| o.per_socket_kb);
        let idle = med(&lab("idle"), |o| o.idle_cpu);
        t.push((
            "idle".into(),
            format!("≤ 10 KB per idle socket: {} KB", fmt(kb)),
            kb.is_some_and(|k| k <= 10.0),
        ));
        t.push((
            "idle".into(),
            format!(
                "holding them (pings only) ≤ 5 % of a core: {} cores",
                fmt(idle)
            ),
            idle.is_some_and(|c| c <= 0.05),
        ));
    }
    if !lab("own_50").is_empty() {
        let rss = med(&lab("own_50"), |o| Some(o.server_rss_mb));
        t.push((
            "own_50".into(),
            format!("server RSS ≤ 100 MB, zero loss: {} MB", fmt(rss)),
            rss.is_some_and(|r| r <= 100.0) && lossless(&lab("own_50")),
        ));
    }
    if !lab("backlog").is_empty() {
        let first = med(&lab("backlog"), |o| o.first_ms);
        let alll = med(&lab("backlog"), |o| o.all_ms);
        t.push((
            "backlog".into(),
            format!(
                "first line ≤ 100 ms, all ≤ 1 s: {} / {} ms",
                fmt(first),
                fmt(alll)
            ),
            first.is_some_and(|f| f <= 100.0) && alll.is_some_and(|a| a <= 1000.0),
        ));
    }
    t
}
