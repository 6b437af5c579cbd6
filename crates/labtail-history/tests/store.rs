//! History's storage, reads, search, retention and export against real
//! SQLite and a real Postgres: every test runs on both.

mod common;

use labtail_history::chunk;
use labtail_history::export::write_bundle;
use labtail_history::retention::prune_once;
use labtail_history::search::{Query, search};
use labtail_history::store::{ChunkWrite, EventRow, Lease, NewContainer, Write};
use labtail_history::{Anchor, HistoryConfig, Reader, Store, StoreError, Visible};
use labtail_logs::{Cursor, Line, Stream};

const T: i64 = 1_700_000_000_000_000_000;

fn line(n: i64, text: &str) -> Line {
    // Two lines per microsecond, the second on stderr with the same stamp.
    let stream = if n % 2 == 0 {
        Stream::Stdout
    } else {
        Stream::Stderr
    };
    Line {
        cursor: Cursor::new(T + (n / 2) * 1_000, stream, 0),
        stream,
        text: text.into(),
        truncated: 0,
    }
}

fn container(owner: &str, name: &str, id_digit: char) -> NewContainer {
    NewContainer {
        host: "local".into(),
        docker_id: id_digit.to_string().repeat(64),
        name: name.into(),
        owner: owner.into(),
        course: None,
        lab: None,
        image: "busybox".into(),
        tty: false,
        created_at: T - 1_000_000_000,
    }
}

async fn lease(store: &Store) -> Lease {
    store
        .take_lease("engine-1", "node-a", 0, i64::MAX)
        .await
        .unwrap()
        .expect("a free lease")
}

/// Stores `lines` for a container as sealed chunks of `per` lines.
async fn store_lines(store: &Store, lease: &Lease, id: i64, lines: &[Line], per: usize) {
    let mut writes = Vec::new();
    for (seq, part) in lines.chunks(per).enumerate() {
        let raw = chunk::encode(part);
        writes.push(Write::Chunk(ChunkWrite {
            container: id,
            seq: seq as i64,
            first_line: (seq * per) as i64,
            lines: part.len() as i64,
            min_ts: part.iter().map(|l| l.cursor.ts_nanos).min().unwrap(),
            max_ts: part.iter().map(|l| l.cursor.ts_nanos).max().unwrap(),
            first_cursor: part[0].cursor.to_string(),
            last_cursor: part.last().unwrap().cursor.to_string(),
            raw_bytes: raw.len() as i64,
            sealed: true,
            data: chunk::compress(&raw, 3),
        }));
    }
    store.write(lease, &writes).await.unwrap();
}

#[tokio::test]
async fn pages_by_cursor_in_both_directions_and_from_a_time() {
    for db in common::both().await {
        let store = &db.store;
        let lease = lease(store).await;
        let row = store
            .ensure_container(&container("ann", "web", 'a'))
            .await
            .unwrap();
        let lines: Vec<Line> = (0..1000).map(|n| line(n, &format!("line {n}"))).collect();
        store_lines(store, &lease, row.id, &lines, 64).await;
        let row = store.container(row.id).await.unwrap().unwrap();
        assert_eq!(row.lines, 1000, "{}", db.kind);
        assert_eq!(row.last_cursor, Some(lines[999].cursor.to_string()));
        let reader = Reader::new(store.clone(), &HistoryConfig::default());
        let texts = |p: &labtail_history::Page| {
            p.lines
                .iter()
                .map(|l| l.line.text.clone())
                .collect::<Vec<_>>()
        };
        let tail = reader.page(&row, Anchor::Tail, 10).await.unwrap();
        assert_eq!(
            texts(&tail),
            (990..1000).map(|n| format!("line {n}")).collect::<Vec<_>>()
        );
        assert!(tail.more_before && !tail.more_after);
        // Older pages by the first cursor of the newer one, across chunks
        // and across lines that share a stamp.
        let before = reader
            .page(&row, Anchor::Before(tail.lines[0].line.cursor), 100)
            .await
            .unwrap();
        assert_eq!(
            texts(&before),
            (890..990).map(|n| format!("line {n}")).collect::<Vec<_>>()
        );
        let after = reader
            .page(&row, Anchor::After(lines[63].cursor), 2)
            .await
            .unwrap();
        assert_eq!(texts(&after), ["line 64", "line 65"]);
        let around = reader
            .page(&row, Anchor::Around(lines[500].cursor), 5)
            .await
            .unwrap();
        assert_eq!(
            texts(&around),
            ["line 498", "line 499", "line 500", "line 501", "line 502"]
        );
        // Near either end the page is whole, not cut short.
        let near_start = reader
            .page(&row, Anchor::Around(lines[1].cursor), 5)
            .await
            .unwrap();
        assert_eq!(texts(&near_start).len(), 5);
        assert_eq!(texts(&near_start)[0], "line 0");
        let near_end = reader
            .page(&row, Anchor::Around(lines[lines.len() - 1].cursor), 5)
            .await
            .unwrap();
        assert_eq!(texts(&near_end).len(), 5);
        assert!(!near_end.more_after);
        let from = reader
            .page(&row, Anchor::From(T + 100 * 1_000), 3)
            .await
            .unwrap();
        assert_eq!(texts(&from), ["line 200", "line 201", "line 202"]);
        let head = reader.page(&row, Anchor::Head, 2).await.unwrap();
        assert!(!head.more_before);
        // A cursor history never held is a clear error.
        let unknown = Cursor::new(T + 7, Stream::Stdout, 0);
        assert!(reader.page(&row, Anchor::Before(unknown), 5).await.is_err());
    }
}

#[tokio::test]
async fn search_finds_every_hit_in_order_across_a_class_and_pages_on() {
    for db in common::both().await {
        let store = &db.store;
        let lease = lease(store).await;
        let mut ids = Vec::new();
        for (i, owner) in ["ann", "bob", "cyd"].iter().enumerate() {
            let row = store
                .ensure_container(&container(
                    owner,
                    &format!("{owner}-lab"),
                    (b'a' + i as u8) as char,
                ))
                .await
                .unwrap();
            let lines: Vec<Line> = (0..3000)
                .map(|n| {
                    let t = if n % 997 == 5 {
                        format!("listen tcp :8080: bind: address already in use ({owner} {n})")
                    } else {
                        format!("GET /item/{n} 200")
                    };
                    line(n, &t)
                })
                .collect();
            store_lines(store, &lease, row.id, &lines, 500).await;
            ids.push(row.id);
        }
        let cfg = HistoryConfig::default();
        let mut q = Query {
            pattern: "address already in use".into(),
            regex: false,
            ignore_case: false,
            containers: ids.clone(),
            from_ts: i64::MIN,
            to_ts: i64::MAX,
            limit: 5,
            after: None,
        };
        let mut all = Vec::new();
        loop {
            let found = search(store, &cfg, &q).await.unwrap();
            all.extend(found.hits.iter().map(|h| (h.container, h.n)));
            match found.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        let want: Vec<(i64, i64)> = ids
            .iter()
            .flat_map(|id| [5, 1002, 1999, 2996].map(|n| (*id, n)))
            .collect();
        assert_eq!(all, want, "{}", db.kind);
        // A regex, case-insensitive, within a time range.
        let found = search(
            store,
            &cfg,
            &Query {
                pattern: r"BIND: .* \((bob|cyd) \d+\)".into(),
                regex: true,
                ignore_case: true,
                containers: ids.clone(),
                from_ts: T + 600 * 1_000,
                to_ts: T + 1100 * 1_000,
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap();
        let hits: Vec<(i64, i64)> = found.hits.iter().map(|h| (h.container, h.n)).collect();
        assert_eq!(hits, [(ids[1], 1999), (ids[2], 1999)], "{}", db.kind);
        assert!(found.next.is_none());
    }
}

#[tokio::test]
async fn a_search_out_of_time_says_where_to_go_on() {
    let db = common::sqlite().await;
    let store = &db.store;
    let lease = lease(store).await;
    let row = store
        .ensure_container(&container("ann", "big", 'a'))
        .await
        .unwrap();
    let lines: Vec<Line> = (0..20_000).map(|n| line(n, &format!("x{n}"))).collect();
    store_lines(store, &lease, row.id, &lines, 1000).await;
    let cfg = HistoryConfig {
        search_budget: std::time::Duration::ZERO,
        ..HistoryConfig::default()
    };
    let q = Query {
        pattern: "nothing matches this".into(),
        regex: true,
        ignore_case: false,
        containers: vec![row.id],
        from_ts: i64::MIN,
        to_ts: i64::MAX,
        limit: 10,
        after: None,
    };
    let found = search(store, &cfg, &q).await.unwrap();
    assert!(found.timed_out);
    assert!(found.next.is_some(), "{found:?}");
}

#[tokio::test]
async fn a_lost_lease_writes_nothing_and_the_next_holder_goes_on() {
    for db in common::both().await {
        let store = &db.store;
        let a = store
            .take_lease("e", "node-a", 1_000, 2_000)
            .await
            .unwrap()
            .unwrap();
        // Not expired: node-b cannot take it.
        assert!(
            store
                .take_lease("e", "node-b", 1_500, 2_500)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.renew_lease(&a, 3_000).await.unwrap());
        // Expired: node-b takes it, with a new epoch.
        let b = store
            .take_lease("e", "node-b", 3_001, 4_000)
            .await
            .unwrap()
            .unwrap();
        assert!(b.epoch > a.epoch);
        assert!(!store.renew_lease(&a, 5_000).await.unwrap());
        let row = store
            .ensure_container(&container("ann", "c", 'c'))
            .await
            .unwrap();
        let w = [Write::Event(EventRow {
            container: row.id,
            at: 1,
            kind: "started".into(),
            line: 0,
            exit_code: None,
            count: None,
            detail: None,
        })];
        assert!(matches!(
            store.write(&a, &w).await,
            Err(StoreError::LeaseLost)
        ));
        store.write(&b, &w).await.unwrap();
        assert_eq!(store.events(row.id).await.unwrap().len(), 1, "{}", db.kind);
    }
}

#[tokio::test]
async fn retention_prunes_ended_containers_and_the_oldest_chunks_over_the_caps() {
    for db in common::both().await {
        let store = &db.store;
        let lease = lease(store).await;
        let old = store
            .ensure_container(&container("ann", "old", 'a'))
            .await
            .unwrap();
        let kept = store
            .ensure_container(&container("ann", "kept", 'b'))
            .await
            .unwrap();
        let lines: Vec<Line> = (0..4000)
            .map(|n| line(n, &format!("{n} {}", "z".repeat(n as usize % 50))))
            .collect();
        store_lines(store, &lease, old.id, &lines, 500).await;
        store_lines(store, &lease, kept.id, &lines, 500).await;
        // `old` ended long ago; `kept` was removed a moment ago.
        store
            .write(
                &lease,
                &[
                    Write::Exited {
                        container: old.id,
                        at: 1,
                        exit_code: Some(0),
                    },
                    Write::Removed {
                        container: kept.id,
                        at: i64::MAX / 2,
                    },
                ],
            )
            .await
            .unwrap();
        let kept_row = store.container(kept.id).await.unwrap().unwrap();
        let cfg = HistoryConfig {
            max_container_bytes: (kept_row.stored_bytes / 2) as u64,
            ..HistoryConfig::default()
        };
        let p = prune_once(store, &cfg).await.unwrap();
        assert_eq!(p.containers, 1, "{}", db.kind);
        assert!(store.container(old.id).await.unwrap().is_none());
        let kept_row = store.container(kept.id).await.unwrap().unwrap();
        assert!(kept_row.stored_bytes <= cfg.max_container_bytes as i64);
        assert!(kept_row.first_line > 0 && kept_row.first_line % 500 == 0);
        let events = store.events(kept.id).await.unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.kind == "pruned" && e.line == kept_row.first_line)
        );
        // What is left reads from its first kept line.
        let reader = Reader::new(store.clone(), &cfg);
        let head = reader.page(&kept_row, Anchor::Head, 1).await.unwrap();
        assert_eq!(head.lines[0].n, kept_row.first_line);
        assert_eq!(head.pruned, kept_row.first_line);
        // The total cap.
        let total = store.total_stored().await.unwrap();
        let cfg = HistoryConfig {
            max_bytes: (total / 2) as u64,
            max_container_bytes: 0,
            ..HistoryConfig::default()
        };
        prune_once(store, &cfg).await.unwrap();
        assert!(store.total_stored().await.unwrap() <= total / 2);
        // Purging a user's history.
        assert_eq!(store.purge_owner("ann").await.unwrap(), 1);
        assert!(
            store
                .containers(&Visible::Owner("ann".into()), None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_bundle_holds_every_line_and_its_manifest_checks_out() {
    use sha2::Digest;
    use std::io::Read;
    let db = common::sqlite().await;
    let store = &db.store;
    let lease = lease(store).await;
    let mut rows = Vec::new();
    for (i, name) in ["alpha", "beta"].iter().enumerate() {
        let row = store
            .ensure_container(&container("ann", name, (b'a' + i as u8) as char))
            .await
            .unwrap();
        let lines: Vec<Line> = (0..2500).map(|n| line(n, &format!("{name} {n}"))).collect();
        store_lines(store, &lease, row.id, &lines, 700).await;
        store
            .write(
                &lease,
                &[Write::Exited {
                    container: row.id,
                    at: T + 5,
                    exit_code: Some(3),
                }],
            )
            .await
            .unwrap();
        rows.push(store.container(row.id).await.unwrap().unwrap());
    }
    let reader = Reader::new(store.clone(), &HistoryConfig::default());
    let file = tempfile::tempfile().unwrap();
    let rt = tokio::runtime::Handle::current();
    let (manifest, mut file) = tokio::task::spawn_blocking(move || {
        let m = write_bundle(&reader, &rows, &file, &rt).unwrap();
        (m, file)
    })
    .await
    .unwrap();
    use std::io::Seek;
    file.rewind().unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    assert_eq!(manifest.containers.len(), 2);
    for entry in &manifest.containers {
        let mut text = String::new();
        zip.by_name(&entry.file)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.lines().count(), 2500);
        assert!(
            text.lines()
                .next()
                .unwrap()
                .ends_with(&format!("stdout {} 0", entry.name))
        );
        let sum: String = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sum, entry.sha256);
        assert_eq!(entry.exit_code, Some(3));
    }
    let mut m = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut m)
        .unwrap();
    assert!(m.contains("\"sha256\""));
}
