//! Flags and environment variables. Every limit of the server has a flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use labtail_server::ServerConfig;

#[derive(Debug, Parser)]
#[command(
    name = "labtail",
    version,
    about = "Live logs of lab containers over Socket.IO, for students and instructors"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `labtail=debug`.
    #[arg(long, env = "LABTAIL_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory for labtail's own files (the default SQLite database).
    #[arg(
        long,
        env = "LABTAIL_DATA_DIR",
        default_value = "labtail-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` (one node) or `postgres://USER:PASS@HOST/DB`
    /// (several nodes share users and sessions); default: a SQLite file in
    /// the data directory.
    #[arg(long, env = "LABTAIL_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl Global {
    /// The database URL, creating the data directory for the default one.
    pub fn database_url(&self) -> Result<String, String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        Ok(format!("sqlite://{}/labtail.db", self.data_dir.display()))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP + Socket.IO server.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage courses and who is in them (without a school sign-in).
    #[command(subcommand)]
    Course(crate::course::CourseCommand),
    /// Print the audit log (logins, log watches), newest first.
    Audit {
        /// Only this user's records.
        #[arg(long)]
        user: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. Without --password-stdin a random password is printed.
    Add {
        name: String,
        #[arg(long, value_parser = ["student", "instructor", "admin"])]
        role: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Remove a user; their live sockets are ended.
    Remove {
        name: String,
        /// Also delete the lab history of every container they owned.
        #[arg(long)]
        purge_history: bool,
    },
    /// Set a new password; the user's existing sessions end.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// End every session (and live socket) of a user; the password stays.
    Revoke { name: String },
}

/// The engines from `--docker-host` and `--docker-tls-dir`.
fn docker_hosts(
    hosts: &[String],
    tls_dirs: &[String],
) -> Result<Vec<labtail_logs::HostSpec>, String> {
    let mut specs = labtail_logs::HostSpec::parse_all(hosts)?;
    for t in tls_dirs {
        let (name, dir) = match t.split_once('=') {
            Some((n, d)) => (Some(n), d),
            None => (None, t.as_str()),
        };
        let spec = match name {
            Some(n) => specs.iter_mut().find(|s| s.name == n),
            None if specs.len() == 1 => specs.first_mut(),
            None => {
                return Err(format!(
                    "--docker-tls-dir {t:?}: with several engines, give NAME=DIR"
                ));
            }
        };
        let Some(spec) = spec else {
            return Err(format!(
                "--docker-tls-dir {t:?}: no --docker-host has that name"
            ));
        };
        if !spec.url.starts_with("tcp://") {
            return Err(format!(
                "--docker-tls-dir {t:?}: TLS needs a tcp:// engine, not {}",
                spec.url
            ));
        }
        spec.tls_dir = Some(PathBuf::from(dir));
    }
    Ok(specs)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration like 30s, 5m, 8h: {e}"))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LABTAIL_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Docker engine: unix:///path or tcp://host:port. Repeat it (or give a
    /// comma-separated list) to read several engines; then name each,
    /// NAME=URL, and containers are shown as NAME/container.
    #[arg(
        long,
        env = "DOCKER_HOST",
        value_delimiter = ',',
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: Vec<String>,
    /// TLS with a client certificate for a tcp:// engine: a directory with
    /// ca.pem, cert.pem and key.pem, as NAME=DIR (or DIR alone with one
    /// engine). Repeatable.
    #[arg(long, env = "LABTAIL_DOCKER_TLS_DIR", value_delimiter = ',')]
    pub docker_tls_dir: Vec<String>,
    /// Read a local engine's json-file logs from disk (auto: where they are
    /// readable; each container whose are not is read through the API), or
    /// always through the API (off).
    #[arg(long, env = "LABTAIL_DOCKER_LOG_FILES", default_value = "auto", value_parser = ["auto", "off"])]
    pub docker_log_files: String,
    /// Docker's data root as dockerd names it, and where labtail sees it
    /// (FROM=TO when labtail runs in a container with it mounted elsewhere).
    #[arg(
        long,
        env = "LABTAIL_DOCKER_LOG_ROOT",
        default_value = "/var/lib/docker"
    )]
    pub docker_log_root: String,
    /// Label whose value names a container's owner.
    #[arg(long, env = "LABTAIL_OWNER_LABEL", default_value = "labtail.owner")]
    pub owner_label: String,
    /// Label whose value names a container's course.
    #[arg(long, env = "LABTAIL_COURSE_LABEL", default_value = "labtail.course")]
    pub course_label: String,
    /// Label whose value names a container's lab (its checkpoints and rules).
    #[arg(long, env = "LABTAIL_LAB_LABEL", default_value = "labtail.lab")]
    pub lab_label: String,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub oidc: OidcArgs,
    #[command(flatten)]
    pub attention: AttentionArgs,
    /// Another origin allowed to use the API and sockets (repeatable).
    /// The server's own origin is always allowed.
    #[arg(
        long = "allowed-origin",
        env = "LABTAIL_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Directory of the built web app (default: web/dist if present).
    #[arg(long, env = "LABTAIL_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Create demo users (printing their passwords) and demo containers.
    #[arg(long, env = "LABTAIL_DEMO")]
    pub demo: bool,
    /// Backlog lines kept per watched container; also the largest `tail`.
    #[arg(long, env = "LABTAIL_BACKLOG_LINES", default_value_t = 1000)]
    pub backlog_lines: usize,
    /// Backlog bytes kept per watched container.
    #[arg(long, env = "LABTAIL_BACKLOG_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub backlog_bytes: usize,
    /// `tail` when a client gives none.
    #[arg(long, env = "LABTAIL_DEFAULT_TAIL", default_value_t = 100)]
    pub default_tail: u64,
    /// Longest line kept, in bytes; longer lines are cut (and say so).
    #[arg(long, env = "LABTAIL_MAX_LINE_BYTES", default_value_t = 64 * 1024)]
    pub max_line_bytes: usize,
    /// Most lines in one container-log event.
    #[arg(long, env = "LABTAIL_BATCH_MAX_LINES", default_value_t = 500)]
    pub batch_max_lines: usize,
    /// Most text bytes in one container-log event.
    #[arg(long, env = "LABTAIL_BATCH_MAX_BYTES", default_value_t = 32 * 1024)]
    pub batch_max_bytes: usize,
    /// Lines a socket may fall behind per container before it gets a gap.
    #[arg(long, env = "LABTAIL_CLIENT_BUFFER_LINES", default_value_t = 20_000)]
    pub client_buffer_lines: usize,
    /// Bytes a socket may fall behind per container before it gets a gap.
    #[arg(long, env = "LABTAIL_CLIENT_BUFFER_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub client_buffer_bytes: usize,
    /// Containers one socket may watch at once.
    #[arg(long, env = "LABTAIL_MAX_STREAMS_PER_SOCKET", default_value_t = 20)]
    pub max_streams_per_socket: usize,
    /// Client events queued per socket before `rate_limited`.
    #[arg(long, env = "LABTAIL_SOCKET_QUEUE", default_value_t = 32)]
    pub socket_queue: usize,
    /// Outgoing packets buffered per socket.
    #[arg(long, env = "LABTAIL_SOCKET_BUFFER_PACKETS", default_value_t = 256)]
    pub socket_buffer_packets: usize,
    /// How often the server pings each socket (Engine.IO heartbeat).
    #[arg(long, env = "LABTAIL_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ping_interval: Duration,
    /// How long a socket may take to answer a ping before it is closed.
    #[arg(long, env = "LABTAIL_PING_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub ping_timeout: Duration,
    /// Largest packet a client may send, in bytes.
    #[arg(long, env = "LABTAIL_MAX_PAYLOAD", default_value_t = 64 * 1024)]
    pub max_payload: u64,
    /// Sessions end after this long without a request.
    #[arg(long, env = "LABTAIL_SESSION_IDLE_TIMEOUT", default_value = "8h", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,
    /// Mark the session cookie Secure (set this behind an HTTPS proxy).
    #[arg(long, env = "LABTAIL_COOKIE_SECURE")]
    pub cookie_secure: bool,
    /// How often live sockets are re-checked against the user table.
    #[arg(long, env = "LABTAIL_AUTH_RECHECK", default_value = "2s", value_parser = parse_duration)]
    pub auth_recheck_interval: Duration,
    /// How long a first watcher waits for a container's log to open.
    #[arg(long, env = "LABTAIL_SUBSCRIBE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub subscribe_timeout: Duration,
    /// Most lines one log download returns.
    #[arg(long, env = "LABTAIL_MAX_DOWNLOAD_LINES", default_value_t = 100_000)]
    pub max_download_lines: usize,
    /// Most lines a resume (`after`/`since`) reads back from Docker beyond the backlog.
    #[arg(long, env = "LABTAIL_MAX_RESUME_LINES", default_value_t = 50_000)]
    pub max_resume_lines: usize,
    /// Longest `wait` a client may ask for on start-container-logs.
    #[arg(long, env = "LABTAIL_MAX_WAIT", default_value = "5m", value_parser = parse_duration)]
    pub max_wait: Duration,
    /// The longest lines are gathered into one event while a container prints fast.
    #[arg(long, env = "LABTAIL_BATCH_LINGER", default_value = "50ms", value_parser = parse_duration)]
    pub batch_linger: Duration,
    /// Viewers of one container from which its lines are gathered for the
    /// whole --batch-linger; fewer viewers get them sooner (by the square of
    /// their share), one viewer at once. 0: always the whole linger.
    #[arg(long, env = "LABTAIL_LINGER_VIEWERS", default_value_t = 500)]
    pub linger_viewers: u32,
    /// Database connections in the pool.
    #[arg(long, env = "LABTAIL_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// How long a query waits for a free database connection before it fails.
    #[arg(long, env = "LABTAIL_DB_ACQUIRE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub db_acquire_timeout: Duration,
    /// Longest pause between reconnect attempts to dockerd.
    #[arg(long, env = "LABTAIL_RECONNECT_MAX_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub reconnect_max_delay: Duration,
    /// Sessions and their sockets end this long after login, active or not.
    #[arg(long, env = "LABTAIL_SESSION_MAX_AGE", default_value = "24h", value_parser = parse_duration)]
    pub session_max_age: Duration,
    /// Failed logins per user name before each further one waits (backoff).
    #[arg(long, env = "LABTAIL_LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,
    /// Password checks computed at once (argon2id, 19 MiB and a core each);
    /// more logins wait their turn. 0: one per core.
    #[arg(long, env = "LABTAIL_MAX_CONCURRENT_HASHES", default_value_t = 0)]
    pub max_concurrent_hashes: usize,
    /// Failed logins per client address before each further one waits.
    #[arg(long, env = "LABTAIL_LOGIN_IP_FREE_FAILURES", default_value_t = 30)]
    pub login_ip_free_failures: u32,
    /// First wait after the free failures; it doubles with each failure.
    #[arg(long, env = "LABTAIL_LOGIN_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub login_backoff: Duration,
    /// Longest wait between failed logins.
    #[arg(long, env = "LABTAIL_LOGIN_BACKOFF_MAX", default_value = "15m", value_parser = parse_duration)]
    pub login_backoff_max: Duration,
    /// Take the client address from X-Forwarded-For (only behind a proxy that sets it).
    #[arg(long, env = "LABTAIL_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Client events per second one socket may send (sustained).
    #[arg(long, env = "LABTAIL_SOCKET_EVENTS_PER_SECOND", default_value_t = 10)]
    pub socket_events_per_second: u32,
    /// Client events one socket may send in a burst.
    #[arg(long, env = "LABTAIL_SOCKET_EVENTS_BURST", default_value_t = 30)]
    pub socket_events_burst: u32,
    /// Sockets one user may have open (on this node).
    #[arg(long, env = "LABTAIL_MAX_SOCKETS_PER_USER", default_value_t = 20)]
    pub max_sockets_per_user: usize,
    /// Containers one user may watch at once over all their sockets (on this node).
    #[arg(long, env = "LABTAIL_MAX_STREAMS_PER_USER", default_value_t = 50)]
    pub max_streams_per_user: usize,
    /// Share Socket.IO rooms with other labtail nodes through this Redis
    /// (redis://[user:password@]host:port, Redis 7 or newer): logout ends a
    /// session's sockets on every node at once, and the dashboard shows who
    /// watches on every node. Without it, this node is alone.
    #[arg(long, env = "LABTAIL_REDIS_URL")]
    pub redis_url: Option<String>,
    /// How long a cross-node operation waits for Redis before giving up
    /// (streams never wait for Redis).
    #[arg(long, env = "LABTAIL_REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub redis_timeout: Duration,
    /// Serve HTTPS/WSS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "LABTAIL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, env = "LABTAIL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Attention: who needs help now, and how far each student got.
#[derive(Debug, Args)]
pub struct AttentionArgs {
    /// Evaluate signals, rules and checkpoints over what lab history
    /// records (on; needs --history on) or not (off).
    #[arg(long = "attention", env = "LABTAIL_ATTENTION", default_value = "on", value_parser = ["on", "off"])]
    pub attention: String,
    /// TOML file defining labs: `[[lab]] name`, `[[lab.rule]] pattern,
    /// severity, title`, `[[lab.checkpoint]] name, pattern`.
    #[arg(long, env = "LABTAIL_LABS_FILE")]
    pub labs_file: Option<PathBuf>,
    /// A restart loop: this many starts…
    #[arg(
        long,
        env = "LABTAIL_ATTENTION_RESTART_LOOP_STARTS",
        default_value_t = 3
    )]
    pub attention_restart_loop_starts: usize,
    /// …within this long.
    #[arg(long, env = "LABTAIL_ATTENTION_RESTART_LOOP_WINDOW", default_value = "5m", value_parser = parse_duration)]
    pub attention_restart_loop_window: Duration,
    /// An error burst: at least this many error lines…
    #[arg(long, env = "LABTAIL_ATTENTION_BURST_LINES", default_value_t = 20)]
    pub attention_burst_lines: usize,
    /// …within this long…
    #[arg(long, env = "LABTAIL_ATTENTION_BURST_WINDOW", default_value = "30s", value_parser = parse_duration)]
    pub attention_burst_window: Duration,
    /// …and more than this many times the median of the rest of the lab.
    #[arg(long, env = "LABTAIL_ATTENTION_BURST_FACTOR", default_value_t = 3.0)]
    pub attention_burst_factor: f64,
    /// Silent: a running container that wrote nothing for this long while
    /// most of its lab wrote.
    #[arg(long, env = "LABTAIL_ATTENTION_SILENT_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub attention_silent_after: Duration,
    /// Entries older than this are not shown.
    #[arg(long, env = "LABTAIL_ATTENTION_WINDOW", default_value = "24h", value_parser = parse_duration)]
    pub attention_window: Duration,
    /// Most entries an attention list holds.
    #[arg(long, env = "LABTAIL_ATTENTION_MAX_ENTRIES", default_value_t = 500)]
    pub attention_max_entries: usize,
    /// Most rules (and checkpoints) one lab may have.
    #[arg(long, env = "LABTAIL_ATTENTION_MAX_RULES", default_value_t = 200)]
    pub attention_max_rules: usize,
    /// Runaway: sample each running lab container's CPU and memory this
    /// often (one `docker stats` call each); 0 turns it off.
    #[arg(long, env = "LABTAIL_ATTENTION_RUNAWAY_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub attention_runaway_interval: Duration,
    /// …a runaway when CPU is at or above this share of its limit (its
    /// `--cpus`, else the machine's CPUs)…
    #[arg(long, env = "LABTAIL_ATTENTION_RUNAWAY_CPU", default_value_t = 0.9)]
    pub attention_runaway_cpu: f64,
    /// …or memory at or above this share of its `--memory` limit…
    #[arg(long, env = "LABTAIL_ATTENTION_RUNAWAY_MEMORY", default_value_t = 0.9)]
    pub attention_runaway_memory: f64,
    /// …in this many samples in a row.
    #[arg(long, env = "LABTAIL_ATTENTION_RUNAWAY_SAMPLES", default_value_t = 4)]
    pub attention_runaway_samples: usize,
    /// `docker stats` calls in flight at most.
    #[arg(
        long,
        env = "LABTAIL_ATTENTION_RUNAWAY_CONCURRENCY",
        default_value_t = 4
    )]
    pub attention_runaway_concurrency: usize,
    /// Containers sampled per round at most (the others in later rounds).
    #[arg(
        long,
        env = "LABTAIL_ATTENTION_RUNAWAY_MAX_CONTAINERS",
        default_value_t = 1000
    )]
    pub attention_runaway_max_containers: usize,
    /// A webhook to notify of new entries (repeatable).
    #[arg(
        long = "attention-webhook",
        env = "LABTAIL_ATTENTION_WEBHOOKS",
        value_delimiter = ','
    )]
    pub attention_webhooks: Vec<String>,
    /// The webhooks' shape: `json` (labtail's, signed) or `slack`.
    #[arg(long, env = "LABTAIL_ATTENTION_WEBHOOK_FORMAT", default_value = "json", value_parser = ["json", "slack"])]
    pub attention_webhook_format: String,
    /// File holding the key the JSON webhooks are signed with (HMAC-SHA256).
    #[arg(long, env = "LABTAIL_ATTENTION_WEBHOOK_SECRET_FILE")]
    pub attention_webhook_secret_file: Option<PathBuf>,
    /// Entries below this severity are not sent: `info`, `warning`, `error`.
    #[arg(long, env = "LABTAIL_ATTENTION_WEBHOOK_MIN_SEVERITY", default_value = "warning", value_parser = ["info", "warning", "error"])]
    pub attention_webhook_min_severity: String,
    /// Attempts per notification (waits double from 1 s).
    #[arg(long, env = "LABTAIL_ATTENTION_WEBHOOK_ATTEMPTS", default_value_t = 4)]
    pub attention_webhook_attempts: u32,
    /// labtail's address as people reach it, e.g. https://labs.school.edu
    /// (links in notifications).
    #[arg(long, env = "LABTAIL_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl AttentionArgs {
    pub fn config(&self) -> Result<labtail_attention::AttentionConfig, String> {
        if !(self.attention_burst_factor.is_finite() && self.attention_burst_factor >= 0.0) {
            return Err("--attention-burst-factor must be a number, 0 or more".into());
        }
        Ok(labtail_attention::AttentionConfig {
            enabled: self.attention == "on",
            restart_loop_starts: at_least_one(
                "attention-restart-loop-starts",
                self.attention_restart_loop_starts,
            )?,
            restart_loop_window: self.attention_restart_loop_window,
            burst_lines: at_least_one("attention-burst-lines", self.attention_burst_lines)?,
            burst_window: self.attention_burst_window.max(Duration::from_secs(1)),
            burst_factor: self.attention_burst_factor,
            silent_after: self.attention_silent_after.max(Duration::from_secs(1)),
            window: self.attention_window,
            max_entries: at_least_one("attention-max-entries", self.attention_max_entries)?,
            max_rules: at_least_one("attention-max-rules", self.attention_max_rules)?,
            runaway_interval: self.attention_runaway_interval,
            runaway_cpu: share("attention-runaway-cpu", self.attention_runaway_cpu)?,
            runaway_memory: share("attention-runaway-memory", self.attention_runaway_memory)?,
            runaway_samples: at_least_one(
                "attention-runaway-samples",
                self.attention_runaway_samples,
            )?,
            runaway_concurrency: at_least_one(
                "attention-runaway-concurrency",
                self.attention_runaway_concurrency,
            )?,
            runaway_max_containers: at_least_one(
                "attention-runaway-max-containers",
                self.attention_runaway_max_containers,
            )?,
            ..labtail_attention::AttentionConfig::default()
        })
    }

    /// The labs file's labs, checked (a bad pattern names the lab, the rule
    /// and where).
    pub fn labs(
        &self,
        cfg: &labtail_attention::AttentionConfig,
    ) -> Result<Vec<labtail_attention::LabDef>, String> {
        let Some(path) = &self.labs_file else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--labs-file {}: cannot read: {e}", path.display()))?;
        let defs = labtail_attention::labs::parse_file(&text)
            .map_err(|e| format!("--labs-file {}: {e}", path.display()))?;
        labtail_attention::Labs::compile(&defs, cfg)
            .map_err(|e| format!("--labs-file {}: {e}", path.display()))?;
        Ok(defs)
    }

    pub fn webhooks(&self) -> Result<labtail_server::config::Webhooks, String> {
        for u in &self.attention_webhooks {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(format!(
                    "--attention-webhook {u:?}: must be an http:// or https:// URL"
                ));
            }
        }
        let secret = match &self.attention_webhook_secret_file {
            None => None,
            Some(p) => Some(labtail_server::config::read_secret_file(
                "attention-webhook-secret-file",
                p,
            )?),
        };
        Ok(labtail_server::config::Webhooks {
            urls: self
                .attention_webhooks
                .iter()
                .filter(|u| !u.is_empty())
                .cloned()
                .collect(),
            slack: self.attention_webhook_format == "slack",
            secret,
            min_severity: labtail_attention::Severity::parse(&self.attention_webhook_min_severity)
                .unwrap_or(labtail_attention::Severity::Warning),
            attempts: self.attention_webhook_attempts.max(1),
            ..labtail_server::config::Webhooks::default()
        })
    }
}

/// School sign-in (OpenID Connect) and local passwords.
#[derive(Debug, Args)]
pub struct OidcArgs {
    /// The identity provider's issuer URL (its discovery document is at
    /// ISSUER/.well-known/openid-configuration). Turns school sign-in on.
    #[arg(long, env = "LABTAIL_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_redirect_url", "oidc_groups_file"])]
    pub oidc_issuer: Option<String>,
    /// labtail's client ID at the provider.
    #[arg(long, env = "LABTAIL_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// File holding the client secret (leave out for a public client).
    #[arg(
        long,
        env = "LABTAIL_OIDC_CLIENT_SECRET_FILE",
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Where the provider sends browsers back, e.g.
    /// https://labs.school.edu/api/oidc/callback (its path is served).
    #[arg(long, env = "LABTAIL_OIDC_REDIRECT_URL", requires = "oidc_issuer")]
    pub oidc_redirect_url: Option<String>,
    /// TOML file mapping the provider's groups to roles and courses.
    #[arg(long, env = "LABTAIL_OIDC_GROUPS_FILE", requires = "oidc_issuer")]
    pub oidc_groups_file: Option<PathBuf>,
    /// The ID token claim that names the user.
    #[arg(
        long,
        env = "LABTAIL_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username"
    )]
    pub oidc_username_claim: String,
    /// The claim that lists the user's groups.
    #[arg(long, env = "LABTAIL_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// The sign-in button's text.
    #[arg(
        long,
        env = "LABTAIL_OIDC_DISPLAY_NAME",
        default_value = "Sign in with your school account"
    )]
    pub oidc_display_name: String,
    /// Scopes to ask for besides `openid` (comma-separated), e.g. `profile,groups`.
    #[arg(
        long,
        env = "LABTAIL_OIDC_SCOPES",
        default_value = "profile",
        value_delimiter = ','
    )]
    pub oidc_scopes: Vec<String>,
    /// How far the provider's clock may be off from labtail's.
    #[arg(long, env = "LABTAIL_OIDC_CLOCK_SKEW", default_value = "60s", value_parser = parse_duration)]
    pub oidc_clock_skew: Duration,
    /// Each request to the provider gives up after this long.
    #[arg(long, env = "LABTAIL_OIDC_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub oidc_timeout: Duration,
    /// How long a browser may take at the provider before coming back.
    #[arg(long, env = "LABTAIL_OIDC_LOGIN_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub oidc_login_timeout: Duration,
    /// The provider's keys are fetched again on an unknown key at most this often.
    #[arg(long, env = "LABTAIL_OIDC_JWKS_REFRESH_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub oidc_jwks_refresh_interval: Duration,
    /// Whether the login page takes user names and passwords (`off`: only
    /// school sign-in; local accounts stay for the command line).
    #[arg(long, env = "LABTAIL_LOCAL_LOGIN", default_value = "on", value_parser = ["on", "off"])]
    pub local_login: String,
}

impl OidcArgs {
    pub fn settings(&self) -> Result<Option<labtail_server::oidc::OidcSettings>, String> {
        let Some(issuer) = &self.oidc_issuer else {
            if self.local_login == "off" {
                return Err("--local-login off needs --oidc-issuer: nobody could log in".into());
            }
            return Ok(None);
        };
        let need = |v: &Option<String>, flag: &str| {
            v.clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("--oidc-issuer needs {flag}"))
        };
        let mut s = labtail_server::oidc::OidcSettings::new(
            issuer.clone(),
            need(&self.oidc_client_id, "--oidc-client-id")?,
            need(&self.oidc_redirect_url, "--oidc-redirect-url")?,
            self.oidc_groups_file
                .clone()
                .ok_or("--oidc-issuer needs --oidc-groups-file")?,
        );
        s.client_secret_file = self.oidc_client_secret_file.clone();
        s.username_claim = self.oidc_username_claim.clone();
        s.groups_claim = self.oidc_groups_claim.clone();
        s.display_name = self.oidc_display_name.clone();
        s.scopes = self
            .oidc_scopes
            .iter()
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty() && x != "openid")
            .collect();
        s.clock_skew = self.oidc_clock_skew.min(Duration::from_secs(600));
        s.http_timeout = self.oidc_timeout.max(Duration::from_millis(100));
        s.login_timeout = self.oidc_login_timeout.max(Duration::from_secs(10));
        s.jwks_refresh_interval = self.oidc_jwks_refresh_interval;
        Ok(Some(s))
    }
}

/// Lab history: what is recorded, how it is kept, how reads are bounded.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Record every lab container's lines (on) or stream live only (off).
    #[arg(long = "history", env = "LABTAIL_HISTORY", default_value = "on", value_parser = ["on", "off"])]
    pub history: String,
    /// Keep a container's history this long after it ended.
    #[arg(long, env = "LABTAIL_HISTORY_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub history_retention: Duration,
    /// Most bytes history may hold in all (compressed, as stored); the
    /// oldest chunks go first. 0: no limit.
    #[arg(long, env = "LABTAIL_HISTORY_MAX_BYTES", default_value_t = 0)]
    pub history_max_bytes: u64,
    /// Most bytes one container's history may hold; its oldest chunks go
    /// first. 0: no limit.
    #[arg(long, env = "LABTAIL_HISTORY_MAX_CONTAINER_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub history_max_container_bytes: u64,
    /// How often retention runs.
    #[arg(long, env = "LABTAIL_HISTORY_PRUNE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub history_prune_interval: Duration,
    /// Longest recorded lines wait in memory before they are written.
    #[arg(long, env = "LABTAIL_HISTORY_FLUSH_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub history_flush_interval: Duration,
    /// Uncompressed bytes of lines in one stored chunk.
    #[arg(long, env = "LABTAIL_HISTORY_CHUNK_BYTES", default_value_t = 256 * 1024)]
    pub history_chunk_bytes: usize,
    /// zstd level of stored chunks (1 fast … 19 small).
    #[arg(long, env = "LABTAIL_HISTORY_LEVEL", default_value_t = 9)]
    pub history_level: i32,
    /// Lines the recorder may fall behind on one container while the
    /// database is slow; beyond, they are read back from Docker later.
    #[arg(long, env = "LABTAIL_HISTORY_BUFFER_LINES", default_value_t = 20_000)]
    pub history_buffer_lines: usize,
    /// Bytes the recorder may fall behind on one container, likewise.
    #[arg(long, env = "LABTAIL_HISTORY_BUFFER_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub history_buffer_bytes: usize,
    /// Another node takes over recording an engine this long after its
    /// recorder stopped renewing its lease.
    #[arg(long, env = "LABTAIL_HISTORY_LEASE", default_value = "10s", value_parser = parse_duration)]
    pub history_lease: Duration,
    /// Longest a history search runs before it returns what it found.
    #[arg(long, env = "LABTAIL_HISTORY_SEARCH_BUDGET", default_value = "1s", value_parser = parse_duration)]
    pub history_search_budget: Duration,
    /// Most hits one history search returns.
    #[arg(long, env = "LABTAIL_HISTORY_MAX_HITS", default_value_t = 1000)]
    pub history_max_hits: usize,
    /// Most lines one page of history holds.
    #[arg(long, env = "LABTAIL_HISTORY_MAX_PAGE_LINES", default_value_t = 5000)]
    pub history_max_page_lines: usize,
    /// Longest search text or regex, in bytes.
    #[arg(long, env = "LABTAIL_HISTORY_MAX_PATTERN", default_value_t = 1024)]
    pub history_max_pattern: usize,
    /// Largest compiled regex a search may use, in bytes.
    #[arg(long, env = "LABTAIL_HISTORY_REGEX_SIZE_LIMIT", default_value_t = 1024 * 1024)]
    pub history_regex_size_limit: usize,
    /// Largest history bundle one export makes (log bytes, uncompressed).
    #[arg(long, env = "LABTAIL_HISTORY_MAX_EXPORT_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub history_max_export_bytes: u64,
}

impl HistoryArgs {
    pub fn config(&self) -> Result<labtail_history::HistoryConfig, String> {
        if !(1..=22).contains(&self.history_level) {
            return Err("--history-level must be 1 to 22".into());
        }
        Ok(labtail_history::HistoryConfig {
            enabled: self.history == "on",
            chunk_bytes: at_least_one("history-chunk-bytes", self.history_chunk_bytes)?
                .min(64 * 1024 * 1024),
            flush_interval: self.history_flush_interval.max(Duration::from_millis(10)),
            level: self.history_level,
            buffer_lines: at_least_one("history-buffer-lines", self.history_buffer_lines)?,
            buffer_bytes: at_least_one("history-buffer-bytes", self.history_buffer_bytes)?,
            retention: self.history_retention,
            max_bytes: self.history_max_bytes,
            max_container_bytes: self.history_max_container_bytes,
            prune_interval: self.history_prune_interval.max(Duration::from_secs(1)),
            lease: self.history_lease.max(Duration::from_millis(300)),
            search_budget: self.history_search_budget,
            max_hits: at_least_one("history-max-hits", self.history_max_hits)?,
            max_page_lines: at_least_one("history-max-page-lines", self.history_max_page_lines)?,
            max_pattern: at_least_one("history-max-pattern", self.history_max_pattern)?,
            regex_size_limit: at_least_one(
                "history-regex-size-limit",
                self.history_regex_size_limit,
            )?,
            // A chunk's lines, and one line beyond a chunk (a long line).
            max_chunk_raw: 16 * 1024 * 1024 + 2 * self.history_chunk_bytes.min(64 * 1024 * 1024),
        })
    }
}

fn label_key(flag: &str, key: &str) -> Result<String, String> {
    if key.is_empty() || key.len() > 128 || key.contains(['=', ' ', ',']) {
        return Err(format!("--{flag} {key:?} is not a usable Docker label key"));
    }
    Ok(key.to_owned())
}

/// A share of a limit: above 0, at most 1.
fn share(name: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "--{name} must be a share of the limit, above 0 and at most 1 (0.9 is 90 %)"
        ))
    }
}

fn at_least_one(name: &str, v: usize) -> Result<usize, String> {
    if v == 0 {
        Err(format!("--{name} must be at least 1"))
    } else {
        Ok(v)
    }
}

impl ServeArgs {
    pub fn into_config(self, global: &Global) -> Result<ServerConfig, String> {
        if self.owner_label.is_empty()
            || self.owner_label.len() > 128
            || self.owner_label.contains(['=', ' ', ','])
        {
            return Err(format!(
                "--owner-label {:?} is not a usable Docker label key",
                self.owner_label
            ));
        }
        let web_dir = match self.web_dir {
            Some(d) => {
                if !d.join("index.html").is_file() {
                    return Err(format!(
                        "--web-dir {}: no index.html there (build the web app first)",
                        d.display()
                    ));
                }
                Some(d)
            }
            None => {
                let d = PathBuf::from("web/dist");
                d.join("index.html").is_file().then_some(d)
            }
        };
        let engine = labtail_logs::EngineConfig {
            max_line_bytes: at_least_one("max-line-bytes", self.max_line_bytes)?,
            backlog_lines: at_least_one("backlog-lines", self.backlog_lines)?,
            backlog_bytes: at_least_one("backlog-bytes", self.backlog_bytes)?,
            batch_max_lines: at_least_one("batch-max-lines", self.batch_max_lines)?,
            batch_max_bytes: at_least_one("batch-max-bytes", self.batch_max_bytes)?,
            subscriber_buffer_lines: at_least_one("client-buffer-lines", self.client_buffer_lines)?,
            subscriber_buffer_bytes: at_least_one("client-buffer-bytes", self.client_buffer_bytes)?,
            subscribe_timeout: self.subscribe_timeout,
            max_resume_lines: at_least_one("max-resume-lines", self.max_resume_lines)?,
            batch_linger: self.batch_linger,
            linger_viewers: self.linger_viewers,
            reconnect_max_delay: self.reconnect_max_delay.max(Duration::from_millis(100)),
        };
        let attention = self.attention.config()?;
        Ok(ServerConfig {
            listen: self.listen,
            database_url: global.database_url()?,
            db: labtail_server::db::DbOptions {
                max_connections: at_least_one(
                    "db-max-connections",
                    self.db_max_connections as usize,
                )? as u32,
                acquire_timeout: self.db_acquire_timeout.max(Duration::from_millis(100)),
            },
            docker_hosts: docker_hosts(&self.docker_host, &self.docker_tls_dir)?,
            owner_label: self.owner_label,
            log_files: (self.docker_log_files == "auto").then(|| {
                let (from, to) = self
                    .docker_log_root
                    .split_once('=')
                    .unwrap_or((&self.docker_log_root, &self.docker_log_root));
                labtail_logs::LogFiles {
                    docker_root: from.into(),
                    seen_at: to.into(),
                }
            }),
            course_label: label_key("course-label", &self.course_label)?,
            lab_label: label_key("lab-label", &self.lab_label)?,
            history: self.history.config()?,
            max_export_bytes: self.history.history_max_export_bytes.max(1),
            allowed_origins: self.allowed_origins,
            web_dir,
            engine,
            default_tail: self.default_tail,
            max_streams_per_socket: at_least_one(
                "max-streams-per-socket",
                self.max_streams_per_socket,
            )?,
            socket_queue: at_least_one("socket-queue", self.socket_queue)?,
            socket_buffer_packets: at_least_one(
                "socket-buffer-packets",
                self.socket_buffer_packets,
            )?,
            // Below 100 ms a heartbeat is a load, not a liveness check.
            ping_interval: self.ping_interval.max(Duration::from_millis(100)),
            ping_timeout: self.ping_timeout.max(Duration::from_millis(100)),
            max_payload: self.max_payload.max(1024),
            session_idle_timeout: self.session_idle_timeout,
            cookie_secure: self.cookie_secure,
            auth_recheck_interval: self.auth_recheck_interval.max(Duration::from_millis(100)),
            max_download_lines: at_least_one("max-download-lines", self.max_download_lines)?,
            max_wait: self.max_wait,
            session_max_age: self.session_max_age,
            max_concurrent_hashes: self.max_concurrent_hashes,
            throttle: labtail_server::throttle::ThrottleConfig {
                free_failures: self.login_free_failures,
                ip_free_failures: self.login_ip_free_failures,
                base: self.login_backoff,
                max: self.login_backoff_max.max(self.login_backoff),
                ..labtail_server::throttle::ThrottleConfig::default()
            },
            trust_forwarded_for: self.trust_forwarded_for,
            socket_events_per_second: self.socket_events_per_second.max(1),
            socket_events_burst: self.socket_events_burst.max(1),
            max_sockets_per_user: at_least_one("max-sockets-per-user", self.max_sockets_per_user)?,
            max_streams_per_user: at_least_one("max-streams-per-user", self.max_streams_per_user)?,
            redis_url: self.redis_url.filter(|u| !u.trim().is_empty()),
            redis_timeout: self.redis_timeout.max(Duration::from_millis(100)),
            tls: match (self.tls_cert, self.tls_key) {
                (Some(cert), Some(key)) => Some(labtail_server::config::TlsFiles { cert, key }),
                _ => None,
            },
            oidc: self.oidc.settings()?,
            local_login: self.oidc.local_login == "on",
            labs: self.attention.labs(&attention)?,
            attention,
            webhooks: self.attention.webhooks()?,
            public_url: self
                .attention
                .public_url
                .clone()
                .filter(|u| !u.trim().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn docker_hosts_and_tls_dirs() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // One unnamed engine, TLS without a name.
        let one = docker_hosts(&s(&["tcp://h:2376"]), &s(&["/certs"])).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, "local");
        assert_eq!(
            one[0].tls_dir.as_deref(),
            Some(std::path::Path::new("/certs"))
        );
        // Several: each needs a name; TLS goes to the named one.
        let two = docker_hosts(
            &s(&["a=unix:///var/run/docker.sock", "b=tcp://h:2376"]),
            &s(&["b=/certs/b"]),
        )
        .unwrap();
        assert_eq!(two[0].tls_dir, None);
        assert_eq!(
            two[1].tls_dir.as_deref(),
            Some(std::path::Path::new("/certs/b"))
        );
        for (hosts, tls) in [
            (s(&["unix:///a.sock", "b=tcp://h:1"]), s(&[])),
            (s(&["a=tcp://h:1", "b=tcp://h:2"]), s(&["/certs"])),
            (s(&["a=tcp://h:1"]), s(&["c=/certs"])),
            (s(&["a=unix:///x.sock"]), s(&["a=/certs"])),
        ] {
            assert!(docker_hosts(&hosts, &tls).is_err(), "{hosts:?} {tls:?}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
