//! History and export on thousands of requests, and without a store.

#![allow(clippy::unwrap_used)]

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_export_on_thousands_of_requests() {
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        tools: vec![ToolSpec {
            name: "read-file".into(),
            requires_approval: false,
            approval_timeout_secs: 60,
            risk: Risk::Low,
        }],
        ..Settings::default()
    })
    .unwrap();
    let start = Utc::now();
    // 2,400 requests answered by policy, from 4 agents.
    for a in 0..4 {
        let mut agent = d.agent(&format!("reader-{a}")).await.unwrap();
        for i in 0..600 {
            let req = ApprovalRequest {
                tool: "read-file".into(),
                args_json: format!(r#"{{"i":{i}}}"#),
                ..ApprovalRequest::default()
            };
            assert!(matches!(
                agent.submit(&req).await.unwrap(),
                Submitted::Decided(_)
            ));
        }
    }
    let middle = Utc::now();
    // 300 decided by people: alice approves even ones, bob denies odd ones.
    let mut agent = d.agent("deployer").await.unwrap();
    let mut op = d.operator("ops").await.unwrap();
    for i in 0..300u32 {
        let Submitted::Queued(t) = agent
            .submit(&common::sensitive(&format!(r#"{{"i":{i}}}"#)))
            .await
            .unwrap()
        else {
            panic!("expected a queued request");
        };
        let (verdict, who) = if i.is_multiple_of(2) {
            (Verdict::Approve, "alice")
        } else {
            (Verdict::Deny, "bob")
        };
        op.decide(&DecideRequest {
            id: t.id.to_string(),
            verdict,
            operator: who.into(),
            reason: None,
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap();
        agent.wait().await.unwrap();
    }

    let q = HistoryQuery::default;
    let newest = op.history(&q()).await.unwrap();
    assert_eq!(newest.len(), 50, "the default limit");
    assert!(
        newest
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    assert_eq!(newest[0].tool, "sensitive-op");

    let by_agent = op
        .history(&HistoryQuery {
            agent: Some("reader-2".into()),
            limit: Some(10_000),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(by_agent.len(), 600);
    assert!(by_agent.iter().all(|v| v.agent.name == "reader-2"));

    let denied = op
        .history(&HistoryQuery {
            state: Some(State::Denied),
            limit: Some(10_000),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 150);
    assert!(denied
        .iter()
        .all(|v| v.decision.as_ref().unwrap().by == "bob"));

    let by_alice = op
        .history(&HistoryQuery {
            operator: Some("alice".into()),
            limit: Some(10_000),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(by_alice.len(), 150);
    assert!(by_alice.iter().all(|v| v.state == State::Approved));

    let by_policy = op
        .history(&HistoryQuery {
            tool: Some("read-file".into()),
            operator: Some("agentd".into()),
            limit: Some(10_000),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(by_policy.len(), 2400);

    let early = op
        .history(&HistoryQuery {
            since: Some(start),
            until: Some(middle),
            limit: Some(10_000),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(early.len(), 2400);
    assert!(early.iter().all(|v| v.tool == "read-file"));

    // Export everything, page after page, oldest first, each with its audit hashes.
    let mut seen = 0u64;
    let mut last = None;
    let count = op
        .export(&q(), |record| -> Result<(), String> {
            seen += 1;
            if let Some(prev) = last {
                if record.request.created_at < prev {
                    return Err("export is not oldest first".into());
                }
            }
            last = Some(record.request.created_at);
            let kinds: Vec<&str> = record.audit.iter().map(|a| a.kind.as_str()).collect();
            let expected: &[&str] = match record.request.tool.as_str() {
                "read-file" => &["approved"],
                _ if record.request.state == State::Approved => &["queued", "approved"],
                _ => &["queued", "denied"],
            };
            if kinds != expected || record.audit.iter().any(|a| a.hash.len() != 64) {
                return Err(format!(
                    "bad audit refs {kinds:?} for {}",
                    record.request.id
                ));
            }
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count, 2700);
    assert_eq!(seen, 2700);

    let denied_count = op
        .export(
            &HistoryQuery {
                state: Some(State::Denied),
                ..q()
            },
            |_| Ok::<(), ()>(()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(denied_count, 150);
    let limited = op
        .export(
            &HistoryQuery {
                limit: Some(700),
                ..q()
            },
            |_| Ok::<(), ()>(()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(limited, 700);
    assert_eq!(op.verify_audit().await.unwrap().broken, None);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_history_is_unavailable_and_says_why() {
    let d = TempDaemon::memory(Settings::default()).unwrap();
    let mut op = d.operator("alice").await.unwrap();
    let err = op.history(&HistoryQuery::default()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unavailable));
    assert_eq!(
        op.verify_audit().await.unwrap_err().code(),
        Some(ErrorCode::Unavailable)
    );
    d.stop().await.unwrap();
}
