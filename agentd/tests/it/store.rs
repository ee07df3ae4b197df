//! The durable store: tampering caught by the audit chain (edits made with the sqlite3 shell),
//! recovery after a restart, refusing bad store files, a full store, history and export on
//! thousands of rows.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use agentd::{Daemon, Settings, StartError, StoreError};
use agentd_proto::{
    ApprovalRequest, DecideRequest, DecisionSource, ErrorCode, HistoryQuery, Risk, State,
    Submitted, ToolSpec, Verdict,
};
use agentd_testkit::{unlimited, Poller, TempDaemon};
use chrono::Utc;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `sql` with the sqlite3 shell, as someone tampering by hand would.
fn sqlite3(db: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 shell is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Queues `n` requests and denies them, leaving a chain of 1 + 2n entries.
async fn decided(d: &TempDaemon, n: usize) -> Vec<uuid::Uuid> {
    let mut op = d.operator("alice").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut agent = d.agent("claude").await.unwrap();
        let Submitted::Queued(t) = agent
            .submit(&common::sensitive(&format!(r#"{{"i":{i}}}"#)))
            .await
            .unwrap()
        else {
            panic!("expected a queued request");
        };
        op.decide(&DecideRequest {
            id: t.id.to_string(),
            verdict: Verdict::Deny,
            operator: "bob".into(),
            reason: Some(format!("no {i}")),
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap();
        assert_eq!(agent.wait().await.unwrap().decision.by, "bob");
        ids.push(t.id);
    }
    // The writer indexes the journal just behind the answers: let it catch up (a query
    // waits for that) before a test edits the database under it.
    assert_eq!(verify(d).await.broken, None);
    ids
}

async fn verify(d: &TempDaemon) -> agentd_proto::AuditReport {
    d.operator("auditor")
        .await
        .unwrap()
        .verify_audit()
        .await
        .unwrap()
}

fn db(d: &TempDaemon) -> std::path::PathBuf {
    d.state_dir().join("agentd.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untouched_trail_verifies() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 3).await;
    let report = verify(&d).await;
    assert_eq!(report.broken, None);
    assert_eq!(report.entries, 7, "daemon start + 3 x (queued, denied)");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_entry_is_caught() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 3).await;
    sqlite3(&db(&d), "UPDATE audit SET actor = 'mallory' WHERE seq = 3");
    let broken = verify(&d).await.broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert_eq!(
        broken.problem,
        "entry 3 does not match its hash: it was edited"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_entry_is_caught() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 3).await;
    sqlite3(&db(&d), "DELETE FROM audit WHERE seq = 4");
    let broken = verify(&d).await.broken.unwrap();
    assert_eq!(broken.seq, 4);
    assert!(
        broken.problem.contains("entry 4 is missing"),
        "{}",
        broken.problem
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_newest_entries_is_caught() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 3).await;
    sqlite3(&db(&d), "DELETE FROM audit WHERE seq >= 6");
    let broken = verify(&d).await.broken.unwrap();
    assert_eq!(broken.seq, 6);
    assert!(
        broken.problem.contains("the newest entries were deleted"),
        "{}",
        broken.problem
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_entries_are_caught() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 3).await;
    sqlite3(
        &db(&d),
        "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; \
         UPDATE audit SET seq = 3 WHERE seq = -1;",
    );
    let broken = verify(&d).await.broken.unwrap();
    assert_eq!(broken.seq, 2);
    assert!(
        broken.problem.contains("does not link to entry 1"),
        "{}",
        broken.problem
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_requests_are_caught_against_the_trail() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let ids = decided(&d, 2).await;
    sqlite3(
        &db(&d),
        &format!(
            "UPDATE requests SET args_json = '{{\"i\":99}}' WHERE id = '{}'",
            ids[0]
        ),
    );
    let broken = verify(&d).await.broken.unwrap();
    assert_eq!(broken.seq, 2);
    assert!(
        broken.problem.contains("arguments do not match entry 2"),
        "{}",
        broken.problem
    );
    sqlite3(
        &db(&d),
        &format!("UPDATE requests SET args_json = '{{\"i\":0}}', state = 'approved', decided_by = 'mallory' WHERE id = '{}'", ids[0]),
    );
    let broken = verify(&d).await.broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(
        broken.problem.contains("the decision was edited"),
        "{}",
        broken.problem
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_files_are_private() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    decided(&d, 1).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.state_dir()), 0o700);
    for name in ["agentd.db", "agentd.db-wal", "agentd.db-shm", "agentd.lock"] {
        assert_eq!(mode(&d.state_dir().join(name)), 0o600, "{name}");
    }
    let journals = journal_files(&d.state_dir());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_store_files_are_refused_with_where() {
    let dir = tempfile::tempdir().unwrap();
    let start = |state: &Path| {
        Daemon::start(
            Settings {
                state_dir: Some(state.to_path_buf()),
                ..Settings::default()
            },
            &dir.path().join(format!(
                "{}.sock",
                state.file_name().unwrap().to_string_lossy()
            )),
        )
    };
    let err = |r: Result<Daemon, StartError>| match r {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected agentd to refuse"),
    };

    // A state dir that is a file.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let text = err(start(&file));
    assert!(
        text.starts_with(&format!("cannot create the state dir {}", file.display())),
        "{text}"
    );

    // Garbage where the database should be.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("agentd.db"), vec![0x5a; 8192]).unwrap();
    let text = err(start(&corrupt));
    assert!(
        text.starts_with(&format!(
            "cannot open the store {}",
            corrupt.join("agentd.db").display()
        )),
        "{text}"
    );
    assert!(text.contains("not a database"), "{text}");

    // Somebody else's SQLite database.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    sqlite3(
        &foreign.join("agentd.db"),
        "CREATE TABLE recipes (name TEXT)",
    );
    let text = err(start(&foreign));
    assert_eq!(
        text,
        format!(
            "{} is not an agentd store; refusing to touch it (move it away, or pass another --state-dir)",
            foreign.join("agentd.db").display()
        )
    );

    // A store from a newer agentd.
    let newer = dir.path().join("newer");
    let d = TempDaemon::start(Settings {
        state_dir: Some(newer.clone()),
        ..Settings::default()
    })
    .unwrap();
    d.stop().await.unwrap();
    sqlite3(&newer.join("agentd.db"), "PRAGMA user_version = 99");
    let text = err(start(&newer));
    assert!(
        text.contains("was written by a newer agentd (schema 99; this agentd knows schema 6)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_the_previous_schema_is_migrated_on_start() {
    let keep = tempfile::tempdir().unwrap();
    let state_dir = keep.path().join("state");
    let settings = || Settings {
        state_dir: Some(state_dir.clone()),
        ..Settings::default()
    };
    let d = TempDaemon::start(settings()).unwrap();
    let ids = decided(&d, 1).await;
    d.stop().await.unwrap();
    // Back to schema 1: no decider uid and pid (2), no grants (3), no journal state (4), no
    // working folder or grant options (5). Every migration runs.
    sqlite3(
        &state_dir.join("agentd.db"),
        "ALTER TABLE requests DROP COLUMN decided_uid; ALTER TABLE requests DROP COLUMN decided_pid; \
         ALTER TABLE requests DROP COLUMN grant_id; DROP INDEX requests_subject; \
         ALTER TABLE requests DROP COLUMN subject; ALTER TABLE requests DROP COLUMN path; DROP TABLE grants; \
         DROP TABLE journal_state; ALTER TABLE requests DROP COLUMN cwd; \
         ALTER TABLE requests DROP COLUMN grant_options; ALTER TABLE requests DROP COLUMN approved_args; \
         PRAGMA user_version = 1;",
    );
    let d = TempDaemon::start(settings()).unwrap();
    let mut op = d.operator("alice").await.unwrap();
    let view = op.get(&ids[0].to_string()).await.unwrap();
    assert_eq!(view.state, State::Denied);
    assert_eq!(
        view.decision.unwrap().by_uid,
        None,
        "not recorded before schema 2"
    );
    let out = Command::new("sqlite3")
        .arg(state_dir.join("agentd.db"))
        .arg("PRAGMA user_version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6");
    // New decisions record the decider again.
    let more = decided(&d, 1).await;
    let view = op.get(&more[0].to_string()).await.unwrap();
    assert!(view.decision.unwrap().by_uid.is_some());
    assert_eq!(op.verify_audit().await.unwrap().broken, None);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agentds_cannot_share_a_state_dir() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let second = Daemon::start(
        Settings {
            state_dir: Some(d.state_dir()),
            ..Settings::default()
        },
        &d.dir().join("second.sock"),
    );
    match second {
        Err(e) => assert_eq!(
            e.to_string(),
            format!(
                "another agentd is using the state dir {}",
                d.state_dir().display()
            )
        ),
        Ok(_) => panic!("a second agentd opened the same store"),
    }
    d.operator("alice").await.unwrap().ping().await.unwrap();
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_stops_agentd_without_acknowledging_what_it_could_not_keep() {
    // The store outlives both daemons.
    let keep = tempfile::tempdir().unwrap();
    let state_dir = keep.path().join("state");
    let d = TempDaemon::start(Settings {
        store_max_size_mib: Some(1),
        state_dir: Some(state_dir.clone()),
        ..Settings::default()
    })
    .unwrap();
    let blob = "x".repeat(200 * 1024);
    let mut acknowledged = Vec::new();
    let mut agents = Vec::new();
    let refusal = loop {
        let mut agent = d.agent("bulky").await.unwrap();
        match agent
            .submit(&common::sensitive(&format!(r#"{{"blob":"{blob}"}}"#)))
            .await
        {
            Ok(Submitted::Queued(t)) => {
                acknowledged.push(t.id);
                agents.push(agent);
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
        assert!(acknowledged.len() < 50, "the store never filled up");
    };
    assert_eq!(refusal.code(), Some(ErrorCode::Internal));
    assert!(
        refusal.to_string().contains("database or disk is full"),
        "{refusal}"
    );
    match d.stop().await {
        Err(StoreError::Failed(m)) => assert!(m.contains("cannot commit to the store"), "{m}"),
        other => panic!("expected the store failure, got {other:?}"),
    }
    // Back with room: every acknowledged request is there, pending, and nothing else is.
    let back = TempDaemon::start(Settings {
        state_dir: Some(state_dir),
        ..Settings::default()
    })
    .unwrap();
    let mut op = back.operator("alice").await.unwrap();
    let pending = op.list(Some(State::Pending)).await.unwrap();
    let mut ids: Vec<_> = pending.iter().map(|v| v.id).collect();
    ids.sort();
    acknowledged.sort();
    assert_eq!(ids, acknowledged);
    assert_eq!(op.verify_audit().await.unwrap().broken, None);
    back.stop().await.unwrap();
}

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

/// Under sustained load a passive checkpoint never finds the whole WAL copied back, so without
/// the writer's help the WAL would grow by every page of every commit (about 30 KB a request:
/// 240 MB here). It must stay bounded however long the load lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_load() {
    const AGENTS: usize = 8;
    const EACH: usize = 1_000;
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
    let wal = d.state_dir().join("agentd.db-wal");
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let mut agent = d.agent(&format!("reader-{a}")).await.unwrap();
        agents.push(tokio::spawn(async move {
            for i in 0..EACH {
                let req = ApprovalRequest {
                    tool: "read-file".into(),
                    args_json: format!(r#"{{"path":"/srv/{a}/{i}.rs"}}"#),
                    ..ApprovalRequest::default()
                };
                assert!(matches!(
                    agent.submit(&req).await.unwrap(),
                    Submitted::Decided(_)
                ));
            }
        }));
    }
    // Sample the WAL's size while the load runs.
    let mut largest = 0;
    let mut every = tokio::time::interval(Duration::from_millis(20));
    while agents.iter().any(|a| !a.is_finished()) {
        every.tick().await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    for a in agents {
        a.await.unwrap();
    }
    largest = largest.max(std::fs::metadata(&wal).unwrap().len());
    let stored = d
        .operator("alice")
        .await
        .unwrap()
        .history(&HistoryQuery {
            limit: Some(1),
            ..HistoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        largest < 128 * 1024 * 1024,
        "the WAL grew to {} MiB over {} requests",
        largest / (1024 * 1024),
        AGENTS * EACH
    );
    d.stop().await.unwrap();
}

fn journal_files(state_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(state_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("agentd.journal."))
        })
        .collect();
    files.sort();
    files
}

/// Answers are durable once journaled; the database may not hold them yet when agentd dies.
/// Rebuilt here exactly: an older copy of the database, and the journal of what came after.
/// The next start puts those writes into the database (the chain verifying across them), and
/// a journal whose records the database already holds changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_replays_what_the_database_missed_from_the_journal() {
    let keep = tempfile::tempdir().unwrap();
    let state_dir = keep.path().join("state");
    let settings = || Settings {
        state_dir: Some(state_dir.clone()),
        ..Settings::default()
    };
    let d = TempDaemon::start(settings()).unwrap();
    let before = decided(&d, 2).await;
    d.stop().await.unwrap();
    assert!(
        journal_files(&state_dir).is_empty(),
        "a clean stop leaves no journal"
    );
    let old_db = std::fs::read(state_dir.join("agentd.db")).unwrap();

    let d = TempDaemon::start(settings()).unwrap();
    let after = decided(&d, 3).await;
    let mut op = d.operator("alice").await.unwrap();
    let Submitted::Queued(waiting) = d
        .agent("claude")
        .await
        .unwrap()
        .submit(&common::sensitive(r#"{"left":"pending"}"#))
        .await
        .unwrap()
    else {
        panic!("expected a queued request");
    };
    let entries = op.verify_audit().await.unwrap().entries;
    let journal: Vec<(std::path::PathBuf, Vec<u8>)> = journal_files(&state_dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(!journal.is_empty(), "a running agentd journals its writes");
    // A crash leaves the state dir as it is now, anchor included; the clean stop below
    // would move the anchor on.
    let anchor = std::fs::read(state_dir.join("agentd.anchor")).unwrap();
    d.stop().await.unwrap();

    // The database as it was before the second run, with the second run's journal, whose
    // last record was torn by the crash.
    std::fs::write(state_dir.join("agentd.db"), &old_db).unwrap();
    std::fs::write(state_dir.join("agentd.anchor"), &anchor).unwrap();
    for (path, bytes) in &journal {
        std::fs::write(path, bytes).unwrap();
    }
    let last = &journal.last().unwrap().0;
    let mut torn = std::fs::read(last).unwrap();
    torn.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(last, torn).unwrap();
    let d = TempDaemon::start(settings()).unwrap();
    let mut op = d.operator("alice").await.unwrap();
    for id in before.iter().chain(&after) {
        assert_eq!(op.get(&id.to_string()).await.unwrap().state, State::Denied);
    }
    let pending = op.list(Some(State::Pending)).await.unwrap();
    assert_eq!(
        pending.iter().map(|v| v.id).collect::<Vec<_>>(),
        [waiting.id]
    );
    let report = op.verify_audit().await.unwrap();
    assert_eq!(report.broken, None);
    // The second run's entries, its stop (now missing) and this start.
    assert_eq!(report.entries, entries + 1);
    assert!(
        journal.iter().all(|(path, _)| !path.exists()),
        "replayed journals go"
    );
    d.stop().await.unwrap();

    // The same journal again: everything in it is already in the database.
    for (path, bytes) in &journal {
        std::fs::write(path, bytes).unwrap();
    }
    let d = TempDaemon::start(settings()).unwrap();
    let report = d
        .operator("alice")
        .await
        .unwrap()
        .verify_audit()
        .await
        .unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.entries, entries + 3, "only a stop and a start more");
    d.stop().await.unwrap();
}

/// A journal agentd cannot read holds writes it acknowledged: it refuses to start, saying
/// which file, rather than carry on without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_journal_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let settings = || Settings {
        state_dir: Some(state.clone()),
        ..Settings::default()
    };
    TempDaemon::start(settings()).unwrap().stop().await.unwrap();
    let journal = state.join("agentd.journal.00000000000000000007");
    std::fs::create_dir(&journal).unwrap();
    let refused = match Daemon::start(settings(), &dir.path().join("agentd.sock")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected agentd to refuse"),
    };
    assert!(
        refused.contains("cannot read the journal")
            && refused.contains(&journal.display().to_string()),
        "{refused}"
    );
}
