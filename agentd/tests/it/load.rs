//! The load test's own checks: against a real agentd with its store it counts every answer on
//! both paths with none lost, duplicated or mismatched, reads agentd's memory, and it does
//! report answers as lost when agentd goes away under it.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agentd::Settings;
use agentd_testkit::load::{run, LoadOptions};
use agentd_testkit::{unlimited, Poller, TempDaemon};

fn settings() -> Settings {
    Settings {
        limits: unlimited(),
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_counted_once_on_both_paths() {
    let d = TempDaemon::start(settings()).unwrap();
    let report = run(&LoadOptions {
        socket: d.socket().to_path_buf(),
        agents: 4,
        duration: Duration::from_secs(2),
        human_every: 3,
    })
    .await
    .unwrap();
    assert_eq!(report.lost, 0, "{:?}", report.first_error);
    assert_eq!(report.duplicated, 0);
    assert_eq!(report.mismatched, 0);
    assert!(
        report.no_human.count > 0 && report.human.count > 0,
        "{report:?}"
    );
    assert!(report.no_human.p50 <= report.no_human.p99);
    assert!(report.no_human.p99 <= report.no_human.max);
    assert!(report.agentd_peak_kib.unwrap() > 0);
    // Every answer the load test counted is one agentd kept.
    let mut op = d.operator("check").await.unwrap();
    let mut stored = 0usize;
    op.export(&agentd_proto::HistoryQuery::default(), |record| {
        if record.request.tool.starts_with("loadtest-") {
            stored += 1;
        }
        Ok::<(), ()>(())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stored, report.answered());
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_cut_off_by_a_stopping_agentd_are_reported_lost() {
    let d = TempDaemon::start(settings()).unwrap();
    let options = LoadOptions {
        socket: d.socket().to_path_buf(),
        agents: 2,
        duration: Duration::from_secs(60),
        human_every: 0,
    };
    let load = tokio::spawn(async move { run(&options).await });
    let mut op = d.operator("check").await.unwrap();
    let mut poller = Poller::new(Duration::from_secs(20), "the load test to get going");
    while op.list(None).await.unwrap().len() < 10 {
        poller.tick().await;
    }
    drop(op);
    d.stop().await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), load)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        report.lost, 2,
        "each agent loses the request it was waiting on"
    );
    assert!(report.first_error.is_some());
    assert!(report.answered() >= 10);
}
