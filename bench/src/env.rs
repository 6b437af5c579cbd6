//! What a benchmark runs against: producer containers on the local Docker
//! engine, and the servers (labtail, optionally an older labtail binary,
//! and the two Node designs).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::sio::BoxError;

pub const LABEL: &str = "labtail.bench";
pub const PASSWORD: &str = "bench-password";
const IMAGE: &str = "labtail-busybox:test";
/// `docker run`s at once when starting producers.
const PARALLEL_DOCKER: usize = 8;

/// Paths the benchmark needs.
#[derive(Debug, Clone)]
pub struct Paths {
    pub labtail: PathBuf,
    /// An older labtail binary to compare with (`--before`).
    pub before: Option<PathBuf>,
    /// Extra `labtail serve` arguments (`--labtail-args`).
    pub labtail_args: Vec<String>,
    pub baseline: PathBuf,
    pub producer: PathBuf,
    pub work: PathBuf,
}

/// Compiles the producer (a static binary mounted into busybox containers).
pub fn build_producer(src: &Path, work: &Path) -> Result<PathBuf, BoxError> {
    let out = work.join("producer");
    let st = std::process::Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(src)
        .status()?;
    if !st.success() {
        return Err("cannot compile the producer (needs a C compiler and static libc)".into());
    }
    Ok(out)
}

async fn docker(args: &[&str]) -> Result<String, BoxError> {
    let out = Command::new("docker").args(args).output().await?;
    if !out.status.success() {
        return Err(format!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Producer containers of one benchmark run, removed on drop.
pub struct Containers {
    pub names: Vec<String>,
    /// Mounted read-only at `/tmp` in every producer: they start printing
    /// when `go` appears in it. One file opens them all at the same moment;
    /// a `docker exec` per container took a minute for 500 of them and kept
    /// dockerd and containerd busy while the first ones were measured.
    gate: PathBuf,
}

impl Containers {
    /// Starts one producer per owner (gated: they print nothing until
    /// `open`), a few `docker run`s at a time: the containers curve starts
    /// hundreds.
    pub async fn start(
        paths: &Paths,
        prefix: &str,
        owners: &[String],
        rate: u64,
        count: u64,
        pad: u32,
    ) -> Result<Self, BoxError> {
        let mount = format!("{}:/producer:ro", paths.producer.display());
        let gate = paths.work.join(format!("gate-{prefix}"));
        let _ = std::fs::remove_dir_all(&gate);
        std::fs::create_dir_all(&gate)?;
        let gate_mount = format!("{}:/tmp:ro", gate.display());
        let names: Vec<String> = (0..owners.len()).map(|i| format!("{prefix}-{i}")).collect();
        // Dropped (and so removed) if any start fails.
        let this = Containers {
            names: names.clone(),
            gate,
        };
        let runs = names.iter().zip(owners).map(|(name, owner)| {
            let label = format!("{LABEL}={owner}");
            let mount = mount.clone();
            let gate_mount = gate_mount.clone();
            async move {
                let _ = docker(&["rm", "-f", name]).await;
                docker(&[
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--label",
                    &label,
                    "--network",
                    "none",
                    "-v",
                    &mount,
                    "-v",
                    &gate_mount,
                    IMAGE,
                    "/producer",
                    &rate.to_string(),
                    &count.to_string(),
                    &pad.to_string(),
                ])
                .await
            }
        });
        let results: Vec<Result<String, BoxError>> = futures_util::stream::iter(runs)
            .buffer_unordered(PARALLEL_DOCKER)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(this)
    }

    /// Lets every producer start printing, all at once.
    pub async fn open(&self) -> Result<(), BoxError> {
        std::fs::write(self.gate.join("go"), b"")?;
        Ok(())
    }

    /// Waits until a producer printed its END line.
    pub async fn wait_done(&self, i: usize, within: Duration) -> Result<(), BoxError> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            let out = Command::new("docker")
                .args(["logs", "--tail", "1", &self.names[i]])
                .output()
                .await?;
            if String::from_utf8_lossy(&out.stdout).starts_with("END") {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("producer did not finish".into())
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.gate);
        // Ten at a time: `docker rm -f` of many names kills up to 50 at once,
        // and dockerd 20.10 then deadlocks in its network cleanup (seen with
        // 100 containers: every later call hung until dockerd was killed).
        for names in self.names.chunks(10) {
            let _ = std::process::Command::new("docker")
                .arg("rm")
                .arg("-f")
                .args(names)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Labtail,
    /// labtail with the Socket.IO Redis adapter (a Redis of its own): the
    /// streaming path should not notice.
    LabtailRedis,
    /// The labtail binary given with `--before`: what the changes bought.
    LabtailBefore,
    /// labtail with lab history off (`--history off`): what recording costs.
    LabtailLive,
    /// labtail with attention off (`--attention off`, history on): what
    /// evaluating the signals costs the live path.
    LabtailQuiet,
    /// The design labtail replaces: one `docker logs -f` per request.
    NodeTutorial,
    /// The best Node design: one `docker logs -f` per container, fanned out.
    NodeShared,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Labtail => "labtail",
            Kind::LabtailRedis => "labtail+redis",
            Kind::LabtailBefore => "labtail before",
            Kind::LabtailLive => "labtail, history off",
            Kind::LabtailQuiet => "labtail, attention off",
            Kind::NodeTutorial => "node tutorial",
            Kind::NodeShared => "node shared",
        }
    }

    pub fn is_node(self) -> bool {
        matches!(self, Kind::NodeTutorial | Kind::NodeShared)
    }
}

/// A running server, killed on drop (with its Redis, if any).
pub struct Server {
    pub addr: String,
    pub pid: u32,
    child: Child,
    _redis: Option<Child>,
    _dir: TempDir,
}

/// A Redis of the benchmark's own on a free loopback port, no persistence.
/// The binary: `LABTAIL_TEST_REDIS_SERVER` (scripts/prereqs.sh sets it), or
/// `redis-server` on the PATH.
async fn start_redis() -> Result<(Child, String), BoxError> {
    let bin = std::env::var("LABTAIL_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = free_port()?;
    let mut child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e}"))?;
    wait_for_line(&mut child, "Ready to accept connections").await?;
    Ok((child, format!("redis://127.0.0.1:{port}")))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// labtail's stderr: discarded, or with `LABTAIL_BENCH_SERVER_LOG=<filter>`
/// (e.g. `info`) appended to `labtail-bench-server.log` in the current
/// directory, to see what a server did during a run that went wrong.
fn server_stderr(dir: &Path) -> Result<Stdio, BoxError> {
    if std::env::var_os("LABTAIL_BENCH_SERVER_LOG").is_none() {
        return Ok(Stdio::null());
    }
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("labtail-bench-server.log")?;
    writeln!(f, "=== labtail in {}", dir.display())?;
    Ok(Stdio::from(f))
}

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_for_line(child: &mut Child, needle: &str) -> Result<(), BoxError> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    match found {
        Ok(true) => Ok(()),
        _ => Err(format!("server did not print {needle:?}").into()),
    }
}

impl Server {
    /// labtail with limits opened up for load (every other setting default).
    /// `users` are (name, role) pairs, all with the bench password.
    pub async fn labtail(
        paths: &Paths,
        bin: &Path,
        users: &[(String, &str)],
        with_redis: bool,
    ) -> Result<Self, BoxError> {
        Self::labtail_with(paths, bin, users, with_redis, &[]).await
    }

    /// [`Server::labtail`] with more `serve` arguments.
    pub async fn labtail_with(
        paths: &Paths,
        bin: &Path,
        users: &[(String, &str)],
        with_redis: bool,
        extra: &[&str],
    ) -> Result<Self, BoxError> {
        let redis = if with_redis {
            Some(start_redis().await?)
        } else {
            None
        };
        let dir = paths.work.join(format!("labtail-{}", free_port()?));
        std::fs::create_dir_all(&dir)?;
        for (name, role) in users {
            let mut c = std::process::Command::new(bin)
                .args([
                    "user",
                    "add",
                    name,
                    "--role",
                    role,
                    "--password-stdin",
                    "--data-dir",
                ])
                .arg(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()?;
            use std::io::Write;
            c.stdin
                .take()
                .ok_or("stdin")?
                .write_all(format!("{PASSWORD}\n").as_bytes())?;
            if !c.wait()?.success() {
                return Err(format!("cannot add user {name}").into());
            }
        }
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                &addr,
                "--owner-label",
                LABEL,
                "--data-dir",
            ])
            .arg(&dir)
            .args([
                "--backlog-lines",
                "20000",
                "--max-sockets-per-user",
                "1000000",
                "--max-streams-per-user",
                "1000000",
                "--socket-events-per-second",
                "1000000",
                "--socket-events-burst",
                "1000000",
                "--login-free-failures",
                "1000000",
                "--login-ip-free-failures",
                "1000000",
            ])
            .args(
                redis
                    .as_ref()
                    .map(|(_, url)| vec!["--redis-url", url.as_str()])
                    .unwrap_or_default(),
            )
            .args(extra)
            .args(&paths.labtail_args)
            .env(
                "LABTAIL_LOG",
                std::env::var("LABTAIL_BENCH_SERVER_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(server_stderr(&dir)?)
            .kill_on_drop(true)
            .spawn()?;
        wait_for_line(&mut child, "labtail listening").await?;
        let pid = child.id().ok_or("no pid")?;
        Ok(Server {
            addr,
            pid,
            child,
            _redis: redis.map(|(c, _)| c),
            _dir: TempDir(dir),
        })
    }

    /// The Node/Express + socket.io design (bench/baselines/node-design).
    pub async fn node(
        paths: &Paths,
        design: &str,
        users: &[(String, &str)],
    ) -> Result<Self, BoxError> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let map: serde_json::Map<String, serde_json::Value> = users
            .iter()
            .map(|(n, _)| (n.clone(), serde_json::Value::String(PASSWORD.into())))
            .collect();
        let dir = paths.work.join(format!("baseline-{port}"));
        std::fs::create_dir_all(&dir)?;
        let mut child = Command::new("node")
            .arg(paths.baseline.join("server.js"))
            .env("PORT", port.to_string())
            .env("DESIGN", design)
            .env("USERS", serde_json::Value::Object(map).to_string())
            .current_dir(&paths.baseline)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        wait_for_line(&mut child, "listening on").await?;
        let pid = child.id().ok_or("no pid")?;
        Ok(Server {
            addr,
            pid,
            child,
            _redis: None,
            _dir: TempDir(dir),
        })
    }

    pub async fn start(
        kind: Kind,
        paths: &Paths,
        users: &[(String, &str)],
    ) -> Result<Self, BoxError> {
        match kind {
            Kind::Labtail => Self::labtail(paths, &paths.labtail, users, false).await,
            Kind::LabtailRedis => Self::labtail(paths, &paths.labtail, users, true).await,
            Kind::LabtailBefore => {
                let bin = paths.before.as_ref().ok_or("no --before binary")?;
                Self::labtail(paths, bin, users, false).await
            }
            Kind::LabtailLive => {
                Self::labtail_with(paths, &paths.labtail, users, false, &["--history", "off"]).await
            }
            Kind::LabtailQuiet => {
                Self::labtail_with(paths, &paths.labtail, users, false, &["--attention", "off"])
                    .await
            }
            Kind::NodeTutorial => Self::node(paths, "tutorial", users).await,
            Kind::NodeShared => Self::node(paths, "shared", users).await,
        }
    }

    pub async fn stop(mut self) {
        // The whole tree: the baseline's `docker logs` children too.
        for pid in crate::procfs::tree(self.pid).into_iter().rev() {
            // SAFETY: kill(2) on pids of our own children.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        let _ = self.child.kill().await;
        // The baseline's `docker logs` children go with their parent's pipes;
        // give them a moment so the next run starts clean.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
