//! Server settings. The binary fills this from flags and environment
//! variables; every limit the server enforces is a field here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use labtail_logs::EngineConfig;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    /// The database pool's size and wait (`--db-max-connections`,
    /// `--db-acquire-timeout`).
    pub db: DbOptions,
    /// The Docker engines to read (at least one).
    pub docker_hosts: Vec<labtail_logs::HostSpec>,
    pub owner_label: String,
    /// Read local engines' json-file logs from disk (and where); `None`:
    /// always through the API.
    pub log_files: Option<labtail_logs::LogFiles>,
    /// The labels naming a container's course and lab.
    pub course_label: String,
    pub lab_label: String,
    /// Lab history: recording, retention, search bounds.
    pub history: labtail_history::HistoryConfig,
    /// Attention: its signals' knobs (on only with history).
    pub attention: labtail_attention::AttentionConfig,
    /// Labs from `--labs-file` (checked already).
    pub labs: Vec<labtail_attention::LabDef>,
    /// Where attention's notifications go.
    pub webhooks: Webhooks,
    /// labtail's address as people reach it (`https://labs.school.edu`),
    /// for links in notifications; `None`: no links.
    pub public_url: Option<String>,
    /// Largest history bundle (log bytes, uncompressed) one export makes.
    pub max_export_bytes: u64,
    /// Origins (scheme://host[:port]) allowed besides the server's own.
    pub allowed_origins: Vec<String>,
    /// Built web app to serve at `/`; `None` serves a small built-in page.
    pub web_dir: Option<PathBuf>,
    pub engine: EngineConfig,
    /// Lines of backlog when `start-container-logs` gives no `tail`.
    pub default_tail: u64,
    /// Containers one socket may watch at once.
    pub max_streams_per_socket: usize,
    /// Client events queued per socket before new ones are refused with
    /// `rate_limited`.
    pub socket_queue: usize,
    /// Packets Socket.IO buffers per socket before emits fail (then the
    /// socket's stream waits, and past its line bound, gets a gap).
    pub socket_buffer_packets: usize,
    /// Engine.IO heartbeat: a ping every `ping_interval`; a socket that
    /// does not answer within `ping_timeout` is closed.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Largest packet a client may send, in bytes.
    pub max_payload: u64,
    /// Sessions end after this long without a request.
    pub session_idle_timeout: Duration,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// How often live sockets are checked against the user table, so a
    /// removed user or a changed password ends the user's sockets.
    pub auth_recheck_interval: Duration,
    /// Most lines one log download returns.
    pub max_download_lines: usize,
    /// Longest `wait` a client may ask for on `start-container-logs`.
    pub max_wait: Duration,
    /// Sessions (and their sockets) end this long after login, active or not.
    pub session_max_age: Duration,
    /// Login throttling (per user name and per address).
    pub throttle: crate::throttle::ThrottleConfig,
    /// Password hashes computed at once (19 MiB each); 0: one per core.
    pub max_concurrent_hashes: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (set
    /// this only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Client events per second one socket may send (sustained), and burst.
    pub socket_events_per_second: u32,
    pub socket_events_burst: u32,
    /// Sockets one user may have open on this node.
    pub max_sockets_per_user: usize,
    /// Containers one user may watch at once, over all their sockets on this node.
    pub max_streams_per_user: usize,
    /// Share Socket.IO rooms with the other nodes through this Redis
    /// (`redis://host:port`, Redis 7 or newer); `None`: this node is alone.
    pub redis_url: Option<String>,
    /// How long a cross-node operation waits for Redis before giving up
    /// (local operations never wait for it).
    pub redis_timeout: Duration,
    /// Serve HTTPS/WSS with this certificate chain and key (PEM).
    pub tls: Option<TlsFiles>,
    /// School sign-in (`--oidc-*`); `None`: local accounts only.
    pub oidc: Option<OidcSettings>,
    /// Whether `POST /api/login` takes local passwords (`--local-login`).
    /// Local accounts stay usable from the command line either way.
    pub local_login: bool,
}

/// Attention's webhooks (`--attention-webhook…`).
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub urls: Vec<String>,
    /// `json` (signed with HMAC-SHA256) or `slack` (Slack's incoming
    /// webhook shape).
    pub slack: bool,
    /// The HMAC key (read from a file).
    pub secret: Option<String>,
    /// Entries below this severity are not sent.
    pub min_severity: labtail_attention::Severity,
    /// Attempts per notification, and the first wait between them (it
    /// doubles).
    pub attempts: u32,
    pub backoff: Duration,
    /// Notifications waiting at most; beyond, new ones are dropped
    /// (counted).
    pub queue: usize,
    pub timeout: Duration,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks {
            urls: Vec::new(),
            slack: false,
            secret: None,
            min_severity: labtail_attention::Severity::Warning,
            attempts: 4,
            backoff: Duration::from_secs(1),
            queue: 1000,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ServerConfig {
    /// The labels labtail reads.
    pub fn label_keys(&self) -> labtail_logs::LabelKeys {
        labtail_logs::LabelKeys {
            owner: self.owner_label.clone(),
            course: self.course_label.clone(),
            lab: self.lab_label.clone(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: "sqlite://labtail-data/labtail.db".into(),
            db: DbOptions::default(),
            docker_hosts: vec![labtail_logs::HostSpec {
                name: "local".into(),
                url: labtail_logs::DEFAULT_DOCKER_HOST.into(),
                tls_dir: None,
            }],
            owner_label: "labtail.owner".into(),
            log_files: Some(labtail_logs::LogFiles::default()),
            course_label: labtail_logs::DEFAULT_COURSE_LABEL.into(),
            lab_label: labtail_logs::DEFAULT_LAB_LABEL.into(),
            history: labtail_history::HistoryConfig::default(),
            attention: labtail_attention::AttentionConfig::default(),
            labs: Vec::new(),
            webhooks: Webhooks::default(),
            public_url: None,
            max_export_bytes: 1024 * 1024 * 1024,
            allowed_origins: Vec::new(),
            web_dir: None,
            engine: EngineConfig::default(),
            default_tail: 100,
            max_streams_per_socket: 20,
            socket_queue: 32,
            socket_buffer_packets: 256,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 64 * 1024,
            session_idle_timeout: Duration::from_secs(8 * 3600),
            cookie_secure: false,
            auth_recheck_interval: Duration::from_secs(2),
            max_download_lines: 100_000,
            max_wait: Duration::from_secs(300),
            session_max_age: Duration::from_secs(24 * 3600),
            throttle: crate::throttle::ThrottleConfig::default(),
            max_concurrent_hashes: 0,
            trust_forwarded_for: false,
            socket_events_per_second: 10,
            socket_events_burst: 30,
            max_sockets_per_user: 20,
            max_streams_per_user: 50,
            redis_url: None,
            redis_timeout: Duration::from_secs(2),
            tls: None,
            oidc: None,
            local_login: true,
        }
    }
}

/// How labtail uses its database connections (`--db-max-connections`,
/// `--db-acquire-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a query waits for a free connection before it fails.
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The operator's settings (`--oidc-*`).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    /// `None`: a public client (PKCE alone).
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back; its path is the callback.
    pub redirect_url: String,
    pub groups_file: PathBuf,
    pub username_claim: String,
    pub groups_claim: String,
    /// The sign-in button's text.
    pub display_name: String,
    /// Scopes asked for besides `openid` (e.g. `profile`, `groups`).
    pub scopes: Vec<String>,
    /// Each request to the provider gives up after this long.
    pub http_timeout: Duration,
    /// How far the provider's clock may be off from ours.
    pub clock_skew: Duration,
    /// How long a browser has between leaving for the provider and coming
    /// back.
    pub login_timeout: Duration,
    /// The JWKS is fetched again on an unknown key at most this often.
    pub jwks_refresh_interval: Duration,
}

impl OidcSettings {
    /// Settings with the documented defaults for everything but the four
    /// required values.
    pub fn new(
        issuer: String,
        client_id: String,
        redirect_url: String,
        groups_file: PathBuf,
    ) -> Self {
        OidcSettings {
            issuer,
            client_id,
            client_secret_file: None,
            redirect_url,
            groups_file,
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            display_name: "Sign in with your school account".into(),
            scopes: vec!["profile".into()],
            http_timeout: Duration::from_secs(10),
            clock_skew: Duration::from_secs(60),
            login_timeout: Duration::from_secs(600),
            jwks_refresh_interval: Duration::from_secs(30),
        }
    }
}

/// A secret kept in a file (`--oidc-client-secret-file`,
/// `--attention-webhook-secret-file`): its contents without surrounding
/// white space; an unreadable or empty file is an error naming the flag.
pub fn read_secret_file(flag: &str, path: &std::path::Path) -> Result<String, String> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| format!("--{flag} {}: cannot read: {e}", path.display()))?;
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("--{flag} {}: the file is empty", path.display()));
    }
    Ok(s.to_owned())
}
