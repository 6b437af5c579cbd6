//! labtail's benchmarks: labtail against the Node design it replaces and
//! against a bare `docker logs -f`, scenario by scenario, servers alternated.
//!
//!   cargo build --release -p labtail && cargo run --release -p labtail-bench -- \
//!       --out docs/benchmarks.md
//!   cargo run -p labtail-bench -- --smoke      # every scenario at a tiny size
//!
//! Needs: a Docker engine, the test image (scripts/test-image.sh), a C
//! compiler with static libc (the producer), Node with the baseline's
//! modules (`npm ci` in bench/baselines/node-design).

mod env;
mod procfs;
mod report;
mod scenarios;
mod sio;

use std::path::PathBuf;

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
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn specs(smoke: bool) -> Vec<StreamSpec> {
    let s = |name, viewers, rate, count, own| StreamSpec {
        name,
        viewers,
        rate,
        count,
        pad: 40,
        own_containers: own,
    };
    if smoke {
        vec![
            s("flat_out", 1, 0, 2_000, false),
            s("rate_10k", 1, 2_000, 2_000, false),
            s("fanout_1", 1, 200, 200, false),
            s("fanout_100", 3, 200, 200, false),
            s("fanout_1000", 5, 200, 200, false),
            s("own_50", 3, 100, 100, true),
        ]
    } else {
        vec![
            s("flat_out", 1, 0, 500_000, false),
            s("rate_10k", 1, 10_000, 100_000, false),
            s("fanout_1", 1, 1_000, 10_000, false),
            s("fanout_100", 100, 1_000, 10_000, false),
            s("fanout_1000", 1_000, 1_000, 10_000, false),
            s("own_50", 50, 100, 1_000, true),
        ]
    }
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
    let paths = Paths {
        labtail,
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
            "  {:<12} {:<15} delivered {:>7} missing {:>6} dup {:>4} lines/s {:>8.0} p99 {:>8} ms  cpu {:.2}  rss {:.1} MB  dockerd {:.2}  loadgen {:.2}{}",
            o.scenario,
            o.server,
            o.delivered_min,
            o.missing,
            o.dups,
            o.lines_per_sec,
            o.p99_ms.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
            o.server_cpu,
            o.server_rss_mb,
            o.dockerd_cpu,
            o.loadgen_cpu,
            o.note
                .as_ref()
                .map(|n| format!("  [{n}]"))
                .unwrap_or_default()
        );
        all.push(o);
    };

    for spec in specs(args.smoke) {
        if !wanted(&args.only, spec.name) {
            continue;
        }
        eprintln!(
            "{} ({} viewers, {} lines/s, {} lines)",
            spec.name, spec.viewers, spec.rate, spec.count
        );
        for r in 0..runs {
            // Alternate which goes first, so drift in the machine's state
            // does not favour one side.
            let mut order = vec![Kind::Labtail, Kind::Baseline];
            // With the Redis adapter, on the scenario where a node does the
            // most fan-out per line: Redis must not be on that path.
            if spec.name == "fanout_100" {
                order.insert(1, Kind::LabtailRedis);
            }
            if r % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                if kind == Kind::Baseline && spec.name == "fanout_1000" && !args.smoke {
                    record(Outcome {
                        scenario: spec.name.into(),
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
                record(scenarios::raw_ceiling(&paths, &spec).await?);
            }
        }
    }
    if wanted(&args.only, "idle") {
        let n = if args.smoke {
            20
        } else {
            10_000.min((fds as usize).saturating_sub(500))
        };
        eprintln!("idle ({n} sockets)");
        for r in 0..runs {
            let order = if r % 2 == 0 {
                [Kind::Labtail, Kind::Baseline]
            } else {
                [Kind::Baseline, Kind::Labtail]
            };
            for kind in order {
                record(scenarios::idle(&paths, kind, n).await?);
            }
        }
    }
    if wanted(&args.only, "backlog") {
        let n = if args.smoke { 500 } else { 10_000 };
        eprintln!("backlog ({n} lines)");
        for r in 0..runs {
            let order = if r % 2 == 0 {
                [Kind::Labtail, Kind::Baseline]
            } else {
                [Kind::Baseline, Kind::Labtail]
            };
            for kind in order {
                record(scenarios::backlog(&paths, kind, n).await?);
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
            command: format!(
                "cargo run --release -p labtail-bench -- --runs {runs} --out {}",
                out.display()
            ),
        };
        report::write(&out, &ctx, &all, &targets)?;
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
    let lab = |s: &str| -> Vec<&Outcome> {
        all.iter()
            .filter(|o| o.scenario == s && o.server == "labtail")
            .collect()
    };
    let raw: Vec<&Outcome> = all
        .iter()
        .filter(|o| o.scenario == "flat_out" && o.server == "docker logs -f")
        .collect();
    let mut t = Vec::new();
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or("—".into());
    if !lab("flat_out").is_empty() {
        let a = report::med(&lab("flat_out"), |o| Some(o.lines_per_sec));
        let b = report::med(&raw, |o| Some(o.lines_per_sec));
        let ok = matches!((a, b), (Some(a), Some(b)) if a >= 0.95 * b);
        t.push((
            "flat_out".into(),
            format!(
                "≥ 95 % of the raw ceiling: {} vs {} lines/s",
                fmt(a),
                fmt(b)
            ),
            ok,
        ));
    }
    let lossless = |r: &[&Outcome]| {
        r.iter()
            .all(|o| o.missing == 0 && o.dups == 0 && o.note.is_none())
    };
    if !lab("rate_10k").is_empty() {
        let p99 = report::med(&lab("rate_10k"), |o| o.p99_ms);
        t.push((
            "rate_10k".into(),
            format!("p99 ≤ 25 ms, zero loss: p99 {} ms", fmt(p99)),
            p99.is_some_and(|p| p <= 25.0) && lossless(&lab("rate_10k")),
        ));
    }
    if !lab("fanout_100").is_empty() {
        let p99 = report::med(&lab("fanout_100"), |o| o.p99_ms);
        let d100 = report::med(&lab("fanout_100"), |o| Some(o.dockerd_cpu));
        let d1 = report::med(&lab("fanout_1"), |o| Some(o.dockerd_cpu));
        let ok = p99.is_some_and(|p| p <= 100.0)
            && lossless(&lab("fanout_100"))
            && matches!((d100, d1), (Some(a), Some(b)) if a <= b * 1.5 + 0.02);
        t.push(("fanout_100".into(), format!("every line, p99 ≤ 100 ms, dockerd CPU ≈ one viewer's: p99 {} ms, dockerd {} vs {} cores", fmt(p99), d100.map(|v| format!("{v:.2}")).unwrap_or("—".into()), d1.map(|v| format!("{v:.2}")).unwrap_or("—".into())), ok));
    }
    if !lab("fanout_1000").is_empty() {
        let p99 = report::med(&lab("fanout_1000"), |o| o.p99_ms);
        let cpu = report::med(&lab("fanout_1000"), |o| Some(o.server_cpu));
        t.push((
            "fanout_1000".into(),
            format!(
                "every line, p99 ≤ 250 ms, server < 1 core: p99 {} ms, {} cores",
                fmt(p99),
                cpu.map(|v| format!("{v:.2}")).unwrap_or("—".into())
            ),
            p99.is_some_and(|p| p <= 250.0)
                && cpu.is_some_and(|c| c < 1.0)
                && lossless(&lab("fanout_1000")),
        ));
    }
    if !lab("idle").is_empty() {
        let kb = report::med(&lab("idle"), |o| o.per_socket_kb);
        t.push((
            "idle".into(),
            format!("≤ 10 KB per idle socket: {} KB", fmt(kb)),
            kb.is_some_and(|k| k <= 10.0),
        ));
    }
    if !lab("own_50").is_empty() {
        let rss = report::med(&lab("own_50"), |o| Some(o.server_rss_mb));
        t.push((
            "own_50".into(),
            format!("server RSS ≤ 100 MB, zero loss: {} MB", fmt(rss)),
            rss.is_some_and(|r| r <= 100.0) && lossless(&lab("own_50")),
        ));
    }
    if !lab("backlog").is_empty() {
        let first = report::med(&lab("backlog"), |o| o.first_ms);
        let alll = report::med(&lab("backlog"), |o| o.all_ms);
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
