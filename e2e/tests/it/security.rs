//! Identity from the kernel, through the real binaries: an agent running as another user
//! (nobody, via setpriv) can ask for approval but not decide, and a process may not decide a
//! request its parent raised.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use agentd::Settings;
use agentd_proto::{ApprovalRequest, Submitted};
use agentd_testkit::{Poller, TempDaemon};
use serde_json::Value;
use tokio::process::Command;

const LIMIT: Duration = Duration::from_secs(30);

/// `ash` run as nobody (uid 65534) in group `users`, as an agent of another user, in the group
/// the socket is shared with, would be.
fn as_nobody(ash: &Path, socket: &Path) -> Command {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test switches to another uid with setpriv, which needs root (CI runs as root)"
    );
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--groups=100", "--"])
        .arg(ash)
        .env("AGENTD_SOCKET", socket)
        .env("USER", "nobody")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn as_us(ash: &Path, socket: &Path) -> Command {
    let mut cmd = Command::new(ash);
    cmd.env("AGENTD_SOCKET", socket)
        .env("USER", "root-operator")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_of_another_user_can_ask_but_not_decide() {
    // A folder nobody can pass through (0711) with copies of the binaries it runs.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let ash = dir.path().join("ash");
    std::fs::copy(common::ash_bin(), &ash).unwrap();
    std::fs::set_permissions(&ash, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("agentd.toml");
    // The socket is shared with group `users` (gid 100), which the agent's user is in and
    // agentd's is not; operators are still only the user agentd runs as.
    std::fs::write(
        &config,
        "[daemon]\nsocket_mode = \"0660\"\nsocket_group = \"users\"\n",
    )
    .unwrap();
    let socket = dir.path().join("run").join("agentd.sock");
    let mut daemon = Command::new(common::agentd_binary())
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(&state)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut poller = Poller::new(LIMIT, "agentd to answer");
    loop {
        match as_us(&ash, &socket).arg("pending").output().await {
            Ok(out) if out.status.success() => break,
            Ok(_) => {}
            // The copy of ash was just written: a process another test forks at that moment
            // holds the write descriptor until it execs, and Linux refuses to run the file
            // meanwhile (ETXTBSY). Try again.
            Err(e) if e.raw_os_error() == Some(26) => {}
            Err(e) => panic!("cannot run {}: {e}", ash.display()),
        }
        poller.tick().await;
    }

    // The agent runs under its own runtime (`timeout` stands for it): a process tree apart
    // from the operator's `ash approve` below, as on a real machine.
    let waiting = Command::new("timeout")
        .args([
            "120",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--groups=100",
            "--",
        ])
        .arg(&ash)
        .args(["request", "--tool", "deploy", "--agent", "intruder"])
        .env("AGENTD_SOCKET", &socket)
        .env("USER", "nobody")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut poller = Poller::new(LIMIT, "nobody's request to be pending");
    let request = loop {
        let out = as_us(&ash, &socket)
            .args(["pending", "--json"])
            .output()
            .await
            .unwrap();
        let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(r) = list.into_iter().next() {
            break r;
        }
        poller.tick().await;
    };
    assert_eq!(request["agent"], "intruder");
    assert_eq!(request["agent_uid"], 65534, "the kernel's uid, not a claim");
    let id = request["id"].as_str().unwrap().to_string();

    // A user outside the group cannot even reach the socket.
    let outsider = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&ash)
        .args(["request", "--tool", "deploy", "--agent", "outsider"])
        .env("AGENTD_SOCKET", &socket)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(outsider.status.code(), Some(4), "{outsider:?}");
    assert!(
        String::from_utf8_lossy(&outsider.stderr).contains("ermission denied"),
        "{}",
        String::from_utf8_lossy(&outsider.stderr)
    );

    // nobody tries to approve its own request, and to look at the queue.
    let out = as_nobody(&ash, &socket)
        .args(["approve", &id])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nobody (uid 65534) may not decide requests: operators here are only root"),
        "{err}"
    );
    let out = as_nobody(&ash, &socket)
        .args(["pending"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    // Still pending; the operator decides, and nobody's shell gets the answer.
    let out = as_us(&ash, &socket)
        .args(["show", &id, "--json"])
        .output()
        .await
        .unwrap();
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["state"], "pending");
    let out = as_us(&ash, &socket)
        .args(["approve", &id])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = tokio::time::timeout(LIMIT, waiting.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    // The refused attempt is in the audit trail, with nobody's uid.
    let out = std::process::Command::new("sqlite3")
        .arg(state.join("agentd.db"))
        .arg("SELECT detail FROM audit WHERE kind = 'decision_refused'")
        .output()
        .unwrap();
    let detail = String::from_utf8_lossy(&out.stdout);
    assert!(detail.contains("\"uid\":65534"), "{detail}");
    daemon.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_may_not_decide_a_request_its_parent_raised() {
    // This test process raises the request; `ash approve` runs as its child.
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let mut agent = d.agent("parent").await.unwrap();
    let Submitted::Queued(t) = agent
        .submit(&ApprovalRequest {
            tool: "sensitive-op".into(),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap()
    else {
        panic!("expected a queued request");
    };
    let out = Command::new(common::ash_bin())
        .args(["approve", &t.id.to_string()])
        .env("AGENTD_SOCKET", d.socket())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a process may not decide its own request"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.stop().await.unwrap();
}

/// An agent runtime, as Claude Code is one: a process (here python3) that starts the hook
/// through `sh -c`, and later runs a command of the agent's own through `bash -c`. It prints
/// one JSON line per attempt to approve from inside its own tree.
const RUNTIME: &str = r#"
import json, subprocess, sys, time
ash, fixture = sys.argv[1], sys.argv[2]
hook = subprocess.Popen(["sh", "-c", '"$0" hook claude-code < "$1"; true', ash, fixture],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
deadline = time.time() + 30
ident = None
while ident is None and time.time() < deadline:
    out = subprocess.run([ash, "pending", "--json"], capture_output=True).stdout
    pending = json.loads(out or b"[]")
    if pending:
        ident = pending[0]["id"]
    else:
        time.sleep(0.02)
attempts = {
    "bash -c": ["bash", "-c", '"$0" approve "$1" --operator agent', ash, ident],
    "grandchild": ["bash", "-c", 'bash -c "\"$0\" approve \"$1\" --operator agent; exit \$?" "$0" "$1"; exit $?', ash, ident],
    "sh -c, as the hook was started": ["sh", "-c", '"$0" approve "$1" --operator agent; exit $?', ash, ident],
}
for name, argv in attempts.items():
    done = subprocess.run(argv, capture_output=True)
    print(json.dumps({"attempt": name, "code": done.returncode, "stderr": done.stderr.decode()}), flush=True)
print(json.dumps({"id": ident}), flush=True)
out, err = hook.communicate(timeout=60)
print(json.dumps({"hook": out.decode(), "hook_stderr": err.decode()}), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runtime_cannot_approve_its_own_hook_request_from_its_own_tree() {
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code/bash.json");
    let mut runtime = Command::new("python3")
        .arg("-c")
        .arg(RUNTIME)
        .arg(common::ash_bin())
        .arg(&fixture)
        .env("AGENTD_SOCKET", d.socket())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read the runtime's report line by line: every attempt from its tree must be refused.
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(runtime.stdout.take().unwrap()).lines();
    let mut refused = 0;
    let id = loop {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the runtime reported its attempts");
        let report: Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = report["id"].as_str() {
            break id.to_string();
        }
        assert_eq!(report["code"], 1, "{report}");
        assert!(
            report["stderr"]
                .as_str()
                .unwrap()
                .contains("a process may not decide its own request"),
            "{report}"
        );
        refused += 1;
    };
    assert_eq!(refused, 3);
    // A person's `ash approve` from another terminal (another process tree) is served.
    let out = Command::new(common::ash_bin())
        .args(["approve", &id, "--operator", "alice"])
        .env("AGENTD_SOCKET", d.socket())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let report: Value = serde_json::from_str(&line).unwrap();
    let hook: Value = serde_json::from_str(report["hook"].as_str().unwrap()).unwrap();
    assert_eq!(
        hook["hookSpecificOutput"]["permissionDecision"], "allow",
        "{report}"
    );
    assert_eq!(
        hook["hookSpecificOutput"]["permissionDecisionReason"],
        "approved by alice"
    );
    runtime.wait().await.unwrap();
    d.stop().await.unwrap();
}
