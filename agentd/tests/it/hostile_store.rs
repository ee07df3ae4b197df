//! Files agentd trusts: a state dir others can write to, or a journal file another user
//! planted there, stops the start with one line naming the path and the fix, instead of being
//! replayed into the store.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::os::unix::fs::PermissionsExt;

use agentd::Settings;
use agentd_testkit::TempDaemon;

fn in_dir(dir: &std::path::Path) -> Settings {
    Settings {
        state_dir: Some(dir.to_path_buf()),
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_dir_others_can_write_to_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let state = base.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let err = TempDaemon::start_exact(in_dir(&state))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "the state dir {s} is writable by others (mode 1777); refusing to trust what it holds: chmod 700 {s}",
            s = state.display()
        )
    );
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    TempDaemon::start_exact(in_dir(&state))
        .unwrap()
        .stop()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_planted_by_another_user_is_never_replayed() {
    let base = tempfile::tempdir().unwrap();
    let state = base.path().join("state");
    TempDaemon::start_exact(in_dir(&state))
        .unwrap()
        .stop()
        .await
        .unwrap();
    let planted = state.join("agentd.journal.999999");
    std::fs::write(&planted, b"whatever a grant looks like").unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    let err = TempDaemon::start_exact(in_dir(&state))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(&format!("{} belongs to uid 65534", planted.display())),
        "{err}"
    );
    assert!(!err.contains('\n'));
    // A link planted in place of the database is refused too.
    std::fs::remove_file(&planted).unwrap();
    let db = state.join("agentd.db");
    std::fs::rename(&db, state.join("moved.db")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &db).unwrap();
    let err = TempDaemon::start_exact(in_dir(&state))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is not a regular file"), "{err}");
}

/// Where each record of a journal file starts: `[length u32 LE][crc u32 LE][payload]`.
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        starts.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
    }
    starts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_journal_record_costs_that_record_and_is_reported() {
    let base = tempfile::tempdir().unwrap();
    let state = base.path().join("state");
    let settings = || Settings {
        state_dir: Some(state.clone()),
        limits: agentd_testkit::unlimited(),
        ..Settings::default()
    };
    TempDaemon::start(settings()).unwrap().stop().await.unwrap();
    let old_db = std::fs::read(state.join("agentd.db")).unwrap();

    // 154 requests pending, journaled; the database is then put back as it was before them,
    // as after a crash before the writer indexed them.
    let d = TempDaemon::start(settings()).unwrap();
    let mut agents = Vec::new();
    for i in 0..154 {
        let mut agent = d.agent(&format!("agent-{}", i % 4)).await.unwrap();
        let req = agentd_proto::ApprovalRequest {
            tool: "sensitive-op".into(),
            args_json: format!(r#"{{"n":{i}}}"#),
            ..agentd_proto::ApprovalRequest::default()
        };
        assert!(matches!(
            agent.submit(&req).await.unwrap(),
            agentd_proto::Submitted::Queued(_)
        ));
        agents.push(agent);
    }
    let files = common::journal_files(&state);
    assert_eq!(files.len(), 1);
    let mut journal = std::fs::read(&files[0]).unwrap();
    // A crash leaves the anchor as it is now; the clean stop below would move it on.
    let anchor = std::fs::read(state.join("agentd.anchor")).unwrap();
    d.stop().await.unwrap();
    drop(agents);
    let starts = record_starts(&journal);
    assert_eq!(starts.len(), 155, "daemon_started and 154 requests");
    // One flipped byte in the payload of record 145 of 155 (request 144).
    journal[starts[144] + 12] ^= 0x5a;
    std::fs::write(state.join("agentd.db"), &old_db).unwrap();
    std::fs::write(state.join("agentd.anchor"), &anchor).unwrap();
    let _ = std::fs::remove_file(state.join("agentd.db-wal"));
    std::fs::write(&files[0], &journal).unwrap();

    let d = TempDaemon::start(settings()).unwrap();
    let mut op = d.operator("alice").await.unwrap();
    let pending = op.list(Some(agentd_proto::State::Pending)).await.unwrap();
    assert_eq!(pending.len(), 153, "only the damaged record is lost");
    let report = op.verify_audit().await.unwrap();
    let broken = report.broken.expect("the loss is reported by audit verify");
    assert!(
        broken
            .problem
            .contains("acknowledged writes lost to damaged store files")
            && broken.problem.contains("unreadable"),
        "{}",
        broken.problem
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_replaced_or_older_database_refuses_to_start() {
    let base = tempfile::tempdir().unwrap();
    let state = base.path().join("state");
    let start = || TempDaemon::start_exact(in_dir(&state));
    start().unwrap().stop().await.unwrap();
    let older = std::fs::read(state.join("agentd.db")).unwrap();
    start().unwrap().stop().await.unwrap();
    let current = std::fs::read(state.join("agentd.db")).unwrap();

    // Emptied: the file truncated to nothing.
    std::fs::write(state.join("agentd.db"), b"").unwrap();
    let err = start().err().unwrap().to_string();
    assert!(err.contains("the database was emptied or removed"), "{err}");
    assert!(!err.contains('\n'));

    // Replaced by another store's database.
    let other = base.path().join("other");
    TempDaemon::start_exact(in_dir(&other))
        .unwrap()
        .stop()
        .await
        .unwrap();
    std::fs::copy(other.join("agentd.db"), state.join("agentd.db")).unwrap();
    let err = start().err().unwrap().to_string();
    assert!(err.contains("the database was replaced"), "{err}");

    // Rolled back to an older copy of its own.
    std::fs::write(state.join("agentd.db"), &older).unwrap();
    let err = start().err().unwrap().to_string();
    assert!(err.contains("replaced by an older copy"), "{err}");

    // Put back as it was: starts.
    std::fs::write(state.join("agentd.db"), &current).unwrap();
    start().unwrap().stop().await.unwrap();

    // A store from before the anchor, emptied: the lock file is the evidence.
    std::fs::remove_file(state.join("agentd.anchor")).unwrap();
    std::fs::write(state.join("agentd.db"), b"").unwrap();
    let err = start().err().unwrap().to_string();
    assert!(
        err.contains("agentd has used this state dir before"),
        "{err}"
    );
}
