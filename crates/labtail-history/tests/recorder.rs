//! The recorder against a scripted Docker engine and real databases.
//!
//! A scripted engine (a fake) because these edges need a Docker engine that
//! a test drives line by line and can share between two "nodes"; the same
//! behaviours against the real engine, through the real binary, are in
//! `tests/e2e/socket/history.test.mjs`.

mod common;

use std::time::Duration;

use labtail_history::recorder::{EngineToRecord, Recorder};
use labtail_history::{Anchor, HistoryConfig, Reader, Store, Visible};
use labtail_logs::{EngineConfig, LogEngine, ScriptedDocker, Stream};

const T: i64 = 1_700_000_000_000_000_000;

fn cfg() -> HistoryConfig {
    HistoryConfig {
        flush_interval: Duration::from_millis(50),
        lease: Duration::from_millis(900),
        chunk_bytes: 16 * 1024,
        ..HistoryConfig::default()
    }
}

fn recorder(docker: &ScriptedDocker, store: &Store, node: &str) -> Recorder {
    let engine = LogEngine::new(docker.handle(), EngineConfig::default());
    Recorder::spawn(
        EngineToRecord {
            engine,
            observer: None,
            name: "local".into(),
            prefix_names: false,
        },
        store.clone(),
        cfg(),
        node.into(),
    )
}

/// Waits (polling the database, 30 s at most) until `check` holds.
async fn until(
    store: &Store,
    what: &str,
    check: impl Fn(&[labtail_history::ContainerRow]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = store.containers(&Visible::All, None, 100).await.unwrap();
        if check(&rows) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn all_texts(store: &Store, name: &str) -> Vec<String> {
    let row = store
        .containers(&Visible::All, Some(name), 1)
        .await
        .unwrap()
        .pop()
        .expect("recorded");
    let reader = Reader::new(store.clone(), &cfg());
    let mut out = Vec::new();
    let mut from = row.first_line;
    while from < row.lines {
        let lines = reader.lines(&row, from, from + 1000).await.unwrap();
        from += 1000;
        out.extend(lines.into_iter().map(|l| l.line.text));
    }
    out
}

fn numbers(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn nobody_watching_every_line_is_kept_after_removal() {
    let db = common::sqlite().await;
    let docker = ScriptedDocker::new("owner");
    let id = docker.run("box", Some("ann"));
    let _rec = recorder(&docker, &db.store, "node-a");
    for i in 0..5000 {
        docker.line(&id, Stream::Stdout, T + i * 1000, &i.to_string());
    }
    docker.stop(&id, 3);
    // A scripted engine forgets a removed container's log at once; Docker
    // too deletes the file (labtail keeps reading it when it reads log
    // files itself: the real-engine test covers a removal that races).
    until(&db.store, "every line", |r| {
        r.first().is_some_and(|c| c.lines == 5000)
    })
    .await;
    docker.remove(&id);
    until(&db.store, "the removal", |r| {
        r.first().is_some_and(|c| c.removed_at.is_some())
    })
    .await;
    assert_eq!(all_texts(&db.store, "box").await, numbers(0..5000));
    let row = &db
        .store
        .containers(&Visible::Owner("ann".into()), None, 1)
        .await
        .unwrap()[0];
    let kinds: Vec<String> = db
        .store
        .events(row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("created"));
    assert_eq!(kinds.last().map(String::as_str), Some("removed"));
    assert!(kinds.iter().any(|k| k == "exited"), "{kinds:?}");
    assert!(
        db.store
            .containers(&Visible::Owner("bob".into()), None, 1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_recorder_stopped_mid_burst_is_resumed_by_the_next_with_no_gap_or_duplicate() {
    let db = common::sqlite().await;
    let docker = ScriptedDocker::new("owner");
    let id = docker.run("box", Some("ann"));
    let rec = recorder(&docker, &db.store, "node-a");
    for i in 0..3000 {
        docker.line(&id, Stream::Stdout, T + i * 1000, &i.to_string());
    }
    until(&db.store, "some lines", |r| {
        r.first().is_some_and(|c| c.lines > 0)
    })
    .await;
    // Gone as by `kill -9`: whatever it held in memory is lost with it.
    drop(rec);
    for i in 3000..6000 {
        docker.line(&id, Stream::Stdout, T + i * 1000, &i.to_string());
    }
    // The same node back (a labtail restart): its lease is its own.
    let _rec = recorder(&docker, &db.store, "node-a");
    until(&db.store, "every line", |r| {
        r.first().is_some_and(|c| c.lines == 6000)
    })
    .await;
    assert_eq!(all_texts(&db.store, "box").await, numbers(0..6000));
}

#[tokio::test]
async fn two_nodes_record_once_and_the_survivor_takes_over() {
    let db = common::postgres().await;
    let docker = ScriptedDocker::new("owner");
    let id = docker.run("box", Some("ann"));
    let a = recorder(&docker, &db.store, "node-a");
    // Node b starts later: node a holds the lease by then.
    until(&db.store, "node a recording", |r| !r.is_empty()).await;
    let b = recorder(&docker, &db.store, "node-b");
    for i in 0..2000 {
        docker.line(&id, Stream::Stdout, T + i * 1000, &i.to_string());
    }
    until(&db.store, "the first lines", |r| {
        r.first().is_some_and(|c| c.lines == 2000)
    })
    .await;
    // Node a dies; node b takes over once the lease runs out.
    drop(a);
    for i in 2000..4000 {
        docker.line(&id, Stream::Stdout, T + i * 1000, &i.to_string());
    }
    until(&db.store, "every line", |r| {
        r.first().is_some_and(|c| c.lines == 4000)
    })
    .await;
    assert_eq!(all_texts(&db.store, "box").await, numbers(0..4000));
    drop(b);
}

#[tokio::test]
async fn a_rename_keeps_the_history_under_the_new_name() {
    let db = common::sqlite().await;
    let docker = ScriptedDocker::new("owner");
    let id = docker.run("old-name", Some("ann"));
    let _rec = recorder(&docker, &db.store, "node-a");
    docker.line(&id, Stream::Stdout, T, "before");
    until(&db.store, "a line", |r| {
        r.first().is_some_and(|c| c.lines == 1)
    })
    .await;
    docker.rename(&id, "new-name");
    docker.line(&id, Stream::Stdout, T + 1, "after");
    until(&db.store, "the rename", |r| {
        r.first()
            .is_some_and(|c| c.name == "new-name" && c.lines == 2)
    })
    .await;
    assert_eq!(all_texts(&db.store, "new-name").await, ["before", "after"]);
    let row = &db
        .store
        .containers(&Visible::All, Some("new-name"), 1)
        .await
        .unwrap()[0];
    let page = Reader::new(db.store.clone(), &cfg())
        .page(row, Anchor::Tail, 10)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}
