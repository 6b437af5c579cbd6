//! The database against real SQLite and Postgres (the test Postgres that
//! scripts/prereqs.sh starts).

use super::*;

#[test]
fn usernames() {
    for ok in ["alice", "a", "bob.smith", "s-01", "0x"] {
        assert!(validate_username(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "Alice",
        "-x",
        ".x",
        "a b",
        "a/b",
        "a=b",
        &"a".repeat(65),
        "é",
    ] {
        assert!(validate_username(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn users_round_trip_in_sqlite() {
    let dir = std::env::temp_dir().join(format!("labtail-db-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/t.db", dir.display());
    let db = Db::connect(&url).await.unwrap();
    assert!(!db.is_shared());
    assert_eq!(db.live_sessions(&["x".into()]).await.unwrap(), None);
    round_trip(&db).await;
    courses(&db).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh database on the test Postgres (scripts/prereqs.sh starts one
/// and exports its URL); dropped by the returned guard's `drop_db`.
pub(crate) async fn fresh_postgres() -> (String, impl AsyncFnOnce()) {
    let admin = std::env::var("LABTAIL_TEST_POSTGRES_URL").expect(
        "LABTAIL_TEST_POSTGRES_URL is not set: run scripts/test, or point it at a Postgres \
         superuser URL such as postgres://labtail@127.0.0.1:55432/postgres",
    );
    let name = format!(
        "labtail_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let pool = PgPool::connect(&admin)
        .await
        .expect("connect to the test Postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0.to_owned();
    let url = format!("{base}/{name}");
    let drop_db = async move || {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
        pool.close().await;
    };
    (url, drop_db)
}

#[tokio::test]
async fn users_round_trip_in_postgres() {
    let (url, drop_db) = fresh_postgres().await;
    let db = Db::connect(&url).await.unwrap();
    assert!(db.is_shared());
    round_trip(&db).await;
    courses(&db).await;
    // A second node migrating the same database finds it up to date.
    let again = Db::connect(&url).await.unwrap();
    assert_eq!(
        again.list_users().await.unwrap().len(),
        db.list_users().await.unwrap().len()
    );
    // Sessions: only those in the store are live.
    let store = crate::sessions::Store::open(&db).await.unwrap();
    let live = db.live_sessions(&["nope".into()]).await.unwrap().unwrap();
    assert!(live.is_empty());
    drop(store);
    if let Pool::Postgres(p) = db.pool() {
        p.close().await;
    }
    if let Pool::Postgres(p) = again.pool() {
        p.close().await;
    }
    drop_db().await;
}

#[tokio::test]
async fn bad_postgres_url_is_a_clear_error_without_the_password() {
    let err = Db::connect("postgres://u:secret@127.0.0.1:1/db")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DbError::BadUrl { .. }), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
    assert!(msg.contains("u:***@127.0.0.1:1/db"), "{msg}");
}

async fn round_trip(db: &Db) {
    let u = db.create_user("amy", Role::Student, "h1").await.unwrap();
    // A read after a write sees it, coalesced or not.
    assert_eq!(
        db.user_by_id(u.id).await.unwrap().unwrap().auth_hash(),
        "h1#0"
    );
    db.set_password("amy", "h1b").await.unwrap();
    assert_eq!(
        db.user_by_id(u.id).await.unwrap().unwrap().auth_hash(),
        "h1b#0"
    );
    // Concurrent reads of one user all get it.
    let reads = futures_util::future::join_all((0..50).map(|_| db.user_by_id(u.id))).await;
    assert!(
        reads
            .iter()
            .all(|r| r.as_ref().unwrap().as_ref().unwrap().id == u.id)
    );
    // Many audit writes at once (one writer, batched transactions): each
    // gets its own id, every row is there, every end is recorded.
    let writes = (0..300).map(|i| {
        let c = format!("c{i}");
        async move {
            db.audit("watch", "amy", None, Some(&c), None)
                .await
                .unwrap()
        }
    });
    let ids = futures_util::future::join_all(writes).await;
    let unique: std::collections::HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 300);
    futures_util::future::join_all(ids.iter().map(|&id| db.audit_end(id))).await;
    let log = db.audit_log(Some("amy"), 1000).await.unwrap();
    assert_eq!(log.len(), 300);
    assert!(log.iter().all(|r| r.ended_at.is_some()));
    db.set_password("amy", "h1").await.unwrap();
    assert!(matches!(
        db.create_user("amy", Role::Student, "h").await,
        Err(DbError::UserExists(_))
    ));
    assert_eq!(db.user_by_id(u.id).await.unwrap().unwrap().username, "amy");
    db.set_password("amy", "h2").await.unwrap();
    assert_eq!(db.auth_hashes(&[u.id, 999]).await.unwrap()[&u.id], "h2#0");
    db.revoke_sessions("amy").await.unwrap();
    assert_eq!(db.auth_hashes(&[u.id]).await.unwrap()[&u.id], "h2#1");
    let id = db
        .audit("watch", "amy", Some("127.0.0.1"), Some("c1"), None)
        .await
        .unwrap();
    db.audit_end(id).await.unwrap();
    let log = db.audit_log(Some("amy"), 10).await.unwrap();
    assert_eq!(log[0].id, id);
    assert!(log[0].ended_at.is_some());
    db.remove_user("amy").await.unwrap();
    assert!(db.user_by_name("amy").await.unwrap().is_none());
    assert!(matches!(
        db.remove_user("amy").await,
        Err(DbError::NoSuchUser(_))
    ));
    let ts = &log[0].at;
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
}

/// Courses, rosters and identities: what decides whom an instructor sees.
async fn courses(db: &Db) {
    let e = |u: &str, r: Role| Enrolment {
        username: u.into(),
        role: r,
    };
    // No course at all: instructors see every lab container.
    assert_eq!(db.teaching("tess").await.unwrap(), None);
    db.create_user("tess", Role::Instructor, "h").await.unwrap();
    db.add_course("NET101").await.unwrap();
    assert!(matches!(
        db.add_course("NET101").await,
        Err(DbError::CourseExists(_))
    ));
    // A roster with a new user applies whole, or (unknown course) not at all.
    let rows = [e("tess", Role::Instructor), e("sam", Role::Student)];
    let new = [("sam".to_owned(), Role::Student, "hs".to_owned())];
    assert!(matches!(
        db.enrol("NOPE", &rows, &new, Source::Cli).await,
        Err(DbError::NoSuchCourse(_))
    ));
    assert!(db.user_by_name("sam").await.unwrap().is_none());
    // A failure half-way (a user made twice) leaves nothing behind either.
    let twice = [
        ("sam".to_owned(), Role::Student, "hs".to_owned()),
        ("sam".to_owned(), Role::Student, "hs".to_owned()),
    ];
    assert!(
        db.enrol("NET101", &rows, &twice, Source::Cli)
            .await
            .is_err()
    );
    assert!(db.user_by_name("sam").await.unwrap().is_none());
    assert!(db.courses_of("tess").await.unwrap().is_empty());
    db.enrol("NET101", &rows, &new, Source::Cli).await.unwrap();
    let t = db.teaching("tess").await.unwrap().unwrap();
    assert_eq!(t.len(), 1);
    assert!(t["NET101"].contains("sam"));
    // Someone teaching nothing, once courses exist, sees nobody.
    db.create_user("ivy", Role::Instructor, "h").await.unwrap();
    assert!(db.teaching("ivy").await.unwrap().unwrap().is_empty());
    let list = db.list_courses().await.unwrap();
    assert_eq!(list[0].instructors, vec!["tess".to_owned()]);
    assert_eq!(list[0].students, vec!["sam".to_owned()]);
    assert!(db.drop_enrolment("NET101", "sam").await.unwrap());
    assert!(!db.drop_enrolment("NET101", "sam").await.unwrap());
    assert!(db.teaching("tess").await.unwrap().unwrap()["NET101"].is_empty());
    // A provider's identity: made at the first sign-in, its enrolments
    // replaced at each, a new role ends the old sessions.
    let courses = [
        ("NET101".to_owned(), Role::Student),
        ("SEC201".to_owned(), Role::Student),
    ];
    let u = db
        .sync_identity(
            "https://idp",
            "sub-1",
            "olga",
            Role::Student,
            &courses,
            "hx",
        )
        .await
        .unwrap();
    assert_eq!(
        db.user_by_identity("https://idp", "sub-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert_eq!(db.courses_of("olga").await.unwrap().len(), 2);
    let again = db
        .sync_identity(
            "https://idp",
            "sub-1",
            "olga",
            Role::Instructor,
            &courses[..1],
            "",
        )
        .await
        .unwrap();
    assert_eq!(again.id, u.id);
    assert_eq!(again.role, Role::Instructor);
    assert_ne!(
        again.auth_hash(),
        u.auth_hash(),
        "a new role ends old sessions"
    );
    assert_eq!(db.courses_of("olga").await.unwrap().len(), 1);
    let same = db
        .sync_identity(
            "https://idp",
            "sub-1",
            "olga",
            Role::Instructor,
            &courses[..1],
            "",
        )
        .await
        .unwrap();
    assert_eq!(same.auth_hash(), again.auth_hash());
    // Another subject cannot take a name that is in use.
    assert!(matches!(
        db.sync_identity("https://idp", "sub-2", "olga", Role::Student, &[], "hy")
            .await,
        Err(DbError::UserExists(_))
    ));
    // Removing a user takes them out of their courses.
    db.remove_user("olga").await.unwrap();
    assert!(db.courses_of("olga").await.unwrap().is_empty());
}
