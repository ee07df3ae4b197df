//! The store through the real `ash` binary: three shells waiting while agentd is killed with
//! SIGKILL and started again, `ash history`, `ash export` and `ash audit verify`.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::{Poller, TempDaemon};
use serde_json::Value;
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(30);

fn ash(socket: &Path) -> Command {
    common::ash_command(socket)
}

async fn run(socket: &Path, args: &[&str]) -> Output {
    ash(socket).args(args).output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn pending_ids(socket: &Path, n: usize) -> Vec<String> {
    let mut poller = Poller::new(LIMIT, format!("{n} pending requests"));
    loop {
        let out = run(socket, &["pending", "--json"]).await;
        if out.status.success() {
            let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            if list.len() == n {
                return list
                    .iter()
                    .map(|v| v["id"].as_str().unwrap().to_string())
                    .collect();
            }
        }
        poller.tick().await;
    }
}

async fn wait_ready(socket: &Path) {
    let mut poller = Poller::new(LIMIT, "agentd to answer");
    while !run(socket, &["pending", "--json"]).await.status.success() {
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shells_get_their_answers_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let state = dir.path().join("state");
    let mut daemon = common::spawn_agentd(&socket, &state);
    wait_ready(&socket).await;
    // Each shell's progress goes to a file, so the test can see it was acknowledged.
    let logs: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("shell-{i}.log")))
        .collect();
    let shells: Vec<Child> = ["deploy", "migrate", "sensitive-op"]
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            ash(&socket)
                .args([
                    "request",
                    "--tool",
                    tool,
                    "--args",
                    &format!(r#"{{"shell":{i}}}"#),
                ])
                .stderr(std::fs::File::create(&logs[i]).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    let before = pending_ids(&socket, 3).await;
    // Kill only once every shell holds its acknowledgement: before that, losing agentd is an
    // error the shell reports, by design.
    let mut poller = Poller::new(LIMIT, "the three shells to be acknowledged");
    while !logs
        .iter()
        .all(|l| std::fs::read_to_string(l).is_ok_and(|t| t.contains("waiting for approval")))
    {
        poller.tick().await;
    }

    daemon.kill().await.unwrap(); // SIGKILL
    let mut daemon = common::spawn_agentd(&socket, &state);
    wait_ready(&socket).await;
    let mut after = pending_ids(&socket, 3).await;
    let mut expected = before.clone();
    after.sort();
    expected.sort();
    assert_eq!(after, expected, "the same three requests are pending again");

    for id in &before {
        let out = run(&socket, &["approve", &id[..8], "--operator", "alice"]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for (shell, log) in shells.into_iter().zip(&logs) {
        let done = shell.wait_with_output().await.unwrap();
        let said = std::fs::read_to_string(log).unwrap();
        assert_eq!(done.status.code(), Some(0), "{said}");
        assert!(said.ends_with("approved by alice\n"), "{said}");
    }

    let history = run(&socket, &["history", "--state", "approved", "--json"]).await;
    let list: Vec<Value> = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(list.len(), 3);
    let audit = run(&socket, &["audit", "verify"]).await;
    assert_eq!(audit.status.code(), Some(0));
    // 2 starts + 3 queued + 3 approved; the killed daemon never wrote its stop.
    assert_eq!(text(&audit.stdout), "audit trail intact: 8 entries\n");
    daemon.kill().await.unwrap();
}

/// A daemon with one approved, one denied and one expired request made through ash.
async fn with_history() -> TempDaemon {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let s = d.socket();
    let approved = ash(s)
        .args(["request", "--tool", "deploy", "--agent", "ci"])
        .spawn()
        .unwrap();
    let id = pending_ids(s, 1).await.remove(0);
    run(s, &["approve", &id, "--operator", "alice"]).await;
    approved.wait_with_output().await.unwrap();
    let denied = ash(s)
        .args([
            "request",
            "--tool",
            "rm",
            "--agent",
            "claude",
            "--args",
            r#"{"path":"/"}"#,
        ])
        .spawn()
        .unwrap();
    let id = pending_ids(s, 1).await.remove(0);
    run(s, &["deny", &id, "--operator", "bob", "--reason", "no way"]).await;
    denied.wait_with_output().await.unwrap();
    let out = run(
        s,
        &["request", "--tool", "sensitive-op", "--timeout", "0.1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_newest_first_with_filters() {
    let d = with_history().await;
    let s = d.socket();
    let out = run(s, &["history"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("REQUEST-ID  CREATED"), "{table}");
    for col in ["AGENT", "TOOL", "STATE", "BY", "REASON"] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        lines[1].contains("sensitive-op") && lines[1].contains("expired"),
        "{table}"
    );
    assert!(
        lines[2].contains("rm") && lines[2].contains("denied") && lines[2].ends_with("no way"),
        "{table}"
    );
    assert!(
        lines[3].contains("deploy") && lines[3].contains("approved") && lines[3].contains("alice"),
        "{table}"
    );

    let out = run(s, &["history", "--operator", "bob", "--json"]).await;
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["decision"]["reason"], "no way");
    let out = run(s, &["history", "--agent", "ci", "--since", "1h", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        1
    );
    let out = run(s, &["history", "--until", "1h", "--json"]).await;
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = run(s, &["history", "--state", "withdrawn"]).await;
    assert!(out.stdout.is_empty());
    assert_eq!(text(&out.stderr), "no requests match\n");
    let out = run(s, &["history", "--limit", "1", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        1
    );

    let out = run(s, &["history", "--since", "yesterday"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("ash: --since: 'yesterday' is neither"),
        "{}",
        text(&out.stderr)
    );
    let out = run(s, &["history", "--state", "maybe"]).await;
    assert_eq!(out.status.code(), Some(2));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_streams_every_request_with_its_audit_hashes() {
    let d = with_history().await;
    let s = d.socket();
    let out = run(s, &["export"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["tool"], "deploy", "oldest first");
    assert_eq!(lines[1]["args"], serde_json::json!({"path": "/"}));
    for line in &lines {
        let audit = line["audit"].as_array().unwrap();
        assert_eq!(audit.len(), 2, "{line}");
        assert_eq!(audit[0]["kind"], "queued");
        assert_eq!(audit[1]["kind"], line["state"]);
        assert_eq!(audit[1]["hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(text(&out.stderr), "exported 3 requests\n");

    for args in [
        &["export", "--format", "json"][..],
        &["export", "--json"][..],
    ] {
        let out = run(s, args).await;
        let doc: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc.len(), 3);
    }
    let out = run(s, &["export", "--state", "denied", "--json"]).await;
    let doc: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc.len(), 1);
    let out = run(s, &["export", "--state", "withdrawn", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        0
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_says_intact_or_names_the_broken_entry() {
    let d = with_history().await;
    let s = d.socket();
    let out = run(s, &["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(0));
    // start + (queued + decided) x 3
    assert_eq!(text(&out.stdout), "audit trail intact: 7 entries\n");
    let out = run(s, &["audit", "verify", "--json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["intact"], true);
    assert_eq!(doc["entries"], 7);

    let db = d.state_dir().join("agentd.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE audit SET detail = replace(detail, 'no way', 'fine') WHERE seq = 5")
        .status()
        .unwrap();
    assert!(status.success());
    let out = run(s, &["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "audit trail broken at entry 5: entry 5 does not match its hash: it was edited\n"
    );
    let out = run(s, &["audit", "verify", "--json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["intact"], false);
    assert_eq!(doc["broken_at"], 5);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_types_are_shown_and_filter_history() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let s = d.socket();
    let secret = ash(s)
        .args([
            "request",
            "--tool",
            "vault-read",
            "--subject",
            "secret_access",
            "--timeout",
            "0.3",
        ])
        .spawn()
        .unwrap();
    let ids = pending_ids(s, 1).await;
    let table = text(&run(s, &["pending"]).await.stdout);
    assert!(table.contains("vault-read (secret_access)"), "{table}");
    let shown = text(&run(s, &["show", &ids[0]]).await.stdout);
    assert!(shown.contains("subject   secret_access\n"), "{shown}");
    assert_eq!(
        secret.wait_with_output().await.unwrap().status.code(),
        Some(3)
    );
    let plain = run(s, &["request", "--tool", "ls", "--timeout", "0.2"]).await;
    assert_eq!(plain.status.code(), Some(3));
    let out = run(s, &["history", "--subject", "secret_access", "--json"]).await;
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], "secret_access");
    let out = run(s, &["request", "--tool", "x", "--subject", "telepathy"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown subject type 'telepathy'"));
    d.stop().await.unwrap();
}

/// A waiting `ash request` whose agentd goes away says so at once, says when agentd is back,
/// and keeps its own deadline when agentd stays away (it used to wait 30 s past it in silence).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_says_agentd_went_away_and_keeps_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let state = dir.path().join("state");
    let mut daemon = common::spawn_agentd(&socket, &state);
    wait_ready(&socket).await;
    let log = dir.path().join("shell.log");
    let shell = ash(&socket)
        .args(["request", "--tool", "sensitive-op", "--timeout", "8"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let said = |needle: &'static str| {
        let log = log.clone();
        move || std::fs::read_to_string(&log).is_ok_and(|t| t.contains(needle))
    };
    let mut poller = Poller::new(LIMIT, "the request to be acknowledged");
    while !said("waiting for approval")() {
        poller.tick().await;
    }
    daemon.kill().await.unwrap();
    let mut poller = Poller::new(LIMIT, "the shell to say agentd went away");
    while !said("agentd went away; waiting for it to come back")() {
        poller.tick().await;
    }
    // Back within the deadline: it re-attaches and says so.
    let mut daemon = common::spawn_agentd(&socket, &state);
    wait_ready(&socket).await;
    let mut poller = Poller::new(LIMIT, "the shell to say agentd is back");
    while !said("agentd is back")() {
        poller.tick().await;
    }
    // Away again, for good: the shell ends soon after its 8 s deadline, not 30 s later.
    daemon.kill().await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(20), shell.wait_with_output())
        .await
        .expect("the shell keeps to its deadline")
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(done.status.code(), Some(4), "{text}");
    assert!(
        text.contains(
            "\nash: agentd went away and did not come back before the request's deadline\n"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_what_is_old_enough_and_audit_verify_starts_at_its_checkpoint() {
    let d = with_history().await;
    let s = d.socket();
    // The defaults keep decisions a year: nothing goes now.
    let out = run(s, &["prune", "--dry-run"]).await;
    assert_eq!(
        text(&out.stdout),
        "would remove 0 calls answered at once, 0 other finished requests, 0 ended grants, 0 audit entries\n"
    );
    let out = run(s, &["--json", "prune", "--before", "0s", "--dry-run"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["decided"], 3);
    assert_eq!(doc["answered"], 0);
    // A dry run changes nothing.
    let out = run(s, &["history", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        3
    );

    let out = run(s, &["prune", "--before", "0s"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("removed 0 calls answered at once, 3 other finished requests, 0 ended grants, 7 audit entries\nthe audit trail starts at entry 8 "),
        "{said}"
    );
    let out = run(s, &["history", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        0
    );
    let out = run(s, &["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).starts_with(
            "audit trail intact: 1 entries, from entry 8 (entries before it were pruned at "
        ),
        "{}",
        text(&out.stdout)
    );
    let out = run(s, &["--json", "audit", "verify"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["intact"], true);
    assert_eq!(doc["starts_at"], 8);
    let out = run(s, &["--json", "status"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["store"]["requests"], 0);
    assert!(doc["store"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(doc["store"]["answered_days"], 30);

    // Bad times are usage errors, said once.
    let out = run(s, &["prune", "--before", "soon"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("ash: --before: "),
        "{}",
        text(&out.stderr)
    );
    let out = run(s, &["prune", "--before", "2999-01-01T00:00:00Z"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is in the future"),
        "{}",
        text(&out.stderr)
    );
    d.stop().await.unwrap();
}
