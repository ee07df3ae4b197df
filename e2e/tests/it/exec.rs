//! `ash exec -- CMD`: the command runs only once approved, as ash's own process (its exit code
//! is ash's); denied or expired, it never runs.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Stdio;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use tokio::process::{Child, Command};

fn exec(d: &TempDaemon, dir: &std::path::Path, args: &[&str]) -> Child {
    Command::new(common::ash_bin())
        .arg("exec")
        .args(args)
        .current_dir(dir)
        .env("AGENTD_SOCKET", d.socket())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn decide(d: &TempDaemon, verb: &str, id: &str) {
    common::ash_ok(d.socket(), &[verb, id]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_command_runs_and_its_exit_code_is_ashs() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = exec(
        &d,
        dir.path(),
        &["--", "sh", "-c", "echo ran > marker; echo out; exit 7"],
    );
    let req = common::first_pending(&d, "the exec request").await;
    assert_eq!(req["tool"], "exec");
    assert_eq!(req["args"]["argv"][0], "sh");
    assert_eq!(req["args"]["cwd"], dir.path().to_str().unwrap());
    decide(&d, "approve", req["id"].as_str().unwrap()).await;
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(dir.path().join("marker").exists());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_or_expired_command_never_runs() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = exec(
        &d,
        dir.path(),
        &["--tool", "deploy", "--", "touch", "marker"],
    );
    let req = common::first_pending(&d, "the exec request").await;
    assert_eq!(req["tool"], "deploy");
    decide(&d, "deny", req["id"].as_str().unwrap()).await;
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running touch: denied by operator"));
    assert!(!dir.path().join("marker").exists());

    let out = exec(
        &d,
        dir.path(),
        &["--timeout", "0.2", "--", "touch", "marker"],
    )
    .wait_with_output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!dir.path().join("marker").exists());

    let out = exec(&d, dir.path(), &[]).wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "no command is a usage error");
    d.stop().await.unwrap();
}
