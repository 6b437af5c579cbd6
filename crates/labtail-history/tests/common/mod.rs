//! Databases for the tests: a real SQLite file and a real Postgres (the
//! test Postgres `scripts/prereqs.sh` starts; its URL comes in
//! `LABTAIL_TEST_POSTGRES_URL`), each migrated like the server does.

#![allow(dead_code)]

use labtail_history::{Pool, Store};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;

/// A fresh database; dropped with the guard.
pub struct TestDb {
    pub store: Store,
    pub kind: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Best effort, on a thread of its own: the test's runtime may be
            // shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let opts = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .unwrap();
    sqlx::migrate!("../../migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    TestDb {
        store: Store::new(Pool::Sqlite(pool)),
        kind: "sqlite",
        _dir: Some(dir),
        pg: None,
    }
}

pub async fn postgres() -> TestDb {
    let admin = std::env::var("LABTAIL_TEST_POSTGRES_URL").expect(
        "LABTAIL_TEST_POSTGRES_URL is not set: run scripts/test, or point it at a Postgres \
         superuser URL such as postgres://labtail@127.0.0.1:55432/postgres",
    );
    let name = format!(
        "labtail_hist_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("the test Postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let base = admin.rsplit_once('/').unwrap().0.to_owned();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    sqlx::migrate!("../../migrations/postgres")
        .run(&pool)
        .await
        .unwrap();
    TestDb {
        store: Store::new(Pool::Postgres(pool)),
        kind: "postgres",
        _dir: None,
        pg: Some((admin, name)),
    }
}

/// Both databases, for a test that must hold on each.
pub async fn both() -> Vec<TestDb> {
    vec![sqlite().await, postgres().await]
}
