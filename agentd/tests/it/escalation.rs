//! Escalation through parent agents: a reviewing parent gets its child's request before the
//! operators and approves, denies or escalates it; silence, the reviewer leaving, or the depth
//! cap send it on; the path it took is kept, shown and audited.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common;

use agentd::queue::Approver;
use agentd::Settings;
use agentd_proto::{
    ApprovalRequest, Client, DecideRequest, DecisionSource, ErrorCode, ReviewAction,
    ReviewDecision, Risk, State, Submitted, Verdict,
};
use agentd_testkit::TempDaemon;
use common::operators_see;

fn deploy() -> ApprovalRequest {
    ApprovalRequest {
        tool: "deploy".into(),
        args_json: r#"{"env":"staging"}"#.into(),
        ..ApprovalRequest::default()
    }
}

/// `lead`, as this test's own user, may approve requests up to `max_risk`.
fn lead_may_approve(max_risk: Risk) -> Approver {
    Approver {
        uid: nix::unistd::Uid::effective().as_raw(),
        agent: "lead".into(),
        max_risk,
        tools: Some(vec!["deploy".into()]),
    }
}

async fn reviewer(d: &TempDaemon, name: &str, parent: Option<&str>) -> Client {
    let mut c = match parent {
        Some(p) => Client::connect_child(d.socket(), name, p).await.unwrap(),
        None => d.agent(name).await.unwrap(),
    };
    c.review().await.unwrap();
    c
}

async fn child_asks(d: &TempDaemon) -> (Client, uuid::Uuid) {
    let mut child = Client::connect_child(d.socket(), "worker", "lead")
        .await
        .unwrap();
    let Submitted::Queued(t) = child.submit(&deploy()).await.unwrap() else {
        panic!("expected a queued request");
    };
    (child, t.id)
}

fn act(id: uuid::Uuid, action: ReviewAction, note: &str) -> ReviewDecision {
    ReviewDecision {
        id,
        action,
        note: Some(note.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewing_parent_answers_before_the_operators_see_it() {
    // Only a parent the config empowers may approve.
    let d = TempDaemon::start(Settings {
        review_approvers: vec![lead_may_approve(Risk::High)],
        ..Settings::default()
    })
    .unwrap();
    let mut lead = reviewer(&d, "lead", None).await;
    let (mut child, id) = child_asks(&d).await;
    let got = lead.next_review().await.unwrap();
    assert_eq!(got.id, id);
    assert_eq!(got.reviewer.as_deref(), Some("lead"));
    assert!(
        operators_see(&d, 0).await.is_empty(),
        "not the operators' business yet"
    );
    let view = lead
        .review_decide(&act(id, ReviewAction::Approve, "staging is fine"))
        .await
        .unwrap();
    assert_eq!(view.state, State::Approved);
    let outcome = child.wait().await.unwrap();
    assert_eq!(outcome.decision.source, DecisionSource::Parent);
    assert_eq!(
        outcome.decision.to_string(),
        "approved by parent agent lead: staging is fine"
    );
    let shown = d
        .operator("alice")
        .await
        .unwrap()
        .get(&id.to_string())
        .await
        .unwrap();
    assert_eq!(
        shown.path,
        vec![
            "asked by worker; sent to parent agent lead for review".to_string(),
            "approved by parent agent lead: staging is fine".to_string(),
        ]
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_can_deny_and_its_note_reaches_the_child() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut lead = reviewer(&d, "lead", None).await;
    let (mut child, id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    lead.review_decide(&act(id, ReviewAction::Deny, "use the canary first"))
        .await
        .unwrap();
    let outcome = child.wait().await.unwrap();
    assert_eq!(outcome.decision.state, State::Denied);
    assert_eq!(
        outcome.decision.reason.as_deref(),
        Some("use the canary first")
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_reaches_the_operators_with_the_parents_note() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut lead = reviewer(&d, "lead", None).await;
    let (mut child, id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    let view = lead
        .review_decide(&act(id, ReviewAction::Escalate, "needs a human"))
        .await
        .unwrap();
    assert_eq!(view.reviewer, None);
    let seen = operators_see(&d, 1).await;
    assert_eq!(
        seen[0].path.last().unwrap(),
        "escalated by parent agent lead: needs a human; sent to the operators"
    );
    let mut op = d.operator("alice").await.unwrap();
    op.decide(&DecideRequest {
        id: id.to_string(),
        verdict: Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    })
    .await
    .unwrap();
    assert!(child.wait().await.unwrap().approved());
    // The parent cannot decide it any more.
    let err = lead
        .review_decide(&act(id, ReviewAction::Approve, "late"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AlreadyFinished));
    assert_eq!(op.verify_audit().await.unwrap().broken, None);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_parent_is_passed_over_after_its_window() {
    let d = TempDaemon::start(Settings {
        escalation_window: Duration::from_millis(200),
        ..Settings::default()
    })
    .unwrap();
    let mut lead = reviewer(&d, "lead", None).await;
    let (_child, _id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    let seen = operators_see(&d, 1).await;
    assert_eq!(
        seen[0].path.last().unwrap(),
        "parent agent lead did not answer within 0.2s; sent to the operators"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalations_climb_the_parents_up_to_the_depth_cap() {
    // worker → lead → boss, all reviewing: lead's escalation goes to boss, boss's to people.
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut lead = reviewer(&d, "lead", Some("boss")).await;
    let mut boss = reviewer(&d, "boss", None).await;
    let (_child, id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    lead.review_decide(&act(id, ReviewAction::Escalate, "over my head"))
        .await
        .unwrap();
    let at_boss = boss.next_review().await.unwrap();
    assert_eq!(at_boss.reviewer.as_deref(), Some("boss"));
    boss.review_decide(&act(id, ReviewAction::Escalate, "ask a human"))
        .await
        .unwrap();
    let seen = operators_see(&d, 1).await;
    assert_eq!(seen[0].path.len(), 3, "{:?}", seen[0].path);
    d.stop().await.unwrap();

    // With a depth cap of 1, lead's escalation skips boss.
    let d = TempDaemon::start(Settings {
        max_review_depth: 1,
        ..Settings::default()
    })
    .unwrap();
    let mut lead = reviewer(&d, "lead", Some("boss")).await;
    let _boss = reviewer(&d, "boss", None).await;
    let (_child, id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    let view = lead
        .review_decide(&act(id, ReviewAction::Escalate, "up"))
        .await
        .unwrap();
    assert_eq!(view.reviewer, None, "straight to the operators");
    operators_see(&d, 1).await;
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_that_leaves_hands_its_requests_on() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let mut lead = reviewer(&d, "lead", None).await;
    let (_child, _id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    drop(lead);
    let seen = operators_see(&d, 1).await;
    assert!(seen[0]
        .path
        .last()
        .unwrap()
        .starts_with("parent agent lead went away"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_reviewer_holding_a_request_decides_it_and_without_one_it_goes_to_people() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    // No reviewer connected: straight to the operators.
    let (_c, _id) = child_asks(&d).await;
    operators_see(&d, 1).await;
    let mut lead = reviewer(&d, "lead", None).await;
    let (_child, id) = child_asks(&d).await;
    lead.next_review().await.unwrap();
    // The child itself cannot review its own request.
    let mut sneaky = d.agent("worker").await.unwrap();
    let err = sneaky
        .review_decide(&act(id, ReviewAction::Approve, "me"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    assert!(
        err.to_string().contains("is not with worker for review"),
        "{err}"
    );
    d.stop().await.unwrap();
}
