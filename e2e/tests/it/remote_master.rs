//! `ash --host ssh://...` with a ControlMaster, as REMOTE.md sets one up: once the master is
//! there, commands reach the far agentd through a socket the master forwards, starting no ssh
//! and no far process; what fails through the forward is retried the ordinary way, in the far
//! side's own words.

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::Value;
use tokio::process::Command;

use crate::common;
use crate::common::sshd::{agent, pending_on, Sshd, LIMIT};
use crate::common::text;

/// The sockets ash has had the master forward, in the test's runtime folder.
fn forwarded(sshd: &Sshd) -> Vec<std::path::PathBuf> {
    let dir = sshd.dir.path().join("runtime").join("ash");
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// `ash --host HOST pending --json` through `ssh`, which must succeed; the requests listed.
async fn listed(sshd: &Sshd, ssh: &str, host: &str) -> Vec<Value> {
    let out = sshd
        .ash_with(ssh, &["--host", host, "pending", "--json"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_master_is_there_commands_start_no_ssh() {
    let sshd = Sshd::start().await;
    let d = TempDaemon::start(Settings::default()).unwrap();
    let host = sshd.host(d.socket());
    let ssh = sshd.master_command();
    let waiting = agent(&d, "prod");
    pending_on(&d, 1).await;

    // The first command starts ssh, which becomes the master.
    listed(&sshd, &ssh, &host).await;
    assert!(sshd.control_path().exists(), "the master is up");
    let started = sshd.ssh_runs();
    assert!(started >= 1);

    // Every later command goes through the master's forward of the far socket.
    let list = listed(&sshd, &ssh, &host).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["host"], host.as_str());
    assert_eq!(forwarded(&sshd).len(), 1, "one forwarded socket");
    let id = list[0]["id"].as_str().unwrap()[..8].to_string();
    let approve = sshd
        .ash_with(&ssh, &["--host", &host, "approve", &id])
        .await;
    assert!(approve.status.success(), "{}", text(&approve.stderr));
    let got = tokio::time::timeout(LIMIT, waiting).await.unwrap().unwrap();
    assert!(got.approved());
    // The far agentd saw the ssh user as the peer, and the operator's name.
    assert_eq!(got.decision.by, "alice");
    assert_eq!(
        sshd.ssh_runs(),
        started,
        "no ssh started once the master was up"
    );

    // The master gone, its forwarded socket left behind: ssh starts again (and becomes the
    // new master), and the command works.
    sshd.stop_master().await;
    assert_eq!(forwarded(&sshd).len(), 1, "the stale socket is still there");
    let out = sshd.ash_with(&ssh, &["--host", &host, "status"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(sshd.ssh_runs() > started);
    let restarted = sshd.ssh_runs();
    let out = sshd.ash_with(&ssh, &["--host", &host, "status"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sshd.ssh_runs(), restarted, "the forward is set up again");

    // The far agentd stopped: the forward fails, and the far ash (in a session on the
    // master) says why, naming the host.
    let socket = d.socket().to_path_buf();
    d.stop().await.unwrap();
    let out = sshd.ash_with(&ssh, &["--host", &host, "pending"]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains(&host), "{said}");
    assert!(said.contains(&socket.display().to_string()), "{said}");
    assert!(said.contains("is it running there?"), "{said}");
    assert_eq!(sshd.ssh_runs(), restarted, "no ssh for that either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_url_without_a_socket_learns_the_far_one_once() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    // The far side's default socket is the one its environment names.
    let sshd = Sshd::start_with(&format!("AGENTD_SOCKET={}", d.socket().display()), "").await;
    let host = format!("ssh://{}@127.0.0.1:{}", sshd.user, sshd.port);
    let ssh = sshd.master_command();
    let _waiting = agent(&d, "prod");
    pending_on(&d, 1).await;
    for _ in 0..3 {
        let list = listed(&sshd, &ssh, &host).await;
        assert_eq!(list.len(), 1, "{list:?}");
    }
    assert_eq!(forwarded(&sshd).len(), 1, "forwarded once learned");
    let cache =
        std::fs::read_to_string(sshd.dir.path().join("cache/agentd/ssh-control.json")).unwrap();
    assert!(cache.contains(&d.socket().display().to_string()), "{cache}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_sshd_that_refuses_forwarding_still_answers_through_the_master() {
    let sshd = Sshd::start_with("", "AllowStreamLocalForwarding no\n").await;
    let d = TempDaemon::start(Settings::default()).unwrap();
    let host = sshd.host(d.socket());
    let ssh = sshd.master_command();
    let _waiting = agent(&d, "prod");
    pending_on(&d, 1).await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let list = listed(&sshd, &ssh, &host).await;
        assert_eq!(list.len(), 1, "{list:?}");
        runs.push(sshd.ssh_runs());
    }
    // The refused forward was taken down, and sessions on the master answer instead.
    assert!(forwarded(&sshd).is_empty(), "{:?}", forwarded(&sshd));
    assert_eq!(runs[1], runs[0], "no ssh started after the first command");
    assert_eq!(runs[2], runs[0], "no ssh started after the first command");
    let cache =
        std::fs::read_to_string(sshd.dir.path().join("cache/agentd/ssh-control.json")).unwrap();
    let cache: Value = serde_json::from_str(&cache).unwrap();
    let until = cache.as_object().unwrap().values().next().unwrap()["no_forward_until"]
        .as_u64()
        .unwrap();
    assert!(until > 0, "forwarding is paused: {cache}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_login_that_floods_is_cut_off_and_named() {
    let sshd = Sshd::start().await;
    // The far "ash" answers everything with an endless stream, as a hostile login could.
    let far = sshd.dir.path().join("flooding-ash");
    std::fs::write(
        &far,
        "#!/bin/sh\nexec yes AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
    )
    .unwrap();
    std::fs::set_permissions(&far, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let host = format!("ssh://{}@127.0.0.1:{}", sshd.user, sshd.port);
    let ssh = sshd.master_command();
    for _ in 0..2 {
        // The first opens the master; the second asks the far side where its socket is.
        let out = tokio::time::timeout(
            LIMIT,
            Command::new(common::ash_bin())
                .args(["--host", &host, "pending"])
                .env("AGENTD_SSH_COMMAND", &ssh)
                .env("AGENTD_REMOTE_ASH", &far)
                .envs(sshd.ash_env())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("ash gave up on the flood in time")
        .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let said = text(&out.stderr);
        assert!(said.contains(&host), "{said}");
        assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    }
    assert!(
        forwarded(&sshd).is_empty(),
        "nothing learned from the flood"
    );
}
