//! Who may decide, and what an agent may not do: the own-request rule, operator
//! authorization, rate and pending limits, the connection limit, and the socket's folder,
//! mode and group. Each refusal is a clear error, the ones the issue names are audited, and
//! the daemon keeps serving.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use agentd::config::Limits;
use agentd::{Daemon, Settings};
use agentd_proto::{
    ApprovalRequest, Client, DecideRequest, ErrorCode, Role, State, Submitted, Verdict,
};
use agentd_testkit::{Poller, TempDaemon};

const LIMIT: Duration = Duration::from_secs(20);

fn approve(id: &str) -> DecideRequest {
    DecideRequest {
        id: id.into(),
        verdict: Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    }
}

/// How many audit entries of `kind` the store holds (read with the sqlite3 shell).
async fn audited(d: &TempDaemon, kind: &str) -> usize {
    let db = d.state_dir().join("agentd.db");
    let mut poller = Poller::new(LIMIT, format!("an audit entry of kind {kind}"));
    loop {
        let out = Command::new("sqlite3")
            .arg(&db)
            .arg(format!("SELECT count(*) FROM audit WHERE kind = '{kind}'"))
            .output()
            .unwrap();
        let n: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if n > 0 {
            return n;
        }
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_may_not_decide_its_own_request() {
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let mut agent = d.agent("self-approver").await.unwrap();
    let Submitted::Queued(t) = agent.submit(&common::sensitive("{}")).await.unwrap() else {
        panic!("expected a queued request");
    };
    // Same process, operator role, authorized uid: still refused.
    let mut op = d.operator("alice").await.unwrap();
    let err = op.decide(&approve(&t.id.to_string())).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    assert!(
        err.to_string()
            .contains("a process may not decide its own request"),
        "{err}"
    );
    assert_eq!(
        op.get(&t.id.to_string()).await.unwrap().state,
        State::Pending,
        "nothing was decided"
    );
    assert!(audited(&d, "decision_refused").await >= 1);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_configured_operators_may_decide_list_or_watch() {
    let d = TempDaemon::start(Settings {
        operator_users: vec!["nobody".into()],
        ..Settings::default()
    })
    .unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let Submitted::Queued(t) = agent.submit(&common::sensitive("{}")).await.unwrap() else {
        panic!("expected a queued request");
    };
    let mut op = d.operator("root-pretending").await.unwrap();
    let err = op.decide(&approve(&t.id.to_string())).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    let us = nix::unistd::Uid::effective().as_raw();
    assert!(
        err.to_string().contains(&format!(
            "(uid {us}) may not decide requests: operators here are users nobody"
        )),
        "{err}"
    );
    for refused in [
        op.list(Some(State::Pending)).await.unwrap_err(),
        op.get(&t.id.to_string()).await.unwrap_err(),
        op.verify_audit().await.unwrap_err(),
    ] {
        assert_eq!(refused.code(), Some(ErrorCode::Forbidden), "{refused}");
    }
    assert!(audited(&d, "decision_refused").await >= 1);
    // The agent side is untouched: it can still withdraw its own request.
    assert_eq!(
        agent.cancel(t.id).await.unwrap().decision.state,
        State::Withdrawn
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_agent_is_rate_limited_and_others_are_not() {
    let d = TempDaemon::start(Settings {
        limits: Limits {
            requests_per_sec: 2.0,
            burst: 5.0,
            ..Limits::default()
        },
        tools: vec![agentd_proto::ToolSpec {
            name: "ls".into(),
            requires_approval: false,
            approval_timeout_secs: 10,
            risk: agentd_proto::Risk::Low,
        }],
        ..Settings::default()
    })
    .unwrap();
    let ls = ApprovalRequest {
        tool: "ls".into(),
        ..ApprovalRequest::default()
    };
    let mut flood = d.agent("flood").await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            flood.submit(&ls).await.unwrap(),
            Submitted::Decided(_)
        ));
    }
    let err = flood.submit(&ls).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::LimitReached));
    assert!(
        err.to_string()
            .contains("is over its limit of 2 requests a second, bursts of 5; try again in"),
        "{err}"
    );
    for _ in 0..20 {
        assert!(flood.submit(&ls).await.is_err(), "still limited");
    }
    // Another agent has its own allowance; the flooder's connection still works.
    let mut calm = d.agent("calm").await.unwrap();
    assert!(matches!(
        calm.submit(&ls).await.unwrap(),
        Submitted::Decided(_)
    ));
    flood.ping().await.unwrap();
    // Twenty-one refusals, paced: not twenty-one audit entries.
    let n = audited(&d, "rate_limited").await;
    assert!((1..=2).contains(&n), "{n} rate_limited entries");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_may_only_have_so_many_requests_pending() {
    let d = TempDaemon::start(Settings {
        limits: Limits {
            pending_per_agent: 3,
            ..Limits::default()
        },
        ..Settings::default()
    })
    .unwrap();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut a = d.agent("busy").await.unwrap();
        let Submitted::Queued(t) = a.submit(&common::sensitive("{}")).await.unwrap() else {
            panic!("expected a queued request");
        };
        waiting.push((a, t));
    }
    let mut fourth = d.agent("busy").await.unwrap();
    let err = fourth.submit(&common::sensitive("{}")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::LimitReached));
    assert!(
        err.to_string().contains("already has 3 requests pending"),
        "{err}"
    );
    // The same name from another agent is another agent; a decision frees a slot.
    let mut other = d.agent("other").await.unwrap();
    assert!(matches!(
        other.submit(&common::sensitive("{}")).await.unwrap(),
        Submitted::Queued(_)
    ));
    let mut op = d.operator("alice").await.unwrap();
    op.decide(&approve(&waiting[0].1.id.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        fourth.submit(&common::sensitive("{}")).await.unwrap(),
        Submitted::Queued(_)
    ));
    assert!(audited(&d, "pending_limit").await >= 1);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused_until_one_closes() {
    let d = TempDaemon::start(Settings {
        limits: Limits {
            max_connections: 2,
            // No reserve: this test's operators stand for anyone.
            operator_connections: 0,
            ..Limits::default()
        },
        ..Settings::default()
    })
    .unwrap();
    let first = d.operator("a").await.unwrap();
    let _second = d.operator("b").await.unwrap();
    let err = match Client::connect(d.socket(), Role::Operator, "c").await {
        Err(e) => e,
        Ok(_) => panic!("a third connection was let in"),
    };
    assert_eq!(err.code(), Some(ErrorCode::LimitReached), "{err}");
    drop(first);
    let mut poller = Poller::new(LIMIT, "a connection slot to free up");
    let mut third = loop {
        if let Ok(c) = Client::connect(d.socket(), Role::Operator, "c").await {
            break c;
        }
        poller.tick().await;
    };
    third.ping().await.unwrap();
    d.stop().await.unwrap();
}

fn start_on(socket: &Path, settings: Settings) -> Result<Daemon, agentd::StartError> {
    Daemon::start(settings, socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_folder_must_be_ours_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let settings = || Settings {
        state_dir: Some(dir.path().join("state")),
        ..Settings::default()
    };
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = start_on(&open.join("agentd.sock"), settings())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "the socket folder {} is writable by everyone; refusing to use it",
            open.display()
        )
    );
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let err = start_on(&theirs.join("agentd.sock"), settings())
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with(&format!(
            "the socket folder {} belongs to uid 65534",
            theirs.display()
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_socket_gets_its_mode_and_group_and_a_reachable_folder() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("shared").join("agentd.sock");
    let d = start_on(
        &socket,
        Settings {
            state_dir: Some(dir.path().join("state")),
            socket_mode: 0o660,
            socket_group: Some("nogroup".into()),
            ..Settings::default()
        },
    )
    .unwrap();
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 65534);
    let folder = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(
        folder.permissions().mode() & 0o777,
        0o710,
        "the group may reach the socket"
    );
    assert_eq!(
        folder.gid(),
        65534,
        "through the folder's group, not agentd's own"
    );
    d.stop().await.unwrap();
}
