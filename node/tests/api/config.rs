//! The `confab` binary itself: its CLI, configuration precedence, start-up checks, the
//! standalone secret surviving restarts, and a graceful stop on SIGTERM.

use std::process::{Command, Output};
use std::time::Duration;

use confab_testkit::NodeProcess;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::client;

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");

/// Runs `confab args` with only the given `CONFAB_*` variables set.
pub(crate) fn confab(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(CONFAB);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("CONFAB_")) {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("confab runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let output = confab(&["--help"], &[]);
    assert!(output.status.success());
    let help = stdout(&output);
    for command in ["serve", "migrate", "config", "--config"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

#[test]
fn the_environment_wins_over_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confab.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1111\"\nnode_id = \"from-file\"\ntoken_ttl_secs = 60\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let from_file = confab(&["--config", path, "config"], &[]);
    assert!(from_file.status.success(), "{from_file:?}");
    let shown = stdout(&from_file);
    assert!(shown.contains("listen: 127.0.0.1:1111"), "{shown}");
    assert!(shown.contains("node_id: \"from-file\""), "{shown}");

    let overridden = confab(
        &["config"],
        &[("CONFAB_CONFIG", path), ("CONFAB_LISTEN", "127.0.0.1:2222")],
    );
    assert!(overridden.status.success(), "{overridden:?}");
    let shown = stdout(&overridden);
    assert!(shown.contains("listen: 127.0.0.1:2222"), "{shown}");
    assert!(shown.contains("node_id: \"from-file\""), "{shown}");
    assert!(shown.contains("token_ttl_secs: 60"), "{shown}");
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("CONFAB_CONFIG", "/nonexistent/confab.toml")],
            "does not exist",
        ),
        (&[("CONFAB_LISTEN", "not an address")], "socket address"),
        (
            &[
                ("CONFAB_REDIS_URL", "redis://127.0.0.1:1"),
                ("CONFAB_NATS_URL", "nats://127.0.0.1:1"),
            ],
            "CONFAB_JWT_SECRET",
        ),
        (
            &[("CONFAB_REDIS_URL", "redis://127.0.0.1:1")],
            "CONFAB_NATS_URL",
        ),
    ];
    for (env, reason) in cases {
        let output = confab(&["serve"], env);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{env:?}: {stderr}");
    }
}

#[test]
fn an_unknown_key_in_the_config_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confab.toml");
    std::fs::write(&file, "node_id = \"n\"\nmax_body_byte = 10\n").unwrap();
    let output = confab(&["--config", file.to_str().unwrap(), "serve"], &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown setting max_body_byte"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_taken_port_fails_with_one_line_and_exit_code_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    for mode in [
        vec![],
        // In cluster mode too, where clients of Redis and NATS would otherwise be started.
        vec![
            ("CONFAB_REDIS_URL", "redis://127.0.0.1:1"),
            ("CONFAB_NATS_URL", "nats://127.0.0.1:1"),
            (
                "CONFAB_JWT_SECRET",
                "k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k",
            ),
        ],
    ] {
        let mut env = vec![
            ("CONFAB_LISTEN", address.as_str()),
            ("CONFAB_DATABASE_URL", database.as_str()),
            ("CONFAB_LOG_FORMAT", "json"),
        ];
        env.extend(mode);
        let output = confab(&["serve"], &env);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        let line = format!("error: cannot listen on {address}: ");
        assert!(stderr.starts_with(&line), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn the_config_command_hides_secrets() {
    let output = confab(
        &["config"],
        &[
            (
                "CONFAB_JWT_SECRET",
                "a-very-secret-value-that-is-long-enough",
            ),
            ("CONFAB_DATABASE_URL", "postgres://app:hunter2@db/chat"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let shown = stdout(&output);
    assert!(!shown.contains("a-very-secret-value"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let env = [("CONFAB_DATABASE_URL", url.as_str())];
    let first = confab(&["migrate"], &env);
    assert!(first.status.success(), "{first:?}");
    assert!(!stdout(&first).contains("applied 0"), "{}", stdout(&first));
    let second = confab(&["migrate"], &env);
    assert!(
        stdout(&second).contains("applied 0 migration(s)"),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_standalone_token_survives_a_restart_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let env = [(
        "CONFAB_DATABASE_URL",
        format!("sqlite://{}?mode=rwc", dir.path().join("keep.db").display()),
    )];
    let client = client();
    let mut first = NodeProcess::start(CONFAB, &env).await.unwrap();
    let registered: Value = client
        .post(format!("{}/api/v1/auth/register", first.base_url()))
        .json(&json!({"username": "grace", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap().to_owned();

    first.signal("TERM").unwrap();
    let status = first.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        first.logs()
    );
    assert!(first.logs().contains("stopped"), "{}", first.logs());

    let second = NodeProcess::start(CONFAB, &env).await.unwrap();
    let me = client
        .get(format!("{}/api/v1/me", second.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "{}", second.logs());
}

#[tokio::test]
async fn a_stopping_node_turns_unready_closes_every_client_and_exits_in_time() {
    use confab_testkit::{SioClient, eventually};
    let env = [
        ("CONFAB_DRAIN_WINDOW_SECS", "2".to_owned()),
        ("CONFAB_DRAIN_DEADLINE_SECS", "6".to_owned()),
    ];
    let mut node = NodeProcess::start(CONFAB, &env).await.unwrap();
    let client = client();
    let mut sockets = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let registered = confab_testkit::register(&node.base_url(), name)
            .await
            .unwrap();
        sockets.push(
            SioClient::with_token(&node.base_url(), &registered.token)
                .await
                .unwrap(),
        );
    }
    let started = std::time::Instant::now();
    node.signal("TERM").unwrap();
    let readyz = format!("{}/readyz", node.base_url());
    eventually("readyz to turn 503", Duration::from_secs(5), || {
        let request = client.get(&readyz).send();
        async move {
            let reply = request.await.ok()?;
            (reply.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(())
        }
    })
    .await
    .unwrap();
    for socket in &mut sockets {
        socket.wait_closed().await.unwrap();
    }
    let status = node.wait_exit(Duration::from_secs(10)).await.unwrap();
    assert!(status.success(), "{}", node.logs());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
}
