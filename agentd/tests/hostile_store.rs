//! Files agentd trusts: a state dir others can write to, or a journal file another user
//! planted there, stops the start with one line naming the path and the fix, instead of being
//! replayed into the store.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use agentd::testkit::TempDaemon;
use agentd::Settings;

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
