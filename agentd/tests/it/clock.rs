//! Deadlines and grant expiry are enforced on the monotonic clock: a wall clock set forward
//! does not expire a pending request, and one that stands still (or is set back) does not
//! extend it or a grant. Time is paused, so the monotonic clock moves only when told and the
//! wall clock stands for one that was set. With a wall clock that moves with tokio's, the
//! deadline, grace period and grant expiry run instantly and to the microsecond.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use agentd::policy::intake::Admitted;
use agentd::queue::{Caller, Queue, QueueError, QueueSettings, Submission};
use agentd::store::Store;
use agentd_proto::{AgentIdentity, DecideRequest, Risk, Scope, State, Verdict};
use agentd_testkit::TokioWallClock;
use chrono::Utc;

fn queue() -> Arc<Queue> {
    Queue::new(Arc::new(Store::memory()), settings())
}

/// A queue whose wall clock moves with tokio's paused clock.
fn controlled_queue() -> Arc<Queue> {
    let wall = "2026-11-30T09:00:00Z".parse().unwrap();
    Queue::with_clock(
        Arc::new(Store::memory()),
        settings(),
        Arc::new(TokioWallClock::starting_at(wall)),
    )
}

fn settings() -> QueueSettings {
    {
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
        }
    }
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
        reach: agentd::policy::reach::Reach::ExactOnly("test".into()),
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

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_deadline_expires_exactly_on_the_controlled_clock() {
    let q = controlled_queue();
    let Submission::Queued { ticket, mut waiter } = q
        .submit(who(), admitted(Duration::from_secs(300)), None)
        .await
        .unwrap()
    else {
        panic!("deploy needs approval");
    };
    assert_eq!(
        ticket.expires_at - ticket.created_at,
        chrono::Duration::seconds(300)
    );
    // A second before the deadline it is still pending.
    tokio::time::advance(Duration::from_secs(299)).await;
    let view = q.get(&ticket.id.to_string()).await.unwrap();
    assert_eq!(view.state, State::Pending);
    // The deadline's timer denies it, stamped with the deadline itself.
    let outcome = waiter.outcome().await.unwrap();
    assert_eq!(outcome.decision.state, State::Expired);
    assert_eq!(outcome.decision.at, ticket.expires_at);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_abandoned_request_is_withdrawn_when_the_grace_period_ends() {
    let q = Queue::with_clock(
        Arc::new(Store::memory()),
        QueueSettings {
            grace: Duration::from_secs(30),
            ..settings()
        },
        Arc::new(TokioWallClock::starting_at(Utc::now())),
    );
    let Submission::Queued { ticket, waiter } = q
        .submit(who(), admitted(Duration::from_secs(300)), None)
        .await
        .unwrap()
    else {
        panic!("deploy needs approval");
    };
    let started = tokio::time::Instant::now();
    // The agent goes away: its grace period starts.
    drop(waiter);
    let mut events = q.subscribe();
    tokio::time::advance(Duration::from_secs(29)).await;
    let id = ticket.id.to_string();
    assert_eq!(q.get(&id).await.unwrap().state, State::Pending);
    // Waiting for the queue's next event lets the paused clock run to the grace timer.
    let _ = events.recv().await;
    let view = q.get(&id).await.unwrap();
    assert_eq!(view.state, State::Withdrawn);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let decision = view.decision.unwrap();
    assert!(decision.reason.unwrap().contains("did not come back"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timeboxed_grant_ends_at_its_stamped_expiry() {
    let q = controlled_queue();
    let Submission::Queued { ticket, waiter: _w } = q
        .submit(who(), admitted(Duration::from_secs(300)), None)
        .await
        .unwrap()
    else {
        panic!("deploy needs approval");
    };
    tokio::time::advance(Duration::from_secs(5)).await;
    let view = q
        .decide(
            &approve(ticket.id, Scope::Timeboxed { ttl_secs: 60 }),
            Caller::default(),
        )
        .await
        .unwrap();
    let decided_at = view.decision.unwrap().at;
    let grants = q.grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].expires_at - decided_at,
        chrono::Duration::seconds(60)
    );
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        q.grants().len(),
        1,
        "a second before its end the grant holds"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(q.grants().is_empty());
}
