//! The shell-profile lines in docs/SERVICE.md, run as a login shell would: the first shell
//! starts agentd in the background, and every later one sees it answering and starts nothing.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use agentd_testkit::Poller;
use tokio::process::Command;

/// The first `sh` block after the "From a shell profile" heading.
fn profile_snippet() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SERVICE.md"))
        .unwrap();
    let section = &doc[doc.find("## From a shell profile").unwrap()..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let len = section[start..].find("```").unwrap();
    section[start..start + len].to_owned()
}

struct Login {
    home: tempfile::TempDir,
    path: String,
}

impl Login {
    /// Runs the snippet in a fresh bash; returns the PID of what it started in the background,
    /// if it started anything.
    async fn shell(&self) -> Option<i32> {
        let script = format!("{}\necho \"started=$!\"\n", profile_snippet());
        let out = Command::new("bash")
            .args(["-c", &script])
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", &self.path)
            .env("XDG_RUNTIME_DIR", self.home.path().join("run"))
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let pid = text.trim().strip_prefix("started=").unwrap();
        (!pid.is_empty()).then(|| pid.parse().unwrap())
    }

    async fn answers(&self) -> bool {
        Command::new(common::ash_bin())
            .arg("status")
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.home.path().join("run"))
            .output()
            .await
            .unwrap()
            .status
            .success()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_lines_start_agentd_once() {
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let login = Login {
        path: format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            common::agentd_dir().display()
        ),
        home,
    };
    assert!(!login.answers().await);

    let pid = login.shell().await.expect("the first shell starts agentd");
    let mut poller = Poller::new(Duration::from_secs(20), "agentd started from the profile");
    while !login.answers().await {
        poller.tick().await;
    }
    assert_eq!(
        login.shell().await,
        None,
        "a second shell must not start another agentd"
    );
    assert!(login.answers().await);

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let mut poller = Poller::new(Duration::from_secs(20), "agentd to stop on SIGTERM");
    while login.answers().await {
        poller.tick().await;
    }
    let log =
        std::fs::read_to_string(login.home.path().join(".local/state/agentd/agentd.log")).unwrap();
    assert!(log.contains("listening"), "{log}");
}

/// agentd started in the background writes its log in its state dir, and `ash logs` shows it
/// (`-f` keeps following it); with no log there, one line says where it looked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ash_logs_shows_what_agentd_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let socket = dir.path().join("agentd.sock");
    let missing = std::process::Command::new(common::ash_bin())
        .args(["logs", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains(&format!("no log at {}", state.join("agentd.log").display())),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let mut agentd = common::spawn_agentd(&socket, &state);
    let followed = dir.path().join("followed.txt");
    let mut poller = agentd_testkit::Poller::new(std::time::Duration::from_secs(20), "the log");
    loop {
        let out = std::process::Command::new(common::ash_bin())
            .args(["logs", "--state-dir"])
            .arg(&state)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).to_string();
        if log.contains("listening") {
            // The start-up line says what agentd runs with and from where.
            assert!(
                log.contains("config=none (built-in defaults) config_tools=0 config_rules=0 presets=claude-code,codex,gemini"),
                "{log}"
            );
            break;
        }
        poller.tick().await;
    }
    let _follow = tokio::process::Command::new(common::ash_bin())
        .args(["logs", "-f"])
        .env("AGENTD_STATE_DIR", &state)
        .stdout(std::fs::File::create(&followed).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(agentd.id().unwrap() as i32);
    let mut poller = agentd_testkit::Poller::new(std::time::Duration::from_secs(20), "-f to start");
    while !std::fs::read_to_string(&followed).is_ok_and(|t| t.contains("listening")) {
        poller.tick().await;
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    agentd.wait().await.unwrap();
    let mut poller =
        agentd_testkit::Poller::new(std::time::Duration::from_secs(20), "the shutdown in -f");
    while !std::fs::read_to_string(&followed).is_ok_and(|t| t.contains("SIGTERM: shutting down")) {
        poller.tick().await;
    }
}
