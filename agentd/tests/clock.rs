//! Deadlines and grant expiry are enforced on the monotonic clock: a wall clock set forward
//! does not expire a pending request, and one that stands still (or is set back) does not
//! extend it or a grant. Time is paused, so the monotonic clock moves only when told and the
//! wall clock stands for one that was set.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use agentd::intake::Admitted;
use agentd::queue::{Caller, Queue, QueueError, QueueSettings, Submission};
use agentd::store::Store;
use agentd_proto::{AgentIdentity, DecideRequest, Risk, Scope, State, Verdict};
use chrono::Utc;

fn queue() -> Arc<Queue> {
    Queue::new(
        Arc::new(Store::memory()),
        QueueSettings {
            grace: Duration::from_secs(3600),
            finished_capacity: 16,
            max_pending_per_agent: 16,
            max_pending_per_uid: 16,
            forbid_own_requests: false,
            approvers: Vec::new(),
            grant_capacity: 16,
            session_grant_ttl: Duration::from_secs(3600),
            escalation_window: Duration::from_secs(3600),
            max_review_depth: 0,
        },
    )
}

fn who() -> AgentIdentity {
    AgentIdentity {
        name: "agent".into(),
        pid: None,
        uid: Some(1000),
    }
}

fn admitted(timeout: Duration) -> Admitted {
    Admitted {
        tool: "deploy".into(),
        args_json: "{}".into(),
        session: None,
        summary: None,
        requires_approval: true,
        timeout,
        risk: Risk::High,
        risk_reasons: vec![],
        subject: agentd_proto::SubjectType::Tool,
        auto: None,
        cwd: None,
        reach: agentd::reach::Reach::ExactOnly("test".into()),
        grant_options: vec![agentd_proto::GrantOption::exact()],
    }
}

fn approve(id: uuid::Uuid, scope: Scope) -> DecideRequest {
    DecideRequest {
        id: id.to_string(),
        verdict: Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope,
        grant: None,
        args_json: None,
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_wall_clock_set_forward_does_not_expire_a_pending_request() {
    let q = queue();
    let Submission::Queued { ticket, waiter: _w } = q
        .submit(who(), admitted(Duration::from_millis(50)), None)
        .await
        .unwrap()
    else {
        panic!("deploy needs approval");
    };
    // The wall clock moves on past the deadline; the monotonic clock (paused) does not: as if
    // the wall clock had been set forward.
    std::thread::sleep(Duration::from_millis(120));
    assert!(Utc::now() > ticket.expires_at);
    let view = q
        .decide(&approve(ticket.id, Scope::Once), Caller::default())
        .await
        .unwrap();
    assert_eq!(view.state, State::Approved);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_wall_clock_that_stands_still_does_not_extend_a_deadline() {
    let q = queue();
    let Submission::Queued { ticket, waiter: _w } = q
        .submit(who(), admitted(Duration::from_secs(60)), None)
        .await
        .unwrap()
    else {
        panic!("deploy needs approval");
    };
    // 61 s pass on the monotonic clock while the wall clock shows hardly any: as if it had
    // been set back by a minute. The decision comes before the deadline's timer has run.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(Utc::now() < ticket.expires_at);
    let err = q
        .decide(&approve(ticket.id, Scope::Once), Caller::default())
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::AlreadyFinished(_)), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_grant_ends_on_the_monotonic_clock() {
    let q = queue();
    let Submission::Queued { ticket, waiter: _w } = q
        .submit(who(), admitted(Duration::from_secs(300)), None)
        .await
        .unwrap()
    else {
        panic!("deploy needs approval");
    };
    q.decide(
        &approve(ticket.id, Scope::Timeboxed { ttl_secs: 60 }),
        Caller::default(),
    )
    .await
    .unwrap();
    // Within the minute the same call is answered by the grant.
    assert!(matches!(
        q.submit(who(), admitted(Duration::from_secs(300)), None)
            .await
            .unwrap(),
        Submission::Decided(_)
    ));
    // A minute on the monotonic clock, none on the wall clock: the grant has ended.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(q.grants().is_empty());
    assert!(matches!(
        q.submit(who(), admitted(Duration::from_secs(300)), None)
            .await
            .unwrap(),
        Submission::Queued { .. }
    ));
}
