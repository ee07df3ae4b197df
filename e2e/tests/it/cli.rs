//! The real `ash` binary against a real agentd on a temp socket: the README tour, every
//! one-shot command with and without `--json`, exit codes, and bad command-line input.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::{Output, Stdio};
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::{Poller, TempDaemon};
use serde_json::Value;
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(20);

fn ash(d: &TempDaemon) -> Command {
    common::ash_command(d.socket())
}

async fn run(d: &TempDaemon, args: &[&str]) -> Output {
    ash(d).args(args).output().await.unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Starts `ash request` with `args` in the background.
fn request(d: &TempDaemon, args: &[&str]) -> Child {
    ash(d).arg("request").args(args).spawn().unwrap()
}

/// Waits until `ash pending --json` lists `n` requests, and returns them.
async fn pending(d: &TempDaemon, n: usize) -> Vec<Value> {
    let mut poller = Poller::new(LIMIT, format!("{n} pending requests"));
    loop {
        let out = run(d, &["pending", "--json"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if list.len() == n {
            return list;
        }
        poller.tick().await;
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_request_then_approve_by_prefix() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let waiting = request(
        &d,
        &["--tool", "sensitive-op", "--args", r#"{"target":"prod"}"#],
    );
    let list = pending(&d, 1).await;
    let id = id_of(&list[0]);
    let out = run(&d, &["approve", &id[..4], "--operator", "alice"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("approved {} (sensitive-op from ash)\n", &id[..8])
    );
    let done = waiting.wait_with_output().await.unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let err = stderr(&done);
    assert!(err.contains(&format!("request {}", &id[..8])), "{err}");
    assert!(err.ends_with("approved by alice\n"), "{err}");
    assert!(done.stdout.is_empty(), "stdout stays clean for scripts");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_exits_1_and_carries_the_reason() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let waiting = request(&d, &["--tool", "sensitive-op", "--agent", "claude"]);
    let id = id_of(&pending(&d, 1).await[0]);
    let out = run(
        &d,
        &["deny", &id, "--operator", "bob", "--reason", "not today"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("denied {} (sensitive-op from claude)\n", &id[..8])
    );
    let done = waiting.wait_with_output().await.unwrap();
    assert_eq!(done.status.code(), Some(1));
    assert!(stderr(&done).ends_with("denied by operator bob: not today\n"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_request_exits_3() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = run(
        &d,
        &["request", "--tool", "sensitive-op", "--timeout", "0.2"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).ends_with("expired: no decision before the deadline\n"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_json_prints_the_outcome_document() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let waiting = request(&d, &["--tool", "deploy", "--json", "--session", "s-9"]);
    let list = pending(&d, 1).await;
    assert_eq!(list[0]["session"], "s-9");
    let id = id_of(&list[0]);
    run(&d, &["approve", &id, "--reason", "ship it"]).await;
    let done = waiting.wait_with_output().await.unwrap();
    assert_eq!(done.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(doc["id"], id);
    assert_eq!(doc["state"], "approved");
    assert_eq!(doc["source"], "operator");
    assert_eq!(
        doc["by"], "tester",
        "the operator defaults to the login name"
    );
    assert_eq!(doc["reason"], "ship it");
    assert!(chrono::DateTime::parse_from_rfc3339(doc["decided_at"].as_str().unwrap()).is_ok());
    // stdout holds only the document; the progress line still goes to stderr.
    assert!(
        String::from_utf8_lossy(&done.stderr).starts_with("waiting for approval of"),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_pending_prints_nothing_on_stdout() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = run(&d, &["pending"]).await;
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(stderr(&out), "no pending requests\n");
    let out = run(&d, &["pending", "--json"]).await;
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "[]");
    assert!(out.stderr.is_empty());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_is_an_aligned_table_that_fits_80_columns() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let long = format!(r#"{{"command":"{}"}}"#, "x".repeat(300));
    let _a = request(
        &d,
        &[
            "--tool",
            "sensitive-op",
            "--args",
            &long,
            "--agent",
            "claude",
        ],
    );
    let _b = request(
        &d,
        &["--tool", "rm", "--agent", "a-rather-long-agent-name-indeed"],
    );
    pending(&d, 2).await;
    let out = ash(&d)
        .arg("pending")
        .env("COLUMNS", "80")
        .output()
        .await
        .unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("REQUEST-ID  AGENT"), "{text}");
    for col in ["TOOL", "RISK", "CREATED", "EXPIRES-IN", "ARGS"] {
        assert!(lines[0].contains(col), "{text}");
    }
    for line in &lines {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    // Columns line up: every row has its risk word where the header has RISK.
    let column = |line: &str, at: usize| line.chars().skip(at).collect::<String>();
    // The header is ASCII, so its byte offset is its column; rows may hold "…".
    let risk_at = lines[0].find("RISK").unwrap();
    assert!(
        lines[1..]
            .iter()
            .any(|l| column(l, risk_at).starts_with("high ")),
        "{text}"
    );
    assert!(
        lines[1..]
            .iter()
            .any(|l| column(l, risk_at).starts_with("medium ")),
        "{text}"
    );
    assert!(
        text.contains("a-rather-long-a…"),
        "long agent names are cut: {text}"
    );
    assert!(text.contains('…'), "{text}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("5m00s") || l.contains("4m59s")),
        "{text}"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_json_has_the_interface_fields() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let _a = request(
        &d,
        &[
            "--tool",
            "sensitive-op",
            "--args",
            r#"{"b":1,"a":[true]}"#,
            "--summary",
            "deploy",
        ],
    );
    let list = pending(&d, 1).await;
    let r = &list[0];
    for field in [
        "id",
        "agent",
        "tool",
        "args",
        "risk",
        "created_at",
        "expires_at",
        "state",
    ] {
        assert!(r.get(field).is_some(), "missing {field}: {r}");
    }
    assert_eq!(r["args"], serde_json::json!({"a": [true], "b": 1}));
    assert_eq!(r["risk"], "high");
    assert_eq!(r["state"], "pending");
    assert_eq!(r["agent"], "ash");
    assert_eq!(r["summary"], "deploy");
    assert!(r["agent_pid"].as_u64().is_some());
    let created = chrono::DateTime::parse_from_rfc3339(r["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(r["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_seconds(), 300);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_tells_everything_about_a_request() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let _a = request(
        &d,
        &[
            "--tool",
            "sensitive-op",
            "--args",
            r#"{"target":"prod"}"#,
            "--agent",
            "claude",
            "--session",
            "s-1",
            "--risk",
            "critical",
        ],
    );
    let id = id_of(&pending(&d, 1).await[0]);
    let out = run(&d, &["show", &id[..5]]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("request   {id}\n")), "{text}");
    assert!(text.contains("state     pending, expires in "), "{text}");
    assert!(text.contains("risk      critical\n"), "{text}");
    assert!(
        text.contains("- tool sensitive-op is rated high (built in)"),
        "{text}"
    );
    assert!(
        text.contains("- raised to critical by the agent's hint"),
        "{text}"
    );
    assert!(text.contains("agent     claude (pid "), "{text}");
    assert!(text.contains("session   s-1\n"), "{text}");
    assert!(
        text.contains("arguments\n  {\n    \"target\": \"prod\"\n  }\n"),
        "{text}"
    );
    let out = run(&d, &["show", &id, "--json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["id"], id);
    assert_eq!(doc["risk"], "critical");
    // After a decision, show names it.
    run(&d, &["deny", &id, "--operator", "bob", "--reason", "no"]).await;
    let text = stdout(&run(&d, &["show", &id]).await);
    assert!(text.contains("state     denied\n"), "{text}");
    // The decider's uid and pid, as the kernel reported them, stand beside the name given.
    let uid = agentd_proto::paths::current_uid();
    assert!(
        text.contains(&format!(
            "decision  denied by bob (operator, uid {uid}, pid "
        )),
        "{text}"
    );
    assert!(text.contains("reason    no\n"), "{text}");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_masked_in_displays_but_not_in_json_and_reveal_shows_them() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let args = r#"{"user":"bob","password":"hunter2-correct-horse","cmd":"deploy --token ghp_0123456789abcdefghijklmn"}"#;
    let _a = request(&d, &["--tool", "deploy", "--args", args]);
    let id = id_of(&pending(&d, 1).await[0]);
    let table = stdout(&run(&d, &["pending"]).await);
    let shown = stdout(&run(&d, &["show", &id]).await);
    for text in [&table, &shown] {
        assert!(
            !text.contains("hunter2") && !text.contains("ghp_0123"),
            "{text}"
        );
    }
    assert!(shown.contains("\"password\": \"••••••\""), "{shown}");
    assert!(shown.contains("--reveal shows them"), "{shown}");
    let revealed = stdout(&run(&d, &["show", &id, "--reveal"]).await);
    assert!(
        revealed.contains("hunter2-correct-horse") && revealed.contains("ghp_0123"),
        "{revealed}"
    );
    let json: Value =
        serde_json::from_slice(&run(&d, &["show", &id, "--json"]).await.stdout).unwrap();
    assert_eq!(
        json["args"]["password"], "hunter2-correct-horse",
        "--json stays exact"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deciding_twice_is_refused_with_who_decided() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let _a = request(&d, &["--tool", "sensitive-op"]);
    let id = id_of(&pending(&d, 1).await[0]);
    assert!(run(&d, &["approve", &id, "--operator", "alice"])
        .await
        .status
        .success());
    let out = run(&d, &["deny", &id, "--operator", "bob"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("ash: request {} was already approved by alice\n", &id[..8])
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_clear_errors() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = run(&d, &["approve", "7f3a"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ash: no pending request matches '7f3a'\n");
    let out = run(&d, &["show", "7f3a"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ash: no request matches '7f3a'\n");
    let out = run(&d, &["deny", "not-an-id"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a request ID"),
        "{}",
        stderr(&out)
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_prefix_lists_the_candidates() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut children = Vec::new();
    for _ in 0..17 {
        children.push(request(&d, &["--tool", "sensitive-op"]));
    }
    let list = pending(&d, 17).await;
    let ids: Vec<String> = list.iter().map(id_of).collect();
    let digit = (0..16)
        .map(|n| format!("{n:x}"))
        .find(|p| ids.iter().filter(|id| id.starts_with(p.as_str())).count() > 1)
        .unwrap();
    let out = run(&d, &["approve", &digit]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("ash: '{digit}' matches ")),
        "{err}"
    );
    for id in ids.iter().filter(|id| id.starts_with(digit.as_str())) {
        assert!(err.contains(id.as_str()), "{err}");
    }
    assert_eq!(err.lines().count(), 1, "{err}");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_command_lines_are_usage_errors() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = run(&d, &["request", "--tool", "x", "--args", "{target: prod}"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "ash: invalid JSON in --args: key must be a string at line 1 column 2\n"
    );
    let out = run(&d, &["request", "--tool", "x", "--timeout", "soon"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'soon' is not a number of seconds"));
    let out = run(&d, &["request", "--tool", "x", "--risk", "severe"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown risk level 'severe'"));
    let out = run(&d, &["approve"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(&d, &["request"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--tool"));
    let out = run(&d, &["frobnicate"]).await;
    assert_eq!(out.status.code(), Some(2));
    // The daemon-side check of a tool name comes back as one line too: a usage error.
    let out = run(&d, &["request", "--tool", "two words"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "ash: tool name \"two words\" contains white space or control characters\n"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_agentd_exits_4_for_request_and_1_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let run_at = |args: &[&str]| {
        let mut cmd = Command::new(common::ash_bin());
        cmd.args(args)
            .env("AGENTD_SOCKET", &socket)
            .stdin(Stdio::null());
        cmd
    };
    let out = run_at(&["request", "--tool", "x"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("is agentd running?"), "{err}");
    assert!(
        err.contains(&format!("cannot reach agentd at {}", socket.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches("os error").count(),
        1,
        "the cause is said once: {err}"
    );
    let out = run_at(&["pending"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach agentd"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_withdraws_the_request_instead_of_leaving_it_queued() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let waiting = request(&d, &["--tool", "sensitive-op"]);
    let id = id_of(&pending(&d, 1).await[0]);
    let pid = waiting.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let done = waiting.wait_with_output().await.unwrap();
    assert_eq!(done.status.code(), Some(1), "{}", stderr(&done));
    assert!(
        stderr(&done).ends_with("withdrawn: cancelled by the agent\n"),
        "{}",
        stderr(&done)
    );
    let doc: Value =
        serde_json::from_slice(&run(&d, &["show", &id, "--json"]).await.stdout).unwrap();
    assert_eq!(doc["state"], "withdrawn");
    assert!(pending(&d, 0).await.is_empty());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_deny_json_print_the_decided_request() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let _a = request(&d, &["--tool", "sensitive-op"]);
    let id = id_of(&pending(&d, 1).await[0]);
    let out = run(&d, &["approve", &id, "--operator", "alice", "--json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["state"], "approved");
    assert_eq!(doc["decision"]["by"], "alice");
    assert_eq!(doc["decision"]["source"], "operator");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_childs_request_shows_the_path_it_took_through_its_parent() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut lead = agentd_proto::Client::connect(d.socket(), agentd_proto::Role::Agent, "lead")
        .await
        .unwrap();
    lead.review().await.unwrap();
    let waiting = request(
        &d,
        &["--tool", "deploy", "--agent", "ash", "--parent", "lead"],
    );
    let got = lead.next_review().await.unwrap();
    // With the parent: not in the operators' queue yet, but `ash show` says where it is.
    let out = run(&d, &["pending", "--json"]).await;
    assert_eq!(stdout(&out).trim(), "[]");
    let shown = stdout(&run(&d, &["show", &got.id.to_string()]).await);
    assert!(
        shown.contains("review    with parent agent lead\n"),
        "{shown}"
    );
    lead.review_decide(&agentd_proto::ReviewDecision {
        id: got.id,
        action: agentd_proto::ReviewAction::Escalate,
        note: Some("prod-adjacent, ask a person".into()),
    })
    .await
    .unwrap();
    let list = pending(&d, 1).await;
    assert_eq!(list[0]["path"].as_array().unwrap().len(), 2);
    let shown = stdout(&run(&d, &["show", &id_of(&list[0])]).await);
    assert!(
        shown.contains("path      - asked by ash; sent to parent agent lead for review\n"),
        "{shown}"
    );
    assert!(
        shown.contains("          - escalated by parent agent lead: prod-adjacent, ask a person; sent to the operators\n"),
        "{shown}"
    );
    run(&d, &["approve", &id_of(&list[0])]).await;
    assert_eq!(
        waiting.wait_with_output().await.unwrap().status.code(),
        Some(0)
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_line_for_a_status_bar_and_empty_when_idle() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = run(&d, &["status"]).await;
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing pending, nothing printed");
    let _a = request(&d, &["--tool", "sensitive-op", "--timeout", "42"]);
    let _b = request(&d, &["--tool", "lint"]);
    pending(&d, 2).await;
    let line = stdout(&run(&d, &["status"]).await);
    assert!(line.starts_with("2 pending · 1 high · next 0:4"), "{line}");
    assert_eq!(line.lines().count(), 1);
    let line = stdout(&run(&d, &["status", "--format", "{pending}|{high}|{critical}"]).await);
    assert_eq!(line, "2|1|0\n");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_the_manual_come_from_the_real_command_line() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&d, &["completions", shell]).await;
        assert!(out.status.success());
        let script = stdout(&out);
        for sub in ["approve", "pending", "exec", "grants"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    let out = run(&d, &["completions", "tcsh"]).await;
    assert_eq!(out.status.code(), Some(2));
    let page = stdout(&run(&d, &["man"]).await);
    assert!(page.contains(".TH ash 1"), "{page}");
    assert!(page.contains("approve"), "{page}");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ash_request_waits_out_a_rate_limit_that_clears_in_time() {
    let d = agentd_testkit::TempDaemon::start(agentd::Settings {
        tools: vec![agentd_proto::ToolSpec {
            name: "look".into(),
            requires_approval: false,
            approval_timeout_secs: 10,
            risk: agentd_proto::Risk::Low,
        }],
        limits: agentd::config::Limits {
            requests_per_sec: 4.0,
            burst: 1.0,
            ..agentd::config::Limits::default()
        },
        ..agentd::Settings::default()
    })
    .unwrap();
    // The burst is one request: the next ones are over the limit for a quarter second each,
    // and wait for it instead of failing.
    for n in 0..3 {
        let out = tokio::process::Command::new(common::ash_bin())
            .args(["request", "--tool", "look", "--agent", "eager"])
            .env("AGENTD_SOCKET", d.socket())
            .output()
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "request {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A wait longer than the request's own time is still an error, at once (two requests
    // back to back from one process, so the bucket has no time to refill).
    let req = agentd_proto::ApprovalRequest {
        tool: "look".into(),
        timeout_ms: Some(1),
        ..agentd_proto::ApprovalRequest::default()
    };
    agentd_proto::request_approval(d.socket(), "quick", &req, |_| {})
        .await
        .unwrap();
    let err = agentd_proto::request_approval(d.socket(), "quick", &req, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("try again in"), "{err}");
    d.stop().await.unwrap();
}

/// Without `$USER` and `$LOGNAME` (cron, systemd, `env -i`), the operator's default name is
/// the login name of the uid, from the system's user database, not `uid-N`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_operator_is_the_login_name_of_the_uid() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("runner").await.unwrap();
    let id = match agent
        .submit(&agentd_proto::ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap()
    {
        agentd_proto::Submitted::Queued(t) => t.id.to_string(),
        other => panic!("{other:?}"),
    };
    let out = ash(&d)
        .args(["deny", &id, "--reason", "no"])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let who = String::from_utf8(who.stdout).unwrap().trim().to_string();
    let outcome = agent.wait().await.unwrap();
    assert_eq!(outcome.decision.by, who);
    assert_eq!(
        outcome.decision.to_string(),
        format!("denied by operator {who}: no")
    );
    d.stop().await.unwrap();
}
