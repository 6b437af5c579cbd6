//! The `labtail` command: `serve`, `user …`, `course …`, `audit`.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage
//! (always with one line saying what is wrong).

mod cli;
mod course;
mod demo;

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use labtail_server::db::{Db, Role, validate_username};
use labtail_server::{StartupError, auth};

use cli::{Cli, Command, UserCommand};

/// An error with the exit code it maps to.
struct Fail {
    code: u8,
    msg: String,
}

impl Fail {
    fn config(msg: impl Into<String>) -> Self {
        Fail {
            code: 2,
            msg: msg.into(),
        }
    }
    fn runtime(msg: impl Into<String>) -> Self {
        Fail {
            code: 1,
            msg: msg.into(),
        }
    }
}

impl From<StartupError> for Fail {
    fn from(e: StartupError) -> Self {
        match e {
            StartupError::Config(m) => Fail::config(m),
            StartupError::Runtime(m) => Fail::runtime(m),
        }
    }
}

/// Makes glibc give large freed blocks back to the system. Each password
/// check allocates argon2's 19 MiB; by default glibc raises its mmap
/// threshold after the first such block is freed, serves the next ones from
/// the heap of whichever thread ran the check, and keeps them resident: a
/// few dozen logins left ~200 MB of RSS that nothing used. A fixed threshold
/// keeps every allocation of 1 MiB and more in its own mapping, unmapped on
/// free. Must run before other threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only changes allocator parameters; no thread has
    // been started yet, and a failure (0) leaves the defaults in place.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    debug_assert!(ok == 1);
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labtail: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("labtail: error: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> Result<(), Fail> {
    match cli.command {
        Command::Serve(args) => {
            let demo = args.demo;
            let cfg = args.into_config(&cli.global).map_err(Fail::config)?;
            let demo = match demo {
                true => Some(demo::prepare(&cfg).await.map_err(Fail::runtime)?),
                false => None,
            };
            let served = labtail_server::serve(cfg, shutdown_signal()).await;
            if let Some(demo) = demo {
                demo.finish().await;
            }
            served?;
            Ok(())
        }
        Command::User(cmd) => user(cmd, &cli.global).await,
        Command::Course(cmd) => {
            let db = open_db(&cli.global).await?;
            course::run(cmd, &db).await
        }
        Command::Audit { user, limit, json } => {
            let db = open_db(&cli.global).await?;
            let rows = db
                .audit_log(user.as_deref(), limit.clamp(1, 1_000_000))
                .await
                .map_err(|e| Fail::runtime(e.to_string()))?;
            if json {
                for r in rows {
                    let line =
                        serde_json::to_string(&r).map_err(|e| Fail::runtime(e.to_string()))?;
                    println!("{line}");
                }
            } else {
                println!(
                    "{:<25} {:<13} {:<16} {:<16} {:<30} ENDED",
                    "AT", "KIND", "USER", "FROM", "CONTAINER"
                );
                for r in rows {
                    println!(
                        "{:<25} {:<13} {:<16} {:<16} {:<30} {}",
                        r.at,
                        r.kind,
                        r.username,
                        r.ip.unwrap_or_default(),
                        r.container.unwrap_or_default(),
                        r.ended_at.unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
    }
}

async fn open_db(global: &cli::Global) -> Result<Db, Fail> {
    let url = global.database_url().map_err(Fail::config)?;
    Db::connect(&url).await.map_err(|e| match e {
        labtail_server::db::DbError::BadUrl { .. } => Fail::config(e.to_string()),
        other => Fail::runtime(other.to_string()),
    })
}

fn read_password_stdin() -> Result<String, Fail> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .map_err(|e| Fail::runtime(format!("cannot read the password from stdin: {e}")))?;
    let pw = s.lines().next().unwrap_or("").to_owned();
    if pw.is_empty() {
        return Err(Fail::config("the password on stdin is empty"));
    }
    Ok(pw)
}

async fn user(cmd: UserCommand, global: &cli::Global) -> Result<(), Fail> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            validate_username(&name).map_err(Fail::config)?;
            let role: Role = role.parse().map_err(Fail::config)?;
            let (password, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (auth::random_password(), true)
            };
            let db = open_db(global).await?;
            let hash = auth::hash_password(password.clone())
                .await
                .map_err(|e| Fail::runtime(e.to_string()))?;
            db.create_user(&name, role, &hash)
                .await
                .map_err(|e| match e {
                    labtail_server::db::DbError::UserExists(_) => Fail::config(e.to_string()),
                    other => Fail::runtime(other.to_string()),
                })?;
            if generated {
                println!("added {name} ({}) with password: {password}", role.as_str());
            } else {
                println!("added {name} ({})", role.as_str());
            }
            Ok(())
        }
        UserCommand::List => {
            let db = open_db(global).await?;
            let users = db
                .list_users()
                .await
                .map_err(|e| Fail::runtime(e.to_string()))?;
            println!("{:<24} {:<11} CREATED", "USER", "ROLE");
            for u in users {
                println!(
                    "{:<24} {:<11} {}",
                    u.username,
                    u.role.as_str(),
                    u.created_at
                );
            }
            Ok(())
        }
        UserCommand::Remove {
            name,
            purge_history,
        } => {
            let db = open_db(global).await?;
            db.remove_user(&name).await.map_err(|e| match e {
                labtail_server::db::DbError::NoSuchUser(_) => Fail::config(e.to_string()),
                other => Fail::runtime(other.to_string()),
            })?;
            println!("removed {name}; their live sockets end within seconds");
            if purge_history {
                let store = labtail_server::history::store_of(&db);
                let n = store
                    .purge_owner(&name)
                    .await
                    .map_err(|e| Fail::runtime(e.to_string()))?;
                println!("deleted the history of {n} of {name}'s containers");
            }
            Ok(())
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (auth::random_password(), true)
            };
            let db = open_db(global).await?;
            let hash = auth::hash_password(password.clone())
                .await
                .map_err(|e| Fail::runtime(e.to_string()))?;
            db.set_password(&name, &hash).await.map_err(|e| match e {
                labtail_server::db::DbError::NoSuchUser(_) => Fail::config(e.to_string()),
                other => Fail::runtime(other.to_string()),
            })?;
            if generated {
                println!("new password for {name}: {password}");
            } else {
                println!("password changed for {name}; their sessions are ended");
            }
            Ok(())
        }
        UserCommand::Revoke { name } => {
            let db = open_db(global).await?;
            db.revoke_sessions(&name).await.map_err(|e| match e {
                labtail_server::db::DbError::NoSuchUser(_) => Fail::config(e.to_string()),
                other => Fail::runtime(other.to_string()),
            })?;
            println!("ended every session of {name}; their live sockets end within seconds");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
