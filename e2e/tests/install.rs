//! The README's install path: `scripts/install` into an empty prefix gives working `agentd` and
//! `ash`, with completions, every manual page and the systemd user unit pointing at them.
//!
//! A test binary of its own: cargo runs test binaries one after another, so this build never
//! competes for the two cores with the timing of the other tests.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use agentd_testkit::Poller;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_install_into_an_empty_prefix_gives_a_working_agentd_and_ash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    // A target folder of its own (so this cargo never waits on the one running the tests),
    // kept between runs; --debug, so it builds as fast as the tests' own build.
    let out = Command::new(root.join("scripts/install"))
        .arg("--debug")
        .arg("--prefix")
        .arg(&prefix)
        .env("CARGO_TARGET_DIR", root.join("target/install-test"))
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("manual pages in"), "{said}");

    for file in [
        "bin/agentd",
        "bin/ash",
        "share/bash-completion/completions/ash",
        "share/zsh/site-functions/_ash",
        "share/fish/vendor_completions.d/ash.fish",
        "share/man/man1/ash.1",
        "share/man/man1/ash-approve.1",
        "share/man/man1/ash-audit-verify.1",
    ] {
        assert!(prefix.join(file).is_file(), "{file} is not installed");
    }
    let prune = std::fs::read_to_string(prefix.join("share/man/man1/ash-prune.1")).unwrap();
    assert!(
        prune.contains("dry\\-run"),
        "every flag is in the page:\n{prune}"
    );
    let bash =
        std::fs::read_to_string(prefix.join("share/bash-completion/completions/ash")).unwrap();
    assert!(bash.contains("prune"), "the completions know every command");
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/user/agentd.service")).unwrap();
    let prefix = std::fs::canonicalize(&prefix).unwrap();
    assert!(
        unit.contains(&format!("\nExecStart={}/bin/agentd\n", prefix.display())),
        "{unit}"
    );

    // What was installed runs: agentd on a socket, ash against it.
    let socket = dir.path().join("agentd.sock");
    let _agentd = Command::new(prefix.join("bin/agentd"))
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut poller = Poller::new(Duration::from_secs(30), "the installed agentd to answer");
    loop {
        let out = Command::new(prefix.join("bin/ash"))
            .args(["pending", "--json"])
            .env("AGENTD_SOCKET", &socket)
            .output()
            .await
            .unwrap();
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
            break;
        }
        poller.tick().await;
    }
    let out = Command::new(prefix.join("bin/ash"))
        .arg("pending")
        .env("AGENTD_SOCKET", &socket)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
