//! `ash notify` on the operator's machine, following this machine's agentd and one reached
//! over ssh: each new request on either runs the command here once, with its host named in
//! `AGENTD_HOST`; what was already waiting is not news; a host that restarts is followed again
//! and what arrived meanwhile is notified, once.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use agentd::Settings;
use agentd_proto::{request_approval, ApprovalRequest};
use agentd_testkit::{Poller, TempDaemon};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common;
use crate::common::sshd::{pending_on, Sshd, LIMIT};

/// An agent on `d` asking for `tool` with `summary`, left waiting.
fn ask(d: &TempDaemon, summary: &str) -> tokio::task::JoinHandle<()> {
    let socket: PathBuf = d.socket().to_path_buf();
    let req = ApprovalRequest {
        tool: "sensitive-op".into(),
        summary: Some(summary.into()),
        ..ApprovalRequest::default()
    };
    tokio::spawn(async move {
        let _ = request_approval(&socket, "claude", &req, |_| {}).await;
    })
}

/// The lines the notification command wrote, once `needle` is among them.
async fn lines_with(file: &Path, needle: &str) -> Vec<String> {
    let mut poller = Poller::new(LIMIT, format!("a notification with {needle}"));
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text.lines().map(str::to_string).collect();
        }
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_requests_on_every_host_are_notified_here_once() {
    let sshd = Sshd::start().await;
    let here = TempDaemon::start(Settings::default()).unwrap();
    let mut there = TempDaemon::start(Settings::default()).unwrap();
    let host = sshd.host(there.socket());
    // Already waiting when notify starts: not news.
    let _old = ask(&here, "old-news");
    pending_on(&here, 1).await;

    let out = sshd.dir.path().join("notified");
    let command = format!(
        "printf '%s|%s|%s\\n' \"$AGENTD_HOST\" \"$AGENTD_SUMMARY\" \"$AGENTD_RISK\" >> '{}'",
        out.display()
    );
    let mut notify = Command::new(common::ash_bin())
        .args(["--host", &host, "notify", &command])
        .env("AGENTD_SSH_COMMAND", sshd.ssh_command())
        .env("AGENTD_REMOTE_ASH", common::ash_bin())
        .env("AGENTD_SOCKET", here.socket())
        .envs(sshd.ash_env())
        .env("USER", "alice")
        .env_remove("AGENTD_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let said = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&said);
    let mut lines = BufReader::new(notify.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let following = |n: usize| {
        let said = Arc::clone(&said);
        async move {
            let mut poller = Poller::new(LIMIT, format!("ash notify to follow {n} times"));
            while said.lock().unwrap().matches("following").count() < n {
                poller.tick().await;
            }
        }
    };
    following(2).await;

    let _a = ask(&here, "deploy-here");
    let _b = ask(&there, "deploy-there");
    lines_with(&out, "deploy-here").await;
    let lines = lines_with(&out, "deploy-there").await;
    assert!(
        lines.contains(&"local|deploy-here|high".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("{host}|deploy-there|high")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("old-news")), "{lines:?}");

    // The far agentd restarts; a request that arrives there is still notified, once.
    there.restart(Settings::default()).await.unwrap();
    let _c = ask(&there, "after-restart");
    lines_with(&out, "after-restart").await;
    // Once following again, a later request proves the earlier one was not repeated.
    following(3).await;
    let _d = ask(&here, "last");
    let lines = lines_with(&out, "last").await;
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("after-restart"), 1, "{lines:?}");
    assert_eq!(count("deploy-there"), 1, "{lines:?}");
    assert_eq!(count("deploy-here"), 1, "{lines:?}");
    let said = said.lock().unwrap().clone();
    assert!(
        said.contains(&format!("{host}: ")),
        "the lost host is named: {said}"
    );
    let _ = notify.kill().await;
}

#[tokio::test]
async fn a_bad_notify_command_line_is_a_usage_error() {
    for (args, needle) in [
        (vec!["notify", ""], "the command is empty"),
        (
            vec!["notify", "true", "--max-running", "0"],
            "0 is not in 1..=64",
        ),
        (vec!["notify", "true", "--min-risk", "severe"], "severe"),
        (vec!["notify", "true", "--timeout", "soon"], "soon"),
    ] {
        let out = Command::new(common::ash_bin())
            .args(&args)
            .env("AGENTD_SOCKET", "/nonexistent/agentd.sock")
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines().next().unwrap().contains(needle),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_keeps_failing_is_said_once_while_it_is_retried() {
    // A socket that accepts and hangs up at once: each try of ash notify shows as a connection.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&tries);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    let mut notify = Command::new(common::ash_bin())
        .args(["notify", "true"])
        .env("AGENTD_SOCKET", &socket)
        .env_remove("AGENTD_HOST")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut poller = Poller::new(LIMIT, "ash notify to try three times");
    while tries.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        poller.tick().await;
    }
    notify.kill().await.unwrap();
    let out = notify.wait_with_output().await.unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("trying again").count(), 1, "{said}");
    assert!(said.starts_with("ash notify: local: "), "{said}");
}
