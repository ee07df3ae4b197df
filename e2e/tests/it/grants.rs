//! Decision scopes through the real `ash` binary and a real agentd: session and timeboxed
//! grants answer identical requests at once, and only identical ones; they can be denials,
//! are listed and revoked, survive a restart, expire, and are evicted least-recently-used.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::{alice_pending as pending, alice_run as run, id_of as id, text};
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::{Poller, TempDaemon};
use serde_json::Value;
use tokio::process::Child;

const LIMIT: Duration = Duration::from_secs(30);
const TEST: &str = r#"{"command":"make test"}"#;
const DEPLOY: &str = r#"{"command":"make deploy"}"#;

/// `ash request` for the shell tool as agent claude, in `session`.
fn shell(d: &TempDaemon, args: &str, session: &str, timeout: &str) -> Child {
    common::ash_as_alice(d.socket())
        .args([
            "request",
            "--tool",
            "shell",
            "--agent",
            "claude",
            "--session",
            session,
        ])
        .args(["--args", args, "--timeout", timeout])
        .spawn()
        .unwrap()
}

async fn grants(d: &TempDaemon) -> Vec<Value> {
    serde_json::from_slice(&run(d, &["grants", "--json"]).await.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_make_test_for_the_session_and_the_next_ten_pass_while_deploy_asks() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, TEST, "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    let out = run(&d, &["approve", &id(&req)[..6], "--scope", "session"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("covers this session"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        first.wait_with_output().await.unwrap().status.code(),
        Some(0)
    );

    for _ in 0..10 {
        let out = shell(&d, TEST, "s-1", "60")
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let said = text(&out.stderr);
        assert!(said.contains("approved by a grant from alice"), "{said}");
        assert!(
            !said.contains("waiting for approval"),
            "never asked: {said}"
        );
    }
    // make deploy still asks; and make test from another session, or another agent, asks too.
    let deploy = shell(&d, DEPLOY, "s-1", "0.5")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(
        deploy.status.code(),
        Some(3),
        "deploy was asked about and timed out"
    );
    let other = shell(&d, TEST, "s-2", "0.5")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(other.status.code(), Some(3));
    let g = grants(&d).await;
    assert_eq!(g.len(), 1);
    assert_eq!(g[0]["uses"], 10);
    assert_eq!(g[0]["session"], "s-1");
    assert_eq!(g[0]["created_by"], "alice");
    assert_eq!(g[0]["args"], serde_json::json!({"command": "make test"}));
    // The answers name the grant in history and export.
    let hist: Vec<Value> = serde_json::from_slice(
        &run(
            &d,
            &[
                "history", "--tool", "shell", "--state", "approved", "--json",
            ],
        )
        .await
        .stdout,
    )
    .unwrap();
    let by_grant = hist
        .iter()
        .filter(|r| r["decision"]["source"] == "grant")
        .count();
    assert_eq!(by_grant, 10);
    let audit = run(&d, &["audit", "verify"]).await;
    assert_eq!(audit.status.code(), Some(0), "{}", text(&audit.stdout));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_approval_also_answers_the_identical_requests_already_waiting() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let a = shell(&d, TEST, "s-9", "60");
    let b = shell(&d, TEST, "s-9", "60");
    let c = shell(&d, DEPLOY, "s-9", "60");
    let list = pending(&d, 3).await;
    let test_req = list
        .iter()
        .find(|r| r["args"]["command"] == "make test")
        .unwrap();
    run(&d, &["approve", &id(test_req), "--scope", "session"]).await;
    assert_eq!(a.wait_with_output().await.unwrap().status.code(), Some(0));
    assert_eq!(b.wait_with_output().await.unwrap().status.code(), Some(0));
    let left = pending(&d, 1).await;
    assert_eq!(left[0]["args"]["command"], "make deploy");
    drop(c);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_denial_answers_with_a_denial_until_revoked() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, DEPLOY, "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    let out = run(
        &d,
        &[
            "deny",
            &id(&req),
            "--operator",
            "bob",
            "--reason",
            "no deploys today",
            "--scope",
            "timeboxed",
            "--ttl",
            "1h",
        ],
    )
    .await;
    assert!(
        text(&out.stdout).contains("covers the next 1h00m"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        first.wait_with_output().await.unwrap().status.code(),
        Some(1)
    );
    let again = shell(&d, DEPLOY, "any-session", "60")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("denied by a grant from bob"),
        "{}",
        text(&again.stderr)
    );
    // The operator's words go with every denial the grant gives, across a restart too.
    assert!(
        text(&again.stderr).contains("no deploys today"),
        "{}",
        text(&again.stderr)
    );
    let mut d = d;
    d.restart(Settings::default()).await.unwrap();
    assert_eq!(grants(&d).await[0]["reason"], "no deploys today");
    let again = shell(&d, DEPLOY, "other-session", "60")
        .wait_with_output()
        .await
        .unwrap();
    assert!(
        text(&again.stderr).contains("no deploys today"),
        "{}",
        text(&again.stderr)
    );

    let g = grants(&d).await;
    let gid = g[0]["id"].as_str().unwrap().to_string();
    let out = run(&d, &["revoke", &gid[..8]]).await;
    assert_eq!(text(&out.stdout), "revoked 1 grant\n");
    let asked = shell(&d, DEPLOY, "s-1", "0.5")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(asked.status.code(), Some(3), "asked again after the revoke");
    let out = run(&d, &["revoke", &gid[..8]]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no grant or request matches"),
        "{}",
        text(&out.stderr)
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_survive_a_restart_and_revoke_all_ends_them() {
    let mut d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, TEST, "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    run(
        &d,
        &["approve", &id(&req), "--scope", "timeboxed", "--ttl", "2h"],
    )
    .await;
    first.wait_with_output().await.unwrap();
    d.restart(Settings::default()).await.unwrap();
    let out = shell(&d, TEST, "s-7", "60")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the grant came back: {}",
        text(&out.stderr)
    );
    let out = run(&d, &["revoke", "--all"]).await;
    assert_eq!(text(&out.stdout), "revoked 1 grant\n");
    d.restart(Settings::default()).await.unwrap();
    assert!(grants(&d).await.is_empty(), "a revoked grant stays revoked");
    let out = run(&d, &["revoke"]).await;
    assert_eq!(out.status.code(), Some(2));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_expires_at_its_time() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let first = shell(&d, TEST, "s-1", "60");
    let req = pending(&d, 1).await.remove(0);
    run(
        &d,
        &["approve", &id(&req), "--scope", "timeboxed", "--ttl", "1s"],
    )
    .await;
    first.wait_with_output().await.unwrap();
    let expires: chrono::DateTime<chrono::Utc> = grants(&d).await[0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut poller = Poller::new(LIMIT, "the grant's time to pass");
    // expires_at is shown to the second; the grant may run to the end of that second.
    while chrono::Utc::now() <= expires + chrono::Duration::seconds(1) {
        poller.tick().await;
    }
    let out = shell(&d, TEST, "s-1", "0.5")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "asked again once expired");
    assert!(grants(&d).await.is_empty());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_grant_goes_when_the_set_is_full() {
    let d = TempDaemon::start(Settings {
        grant_capacity: 2,
        ..Settings::default()
    })
    .unwrap();
    for n in 1..=3 {
        let args = format!(r#"{{"n":{n}}}"#);
        let waiting = shell(&d, &args, "s-1", "60");
        let req = pending(&d, 1).await.remove(0);
        run(&d, &["approve", &id(&req), "--scope", "session"]).await;
        waiting.wait_with_output().await.unwrap();
    }
    let g = grants(&d).await;
    let kept: Vec<&Value> = g.iter().map(|g| &g["args"]["n"]).collect();
    assert_eq!(kept, vec![2, 3], "the oldest, unused since, went");
    let out = shell(&d, r#"{"n":1}"#, "s-1", "0.5")
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_mistakes_are_clear() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let waiting = common::ash_as_alice(d.socket())
        .args(["request", "--tool", "shell"])
        .spawn()
        .unwrap();
    let req = pending(&d, 1).await.remove(0);
    let out = run(&d, &["approve", &id(&req), "--scope", "session"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "a scope the request cannot take is a usage error"
    );
    assert!(
        text(&out.stderr).contains("has no session"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&d, &["approve", &id(&req), "--ttl", "1h"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--ttl goes with --scope timeboxed"));
    let out = run(
        &d,
        &["approve", &id(&req), "--scope", "timeboxed", "--ttl", "90d"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("1 s to 30 days"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&d, &["approve", &id(&req), "--scope", "forever"]).await;
    assert_eq!(out.status.code(), Some(2));
    drop(waiting);
    d.stop().await.unwrap();
}
