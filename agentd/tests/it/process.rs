//! The agentd binary as a process: socket and folder modes, refusing to start twice, replacing
//! a stale socket after a crash, clean shutdown on SIGTERM and SIGINT, and config errors.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use agentd_proto::{Client, Role};
use agentd_testkit::Poller;

const LIMIT: Duration = Duration::from_secs(20);

fn agentd(socket: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentd"));
    cmd.arg("--socket")
        .arg(socket)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env_remove("AGENTD_CONFIG")
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("AGENTD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits until agentd answers a hello on `socket`.
async fn wait_ready(socket: &Path, child: &mut Child) {
    let mut poller = Poller::new(LIMIT, "agentd to answer on its socket");
    loop {
        if Client::connect(socket, Role::Operator, "probe")
            .await
            .is_ok()
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("agentd exited early with {status}");
        }
        poller.tick().await;
    }
}

/// Waits for the process to exit and returns its output.
async fn wait_exit(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn paths() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("agentd.sock");
    (dir, socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_a_private_folder_and_socket_and_removes_the_socket_on_sigterm() {
    let (dir, socket) = paths();
    let mut child = agentd(&socket, dir.path()).spawn().unwrap();
    wait_ready(&socket, &mut child).await;
    let folder_mode = std::fs::metadata(socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(folder_mode & 0o777, 0o700);
    let socket_mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(socket_mode & 0o777, 0o600);
    let state_mode = std::fs::metadata(dir.path().join("state"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(state_mode & 0o777, 0o700);
    signal(&child, "TERM");
    let out = wait_exit(child).await;
    assert!(out.status.success(), "{out:?}");
    assert!(!socket.exists(), "the socket file is removed on shutdown");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_shuts_down_cleanly_too() {
    let (dir, socket) = paths();
    let mut child = agentd(&socket, dir.path()).spawn().unwrap();
    wait_ready(&socket, &mut child).await;
    signal(&child, "INT");
    let out = wait_exit(child).await;
    assert!(out.status.success(), "{out:?}");
    assert!(!socket.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agentd_on_a_live_socket_refuses_to_start() {
    let (dir, socket) = paths();
    let mut first = agentd(&socket, dir.path()).spawn().unwrap();
    wait_ready(&socket, &mut first).await;
    let second = wait_exit(agentd(&socket, dir.path()).spawn().unwrap()).await;
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "agentd: error: another agentd is already running on {}",
            socket.display()
        )
    );
    // The first one is undisturbed.
    Client::connect(&socket, Role::Operator, "probe")
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
    signal(&first, "TERM");
    assert!(wait_exit(first).await.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_left_by_a_crash_is_replaced() {
    let (dir, socket) = paths();
    let mut crashed = agentd(&socket, dir.path()).spawn().unwrap();
    wait_ready(&socket, &mut crashed).await;
    crashed.kill().unwrap(); // SIGKILL: no chance to clean up.
    wait_exit(crashed).await;
    assert!(socket.exists(), "the crash leaves the socket file behind");
    let mut next = agentd(&socket, dir.path()).spawn().unwrap();
    wait_ready(&socket, &mut next).await;
    signal(&next, "TERM");
    let out = wait_exit(next).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("removing stale socket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_not_a_socket_is_never_replaced() {
    let (dir, socket) = paths();
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    std::fs::write(&socket, "precious").unwrap();
    let out = wait_exit(agentd(&socket, dir.path()).spawn().unwrap()).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a socket; refusing to replace it")
    );
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_file_is_one_line_naming_the_place() {
    let (dir, socket) = paths();
    let config = dir.path().join("agentd.toml");
    std::fs::write(&config, "[[tool]]\nname = \"deploy\"\nrisk = \"severe\"\n").unwrap();
    let out = wait_exit(
        agentd(&socket, dir.path())
            .arg("--config")
            .arg(&config)
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("agentd: error: {}:3:8: ", config.display())),
        "{err}"
    );
    assert!(err.contains("severe"), "{err}");
    assert!(!socket.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_named_config_is_an_error_but_a_missing_default_is_fine() {
    let (dir, socket) = paths();
    let missing = dir.path().join("nope.toml");
    let out = wait_exit(
        agentd(&socket, dir.path())
            .env("AGENTD_CONFIG", &missing)
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: cannot read config file", missing.display())),
        "{err}"
    );
    // No --config and no default file: starts with the built-in registry.
    let mut child = agentd(&socket, dir.path()).spawn().unwrap();
    wait_ready(&socket, &mut child).await;
    signal(&child, "TERM");
    assert!(wait_exit(child).await.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_comes_from_agentd_socket_when_no_flag_is_given() {
    let (dir, socket) = paths();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentd"));
    cmd.env("AGENTD_SOCKET", &socket)
        .env("AGENTD_STATE_DIR", dir.path().join("state"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env_remove("AGENTD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    wait_ready(&socket, &mut child).await;
    signal(&child, "TERM");
    assert!(wait_exit(child).await.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_flag_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

/// A person's decision is logged at `info` with who made it; a tool that needs no approval is
/// answered without a log line at `info` (there can be thousands a second), though the audit
/// trail keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_by_people_are_logged_and_answers_by_policy_are_not_at_info() {
    let (dir, socket) = paths();
    let config = dir.path().join("agentd.toml");
    std::fs::write(
        &config,
        "[operators]\nallow_own_requests = true\n[[tool]]\nname = \"read-file\"\nrequires_approval = false\n",
    )
    .unwrap();
    let mut child = agentd(&socket, dir.path())
        .arg("--config")
        .arg(&config)
        .spawn()
        .unwrap();
    wait_ready(&socket, &mut child).await;
    let mut agent = Client::connect(&socket, Role::Agent, "claude")
        .await
        .unwrap();
    let read = agentd_proto::ApprovalRequest {
        tool: "read-file".into(),
        args_json: r#"{"path":"/etc/hosts"}"#.into(),
        ..agentd_proto::ApprovalRequest::default()
    };
    let agentd_proto::Submitted::Decided(by_policy) = agent.submit(&read).await.unwrap() else {
        panic!("read-file needs no approval");
    };
    let risky = agentd_proto::ApprovalRequest {
        tool: "sensitive-op".into(),
        args_json: r#"{"op":"rotate"}"#.into(),
        ..agentd_proto::ApprovalRequest::default()
    };
    let agentd_proto::Submitted::Queued(ticket) = agent.submit(&risky).await.unwrap() else {
        panic!("sensitive-op needs approval");
    };
    let mut op = Client::connect(&socket, Role::Operator, "alice")
        .await
        .unwrap();
    op.decide(&agentd_proto::DecideRequest {
        id: ticket.id.to_string(),
        verdict: agentd_proto::Verdict::Deny,
        operator: "alice".into(),
        reason: Some("not today".into()),
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    })
    .await
    .unwrap();
    assert_eq!(agent.wait().await.unwrap().decision.by, "alice");
    let audit = op.verify_audit().await.unwrap();
    assert_eq!(audit.broken, None);
    signal(&child, "TERM");
    let out = wait_exit(child).await;
    let log = String::from_utf8_lossy(&out.stderr);
    let decided = log
        .lines()
        .find(|l| l.contains(&ticket.id.to_string()) && l.contains("request denied"))
        .unwrap_or_else(|| panic!("no log line for the denial:\n{log}"));
    assert!(
        decided.contains("by=alice") && decided.contains("source=operator"),
        "{decided}"
    );
    assert!(
        !log.contains(&by_policy.id.to_string()),
        "the policy answer was logged at info:\n{log}"
    );
}
