//! What a restart keeps: private files, pending requests with their deadlines, the grace period.

#![allow(clippy::unwrap_used)]

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_files_are_private() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 1).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.state_dir()), 0o700);
    for name in ["agentd.db", "agentd.db-wal", "agentd.db-shm", "agentd.lock"] {
        assert_eq!(mode(&d.state_dir().join(name)), 0o600, "{name}");
    }
    let journals = common::journal_files(&d.state_dir());
    assert!(!journals.is_empty());
    for journal in journals {
        assert_eq!(mode(&journal), 0o600, "{}", journal.display());
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_request_keeps_its_deadline_and_expires_on_it() {
    let mut d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let req = ApprovalRequest {
        timeout_ms: Some(1500),
        ..common::sensitive("{}")
    };
    let Submitted::Queued(t) = agent.submit(&req).await.unwrap() else {
        panic!("expected a queued request");
    };
    d.restart(Settings {
        grace_period: Duration::from_secs(60),
        ..Settings::default()
    })
    .await
    .unwrap();
    drop(agent);
    let mut op = d.operator("alice").await.unwrap();
    let mut poller = Poller::new(LIMIT, "the restored request to expire");
    let view = loop {
        let v = op.get(&t.id.to_string()).await.unwrap();
        if v.state != State::Pending {
            break v;
        }
        poller.tick().await;
    };
    assert_eq!(view.state, State::Expired);
    assert_eq!(view.expires_at, t.expires_at);
    let decision = view.decision.unwrap();
    assert_eq!(decision.source, DecisionSource::Timeout);
    assert!(
        decision.at >= t.expires_at,
        "not before its stored deadline"
    );
    assert_eq!(verify(&d).await.broken, None);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_whose_deadline_passed_while_down_say_so() {
    // The store outlives both daemons.
    let keep = tempfile::tempdir().unwrap();
    let state_dir = keep.path().join("state");
    let d = TempDaemon::start(Settings {
        state_dir: Some(state_dir.clone()),
        ..Settings::default()
    })
    .unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let Submitted::Queued(t) = agent
        .submit(&ApprovalRequest {
            timeout_ms: Some(100),
            ..common::sensitive("{}")
        })
        .await
        .unwrap()
    else {
        panic!("expected a queued request");
    };
    drop(agent);
    d.stop().await.unwrap();
    // Make sure the deadline is behind us before agentd comes back.
    let mut poller = Poller::new(LIMIT, "the deadline to pass");
    while Utc::now() <= t.expires_at {
        poller.tick().await;
    }
    let back = TempDaemon::start(Settings {
        state_dir: Some(state_dir),
        ..Settings::default()
    })
    .unwrap();
    let mut op = back.operator("alice").await.unwrap();
    let view = op.get(&t.id.to_string()).await.unwrap();
    assert_eq!(view.state, State::Expired);
    assert_eq!(
        view.decision.unwrap().reason.as_deref(),
        Some("the deadline passed while agentd was not running")
    );
    back.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_starts_again_when_agentd_comes_back() {
    let mut d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let Submitted::Queued(t) = agent.submit(&common::sensitive("{}")).await.unwrap() else {
        panic!("expected a queued request");
    };
    d.restart(Settings {
        grace_period: Duration::from_millis(200),
        ..Settings::default()
    })
    .await
    .unwrap();
    // The agent's connection died with the old daemon and it never re-attaches.
    drop(agent);
    let mut op = d.operator("alice").await.unwrap();
    let mut poller = Poller::new(LIMIT, "the abandoned request to be withdrawn");
    let view = loop {
        let v = op.get(&t.id.to_string()).await.unwrap();
        if v.state != State::Pending {
            break v;
        }
        poller.tick().await;
    };
    assert_eq!(view.state, State::Withdrawn);
    assert!(view
        .decision
        .unwrap()
        .reason
        .unwrap()
        .contains("did not come back"));
    d.stop().await.unwrap();
}
