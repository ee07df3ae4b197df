//! The Python client package (`clients/python`, standard library only) against a real agentd,
//! decided with the real `ash`: its own unittest suite (approve, deny, edited arguments, the
//! default socket path, the Claude Agent SDK and OpenAI Agents SDK adapters with stand-ins for
//! the SDKs' types), and its command line's exit codes.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::path::Path;
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use tokio::process::Command;

fn package() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_package_passes_its_tests_against_a_real_agentd() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new("python3")
            .args(["-m", "unittest", "discover", "-s", "tests", "-v"])
            .current_dir(package())
            .env("PYTHONPATH", package())
            .env("AGENTD_SOCKET", d.socket())
            .env("ASH", common::ash_bin())
            .env("USER", "alice")
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("Ran 6 tests"), "{report}");
    // The command line: denied is 1, agentd unreachable 4.
    let child = Command::new("python3")
        .args(["-m", "agentd_client", "deploy", "{}", "--agent", "cli"])
        .env("PYTHONPATH", package())
        .env("AGENTD_SOCKET", d.socket())
        .output();
    let decide = async {
        let mut poller = agentd_testkit::Poller::new(Duration::from_secs(20), "the request");
        loop {
            let out = Command::new(common::ash_bin())
                .args(["pending", "--json"])
                .env("AGENTD_SOCKET", d.socket())
                .output()
                .await
                .unwrap();
            let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
            if let Some(req) = list.first() {
                Command::new(common::ash_bin())
                    .args(["deny", req["id"].as_str().unwrap(), "--reason", "no"])
                    .env("AGENTD_SOCKET", d.socket())
                    .output()
                    .await
                    .unwrap();
                return;
            }
            poller.tick().await;
        }
    };
    let (out, ()) = tokio::join!(child, decide);
    assert_eq!(out.unwrap().status.code(), Some(1));
    let out = Command::new("python3")
        .args([
            "-m",
            "agentd_client",
            "deploy",
            "--socket",
            "/nonexistent/s",
        ])
        .env("PYTHONPATH", package())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    d.stop().await.unwrap();
}
