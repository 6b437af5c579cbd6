//! Attention's store against real SQLite and Postgres, migrated as the
//! server does.

#[path = "../../labtail-history/tests/common/mod.rs"]
mod common;

use labtail_attention::entry::{Evidence, Raise, Reached, Severity, Signal, Subject};
use labtail_attention::labs::{CheckpointDef, LabDef};
use labtail_attention::{EntryState, Store};

const S: i64 = 1_000_000_000;
const T: i64 = 1_800_000_000 * S;

fn subject(owner: &str) -> Subject {
    Subject {
        container_id: format!("{owner}-id"),
        container_name: format!("{owner}-box"),
        owner: owner.into(),
        course: Some("NET101".into()),
        lab: Some("py".into()),
    }
}

fn evidence(text: &str) -> Evidence {
    Evidence {
        cursor: "c1".into(),
        ts: "t".into(),
        stream: "stderr".into(),
        text: text.into(),
    }
}

fn raise(owner: &str, signal: Signal, severity: Severity, at: i64) -> Raise {
    Raise {
        subject: subject(owner),
        signal,
        rule: String::new(),
        severity,
        title: "t".into(),
        at,
        count: 1,
        evidence: vec![evidence("boom")],
    }
}

async fn round_trip(store: Store) {
    let r = raise("ann", Signal::Crashed, Severity::Error, T);
    let (id, new) = store.raise(&r, "ann:crashed:").await.unwrap();
    assert!(new);
    let (again, new) = store
        .raise(
            &raise("ann", Signal::Crashed, Severity::Error, T + S),
            "ann:crashed:",
        )
        .await
        .unwrap();
    assert_eq!((again, new), (id, false));
    let e = store.entry(id).await.unwrap().unwrap().entry;
    assert_eq!((e.count, e.state), (2, EntryState::Open));
    assert!(e.last_at > e.first_at);
    // Acknowledged: still counts on; dismissed: the next one is new.
    store
        .set_state(id, EntryState::Acknowledged, "tess")
        .await
        .unwrap();
    let (same, _) = store.raise(&r, "ann:crashed:").await.unwrap();
    assert_eq!(same, id);
    store
        .set_state(id, EntryState::Dismissed, "tess")
        .await
        .unwrap();
    let (fresh, new) = store.raise(&r, "ann:crashed:").await.unwrap();
    assert!(new && fresh != id);
    // Most urgent first: errors before infos, open before acknowledged.
    let (info, _) = store
        .raise(
            &raise("bob", Signal::Silent, Severity::Info, T + 5 * S),
            "bob:silent:",
        )
        .await
        .unwrap();
    let (warn, _) = store
        .raise(
            &raise("cyd", Signal::ErrorBurst, Severity::Warning, T + 4 * S),
            "cyd:burst:",
        )
        .await
        .unwrap();
    let list: Vec<i64> = store
        .entries(T - S, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.entry.id)
        .collect();
    assert_eq!(
        list,
        vec![fresh, warn, info],
        "dismissed ones are not listed"
    );
    assert!(store.entries(T + 100 * S, 100).await.unwrap().is_empty());
    // Hands and answers.
    let hand = store
        .hand(&subject("ann"), "help with line 3", T, &[evidence("x")])
        .await
        .unwrap();
    assert!(store.answer(hand, "on my way", "tess").await.unwrap());
    let h = store.entry(hand).await.unwrap().unwrap().entry;
    assert_eq!(
        (h.signal, h.message.as_deref(), h.answer.as_deref()),
        (Signal::Hand, Some("help with line 3"), Some("on my way"))
    );
    assert!(!store.answer(fresh, "not a hand", "tess").await.unwrap());
    // Checkpoints: the first time only.
    let reached = Reached {
        subject: subject("ann"),
        lab: "py".into(),
        checkpoint: "tests passed".into(),
        at: T,
        evidence: evidence("ok 3 tests"),
    };
    assert!(store.reach(&reached).await.unwrap());
    assert!(
        !store
            .reach(&Reached {
                at: T + S,
                ..reached.clone()
            })
            .await
            .unwrap()
    );
    assert!(
        store
            .has_reached("ann-id", "py", "tests passed")
            .await
            .unwrap()
    );
    let lab = LabDef {
        name: "py".into(),
        rules: vec![],
        checkpoints: vec![
            CheckpointDef {
                name: "tests passed".into(),
                pattern: "ok".into(),
            },
            CheckpointDef {
                name: "deployed".into(),
                pattern: "up".into(),
            },
        ],
    };
    let book = store
        .gradebook(&lab, &["ann".into(), "bob".into()])
        .await
        .unwrap();
    assert_eq!(book.len(), 4);
    assert!(
        book[0].reached_at.is_some()
            && book[1].reached_at.is_none()
            && book[2].reached_at.is_none()
    );
    let reached = store
        .reached(&["ann-id".into(), "bob-id".into()])
        .await
        .unwrap();
    let list = labtail_attention::store::checklist(&lab, &reached, "ann-id");
    assert_eq!(list.iter().filter(|c| c.reached_at.is_some()).count(), 1);
    // Labs defined in the web app.
    let v0 = store.labs_version().await.unwrap();
    store.put_lab(&lab, "tess").await.unwrap();
    assert_eq!(store.labs().await.unwrap(), vec![lab.clone()]);
    assert_ne!(store.labs_version().await.unwrap(), v0);
}

#[tokio::test]
async fn sqlite() {
    let db = common::sqlite().await;
    round_trip(Store::new(db.store.pool().clone())).await;
}

#[tokio::test]
async fn postgres() {
    let db = common::postgres().await;
    round_trip(Store::new(db.store.pool().clone())).await;
}
