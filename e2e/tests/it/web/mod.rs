//! `ash web` against a real agentd: what an attacker tries without a paired device or from
//! another site (each attack performed), pairing and revoking, deciding with the agent getting
//! the answer, and races with the terminal; `browser` drives headless Chromium through it.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

mod attacks;
mod browser;
mod http;
mod push;
mod sink;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use agentd_proto::{ApprovalRequest, Risk, Submitted, ToolSpec};
use agentd_testkit::{Poller, TempDaemon};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common;

pub const LIMIT: Duration = Duration::from_secs(30);

/// A running `ash web` on a free port of 127.0.0.1, following `d`.
pub struct Web {
    pub addr: SocketAddr,
    /// The one-time pairing link it printed.
    pub pair: String,
    pub state_dir: PathBuf,
    _child: Child,
    /// What it prints after the start (new pairing links).
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// What it prints on standard error (also passed on to the test's).
    pub errors: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Web {
    pub async fn start(d: &TempDaemon, state_dir: &std::path::Path) -> Web {
        Web::start_with(d, state_dir, &[]).await
    }

    /// `ash web --listen 127.0.0.1:0 ARGS`.
    pub async fn start_with(d: &TempDaemon, state_dir: &std::path::Path, args: &[&str]) -> Web {
        Web::start_with_env(d, state_dir, args, &[]).await
    }

    /// `ash web --listen 127.0.0.1:0 ARGS` with these environment variables.
    pub async fn start_with_env(
        d: &TempDaemon,
        state_dir: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Web {
        let mut child = Command::new(common::ash_bin())
            .args(["web", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("AGENTD_SOCKET", d.socket())
            .env("AGENTD_STATE_DIR", state_dir)
            .env("USER", "alice")
            .env_remove("AGENTD_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        let (err_tx, errors) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                eprintln!("{line}");
                let _ = err_tx.send(line);
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut poller = Poller::new(LIMIT, "ash web to print its pairing link");
        let (mut addr, mut pair) = (None, None);
        while pair.is_none() {
            let line = tokio::select! {
                line = out.next_line() => line.unwrap().expect("ash web ended before it printed its link"),
                _ = poller.tick() => continue,
            };
            if let Some(rest) = line
                .split(" at http://")
                .nth(1)
                .or_else(|| line.split(" at https://").nth(1))
            {
                addr = rest.split(';').next().and_then(|a| a.parse().ok());
            }
            if let Some(link) = line.strip_prefix("pair: ") {
                pair = link.split_whitespace().next().map(String::from);
            }
        }
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Web {
            addr: addr.expect("ash web says where it listens"),
            pair: pair.unwrap(),
            state_dir: state_dir.to_path_buf(),
            _child: child,
            lines,
            errors,
        }
    }

    /// The pairing link's path and token.
    pub fn pair_path(&self) -> String {
        self.pair
            .split_once(&self.addr.to_string())
            .map(|(_, path)| path.to_string())
            .unwrap()
    }

    /// Pairs a device named `name` through the link; returns its cookie header value.
    pub async fn pair_device(&self, name: &str) -> String {
        let token = self.pair.rsplit('/').next().unwrap();
        let reply = http::call(
            self.addr,
            "POST",
            "/pair",
            &[],
            Some(&format!("token={token}&name={}", http::form(name))),
        )
        .await;
        assert_eq!(reply.status, 303, "{}", reply.body);
        let cookie = reply.header("set-cookie").unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_string()
    }

    /// Waits for a line on standard error that contains `what`.
    pub async fn error_line(&mut self, what: &str) -> String {
        let mut poller = Poller::new(LIMIT, format!("ash web to say {what:?}"));
        loop {
            tokio::select! {
                line = self.errors.recv() => {
                    let line = line.expect("ash web ended");
                    if line.contains(what) {
                        return line;
                    }
                }
                _ = poller.tick() => {}
            }
        }
    }

    /// Runs `ash web ARGS` (devices, revoke) against the same device file.
    pub async fn ash(&self, args: &[&str]) -> std::process::Output {
        Command::new(common::ash_bin())
            .arg("web")
            .args(args)
            .env("AGENTD_STATE_DIR", &self.state_dir)
            .output()
            .await
            .unwrap()
    }
}

/// Queues a call of `tool` (registered with `risk` and `timeout_secs` when given) from agent
/// `bot`; returns its ID and the waiting agent's task.
pub async fn ask_registered(
    d: &TempDaemon,
    tool: &str,
    spec: Option<(Risk, u64)>,
    summary: &str,
    args: &str,
) -> (String, tokio::task::JoinHandle<agentd_proto::Outcome>) {
    let mut agent = d.agent("bot").await.unwrap();
    if let Some((risk, timeout)) = spec {
        agent
            .register_tool(&ToolSpec {
                name: tool.into(),
                requires_approval: true,
                approval_timeout_secs: timeout,
                risk,
            })
            .await
            .unwrap();
    }
    let Submitted::Queued(t) = agent
        .submit(&ApprovalRequest {
            tool: tool.into(),
            args_json: args.into(),
            summary: Some(summary.into()),
            ..ApprovalRequest::default()
        })
        .await
        .unwrap()
    else {
        panic!("expected the request to wait");
    };
    let waiting = tokio::spawn(async move { agent.wait().await.unwrap() });
    (t.id.to_string(), waiting)
}
