//! Retention: agentd prunes as it runs, keeps what waits and what a person decided, and the
//! audit trail still verifies from its checkpoint; edits of what was kept, before or after the
//! cut, are caught, and a prune never launders them.

use super::*;

use agentd::config::Retention;

/// Calls answered at once are kept 1 ms, decisions forever; retention runs every 50 ms.
fn settings() -> Settings {
    Settings {
        tools: vec![ToolSpec {
            name: "lookup".into(),
            requires_approval: false,
            approval_timeout_secs: 60,
            risk: Risk::Low,
        }],
        retention: Retention {
            answered: Some(Duration::from_millis(1)),
            decided: None,
            every: Duration::from_millis(50),
        },
        ..Settings::default()
    }
}

async fn answered_at_once(d: &TempDaemon, n: usize) {
    let mut agent = d.agent("claude").await.unwrap();
    for i in 0..n {
        let request = ApprovalRequest {
            tool: "lookup".into(),
            args_json: format!(r#"{{"i":{i}}}"#),
            ..ApprovalRequest::default()
        };
        let Submitted::Decided(outcome) = agent.submit(&request).await.unwrap() else {
            panic!("lookup needs no approval");
        };
        assert_eq!(outcome.decision.source, DecisionSource::Policy);
    }
}

/// Waits until retention has left `requests` rows and cut the trail after `after`, if given.
async fn pruned_past(d: &TempDaemon, after: Option<chrono::DateTime<Utc>>, requests: u64) {
    let mut op = d.operator("auditor").await.unwrap();
    let mut poller = Poller::new(LIMIT, format!("retention to leave {requests} requests"));
    loop {
        let info = op.info().await.unwrap();
        let store = info.store.unwrap();
        let cut = store
            .checkpoint
            .is_some_and(|c| after.is_none_or(|after| c.before > after));
        if store.requests == requests && cut {
            return;
        }
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agentd_prunes_as_it_runs_and_the_trail_verifies_from_its_checkpoint() {
    let d = TempDaemon::start(settings()).unwrap();
    let denied = decided(&d, 1).await;
    answered_at_once(&d, 20).await;
    // One request waits all along: neither it nor its entries may go.
    let mut waiting = d.agent("claude").await.unwrap();
    let Submitted::Queued(ticket) = waiting
        .submit(&common::sensitive(r#"{"wait":1}"#))
        .await
        .unwrap()
    else {
        panic!("expected a queued request");
    };
    answered_at_once(&d, 5).await;
    // Kept: the denied request (sealed) and the waiting one. The trail verifying proves the
    // waiting request kept its entries: it is cross-checked against them, not sealed.
    pruned_past(&d, None, 2).await;
    let report = verify(&d).await;
    assert_eq!(report.broken, None);
    let checkpoint = report.checkpoint.clone().unwrap();
    assert!(checkpoint.first_seq > 1, "{checkpoint:?}");
    // The cut stops at what waits: its queued entry is kept.
    assert!(checkpoint.before <= ticket.created_at);
    let mut op = d.operator("alice").await.unwrap();
    assert_eq!(
        op.get(&denied[0].to_string()).await.unwrap().state,
        State::Denied
    );
    op.decide(&DecideRequest {
        id: ticket.id.to_string(),
        verdict: Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope: agentd_proto::Scope::Once,
        grant: None,
        args_json: None,
    })
    .await
    .unwrap();
    assert!(waiting.wait().await.unwrap().approved());
    // Once nothing waits, the cut moves on past it; the two decisions stay, sealed.
    pruned_past(&d, Some(ticket.created_at), 2).await;
    let report = verify(&d).await;
    assert_eq!(report.broken, None, "{report:?}");
    assert!(report.checkpoint.unwrap().first_seq > checkpoint.first_seq);

    // A restart accepts the pruned store (its anchor remembers which trail this is).
    let mut d = d;
    d.restart(settings()).await.unwrap();
    assert_eq!(verify(&d).await.broken, None);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_a_sealed_request_is_caught_and_never_pruned_away() {
    let d = TempDaemon::start(settings()).unwrap();
    decided(&d, 1).await;
    answered_at_once(&d, 3).await;
    pruned_past(&d, None, 1).await;
    assert_eq!(verify(&d).await.broken, None);
    // The denied request's entries are gone; its row is kept and sealed.
    sqlite3(
        &db(&d),
        "UPDATE requests SET decided_by = 'mallory' WHERE decided_by = 'bob'",
    );
    let report = verify(&d).await;
    let broken = report.broken.expect("the edit is caught");
    assert!(
        broken
            .problem
            .contains("kept from before the checkpoint do not match"),
        "{broken:?}"
    );
    // Retention keeps running, and refuses to seal the edit in.
    answered_at_once(&d, 3).await;
    let mut op = d.operator("auditor").await.unwrap();
    let refused = op
        .prune(agentd_proto::PruneRequest {
            before: None,
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("refused to prune"),
        "{refused}"
    );
    assert!(verify(&d).await.broken.is_some());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_removed_checkpoint_is_caught() {
    // Pruned on demand only, so the trail holds still while it is edited.
    let mut settings = settings();
    settings.retention.answered = None;
    let d = TempDaemon::start(settings).unwrap();
    answered_at_once(&d, 3).await;
    let mut op = d.operator("auditor").await.unwrap();
    let report = op
        .prune(agentd_proto::PruneRequest {
            before: Some(Utc::now()),
            dry_run: false,
        })
        .await
        .unwrap();
    assert_eq!(report.answered, 3);
    answered_at_once(&d, 3).await;
    assert_eq!(verify(&d).await.broken, None);
    let first = verify(&d).await.checkpoint.unwrap().first_seq;

    // Someone deletes kept entries and moves the checkpoint to hide it.
    sqlite3(
        &db(&d),
        &format!(
            "DELETE FROM audit WHERE seq = {first}; UPDATE audit_checkpoint SET first_seq = {}, \
             prev_hash = (SELECT prev_hash FROM audit WHERE seq = {})",
            first + 1,
            first + 1
        ),
    );
    let broken = verify(&d)
        .await
        .broken
        .expect("the forged checkpoint is caught");
    assert!(broken.problem.contains("checkpoint"), "{broken:?}");

    // Removing the checkpoint altogether leaves a trail without its start.
    sqlite3(&db(&d), "DELETE FROM audit_checkpoint");
    let broken = verify(&d)
        .await
        .broken
        .expect("the missing start is caught");
    assert!(broken.problem.contains("entry 1 is missing"), "{broken:?}");
    d.stop().await.unwrap();
}
