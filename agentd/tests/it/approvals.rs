//! The approval round trip through the real socket and the real client: approve, deny, timeout,
//! cancel, re-attach, abandonment, the decision/deadline race, and 200 agents at once.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::time::Duration;

use agentd::Settings;
use agentd_proto::{
    request_approval, ApprovalRequest, Client, DecideRequest, DecisionSource, ErrorCode, Outcome,
    RequestView, Risk, State, Submitted, ToolSpec, Verdict,
};
use agentd_testkit::{unlimited, Poller, TempDaemon};

const LIMIT: Duration = Duration::from_secs(20);

fn decide(id: &str, verdict: Verdict, operator: &str, reason: Option<&str>) -> DecideRequest {
    DecideRequest {
        id: id.into(),
        verdict,
        operator: operator.into(),
        reason: reason.map(String::from),
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    }
}

/// Waits until exactly `n` requests are pending and returns them.
async fn pending(op: &mut Client, n: usize) -> Vec<RequestView> {
    let mut poller = Poller::new(LIMIT, format!("{n} pending requests"));
    loop {
        let list = op.list(Some(State::Pending)).await.unwrap();
        if list.len() == n {
            return list;
        }
        poller.tick().await;
    }
}

async fn submit_queued(agent: &mut Client, req: &ApprovalRequest) -> agentd_proto::Ticket {
    match agent.submit(req).await.unwrap() {
        Submitted::Queued(t) => t,
        Submitted::Decided(o) => panic!("expected a queued request, got {o:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_approval_reaches_the_waiting_agent() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let socket = d.socket().to_path_buf();
    let agent = tokio::spawn(async move {
        request_approval(
            &socket,
            "claude",
            &common::sensitive(r#"{"target":"prod"}"#),
            |_| {},
        )
        .await
    });
    let mut op = d.operator("alice").await.unwrap();
    let queued = pending(&mut op, 1).await;
    assert_eq!(queued[0].agent.name, "claude");
    assert!(queued[0].agent.pid.is_some() && queued[0].agent.uid.is_some());
    assert_eq!(queued[0].args_json, r#"{"target":"prod"}"#);
    assert_eq!(queued[0].risk, Risk::High);
    let prefix = &queued[0].id.to_string()[..6];
    let decided = op
        .decide(&decide(prefix, Verdict::Approve, "alice", None))
        .await
        .unwrap();
    assert_eq!(decided.state, State::Approved);
    let outcome = agent.await.unwrap().unwrap();
    assert_eq!(outcome.id, queued[0].id);
    assert!(outcome.approved());
    assert_eq!(outcome.decision.by, "alice");
    assert_eq!(outcome.decision.source, DecisionSource::Operator);
    assert!(op.list(Some(State::Pending)).await.unwrap().is_empty());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_reaches_the_agent_with_its_reason() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let socket = d.socket().to_path_buf();
    let agent = tokio::spawn(async move {
        request_approval(&socket, "claude", &common::sensitive("{}"), |_| {}).await
    });
    let mut op = d.operator("bob").await.unwrap();
    let id = pending(&mut op, 1).await[0].id.to_string();
    op.decide(&decide(&id, Verdict::Deny, "bob", Some("not on a Friday")))
        .await
        .unwrap();
    let outcome = agent.await.unwrap().unwrap();
    assert_eq!(outcome.decision.state, State::Denied);
    assert_eq!(outcome.decision.reason.as_deref(), Some("not on a Friday"));
    assert_eq!(
        outcome.decision.to_string(),
        "denied by operator bob: not on a Friday"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_denies_automatically_and_late_decisions_are_refused() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let req = ApprovalRequest {
        timeout_ms: Some(300),
        ..common::sensitive("{}")
    };
    let outcome = request_approval(d.socket(), "claude", &req, |t| {
        let ms = (t.expires_at - t.created_at).num_milliseconds();
        assert_eq!(ms, 300, "the agent's shorter timeout is honoured");
    })
    .await
    .unwrap();
    assert_eq!(outcome.decision.state, State::Expired);
    assert_eq!(outcome.decision.source, DecisionSource::Timeout);
    let mut op = d.operator("alice").await.unwrap();
    let err = op
        .decide(&decide(
            &outcome.id.to_string(),
            Verdict::Approve,
            "alice",
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AlreadyFinished));
    assert!(err.to_string().contains("already expired"), "{err}");
    assert_eq!(
        op.get(&outcome.id.to_string()).await.unwrap().state,
        State::Expired
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_timeout_than_the_tools_is_cut_to_the_tools() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(
        &mut agent,
        &ApprovalRequest {
            timeout_ms: Some(3_600_000),
            ..common::sensitive("{}")
        },
    )
    .await;
    assert_eq!((ticket.expires_at - ticket.created_at).num_seconds(), 300);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_can_withdraw_its_request() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(&mut agent, &common::sensitive("{}")).await;
    // Cancel from a second connection, as `ash request` does on Ctrl-C.
    let mut other = d.agent("claude").await.unwrap();
    let cancelled = other.cancel(ticket.id).await.unwrap();
    assert_eq!(cancelled.decision.state, State::Withdrawn);
    let waited = agent.wait().await.unwrap();
    assert_eq!(waited, cancelled);
    let mut op = d.operator("alice").await.unwrap();
    let err = op
        .decide(&decide(
            &ticket.id.to_string(),
            Verdict::Approve,
            "alice",
            None,
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("was withdrawn by agent claude"),
        "{err}"
    );
    // A second cancel reports what happened, not a new outcome.
    assert_eq!(other.cancel(ticket.id).await.unwrap(), cancelled);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_on_the_waiting_connection_ends_the_wait() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(&mut agent, &common::sensitive("{}")).await;
    let outcome = agent.cancel(ticket.id).await.unwrap();
    assert_eq!(outcome.decision.state, State::Withdrawn);
    // The connection is free again for the next request.
    agent.ping().await.unwrap();
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_reconnects_within_the_grace_period_gets_its_answer() {
    let d = TempDaemon::start(Settings {
        grace_period: Duration::from_secs(30),
        ..Settings::default()
    })
    .unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(&mut agent, &common::sensitive(r#"{"n":1}"#)).await;
    drop(agent);
    let mut op = d.operator("alice").await.unwrap();
    let id = ticket.id.to_string();
    let mut poller = Poller::new(LIMIT, "the request to show its agent gone");
    while op.get(&id).await.unwrap().attached {
        poller.tick().await;
    }
    let mut back = d.agent("claude").await.unwrap();
    match back.attach(ticket.id).await.unwrap() {
        Submitted::Queued(t) => assert_eq!(t, ticket),
        other => panic!("expected the request still pending, got {other:?}"),
    }
    assert!(op.get(&id).await.unwrap().attached);
    op.decide(&decide(&id, Verdict::Approve, "alice", None))
        .await
        .unwrap();
    assert!(back.wait().await.unwrap().approved());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_stays_away_past_the_grace_period_is_withdrawn() {
    let d = TempDaemon::start(Settings {
        grace_period: Duration::from_millis(100),
        ..Settings::default()
    })
    .unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(&mut agent, &common::sensitive("{}")).await;
    drop(agent);
    let mut op = d.operator("alice").await.unwrap();
    let id = ticket.id.to_string();
    let mut poller = Poller::new(LIMIT, "the request to be withdrawn");
    let view = loop {
        let view = op.get(&id).await.unwrap();
        if view.state == State::Withdrawn {
            break view;
        }
        poller.tick().await;
    };
    let decision = view.decision.unwrap();
    assert_eq!(decision.source, DecisionSource::Agent);
    assert!(decision.reason.unwrap().contains("did not come back"));
    let err = op
        .decide(&decide(&id, Verdict::Approve, "alice", None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AlreadyFinished));
    assert!(err.to_string().contains("withdrawn"), "{err}");
    // Re-attaching now reports the withdrawal.
    let mut late = d.agent("claude").await.unwrap();
    match late.attach(ticket.id).await.unwrap() {
        Submitted::Decided(o) => assert_eq!(o.decision.state, State::Withdrawn),
        other => panic!("expected the withdrawal, got {other:?}"),
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_racing_the_deadline_has_exactly_one_outcome() {
    // One agent sends 200 requests back to back: past the default rate limit on purpose.
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        ..Settings::default()
    })
    .unwrap();
    let mut agent = d.agent("racer").await.unwrap();
    let mut op = d.operator("alice").await.unwrap();
    let (mut approved, mut expired) = (0, 0);
    for i in 0..200i64 {
        let ticket = submit_queued(
            &mut agent,
            &ApprovalRequest {
                timeout_ms: Some(20),
                ..common::sensitive(&format!(r#"{{"i":{i}}}"#))
            },
        )
        .await;
        // Not a readiness wait: the decision is scheduled from 4 ms before to 4 ms after the
        // deadline, so it lands on both sides of it and on the instant itself.
        let offset = chrono::Duration::microseconds((i % 9 - 4) * 1000);
        let until_decision = (ticket.expires_at + offset - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep_until(tokio::time::Instant::now() + until_decision).await;
        let id = ticket.id.to_string();
        let decided = op
            .decide(&decide(&id, Verdict::Approve, "alice", None))
            .await;
        let outcome: Outcome = agent.wait().await.unwrap();
        let stored = op.get(&id).await.unwrap();
        match decided {
            Ok(view) => {
                approved += 1;
                assert_eq!(view.state, State::Approved);
                assert_eq!(outcome.decision.state, State::Approved, "iteration {i}");
            }
            Err(e) => {
                expired += 1;
                assert_eq!(e.code(), Some(ErrorCode::AlreadyFinished), "{e}");
                assert_eq!(outcome.decision.state, State::Expired, "iteration {i}");
            }
        }
        assert_eq!(stored.state, outcome.decision.state, "iteration {i}");
        assert_eq!(stored.decision.as_ref(), Some(&outcome.decision));
    }
    eprintln!("decision/deadline race: {approved} approved, {expired} expired");
    assert!(
        approved > 0 && expired > 0,
        "both sides of the deadline were exercised"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_agents_wait_at_once_and_each_gets_its_own_answer() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let started = std::time::Instant::now();
    let mut agents = Vec::new();
    for n in 0..200u32 {
        let socket = d.socket().to_path_buf();
        agents.push(tokio::spawn(async move {
            let req = common::sensitive(&format!(r#"{{"n":{n}}}"#));
            let outcome = request_approval(&socket, &format!("agent-{n}"), &req, |_| {})
                .await
                .unwrap();
            (n, outcome)
        }));
    }
    let mut op = d.operator("alice").await.unwrap();
    let queued = pending(&mut op, 200).await;
    for view in &queued {
        let n: u32 = serde_json::from_str::<serde_json::Value>(&view.args_json).unwrap()["n"]
            .as_u64()
            .unwrap() as u32;
        assert_eq!(view.agent.name, format!("agent-{n}"));
        let (verdict, reason) = if n.is_multiple_of(2) {
            (Verdict::Approve, None)
        } else {
            (Verdict::Deny, Some(format!("odd {n}")))
        };
        op.decide(&decide(
            &view.id.to_string(),
            verdict,
            "alice",
            reason.as_deref(),
        ))
        .await
        .unwrap();
    }
    for agent in agents {
        let (n, outcome) = agent.await.unwrap();
        if n.is_multiple_of(2) {
            assert!(outcome.approved(), "agent {n}: {outcome:?}");
        } else {
            assert_eq!(outcome.decision.state, State::Denied, "agent {n}");
            assert_eq!(outcome.decision.reason, Some(format!("odd {n}")));
        }
        let view = queued.iter().find(|v| v.id == outcome.id).unwrap();
        assert_eq!(view.agent.name, format!("agent-{n}"));
    }
    eprintln!(
        "200 concurrent approvals: queued, decided and answered in {:?}",
        started.elapsed()
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_that_need_no_approval_are_answered_at_once() {
    let d = TempDaemon::start(Settings {
        tools: vec![ToolSpec {
            name: "read-file".into(),
            requires_approval: false,
            approval_timeout_secs: 10,
            risk: Risk::Low,
        }],
        ..Settings::default()
    })
    .unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let req = ApprovalRequest {
        tool: "read-file".into(),
        args_json: r#"{"path":"/etc/hosts"}"#.into(),
        ..ApprovalRequest::default()
    };
    match agent.submit(&req).await.unwrap() {
        Submitted::Decided(o) => {
            assert!(o.approved());
            assert_eq!(o.decision.source, DecisionSource::Policy);
        }
        other => panic!("expected an answer at once, got {other:?}"),
    }
    let mut op = d.operator("alice").await.unwrap();
    assert!(op.list(Some(State::Pending)).await.unwrap().is_empty());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_register_tools_at_run_time_but_cannot_weaken_one() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    // An agent cannot open a tool: registering `ls` as needing no approval leaves it asking.
    let ls = agent
        .register_tool(&ToolSpec {
            name: "ls".into(),
            requires_approval: false,
            approval_timeout_secs: 30,
            risk: Risk::Low,
        })
        .await
        .unwrap();
    assert!(ls.requires_approval);
    assert_eq!(ls.risk, Risk::Medium, "the unknown-tool default");
    let req = ApprovalRequest {
        tool: "ls".into(),
        ..ApprovalRequest::default()
    };
    let mut asking = d.agent("claude").await.unwrap();
    assert!(matches!(
        asking.submit(&req).await.unwrap(),
        Submitted::Queued(_)
    ));
    // An operator's registration is the operator's act, and may open it for everyone.
    let mut op = d.operator("alice").await.unwrap();
    let opened = op
        .register_tool(&ToolSpec {
            name: "ls".into(),
            requires_approval: false,
            approval_timeout_secs: 30,
            risk: Risk::Low,
        })
        .await
        .unwrap();
    assert!(!opened.requires_approval);
    let mut fresh = d.agent("other").await.unwrap();
    assert!(matches!(fresh.submit(&req).await.unwrap(), Submitted::Decided(o) if o.approved()));
    let sensitive_op = agent
        .register_tool(&ToolSpec {
            name: "sensitive-op".into(),
            requires_approval: false,
            approval_timeout_secs: 9999,
            risk: Risk::Low,
        })
        .await
        .unwrap();
    assert!(sensitive_op.requires_approval);
    assert_eq!(sensitive_op.approval_timeout_secs, 300);
    assert_eq!(sensitive_op.risk, Risk::High);
    let deploy = agent
        .register_tool(&ToolSpec {
            name: "deploy".into(),
            requires_approval: true,
            approval_timeout_secs: 60,
            risk: Risk::Critical,
        })
        .await
        .unwrap();
    let ticket = submit_queued(
        &mut agent,
        &ApprovalRequest {
            tool: deploy.name.clone(),
            ..ApprovalRequest::default()
        },
    )
    .await;
    assert_eq!(ticket.risk, Risk::Critical);
    assert_eq!((ticket.expires_at - ticket.created_at).num_seconds(), 60);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tools_ask_with_medium_risk_and_hints_only_raise_it() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(
        &mut agent,
        &ApprovalRequest {
            tool: "rm".into(),
            ..ApprovalRequest::default()
        },
    )
    .await;
    assert_eq!(ticket.risk, Risk::Medium);
    assert_eq!((ticket.expires_at - ticket.created_at).num_seconds(), 300);
    let mut other = d.agent("claude").await.unwrap();
    let hinted = submit_queued(
        &mut other,
        &ApprovalRequest {
            tool: "rm".into(),
            risk_hint: Some(Risk::Critical),
            ..ApprovalRequest::default()
        },
    )
    .await;
    assert_eq!(hinted.risk, Risk::Critical);
    let mut op = d.operator("alice").await.unwrap();
    let view = op.get(&hinted.id.to_string()).await.unwrap();
    assert!(view
        .risk_reasons
        .iter()
        .any(|r| r.contains("not in the registry")));
    assert!(view
        .risk_reasons
        .iter()
        .any(|r| r.contains("raised to critical")));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_larger_than_one_frame_arrives_whole() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    // 24 requests of ~200 KiB of arguments each: about 5 MB, five times the frame limit.
    let mut agents = Vec::new();
    for n in 0..24 {
        let mut agent = d.agent("bulky").await.unwrap();
        let args = format!(r#"{{"n":{n},"blob":"{}"}}"#, "b".repeat(200 * 1024));
        submit_queued(&mut agent, &common::sensitive(&args)).await;
        agents.push(agent);
    }
    let mut op = d.operator("alice").await.unwrap();
    let list = op.list(Some(State::Pending)).await.unwrap();
    assert_eq!(list.len(), 24);
    let mut ns: Vec<u64> = list
        .iter()
        .map(|v| {
            serde_json::from_str::<serde_json::Value>(&v.args_json).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..24).collect::<Vec<u64>>());
    // The connection is still in step after a multi-frame answer.
    op.ping().await.unwrap();
    assert_eq!(op.list(Some(State::Approved)).await.unwrap().len(), 0);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_are_pushed_every_queue_change() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut watcher = d.operator("tui").await.unwrap();
    watcher.subscribe().await.unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(&mut agent, &common::sensitive(r#"{"x":1}"#)).await;
    match watcher.next_event().await.unwrap() {
        agentd_proto::Event::Queued(v) => {
            assert_eq!(v.id, ticket.id);
            assert_eq!(v.state, State::Pending);
        }
        other => panic!("expected Queued, got {other:?}"),
    }
    let mut op = d.operator("alice").await.unwrap();
    op.decide(&decide(
        &ticket.id.to_string(),
        Verdict::Deny,
        "alice",
        Some("no"),
    ))
    .await
    .unwrap();
    match watcher.next_event().await.unwrap() {
        agentd_proto::Event::Finished(v) => {
            assert_eq!(v.id, ticket.id);
            assert_eq!(v.state, State::Denied);
            assert_eq!(v.decision.unwrap().by, "alice");
        }
        other => panic!("expected Finished, got {other:?}"),
    }
    assert_eq!(agent.wait().await.unwrap().decision.state, State::Denied);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_agent_carries_on_across_a_restart() {
    let mut d = TempDaemon::start(Settings::default()).unwrap();
    let socket = d.socket().to_path_buf();
    let (acked_tx, acked) = tokio::sync::oneshot::channel();
    let agent = tokio::spawn(async move {
        request_approval(&socket, "claude", &common::sensitive(r#"{"n":7}"#), |t| {
            let _ = acked_tx.send(t.id);
        })
        .await
    });
    // Restart only once the agent holds its acknowledgement: before that, losing agentd is
    // an error the agent sees (and resubmits), not something to re-attach to.
    let acked_id = acked.await.unwrap();
    let mut op = d.operator("alice").await.unwrap();
    let before = pending(&mut op, 1).await.remove(0);
    assert_eq!(before.id, acked_id);
    drop(op);
    d.restart(Settings::default()).await.unwrap();
    // The request is back with its original deadline, and the agent re-attaches by itself.
    let mut op = d.operator("alice").await.unwrap();
    let id = before.id.to_string();
    let mut poller = Poller::new(LIMIT, "the agent to re-attach after the restart");
    let after = loop {
        let view = op.get(&id).await.unwrap();
        if view.attached {
            break view;
        }
        if agent.is_finished() {
            panic!(
                "the agent gave up instead of re-attaching: {:?}",
                agent.await
            );
        }
        poller.tick().await;
    };
    assert_eq!(after.state, State::Pending);
    assert_eq!(after.expires_at, before.expires_at);
    assert_eq!(after.args_json, before.args_json);
    op.decide(&decide(&id, Verdict::Approve, "alice", None))
        .await
        .unwrap();
    let outcome = agent.await.unwrap().unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.id, before.id);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_a_restart_forgets_and_the_agent_is_told() {
    let mut d = TempDaemon::memory(Settings::default()).unwrap();
    let socket = d.socket().to_path_buf();
    let (acked_tx, acked) = tokio::sync::oneshot::channel();
    let agent = tokio::spawn(async move {
        request_approval(&socket, "claude", &common::sensitive("{}"), |t| {
            let _ = acked_tx.send(t.id);
        })
        .await
    });
    let id = acked.await.unwrap();
    d.restart(Settings::default()).await.unwrap();
    let err = agent.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert_eq!(err.to_string(), format!("no request matches '{id}'"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_full_durability_outcomes_and_events_follow_the_commit() {
    // Under full durability the store's writer thread commits after the queue has moved on:
    // the outbox releases the event and the outcome only behind that commit.
    let d = TempDaemon::start(Settings {
        durability: agentd::Durability::Full,
        ..Settings::default()
    })
    .unwrap();
    let mut watcher = d.operator("tui").await.unwrap();
    watcher.subscribe().await.unwrap();
    let mut agent = d.agent("claude").await.unwrap();
    let ticket = submit_queued(&mut agent, &common::sensitive(r#"{"x":1}"#)).await;
    match tokio::time::timeout(LIMIT, watcher.next_event())
        .await
        .unwrap()
        .unwrap()
    {
        agentd_proto::Event::Queued(v) => assert_eq!(v.id, ticket.id),
        other => panic!("expected Queued, got {other:?}"),
    }
    let mut op = d.operator("alice").await.unwrap();
    op.decide(&decide(
        &ticket.id.to_string(),
        Verdict::Approve,
        "alice",
        None,
    ))
    .await
    .unwrap();
    let outcome = tokio::time::timeout(LIMIT, agent.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.approved());
    match tokio::time::timeout(LIMIT, watcher.next_event())
        .await
        .unwrap()
        .unwrap()
    {
        agentd_proto::Event::Finished(v) => assert_eq!(v.state, State::Approved),
        other => panic!("expected Finished, got {other:?}"),
    }
    // What the agent was told is what the store holds.
    let stored = op.get(&ticket.id.to_string()).await.unwrap();
    assert_eq!(stored.state, State::Approved);
    d.stop().await.unwrap();
}
