//! `ash tui` in a real tmux session against a real agentd: keys sent with `tmux send-keys`,
//! the screen read with `tmux capture-pane`, and the waiting `ash request` processes checked
//! for the answers given on screen.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::common;

use agentd::Settings;
use agentd_testkit::{Poller, TempDaemon};
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(30);

/// A tmux server of the test's own, so nothing else's sessions are touched.
pub(crate) struct Tmux {
    server: String,
}

impl Tmux {
    pub(crate) fn new(tag: &str) -> Tmux {
        Tmux {
            server: format!("ash-tui-{tag}-{}", std::process::id()),
        }
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)")
    }

    /// Starts `command` in the session `queue`, in a window of `cols` × `rows`.
    pub(crate) fn start(&self, cols: u16, rows: u16, command: &str) {
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let started = self.run(&[
            "new-session",
            "-d",
            "-s",
            "queue",
            "-x",
            &cols,
            "-y",
            &rows,
            command,
        ]);
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
    }

    /// Starts the queue (`ash tui --no-bell`) as `user` against `socket`.
    pub(crate) fn start_queue(&self, cols: u16, rows: u16, socket: &Path, user: &str) {
        self.start(
            cols,
            rows,
            &format!(
                "env AGENTD_SOCKET={} USER={user} {} tui --no-bell",
                socket.display(),
                common::ash_bin().display()
            ),
        );
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "queue"]).stdout)
            .into_owned()
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "queue"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn text(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", "queue", "-l", text])
            .status
            .success());
    }

    /// Waits until the screen shows `what`; returns the screen. Each new screen is logged, so
    /// a failure shows what was on it.
    pub(crate) async fn wait_for(&self, what: &str) -> String {
        // Each look starts a tmux client: every 20 ms is plenty for a screen, and leaves the
        // CPU to what is being waited for.
        let mut poller = Poller::new(LIMIT, format!("the screen to show {what:?}"))
            .every(Duration::from_millis(20));
        let mut last = String::new();
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            if screen != last {
                eprintln!("waiting for {what:?}; screen:\n{screen}");
                last = screen;
            }
            poller.tick().await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn request(socket: &Path, args: &[&str]) -> Child {
    Command::new(common::ash_bin())
        .arg("request")
        .args(args)
        .env("AGENTD_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn finished(child: Child) -> Output {
    tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("the request finished in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_and_denying_from_the_queue_in_tmux() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let socket = d.socket();
    // Deadlines set the order on screen: lint first, then sensitive-op, then rm.
    let lint = request(
        socket,
        &["--tool", "lint", "--agent", "claude", "--timeout", "100"],
    );
    let deploy = request(
        socket,
        &[
            "--tool",
            "sensitive-op",
            "--agent",
            "claude",
            "--args",
            r#"{"target":"prod"}"#,
            "--timeout",
            "200",
        ],
    );
    let rm = request(
        socket,
        &[
            "--tool",
            "rm",
            "--agent",
            "codex",
            "--args",
            r#"{"path":"/"}"#,
            "--timeout",
            "250",
        ],
    );

    let tmux = Tmux::new("decide");
    tmux.start_queue(100, 30, socket, "alice");
    let screen = tmux.wait_for("3 pending").await;
    for tool in ["lint", "sensitive-op", "rm", "MEDIUM", "HIGH", "connected"] {
        assert!(screen.contains(tool), "{tool} missing from:\n{screen}");
    }

    // Medium risk: one key approves the selected (first) request.
    tmux.keys(&["a"]);
    let out = finished(lint).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).ends_with("approved by alice\n"));
    tmux.wait_for("2 pending").await;

    // High risk: the first press only asks.
    tmux.keys(&["a"]);
    tmux.wait_for("press a again").await;
    tmux.keys(&["a"]);
    let out = finished(deploy).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_for("1 pending").await;

    // Deny with a typed reason; the agent reads it verbatim.
    tmux.keys(&["r"]);
    tmux.wait_for("reason:").await;
    tmux.text("not the root folder");
    tmux.keys(&["Enter"]);
    let out = finished(rm).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .ends_with("denied by operator alice: not the root folder\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = tmux.wait_for("0 pending").await;
    assert!(screen.contains("No pending requests"), "{screen}");

    // The history view shows all three, with who and why.
    tmux.keys(&["Tab"]);
    let screen = tmux.wait_for("history").await;
    assert!(
        screen.contains("denied") && screen.contains("not the root folder"),
        "{screen}"
    );
    assert_eq!(screen.matches("approved").count(), 2, "{screen}");

    // q quits and the pane's program ends.
    tmux.keys(&["q"]);
    let mut poller = Poller::new(LIMIT, "ash tui to exit");
    while tmux.run(&["has-session", "-t", "queue"]).status.success() {
        poller.tick().await;
    }
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_shows_requests_decided_elsewhere_leaving_and_reconnects() {
    let mut d = TempDaemon::start(Settings::default()).unwrap();
    let socket = d.socket().to_path_buf();
    let waiting = request(&socket, &["--tool", "deploy", "--agent", "ci"]);
    let tmux = Tmux::new("reconnect");
    tmux.start_queue(80, 24, &socket, "alice");
    tmux.wait_for("1 pending").await;
    // Decided by a script in another pane: the card leaves at once, with a notice.
    let out = Command::new(common::ash_bin())
        .args(["pending", "--json"])
        .env("AGENTD_SOCKET", &socket)
        .output()
        .await
        .unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let decided = Command::new(common::ash_bin())
        .args(["deny", &id, "--operator", "bob", "--reason", "frozen"])
        .env("AGENTD_SOCKET", &socket)
        .output()
        .await
        .unwrap();
    assert!(decided.status.success());
    let screen = tmux.wait_for("denied by operator bob: frozen").await;
    assert!(screen.contains("0 pending"), "{screen}");
    assert_eq!(finished(waiting).await.status.code(), Some(1));

    // agentd restarts: the status line says so, and the queue comes back by itself.
    d.restart(Settings::default()).await.unwrap();
    let again = request(&socket, &["--tool", "after-restart", "--agent", "ci"]);
    tmux.wait_for("after-restart").await;
    // The status line says connected again (it passed through connecting meanwhile).
    let screen = tmux.wait_for(" · connected · ").await;
    assert!(screen.contains("after-restart"), "{screen}");
    drop(again);
    tmux.keys(&["q"]);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ash_demo_starts_its_own_agentd_and_fills_the_queue() {
    // `ash demo` runs the agentd binary beside it; build it if this test runs alone.
    common::agentd_dir();
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux::new("demo");
    tmux.start(
        120,
        30,
        &format!(
            "env HOME={} USER=alice {} demo --no-bell",
            home.path().display(),
            common::ash_bin().display()
        ),
    );
    // The first simulated agents' requests arrive a second apart.
    let screen = tmux.wait_for("2 pending").await;
    for what in ["claude-code", "ci-bot", "connected"] {
        assert!(screen.contains(what), "{what} missing from:\n{screen}");
    }
    // Approving works as on a real agentd: the simulated agent's request leaves the queue.
    tmux.keys(&["a"]);
    tmux.wait_for("approved").await;
    // A queue row shows the subject type beside the tool, as `ash pending` does.
    tmux.wait_for("vault-read (secret_access)").await;

    // Quitting ends the demo and its agentd: the pane's command exits.
    tmux.keys(&["q"]);
    let mut poller = Poller::new(LIMIT, "ash demo to exit");
    while tmux.run(&["has-session", "-t", "queue"]).status.success() {
        poller.tick().await;
    }
}
