//! `labtail serve --demo`: demo users with printed passwords, and a few
//! labelled demo containers when a Docker engine answers.
//!
//! This is the one place labtail *writes* to Docker (import an image, create,
//! start and remove `labtail-demo-*` containers). It runs from the
//! operator's command line, before the server starts and after it stopped
//! (the containers are removed again); nothing a client sends can reach it.
//! The server itself only reads (see `labtail_logs::DockerApi`).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions,
};
use futures_util::StreamExt;
use labtail_server::ServerConfig;
use labtail_server::auth::{hash_password, random_password};
use labtail_server::db::{Db, DbError, Role};

const DEMO_IMAGE: &str = "labtail-demo:latest";

/// Demo containers are named `<prefix>-<name>`; the prefix is
/// `labtail-demo` unless `LABTAIL_DEMO_PREFIX` says otherwise (the tests
/// use their own, to leave a developer's demo alone).
fn demo_name(c: &DemoContainer) -> String {
    let prefix = std::env::var("LABTAIL_DEMO_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "labtail-demo".into());
    format!("{prefix}-{}", c.name)
}

struct DemoContainer {
    /// After the prefix: `labtail-demo-alice-web`.
    name: &'static str,
    owner: &'static str,
    script: &'static str,
    restart: bool,
}

const CONTAINERS: &[DemoContainer] = &[
    DemoContainer {
        name: "alice-web",
        owner: "alice",
        script: r#"i=0; while true; do i=$((i+1)); printf '\033[32mINFO\033[0m GET /lab/%d 200 in %dms\n' $i $((i % 97)); if [ $((i % 7)) -eq 0 ]; then printf '\033[33mWARN\033[0m slow request %d\n' $i >&2; fi; sleep 0.5; done"#,
        restart: false,
    },
    DemoContainer {
        name: "alice-tests",
        owner: "alice",
        script: r#"i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo "test $i ... ok"; sleep 1; done; echo 'test 21 ... FAILED' >&2; exit 1"#,
        restart: true,
    },
    DemoContainer {
        name: "bob-app",
        owner: "bob",
        script: r#"i=0; while true; do i=$((i+1)); echo "worker tick $i"; if [ $((i % 5)) -eq 0 ]; then echo "error: job $i failed, retrying" >&2; fi; sleep 0.8; done"#,
        restart: false,
    },
];

/// The demo containers of a running demo, removed by [`Demo::finish`] when
/// labtail stops.
pub struct Demo {
    docker: Option<Docker>,
}

impl Demo {
    /// Removes the demo containers (they are the demo's, not the user's).
    /// A demo that was killed leaves them; the next one replaces them.
    pub async fn finish(self) {
        let Some(docker) = self.docker else {
            return;
        };
        for c in CONTAINERS {
            let name = demo_name(c);
            let removed = docker
                .remove_container(
                    &name,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
            if let Err(e) = removed {
                eprintln!("labtail: could not remove demo container {name}: {e}");
            }
        }
        println!("labtail demo: removed the demo containers");
    }
}

/// Creates (or resets) the demo users and prints their passwords, then the
/// demo containers if Docker answers.
pub async fn prepare(cfg: &ServerConfig) -> Result<Demo, String> {
    let db = Db::connect(&cfg.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for (name, role) in [
        ("alice", Role::Student),
        ("bob", Role::Student),
        ("teacher", Role::Instructor),
    ] {
        let pw = random_password();
        let hash = hash_password(pw.clone()).await.map_err(|e| e.to_string())?;
        match db.create_user(name, role, &hash).await {
            Ok(_) => {}
            Err(DbError::UserExists(_)) => db
                .set_password(name, &hash)
                .await
                .map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        }
        lines.push(format!("  {name:<8} {:<10} {pw}", role.as_str()));
    }
    let (docker, containers) = match containers(cfg).await {
        Ok(docker) => (
            Some(docker),
            format!(
                "{} demo containers running (labelled {}); they are removed when labtail stops",
                CONTAINERS.len(),
                cfg.owner_label
            ),
        ),
        Err(e) => (None, format!("no demo containers: {e}")),
    };
    println!(
        "\nlabtail demo — open http://{}/ and log in as:\n  USER     ROLE       PASSWORD\n{}\n{containers}\n",
        cfg.listen,
        lines.join("\n")
    );
    Ok(Demo { docker })
}

async fn containers(cfg: &ServerConfig) -> Result<Docker, String> {
    // The demo runs on the first engine.
    let host = cfg
        .docker_hosts
        .first()
        .map(|h| h.url.as_str())
        .unwrap_or(labtail_logs::DEFAULT_DOCKER_HOST);
    let docker = Docker::connect_with_host(host).map_err(|e| e.to_string())?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| format!("Docker is not reachable at {host}: {e}"))?;
    ensure_image(&docker).await?;
    for c in CONTAINERS {
        let name = demo_name(c);
        let _ = docker
            .remove_container(
                &name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        let mut labels = HashMap::new();
        labels.insert(cfg.owner_label.clone(), c.owner.to_owned());
        let host_config = HostConfig {
            restart_policy: c.restart.then_some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(DEMO_IMAGE.to_owned()),
            cmd: Some(vec!["sh".into(), "-c".into(), c.script.into()]),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await
            .map_err(|e| format!("cannot create {name}: {e}"))?;
        docker
            .start_container(&name, None::<StartContainerOptions>)
            .await
            .map_err(|e| format!("cannot start {name}: {e}"))?;
    }
    Ok(docker)
}

/// No registry can be assumed: build a tiny image from the host's busybox.
async fn ensure_image(docker: &Docker) -> Result<(), String> {
    if docker.inspect_image(DEMO_IMAGE).await.is_ok() {
        return Ok(());
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .ok_or("image labtail-demo:latest is missing and no /bin/busybox to build it from (apt-get install busybox-static)")?;
    let bin = std::fs::read(busybox).map_err(|e| format!("cannot read {busybox}: {e}"))?;
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(bin.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "bin/busybox", bin.as_slice())
        .map_err(|e| e.to_string())?;
    for applet in ["sh", "echo", "printf", "sleep", "seq", "date", "cat", "awk"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .map_err(|e| e.to_string())?;
    }
    let archive = tar.into_inner().map_err(|e| e.to_string())?;
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo("labtail-demo")
        .tag("latest")
        .build();
    let mut stream = docker.create_image(
        Some(opts),
        Some(bollard::body_full(bytes::Bytes::from(archive))),
        None,
    );
    while let Some(item) = stream.next().await {
        item.map_err(|e| format!("cannot import the demo image: {e}"))?;
    }
    Ok(())
}
