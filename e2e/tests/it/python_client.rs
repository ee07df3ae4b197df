//! The standard-library Python client in docs/examples speaks agentd's JSON mode to a real
//! agentd: approved, denied and timed-out requests come back with `ash request`'s exit codes,
//! and a bad JSON frame gets an error without costing anyone else their connection.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Stdio;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

const CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/examples/python/agentd_client.py"
);

fn python(d: &TempDaemon, args: &[&str]) -> Child {
    Command::new("python3")
        .arg(CLIENT)
        .args(args)
        .env("AGENTD_SOCKET", d.socket())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn ash(d: &TempDaemon, args: &[&str]) -> std::process::Output {
    Command::new(common::ash_bin())
        .args(args)
        .env("AGENTD_SOCKET", d.socket())
        .output()
        .await
        .unwrap()
}

fn decision(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {} / stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_is_approved_denied_and_timed_out() {
    let d = TempDaemon::start(Settings::default()).unwrap();

    let child = python(
        &d,
        &[
            "sensitive-op",
            r#"{"path": "/etc/hosts"}"#,
            "--summary",
            "edit hosts",
            "--name",
            "py-agent",
        ],
    );
    let req = common::first_pending(&d, "the Python client's request").await;
    assert_eq!(req["tool"], "sensitive-op");
    assert_eq!(req["agent"], "py-agent");
    assert_eq!(req["args"]["path"], "/etc/hosts");
    assert_eq!(req["summary"], "edit hosts");
    let id = req["id"].as_str().unwrap();
    let out = ash(&d, &["approve", id, "--operator", "alice"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(decision(&out)["state"], "Approved");
    assert_eq!(decision(&out)["by"], "alice");

    let child = python(&d, &["sensitive-op"]);
    let id = common::first_pending(&d, "the Python client's request").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = ash(
        &d,
        &["deny", &id, "--operator", "bob", "--reason", "not today"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(decision(&out)["state"], "Denied");
    assert_eq!(decision(&out)["reason"], "not today");

    let out = python(&d, &["sensitive-op", "{}", "--timeout-ms", "200"])
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(decision(&out)["state"], "Expired");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_fails_closed_without_agentd() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let socket = d.socket().to_owned();
    d.stop().await.unwrap();
    let out = Command::new("python3")
        .args([CLIENT, "sensitive-op", "--socket"])
        .arg(&socket)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach agentd"));
}

async fn send(s: &mut UnixStream, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap();
    s.write_all(&len.to_be_bytes()).await.unwrap();
    s.write_all(payload).await.unwrap();
}

async fn recv(s: &mut UnixStream) -> Value {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.unwrap();
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.unwrap();
    serde_json::from_slice(&buf).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_json_message_gets_one_error_and_the_daemon_serves_on() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut s = UnixStream::connect(d.socket()).await.unwrap();
    send(
        &mut s,
        br#"{"version":4,"role":"Agent","name":"raw","parent":null}"#,
    )
    .await;
    assert!(recv(&mut s).await.get("Welcome").is_some());
    send(&mut s, br#"{"Launch":{"missiles":true}}"#).await;
    let err = recv(&mut s).await;
    let message = err["Error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("Launch"), "{message}");

    // Everyone else is still served, in JSON and in bincode.
    let mut other = UnixStream::connect(d.socket()).await.unwrap();
    send(
        &mut other,
        br#"{"version":4,"role":"Agent","name":"raw2","parent":null}"#,
    )
    .await;
    assert!(recv(&mut other).await.get("Welcome").is_some());
    send(&mut other, br#""Ping""#).await;
    assert_eq!(recv(&mut other).await, Value::String("Pong".into()));
    let mut op = d.operator("alice").await.unwrap();
    op.ping().await.unwrap();

    // A JSON hello from another protocol version is refused naming both versions.
    let mut old = UnixStream::connect(d.socket()).await.unwrap();
    send(
        &mut old,
        br#"{"version":99,"role":"Agent","name":"old","parent":null}"#,
    )
    .await;
    let err = recv(&mut old).await;
    let message = err["Error"]["message"].as_str().unwrap();
    assert!(
        message.contains("99")
            && message.contains(&format!("version {}", agentd_proto::PROTOCOL_VERSION)),
        "{message}"
    );

    // A JSON hello missing its role is refused, in JSON, saying what is missing.
    let mut bad = UnixStream::connect(d.socket()).await.unwrap();
    send(&mut bad, br#"{"version":4,"name":"nobody"}"#).await;
    let err = recv(&mut bad).await;
    let message = err["Error"]["message"].as_str().unwrap();
    assert!(
        message.contains("JSON hello") && message.contains("role"),
        "{message}"
    );

    d.stop().await.unwrap();
}
