//! `ash --host ssh://...` through a real sshd (Debian's openssh-server, which .ci/run
//! installs) on a loopback port, with a host key and an authorized key made for the test. Two
//! agentds stand for two machines (the URL's path names each one's socket); the far side runs
//! the real `ash dial-stdio`.

use std::path::PathBuf;
use std::process::Stdio;

use agentd::Settings;
use agentd_proto::{request_approval, ApprovalRequest, State};
use agentd_testkit::{Poller, TempDaemon};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common;
use crate::common::sshd::{agent, pending_on, Sshd, LIMIT};
use crate::common::text;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_operator_lists_and_decides_on_two_hosts_over_ssh() {
    let sshd = Sshd::start().await;
    let (a, b) = (
        TempDaemon::start(Settings::default()).unwrap(),
        TempDaemon::start(Settings::default()).unwrap(),
    );
    let (host_a, host_b) = (sshd.host(a.socket()), sshd.host(b.socket()));
    let on_a = agent(&a, "prod-a");
    let on_b = agent(&b, "prod-b");
    pending_on(&a, 1).await;
    pending_on(&b, 1).await;

    // Both hosts in one list, each request with its host.
    let out = sshd
        .ash(&["--host", &host_a, "--host", &host_b, "pending", "--json"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let on_host = |h: &str| {
        list.iter()
            .find(|r| r["host"] == h)
            .unwrap_or_else(|| panic!("nothing from {h} in {list:?}"))
            .clone()
    };
    let (req_a, req_b) = (on_host(&host_a), on_host(&host_b));
    assert_eq!(req_a["args"]["target"], "prod-a");
    assert_eq!(req_b["args"]["target"], "prod-b");
    let table = sshd
        .ash(&["--host", &host_a, "--host", &host_b, "pending"])
        .await;
    let shown = text(&table.stdout);
    assert!(shown.starts_with("HOST"), "{shown}");
    assert!(shown.contains("127.0.0.1"), "{shown}");

    // Each decision goes to the request's own host, found by its ID prefix.
    let id_a = &req_a["id"].as_str().unwrap()[..8];
    let id_b = &req_b["id"].as_str().unwrap()[..8];
    let show = sshd
        .ash(&["--host", &host_a, "--host", &host_b, "show", id_b, "--json"])
        .await;
    assert!(show.status.success(), "{}", text(&show.stderr));
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["host"], host_b.as_str());
    let approve = sshd
        .ash(&["--host", &host_a, "--host", &host_b, "approve", id_a])
        .await;
    assert!(approve.status.success(), "{}", text(&approve.stderr));
    let deny = sshd
        .ash(&[
            "--host", &host_a, "--host", &host_b, "deny", id_b, "--reason", "not b",
        ])
        .await;
    assert!(deny.status.success(), "{}", text(&deny.stderr));
    let (got_a, got_b) = (on_a.await.unwrap(), on_b.await.unwrap());
    assert!(got_a.approved());
    assert_eq!(got_a.decision.by, "alice");
    assert_eq!(got_b.decision.state, State::Denied);
    assert_eq!(got_b.decision.reason.as_deref(), Some("not b"));

    // `status` is one line for both hosts.
    let _more_a = agent(&a, "again-a");
    let _more_b = agent(&b, "again-b");
    pending_on(&a, 1).await;
    pending_on(&b, 1).await;
    let status = sshd
        .ash(&["--host", &host_a, "--host", &host_b, "status"])
        .await;
    assert!(
        text(&status.stdout).starts_with("2 pending"),
        "{}",
        text(&status.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_refuses_or_fails_is_reported_for_that_host_only() {
    let sshd = Sshd::start().await;
    let open = TempDaemon::start(Settings::default()).unwrap();
    // On this host only `nobody` may decide: the ssh user is refused there.
    let closed = TempDaemon::start(Settings {
        operator_users: vec!["nobody".into()],
        ..Settings::default()
    })
    .unwrap();
    let _waiting = agent(&open, "fine");
    pending_on(&open, 1).await;
    let (good, refused) = (sshd.host(open.socket()), sshd.host(closed.socket()));
    let out = sshd
        .ash(&["--host", &good, "--host", &refused, "pending", "--json"])
        .await;
    assert_eq!(out.status.code(), Some(1), "one host failed");
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["host"], good.as_str());
    let said = text(&out.stderr);
    assert!(said.contains(&refused), "{said}");
    assert!(said.contains("may not list requests"), "{said}");
    assert!(!said.contains(&good), "{said}");

    // Nothing listening on the port: ssh's own words, naming the host.
    let nowhere = "ssh://root@127.0.0.1:1";
    let out = sshd.ash(&["--host", nowhere, "pending"]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains(nowhere), "{said}");
    assert!(said.to_lowercase().contains("refused"), "{said}");

    // No ash on the far side.
    let out = Command::new(common::ash_bin())
        .args(["--host", &good, "pending"])
        .env("AGENTD_SSH_COMMAND", sshd.ssh_command())
        .env("AGENTD_REMOTE_ASH", "/nonexistent/ash")
        .envs(sshd.ash_env())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no ash on 127.0.0.1"),
        "{}",
        text(&out.stderr)
    );

    // A bad URL is a usage error before anything runs.
    let out = sshd.ash(&["--host", "http://vm", "pending"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("only ssh:// is supported"));
}

/// The agent's outcome, failing the test if it does not come in time.
async fn done(agent: tokio::task::JoinHandle<agentd_proto::Outcome>) -> agentd_proto::Outcome {
    tokio::time::timeout(LIMIT, agent)
        .await
        .expect("the agent's answer came in time")
        .unwrap()
}

/// An agentd process standing for one machine, in a folder of its own.
struct Machine {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Machine {
    async fn start() -> Machine {
        let mut m = Machine {
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        m.boot().await;
        m
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("agentd.sock")
    }

    async fn boot(&mut self) {
        let config = self.dir.path().join("agentd.toml");
        // Agents here run in this test's process, as the operator's own uid.
        std::fs::write(&config, "[operators]\nallow_own_requests = true\n").unwrap();
        self.child = Some(
            Command::new(common::agentd_binary())
                .arg("--socket")
                .arg(self.socket())
                .arg("--state-dir")
                .arg(self.dir.path().join("state"))
                .arg("--config")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
        );
        let mut poller = Poller::new(LIMIT, "agentd to answer");
        while agentd_proto::Client::connect(self.socket(), agentd_proto::Role::Operator, "check")
            .await
            .is_err()
        {
            poller.tick().await;
        }
    }

    /// Stops agentd as SIGKILL would and starts it again on the same socket and store.
    async fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
        self.boot().await;
    }

    /// An agent here asking for `tool` (medium risk: one key approves it), waiting `secs`.
    fn agent(&self, tool: &str, secs: u64) -> tokio::task::JoinHandle<agentd_proto::Outcome> {
        let socket = self.socket();
        let req = ApprovalRequest {
            tool: tool.into(),
            timeout_ms: Some(secs * 1000),
            ..ApprovalRequest::default()
        };
        tokio::spawn(async move {
            request_approval(&socket, "claude", &req, |_| {})
                .await
                .unwrap()
        })
    }

    /// Waits until `n` requests are pending here.
    async fn pending(&self, n: usize) {
        let mut poller = Poller::new(LIMIT, format!("{n} pending requests"));
        loop {
            if let Ok(mut op) =
                agentd_proto::Client::connect(self.socket(), agentd_proto::Role::Operator, "check")
                    .await
            {
                if op
                    .list(Some(State::Pending))
                    .await
                    .is_ok_and(|l| l.len() == n)
                {
                    return;
                }
            }
            poller.tick().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merged_queue_decides_here_and_there_and_outlives_a_restart() {
    let sshd = Sshd::start().await;
    let a = Machine::start().await;
    let mut b = Machine::start().await;
    // a is this machine (the queue adds its own agentd unless told not to), b is reached
    // over ssh.
    let host_b = sshd.host(&b.socket());
    // The deadlines set the order on screen: a's request first.
    let first = a.agent("lint-a", 200);
    let second = b.agent("lint-b", 250);
    a.pending(1).await;
    b.pending(1).await;

    // The queue runs from a script, so the ssh command's options need no quoting in tmux. It
    // reaches b through a ControlMaster, as REMOTE.md sets one up: through the socket the
    // master forwards, which must also outlive b's agentd restarting.
    let script = sshd.dir.path().join("queue.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport AGENTD_SSH_COMMAND='{}'\nexport AGENTD_REMOTE_ASH='{}'\n\
             export AGENTD_SOCKET='{}'\nexport USER=alice\n{}\
             exec '{}' --host '{host_b}' tui --no-bell\n",
            sshd.master_command(),
            common::ash_bin().display(),
            a.socket().display(),
            sshd.ash_env()
                .iter()
                .map(|(k, v)| format!("export {k}='{v}'\n"))
                .collect::<String>(),
            common::ash_bin().display(),
        ),
    )
    .unwrap();
    let tmux = crate::tui::Tmux::new("remote");
    tmux.start(140, 30, &format!("sh {}", script.display()));
    let shown = tmux.wait_for("2 pending").await;
    assert!(shown.contains("HOST"), "{shown}");
    assert!(
        shown.contains("lint-a") && shown.contains("lint-b"),
        "{shown}"
    );

    // One key each: the decisions reach each request's own host.
    // The first row (by deadline) is selected, whichever host's snapshot came in first.
    tmux.keys(&["g", "a"]);
    assert!(done(first).await.approved());
    tmux.wait_for("1 pending").await;
    // The first row (by deadline) is selected, whichever host's snapshot came in first.
    tmux.keys(&["g", "a"]);
    assert!(done(second).await.approved());
    tmux.wait_for("0 pending").await;
    let forwards = std::fs::read_dir(sshd.dir.path().join("runtime/ash"))
        .unwrap()
        .count();
    assert_eq!(forwards, 1, "b is reached through the master's forward");
    let ssh_started = sshd.ssh_runs();

    // One host's agentd restarts: the queue reconnects to it and keeps the other.
    b.restart().await;
    let third = b.agent("lint-b-again", 200);
    // The status line is drawn after the rows: wait for it rather than read a torn screen.
    tmux.wait_for("lint-b-again").await;
    tmux.wait_for("1 pending").await;
    // The first row (by deadline) is selected, whichever host's snapshot came in first.
    tmux.keys(&["g", "a"]);
    assert!(done(third).await.approved());
    let fourth = a.agent("lint-a-again", 200);
    tmux.wait_for("lint-a-again").await;
    tmux.wait_for("1 pending").await;
    // The first row (by deadline) is selected, whichever host's snapshot came in first.
    tmux.keys(&["g", "a"]);
    assert!(done(fourth).await.approved());
    assert_eq!(sshd.ssh_runs(), ssh_started, "reconnecting started no ssh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_agentd_of_another_protocol_version_is_named_with_both_versions() {
    use agentd_proto::{ErrorCode, ServerMsg, WireError, PROTOCOL_VERSION};
    let sshd = Sshd::start().await;
    // The far side answers the hello as an agentd of the next protocol version would: with
    // its refusal, in a frame (length, then the encoded message).
    let refusal = agentd_proto::codec::encode(&ServerMsg::Error(WireError {
        code: ErrorCode::VersionMismatch,
        message: format!(
            "protocol version mismatch: the client speaks version {PROTOCOL_VERSION}, \
             this agentd speaks version {}",
            PROTOCOL_VERSION + 1
        ),
    }))
    .unwrap();
    let mut frame = (refusal.len() as u32).to_be_bytes().to_vec();
    frame.extend(refusal);
    let reply = sshd.dir.path().join("reply");
    std::fs::write(&reply, frame).unwrap();
    let far = sshd.dir.path().join("newer-ash");
    std::fs::write(
        &far,
        format!(
            "#!/bin/sh\ncat '{}'\nexec cat >/dev/null\n",
            reply.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&far, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let host = format!("ssh://{}@127.0.0.1:{}", sshd.user, sshd.port);
    let out = Command::new(common::ash_bin())
        .args(["--host", &host, "pending"])
        .env("AGENTD_SSH_COMMAND", sshd.ssh_command())
        .env("AGENTD_REMOTE_ASH", &far)
        .envs(sshd.ash_env())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains(&host), "{said}");
    assert!(said.contains("protocol version mismatch"), "{said}");
    assert!(
        said.contains(&format!("version {}", PROTOCOL_VERSION + 1)),
        "{said}"
    );
}
