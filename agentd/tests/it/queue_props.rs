//! The queue as a state machine, under any interleaving of submits, decisions, cancels,
//! deadlines, disconnects and re-attaches: each request ends exactly once and never changes
//! after, every waiter gets the outcome that was stored, and the store agrees with memory.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use agentd::policy::intake::Admitted;
use agentd::queue::{Caller, Queue, QueueError, QueueSettings, Submission, Waiter};
use agentd::store::{Options, Store};
use agentd_proto::{AgentIdentity, DecideRequest, Risk, State, Verdict};
use proptest::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    Submit(u8),
    Decide(usize, bool),
    Cancel(usize),
    Expire(usize),
    Detach(usize),
    Attach(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3).prop_map(Op::Submit),
        3 => (0usize..8, any::<bool>()).prop_map(|(i, a)| Op::Decide(i, a)),
        1 => (0usize..8).prop_map(Op::Cancel),
        1 => (0usize..8).prop_map(Op::Expire),
        1 => (0usize..8).prop_map(Op::Detach),
        1 => (0usize..8).prop_map(Op::Attach),
    ]
}

struct Tracked {
    id: Uuid,
    /// What the model says it ended as.
    ended: Option<State>,
    waiters: Vec<Waiter>,
}

fn admitted() -> Admitted {
    Admitted {
        tool: "sensitive-op".into(),
        args_json: "{}".into(),
        session: None,
        summary: None,
        requires_approval: true,
        // Deadlines are driven by `Expire` ops, never by the clock.
        timeout: Duration::from_secs(3600),
        risk: Risk::High,
        risk_reasons: vec![],
        subject: agentd_proto::SubjectType::Tool,
        auto: None,
        cwd: None,
        reach: agentd::policy::reach::Reach::ExactOnly("test".into()),
        grant_options: vec![agentd_proto::GrantOption::exact()],
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (store, _recovered) = Store::open(dir.path(), Options::default()).unwrap();
    let store = Arc::new(store);
    let queue = Queue::new(
        Arc::clone(&store),
        QueueSettings {
            grace: Duration::from_secs(3600),
            finished_capacity: 4,
            max_pending_per_agent: usize::MAX,
            max_pending_per_uid: usize::MAX,
            forbid_own_requests: false,
            approvers: Vec::new(),
            grant_capacity: 16,
            session_grant_ttl: Duration::from_secs(3600),
            escalation_window: Duration::from_secs(3600),
            max_review_depth: 4,
        },
    );
    let mut tracked: Vec<Tracked> = Vec::new();
    for op in ops {
        let pick = |i: usize, n: usize| (n > 0).then(|| i % n);
        match op {
            Op::Submit(agent) => {
                let who = AgentIdentity {
                    name: format!("agent-{agent}"),
                    pid: Some(1),
                    uid: Some(1000),
                };
                let Submission::Queued { ticket, waiter } =
                    queue.submit(who, admitted(), None).await.unwrap()
                else {
                    return Err(TestCaseError::fail(
                        "a request needing approval was answered at once",
                    ));
                };
                tracked.push(Tracked {
                    id: ticket.id,
                    ended: None,
                    waiters: vec![waiter],
                });
            }
            Op::Decide(i, approve) => {
                let Some(i) = pick(i, tracked.len()) else {
                    continue;
                };
                let t = &mut tracked[i];
                let verdict = if approve {
                    Verdict::Approve
                } else {
                    Verdict::Deny
                };
                let req = DecideRequest {
                    id: t.id.to_string(),
                    verdict,
                    operator: "op".into(),
                    reason: None,
                    scope: agentd_proto::Scope::Once,
                    grant: None,
                    args_json: None,
                };
                match (queue.decide(&req, Caller::default()).await, t.ended) {
                    (Ok(view), None) => {
                        let want = if approve {
                            State::Approved
                        } else {
                            State::Denied
                        };
                        prop_assert_eq!(view.state, want);
                        t.ended = Some(want);
                    }
                    (Err(QueueError::AlreadyFinished(_)), Some(_)) => {}
                    (other, ended) => {
                        return Err(TestCaseError::fail(format!(
                            "decide gave {other:?} with the request {ended:?}"
                        )));
                    }
                }
            }
            Op::Cancel(i) => {
                let Some(i) = pick(i, tracked.len()) else {
                    continue;
                };
                let t = &mut tracked[i];
                let outcome = queue.cancel(t.id, Caller::default()).await.unwrap();
                match t.ended {
                    None => {
                        prop_assert_eq!(outcome.decision.state, State::Withdrawn);
                        t.ended = Some(State::Withdrawn);
                    }
                    Some(ended) => prop_assert_eq!(
                        outcome.decision.state,
                        ended,
                        "a cancel reports the earlier end"
                    ),
                }
            }
            Op::Expire(i) => {
                let Some(i) = pick(i, tracked.len()) else {
                    continue;
                };
                let t = &mut tracked[i];
                queue.expire(t.id);
                t.ended.get_or_insert(State::Expired);
            }
            Op::Detach(i) => {
                let Some(i) = pick(i, tracked.len()) else {
                    continue;
                };
                tracked[i].waiters.pop();
            }
            Op::Attach(i) => {
                let Some(i) = pick(i, tracked.len()) else {
                    continue;
                };
                let t = &mut tracked[i];
                match (queue.attach(t.id).await.unwrap(), t.ended) {
                    (Submission::Queued { waiter, .. }, None) => t.waiters.push(waiter),
                    (Submission::Decided(o), Some(ended)) => {
                        prop_assert_eq!(o.decision.state, ended)
                    }
                    (_, ended) => {
                        return Err(TestCaseError::fail(format!(
                            "attach disagreed with {ended:?}"
                        )))
                    }
                }
            }
        }
        // After every step, the queue says what the model says.
        for t in &tracked {
            let view = queue.get(&t.id.to_string()).await.unwrap();
            prop_assert_eq!(view.state, t.ended.unwrap_or(State::Pending));
        }
    }
    // Every waiter of an ended request has its outcome, and it is the stored one.
    let reader = store.reader().unwrap();
    for t in &mut tracked {
        let stored = reader.by_id(t.id).unwrap().unwrap();
        prop_assert_eq!(
            stored.state,
            t.ended.unwrap_or(State::Pending),
            "store and memory agree"
        );
        for waiter in &mut t.waiters {
            if t.ended.is_some() {
                let got = tokio::time::timeout(Duration::from_secs(5), waiter.outcome())
                    .await
                    .map_err(|_| TestCaseError::fail("a waiter was left hanging"))?
                    .unwrap();
                prop_assert_eq!(Some(&got.decision), stored.decision.as_ref());
            }
        }
    }
    drop(tracked);
    queue.shutdown();
    store.close(None).await;
    Ok(())
}

proptest! {

    #[test]
    fn any_interleaving_keeps_the_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops))?;
    }
}
