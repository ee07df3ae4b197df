//! Store files that are bad, old, shared or full: refused, migrated, or stopping agentd with where.

#![allow(clippy::unwrap_used)]

use super::*;

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
    assert_eq!(
        text,
        format!("the state dir {} is a file, not a folder", file.display())
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
        text.contains("was written by a newer agentd (schema 99; this agentd knows schema 7)"),
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
    // working folder or grant options (5), no edited arguments (6), no grant reasons or audit
    // checkpoint (7). Every migration runs.
    sqlite3(
        &state_dir.join("agentd.db"),
        "ALTER TABLE requests DROP COLUMN decided_uid; ALTER TABLE requests DROP COLUMN decided_pid; \
         ALTER TABLE requests DROP COLUMN grant_id; DROP INDEX requests_subject; \
         ALTER TABLE requests DROP COLUMN subject; ALTER TABLE requests DROP COLUMN path; DROP TABLE grants; \
         DROP TABLE journal_state; ALTER TABLE requests DROP COLUMN cwd; \
         ALTER TABLE requests DROP COLUMN grant_options; ALTER TABLE requests DROP COLUMN approved_args; \
         DROP TABLE audit_checkpoint; \
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
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
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
