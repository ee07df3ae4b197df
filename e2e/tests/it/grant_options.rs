//! Grant options through the real `ash` binary and a real agentd: a request that reaches a
//! person lists the grants that may be made from it (`ash show`, `ash pending --json`), `ash
//! approve --grant KEY` makes the chosen one, it answers later calls of the same agent and
//! session that it covers, and nothing else; mistakes get one clear line.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::{alice_pending as pending, alice_run as run, id_of as id, text};

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::{json, Value};
use tokio::process::Child;

const APP: &str = "/home/dev/app";

/// `ash request` for Codex's `shell` tool as agent codex, in `session`, working in APP.
fn shell(d: &TempDaemon, command: &str, session: &str, timeout: &str) -> Child {
    let args = json!({ "command": command }).to_string();
    common::ash_as_alice(d.socket())
        .args([
            "request",
            "--tool",
            "shell",
            "--agent",
            "codex",
            "--session",
            session,
        ])
        .args(["--cwd", APP, "--args", &args, "--timeout", timeout])
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commands_grant_covers_the_same_commands_and_flags_and_nothing_else() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, "make test", "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    assert_eq!(req["cwd"], APP);
    assert_eq!(
        req["grant_options"],
        json!([
            {"key": "exact", "label": "this exact call (same tool and arguments)", "covers": {"kind": "exact"}},
            {
                "key": "commands",
                "label": "`make test` with other plain arguments, no other flag (every other command in the line still needs a rule or grant; a build or test tool runs code from a folder the agent can edit)",
                "covers": {"kind": "commands", "prefixes": ["make test"]},
            },
        ])
    );
    let shown = text(&run(&d, &["show", &id(&req)]).await.stdout);
    assert!(shown.contains("--grant exact"), "{shown}");
    assert!(
        shown.contains("--grant commands  `make test` with other plain arguments, no other flag"),
        "{shown}"
    );

    let out = run(&d, &["approve", &id(&req)[..8], "--grant", "commands"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("`make test` with other plain arguments"),
        "{said}"
    );
    assert!(said.contains("covers this session"), "{said}");
    assert!(first.wait_with_output().await.unwrap().status.success());

    // Covered: the same command, alone or beside commands a rule covers.
    for line in ["make test", "make test && git status"] {
        let out = shell(&d, line, "s-1", "60")
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{line}: {}", text(&out.stderr));
    }
    // Not covered: a flag not seen, a variable for make (which can set its SHELL), another
    // target, another command beside it, another session.
    for (line, session) in [
        ("make test -j8", "s-1"),
        ("make test SHELL=/tmp/x", "s-1"),
        ("make test --eval=x", "s-1"),
        ("make deploy", "s-1"),
        ("make test && rm -rf build", "s-1"),
        ("make test", "s-2"),
    ] {
        let out = shell(&d, line, session, "1")
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{line} in {session} should wait and expire"
        );
    }
    let grants: Vec<Value> =
        serde_json::from_slice(&run(&d, &["grants", "--json"]).await.stdout).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0]["covers"],
        json!({"kind": "commands", "prefixes": ["make test"]})
    );
    assert_eq!(grants[0]["uses"], 2);
    let table = text(&run(&d, &["grants"]).await.stdout);
    assert!(
        table.contains("commands: make test (other plain arguments)"),
        "{table}"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wider_grant_answers_the_pending_calls_it_covers_too() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, "make test", "s-1", "60");
    pending(&d, 1).await;
    let second = shell(&d, "make test && git status", "s-1", "60");
    let other = shell(&d, "make lint", "s-1", "60");
    let list = pending(&d, 3).await;
    let make_test = list
        .iter()
        .find(|v| v["args"]["command"] == "make test")
        .unwrap();
    let out = run(&d, &["approve", &id(make_test), "--grant", "commands"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(first.wait_with_output().await.unwrap().status.success());
    assert!(second.wait_with_output().await.unwrap().status.success());
    let left = pending(&d, 1).await;
    assert_eq!(left[0]["args"]["command"], "make lint");
    drop(other);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wider_grant_survives_a_restart_and_is_revoked_like_any_other() {
    let mut d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, "make test", "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    let out = run(
        &d,
        &[
            "approve",
            &id(&req),
            "--grant",
            "commands",
            "--scope",
            "timeboxed",
            "--ttl",
            "2h",
        ],
    )
    .await;
    assert!(
        text(&out.stdout).contains("covers the next 2h"),
        "{}",
        text(&out.stdout)
    );
    first.wait_with_output().await.unwrap();
    d.restart(Settings::default()).await.unwrap();
    let out = shell(&d, "make test && git status", "s-9", "60")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let grants: Vec<Value> =
        serde_json::from_slice(&run(&d, &["grants", "--json"]).await.stdout).unwrap();
    assert_eq!(grants[0]["covers"]["kind"], "commands");
    let out = run(&d, &["revoke", "--all"]).await;
    assert_eq!(text(&out.stdout), "revoked 1 grant\n");
    let out = shell(&d, "make test -k", "s-9", "1")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "asks again once revoked");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_mistakes_are_one_clear_line() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let _waiting = shell(&d, "make test", "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    let out = run(&d, &["approve", &id(&req), "--grant", "folder"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "a grant not offered is a usage error"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("offers no grant 'folder'; it offers exact, commands"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = run(
        &d,
        &[
            "approve",
            &id(&req),
            "--grant",
            "commands",
            "--scope",
            "once",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--grant goes with --scope session"));
    let out = run(&d, &["deny", &id(&req), "--grant", "commands"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--grant goes with approve"));
    // Nothing was decided by the mistakes.
    assert_eq!(pending(&d, 1).await.len(), 1);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_working_folder_is_refused_with_where() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = common::ash_as_alice(d.socket())
        .args(["request", "--tool", "x", "--cwd", "relative/dir"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--cwd must be an absolute path"));
    d.stop().await.unwrap();
}
