//! Every HTTP endpoint's authorisation and errors, in process: the real
//! router (every layer, as `build` assembles it) driven with tower's
//! `oneshot`, over a real SQLite database in a temporary directory and a
//! scripted Docker engine (a fake, so these run anywhere and fast; the e2e
//! suite drives the same endpoints against the real binary and dockerd).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use labtail_logs::{Fleet, ScriptedDocker, Stream};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::hash_password;
use crate::config::ServerConfig;
use crate::db::Role;
use crate::state::AppState;

const T: i64 = 1_700_000_000_000_000_000;

struct Api {
    router: Router,
    state: AppState,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    fn cookie(&self) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|c| c.split(';').next().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Api {
    async fn new(cfg: impl FnOnce(&mut ServerConfig)) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig {
            database_url: format!("sqlite://{}/labtail.db", dir.path().display()),
            owner_label: "lab".into(),
            ..ServerConfig::default()
        };
        cfg(&mut config);
        let docker = ScriptedDocker::new("lab");
        let amy = docker.run("amy-lab", Some("amy"));
        docker.line(&amy, Stream::Stdout, T, "amy's first line");
        docker.line(&amy, Stream::Stderr, T + 1, "amy's second line");
        docker.run("bob-lab", Some("bob"));
        docker.run("not-a-lab", None);
        let fleet = Fleet::from_dockers(
            vec![("local".into(), docker.handle())],
            config.engine.clone(),
        )
        .expect("fleet");
        let (router, state) = crate::build_with(config, fleet).await.expect("build");
        for (name, role) in [
            ("amy", Role::Student),
            ("bob", Role::Student),
            ("tim", Role::Instructor),
        ] {
            let hash = hash_password(format!("pw-{name}")).await.expect("hash");
            state.db.create_user(name, role, &hash).await.expect("user");
        }
        Api {
            router,
            state,
            _dir: dir,
        }
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn post_json(&self, path: &str, body: Value, cookie: Option<&str>) -> Answer {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn login(&self, user: &str) -> String {
        let a = self
            .post_json(
                "/api/login",
                json!({"username": user, "password": format!("pw-{user}")}),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.cookie()
    }
}

#[tokio::test]
async fn login_answers_every_kind_of_bad_request_clearly() {
    let api = Api::new(|_| {}).await;
    let form = api
        .send(
            Request::post("/api/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("username=amy&password=pw-amy"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (form.status, form.code().as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_payload")
    );
    for (body, why) in [
        (Body::from("{not json"), "not JSON"),
        (Body::from(r#"{"username": "amy"}"#), "no password"),
        (
            Body::from(r#"{"username": 5, "password": "x"}"#),
            "not a string",
        ),
        (
            Body::from(json!({"username": "amy", "password": "x".repeat(2000)}).to_string()),
            "too long",
        ),
    ] {
        let a = api
            .send(
                Request::post("/api/login")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(a.code(), "invalid_payload", "{why}");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let api = Api::new(|_| {}).await;
    let wrong = api
        .post_json(
            "/api/login",
            json!({"username": "amy", "password": "nope"}),
            None,
        )
        .await;
    let unknown = api
        .post_json(
            "/api/login",
            json!({"username": "nobody", "password": "nope"}),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.status, unknown.status);
    // A failed login logs nobody in.
    let me = api.get("/api/me", Some(&wrong.cookie())).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_back_off_with_retry_after() {
    let api = Api::new(|c| {
        c.throttle.free_failures = 2;
        c.throttle.base = std::time::Duration::from_secs(30);
    })
    .await;
    for _ in 0..3 {
        let a = api
            .post_json(
                "/api/login",
                json!({"username": "amy", "password": "nope"}),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = api
        .post_json(
            "/api/login",
            json!({"username": "amy", "password": "pw-amy"}),
            None,
        )
        .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(blocked.code(), "rate_limited");
    let retry: u64 = blocked.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_login_gives_a_fresh_http_only_cookie_that_logout_ends() {
    let api = Api::new(|_| {}).await;
    let a = api
        .post_json(
            "/api/login",
            json!({"username": "amy", "password": "pw-amy"}),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"username": "amy", "role": "student", "courses": []})
    );
    let set = a.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = a.cookie();
    let me = api.get("/api/me", Some(&cookie)).await;
    assert_eq!(
        me.json(),
        json!({"username": "amy", "role": "student", "courses": []})
    );
    let out = api.post_json("/api/logout", json!({}), Some(&cookie)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = api.get("/api/me", Some(&cookie)).await;
    assert_eq!(
        (me.status, me.code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

#[tokio::test]
async fn every_endpoint_needs_a_session() {
    let api = Api::new(|_| {}).await;
    for path in [
        "/api/me",
        "/api/containers",
        "/api/containers/amy-lab/logs",
        "/api/audit",
    ] {
        let a = api.get(path, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(a.code(), "unauthenticated", "{path}");
    }
    let forged = api
        .get("/api/me", Some("labtail_session=AAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_student_lists_their_own_containers_an_instructor_every_lab_container() {
    let api = Api::new(|_| {}).await;
    let amy = api.login("amy").await;
    let list = api.get("/api/containers", Some(&amy)).await.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["amy-lab"]);
    assert_eq!(list[0]["owner"], "amy");
    assert_eq!(list[0]["state"], "running");
    assert_eq!(list[0]["id"].as_str().unwrap().len(), 12);
    let tim = api.login("tim").await;
    let list = api.get("/api/containers", Some(&tim)).await.json();
    let mut names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["amy-lab", "bob-lab"],
        "never a container without the label"
    );
}

#[tokio::test]
async fn a_download_follows_the_ownership_rules_and_refuses_bad_input() {
    let api = Api::new(|_| {}).await;
    let amy = api.login("amy").await;
    let own = api.get("/api/containers/amy-lab/logs", Some(&amy)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body, "amy's first line\namy's second line\n");
    assert_eq!(
        own.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"amy-lab.log\""
    );
    assert_eq!(own.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let stamped = api
        .get(
            "/api/containers/amy-lab/logs?timestamps=true&tail=1",
            Some(&amy),
        )
        .await;
    assert_eq!(
        stamped.body,
        "2023-11-14T22:13:20.000000001Z stderr amy's second line\n"
    );
    // Another student's, an unlabelled and a missing container: one answer.
    let other = api.get("/api/containers/bob-lab/logs", Some(&amy)).await;
    let unlabelled = api.get("/api/containers/not-a-lab/logs", Some(&amy)).await;
    let missing = api.get("/api/containers/nope/logs", Some(&amy)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.code(), "forbidden_or_missing");
    assert_eq!(other.body, missing.body);
    assert_eq!(other.body, unlabelled.body);
    for path in [
        "/api/containers/..%2Fetc/logs",
        "/api/containers/a%3Fx/logs",
        "/api/containers/amy-lab/logs?tail=-1",
        "/api/containers/amy-lab/logs?timestamps=maybe",
    ] {
        let a = api.get(path, Some(&amy)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.body);
        assert_eq!(a.code(), "invalid_payload", "{path}");
    }
}

#[tokio::test]
async fn the_audit_log_is_for_instructors() {
    let api = Api::new(|_| {}).await;
    let amy = api.login("amy").await;
    let a = api.get("/api/audit", Some(&amy)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let tim = api.login("tim").await;
    let log = api.get("/api/audit?user=amy&limit=5", Some(&tim)).await;
    assert_eq!(log.status, StatusCode::OK);
    let rows = log.json();
    assert_eq!(rows[0]["kind"], "login");
    assert_eq!(rows[0]["username"], "amy");
    let bad = api.get("/api/audit?limit=lots", Some(&tim)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_a_session() {
    let api = Api::new(|_| {}).await;
    assert_eq!(api.get("/healthz", None).await.body, "ok\n");
    // The scripted engine comes up at once; readiness says so.
    let mut ready = api.get("/readyz", None).await;
    for _ in 0..100 {
        if ready.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        ready = api.get("/readyz", None).await;
    }
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "database": "up", "docker": "up"})
    );
    let metrics = api.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let _ = &api.state;
}

#[tokio::test]
async fn unknown_endpoints_foreign_origins_and_big_packets_are_refused() {
    let api = Api::new(|c| c.max_payload = 1024).await;
    let a = api.get("/api/nothing-here", None).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let cross = api
        .send(
            Request::post("/api/login")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ORIGIN, "http://evil.example")
                .header(header::HOST, "127.0.0.1:3000")
                .body(Body::from(
                    json!({"username": "amy", "password": "pw-amy"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (cross.status, cross.code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden_origin")
    );
    let big = api
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/socket.io/?EIO=4&transport=polling&sid=x")
                .header(header::CONTENT_LENGTH, "5000")
                .body(Body::from("x".repeat(5000)))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (big.status, big.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
}
