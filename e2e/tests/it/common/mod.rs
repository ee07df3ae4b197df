//! Helpers shared by ash's integration tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

pub mod sshd;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentd_testkit::{Poller, TempDaemon};
use serde_json::Value;

/// The folder holding this build's binaries: `target/debug` above this test binary's
/// `deps/`. cargo builds ash and agentd there for `cargo test --workspace`; a run of these
/// tests alone builds them here, once per run, so they are never stale.
pub fn bin_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "agentd", "-p", "ash", "--bins"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build agentd and ash");
        let exe = std::env::current_exe().expect("the test binary knows its path");
        exe.parent()
            .and_then(Path::parent)
            .expect("the test binary is in target/<profile>/deps")
            .to_path_buf()
    })
}

/// The folder holding the agentd binary of this build.
pub fn agentd_dir() -> PathBuf {
    bin_dir().to_path_buf()
}

/// The ash binary of this build.
pub fn ash_bin() -> &'static Path {
    static ASH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ASH.get_or_init(|| bin_dir().join("ash"))
}

/// Waits, up to 20 s, for a request to be pending and returns the first one as
/// `ash pending --json` shows it; `what` names it if none comes.
pub async fn first_pending(d: &TempDaemon, what: &str) -> Value {
    let mut poller = Poller::new(Duration::from_secs(20), what);
    loop {
        let out = tokio::process::Command::new(ash_bin())
            .args(["pending", "--json"])
            .env("AGENTD_SOCKET", d.socket())
            .output()
            .await
            .expect("ash runs");
        let list: Vec<Value> =
            serde_json::from_slice(&out.stdout).expect("ash pending --json prints JSON");
        if let Some(r) = list.into_iter().next() {
            return r;
        }
        poller.tick().await;
    }
}

/// `ash` against the agentd on `socket`, as a script would run it: a fixed user name, no
/// `COLUMNS`, no standard input, output captured.
/// The agentd binary of this build (next to ash's), built if need be.
pub fn agentd_binary() -> PathBuf {
    agentd_dir().join("agentd")
}

/// The agentd binary started on `socket` with its store in `state`, reading no config (the
/// built-in defaults, presets on), its output discarded; killed when dropped.
pub fn spawn_agentd(socket: &Path, state: &Path) -> tokio::process::Child {
    tokio::process::Command::new(agentd_binary())
        .arg("--socket")
        .arg(socket)
        .arg("--state-dir")
        .arg(state)
        .env("XDG_CONFIG_HOME", state.join("no-config"))
        .env_remove("AGENTD_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the agentd binary starts")
}

/// `ash` against `socket` as the operator alice.
pub fn ash_as_alice(socket: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(ash_bin());
    cmd.env("AGENTD_SOCKET", socket)
        .env("USER", "alice")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub fn ash_command(socket: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(ash_bin());
    cmd.env("AGENTD_SOCKET", socket)
        .env("USER", "tester")
        .env_remove("COLUMNS")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `ash ARGS` against `socket` and fails the test, with ash's stderr, unless it succeeds.
pub async fn ash_ok(socket: &Path, args: &[&str]) -> std::process::Output {
    let out = ash_command(socket)
        .args(args)
        .output()
        .await
        .expect("ash runs");
    assert!(
        out.status.success(),
        "ash {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `ash hook RUNTIME EXTRA...` on `socket`, with `input` on its standard input (closed after).
pub async fn hook(
    socket: &Path,
    runtime: &str,
    input: &str,
    extra: &[&str],
) -> tokio::process::Child {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(ash_bin())
        .args(["hook", runtime])
        .args(extra)
        .env("AGENTD_SOCKET", socket)
        .env_remove("CLAUDE_PROJECT_DIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child
}

/// `ash ARGS` against `d` as the operator alice, waited for.
pub async fn alice_run(d: &TempDaemon, args: &[&str]) -> std::process::Output {
    ash_as_alice(d.socket()).args(args).output().await.unwrap()
}

/// Waits, up to 30 s, until `d` has `n` pending requests, and returns them as
/// `ash pending --json` shows them.
pub async fn alice_pending(d: &TempDaemon, n: usize) -> Vec<Value> {
    let mut poller = Poller::new(Duration::from_secs(30), format!("{n} pending"));
    loop {
        let out = alice_run(d, &["pending", "--json"]).await;
        let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if list.len() == n {
            return list;
        }
        poller.tick().await;
    }
}

/// A request's ID as `--json` gives it.
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Bytes a process printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
