//! Output scripts can trust: every command that takes `--json` prints one JSON document (and
//! those with nothing to print in JSON refuse the flag, exit 2), bad input is a usage error
//! (exit 2) whether ash or agentd finds it, a path that is no socket is named as such, and a
//! socket given in the environment does not turn up in usage lines as if it were required.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::process::Output;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::Value;

use crate::common;

async fn run(d: &TempDaemon, args: &[&str]) -> Output {
    common::ash_command(d.socket())
        .args(args)
        .output()
        .await
        .unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_command_prints_one_json_document() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    // One request decided, one waiting, so that every listing has something in it.
    let mut agent = d.agent("runner").await.unwrap();
    let first = match agent
        .submit(&agentd_proto::ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: r#"{"n":1}"#.into(),
            session: Some("s1".into()),
            ..Default::default()
        })
        .await
        .unwrap()
    {
        agentd_proto::Submitted::Queued(t) => t.id.to_string(),
        other => panic!("{other:?}"),
    };
    let out = run(
        &d,
        &["approve", &first, "--scope", "session", "--grant", "exact"],
    )
    .await;
    assert!(out.status.success(), "{}", said(&out));
    agent.wait().await.unwrap();
    let mut waiting = d.agent("runner-2").await.unwrap();
    let second = match waiting
        .submit(&agentd_proto::ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: r#"{"n":2}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
    {
        agentd_proto::Submitted::Queued(t) => t.id.to_string(),
        other => panic!("{other:?}"),
    };
    for args in [
        vec!["pending"],
        vec!["show", &second],
        vec!["history"],
        vec!["export"],
        vec!["grants"],
        vec!["status"],
        vec!["doctor"],
        vec!["audit", "verify"],
        vec!["prune", "--dry-run"],
        vec!["prune"],
        vec![
            "request",
            "--tool",
            "Read",
            "--args",
            r#"{"file_path":"/etc/hostname"}"#,
        ],
        vec!["deny", &second, "--reason", "no"],
        vec!["revoke", "--all"],
    ] {
        let mut all = vec!["--json"];
        all.extend(&args);
        let out = run(&d, &all).await;
        let text = String::from_utf8_lossy(&out.stdout);
        let parsed: Result<Value, _> = serde_json::from_str(&text);
        assert!(
            parsed.is_ok(),
            "ash {}: stdout is not one JSON document: {}",
            all.join(" "),
            said(&out)
        );
    }
    // Commands with no JSON to print refuse the flag.
    for args in [
        vec!["setup", "codex"],
        vec!["man"],
        vec!["completions", "bash"],
    ] {
        let mut all = vec!["--json"];
        all.extend(&args);
        let out = run(&d, &all).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "ash {}: {}",
            all.join(" "),
            said(&out)
        );
        assert!(said(&out).contains("has no JSON output"), "{}", said(&out));
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_agentd_refuses_is_a_usage_error() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    for (args, says) in [
        (
            vec!["request", "--tool", "a b", "--args", "{}"],
            "white space",
        ),
        (
            vec!["request", "--tool", "x", "--args", r#"{"a":1,"a":2}"#],
            "repeat the key",
        ),
    ] {
        let out = run(&d, &args).await;
        assert_eq!(out.status.code(), Some(2), "{}", said(&out));
        assert!(said(&out).contains(says), "{}", said(&out));
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_no_socket_is_named_and_usage_lines_stay_short() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "x").unwrap();
    for (path, kind) in [(file.as_path(), "a regular file"), (dir.path(), "a folder")] {
        let out = std::process::Command::new(common::ash_bin())
            .arg("--socket")
            .arg(path)
            .arg("pending")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("is {kind}, not agentd's socket")),
            "{err}"
        );
        assert!(!err.contains("is agentd running"), "{err}");
    }
    // A socket from the environment is not shown as a required flag.
    let out = std::process::Command::new(common::ash_bin())
        .arg("approve")
        .env("AGENTD_SOCKET", dir.path().join("agentd.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Usage: ash approve <ID>"), "{err}");
    assert!(!err.contains("--socket"), "{err}");
}

/// `ash request --json` still says on stderr what it waits for (with the request ID), and a
/// `--timeout` longer than the tool allows is said to be cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_says_what_it_waits_for_and_when_its_timeout_was_cut() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let child = common::ash_command(d.socket())
        .args([
            "--json",
            "request",
            "--tool",
            "sensitive-op",
            "--timeout",
            "15m",
        ])
        .spawn()
        .unwrap();
    let req = common::first_pending(&d, "the request").await;
    let id = req["id"].as_str().unwrap();
    common::ash_ok(d.socket(), &["approve", id]).await;
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["state"], "approved");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("request {}", &id[..8])), "{err}");
    assert!(
        err.contains("(--timeout 15m00s cut to the tool's maximum, 5m00s)"),
        "{err}"
    );
    d.stop().await.unwrap();
}

/// Piped (not a terminal, no `COLUMNS`), tables cut nothing: a script gets every agent name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_tables_cut_nothing() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let name = "a-very-long-agent-name-that-goes-on-and-on/sub-agent-name";
    let _waiting = common::ash_command(d.socket())
        .args(["request", "--tool", "sensitive-op", "--agent", name])
        .spawn()
        .unwrap();
    common::first_pending(&d, "the request").await;
    for args in [["pending"], ["history"]] {
        let out = run(&d, &args).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(name), "ash {}: {text}", args[0]);
        assert!(!text.contains('…'), "ash {}: {text}", args[0]);
    }
    d.stop().await.unwrap();
}

/// Deciding a request a rule already decided says which rule, as every client words it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_decision_reads_denied_by_rule_name() {
    let settings = Settings::parse(
        "[[rule]]\nname = \"no-prod\"\ntool = \"deploy\"\npointer = \"/env\"\nregex = \"^prod$\"\nauto = \"deny\"\nreason = \"never prod from here\"\n",
        std::path::Path::new("rules.toml"),
    )
    .unwrap();
    let d = TempDaemon::start(settings).unwrap();
    let out = common::ash_command(d.socket())
        .args([
            "--json",
            "request",
            "--tool",
            "deploy",
            "--args",
            r#"{"env":"prod"}"#,
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = doc["id"].as_str().unwrap().to_string();
    let out = run(&d, &["approve", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ash: request {} was already denied by rule no-prod: never prod from here\n",
            &id[..8]
        )
    );
    d.stop().await.unwrap();
}

/// A start that fails on its state dir or socket is one error line, the OS cause said once,
/// with no "listening" line before it.
#[test]
fn a_failed_start_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, "").unwrap();
    for (socket, state, says) in [
        (
            dir.path().join("s1"),
            file.clone(),
            "is a file, not a folder",
        ),
        (file.join("s2"), dir.path().join("state"), "Not a directory"),
    ] {
        let out = std::process::Command::new(common::agentd_binary())
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(&state)
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .env_remove("AGENTD_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("agentd: error: ") && err.contains(says),
            "{err}"
        );
        assert!(!err.contains("listening"), "{err}");
        assert_eq!(
            err.matches("os error").count().min(1),
            err.matches("os error").count(),
            "{err}"
        );
    }
}

/// `ash man COMMAND` prints the manual page of every command, listing every flag its
/// `--help` lists.
#[test]
fn every_command_has_a_manual_page_with_every_flag() {
    let ash = |args: &[&str]| {
        std::process::Command::new(common::ash_bin())
            .args(args)
            .env_remove("AGENTD_SOCKET")
            .env_remove("AGENTD_HOST")
            .output()
            .unwrap()
    };
    let listing = String::from_utf8_lossy(&ash(&["man", "no-such-command"]).stderr).to_string();
    let commands: Vec<String> = listing
        .split("has ")
        .nth(1)
        .unwrap()
        .trim()
        .split(", ")
        .map(str::to_string)
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() > 15, "{listing}");
    for command in &commands {
        let page = ash(&["man", command]);
        assert!(page.status.success(), "ash man {command}");
        let page = String::from_utf8_lossy(&page.stdout);
        assert!(page.contains(&format!(".TH ash-{command} 1")), "{page}");
        let help = String::from_utf8_lossy(&ash(&[command, "--help"]).stdout).to_string();
        for flag in help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.trim_end_matches([',', '.', ')', ']', '`']))
            .filter(|w| {
                w.chars()
                    .skip(2)
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            let roff = flag.replace('-', "\\-");
            assert!(page.contains(&roff), "ash man {command} lacks {flag}");
        }
    }
}
