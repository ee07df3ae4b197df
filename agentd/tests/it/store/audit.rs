//! The audit chain catches edits, deletions and reordering made with the sqlite3 shell.

#![allow(clippy::unwrap_used)]

use super::*;

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
