//! The WAL and the journal under load and after a crash: bounded, replayed, refused when unreadable.

#![allow(clippy::unwrap_used)]

use super::*;

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
        common::journal_files(&state_dir).is_empty(),
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
    let journal: Vec<(std::path::PathBuf, Vec<u8>)> = common::journal_files(&state_dir)
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
