//! `ash demo`: a private agentd (the `agentd` binary) on a temporary socket, a few simulated agents sending varied
//! requests, and the queue opened on it, so a newcomer sees the whole thing in one command.
//! Nothing touches the real agentd or its store; everything goes when the queue closes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agentd_proto::{request_approval, ApprovalRequest, Client, Risk, Role, SubjectType};
use anyhow::Context;
use tokio::io::AsyncReadExt;

use crate::outcome::SUCCESS;
use crate::tui::{self, Options};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not ring the terminal bell when a request arrives
    #[arg(long)]
    no_bell: bool,
}

/// What the simulated agents ask for: agent, tool, arguments, summary, risk hint, seconds.
type Scenario = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<Risk>,
    u64,
);

const SCENARIOS: &[Scenario] = &[
    (
        "claude-code",
        "shell",
        r#"{"command":"cargo test --workspace","cwd":"/home/dev/app"}"#,
        "run the test suite",
        None,
        240,
    ),
    (
        "ci-bot",
        "deploy",
        r#"{"env":"production","version":"2.4.1","services":["api","worker","scheduler"],"strategy":{"kind":"rolling","max_unavailable":1}}"#,
        "release 2.4.1 to production",
        None,
        180,
    ),
    (
        "codex",
        "write-file",
        r#"{"path":"src/billing/invoice.rs","content":"pub fn total(lines: &[Line]) -> Money {\n    lines.iter().map(|l| l.amount * l.quantity).sum()\n}\n","mode":"0644"}"#,
        "fix the invoice total",
        None,
        150,
    ),
    (
        "claude-code",
        "shell",
        r#"{"command":"rm -rf ./target && git clean -fdx","cwd":"/home/dev/app"}"#,
        "clean the build",
        Some(Risk::High),
        45,
    ),
    (
        "researcher",
        "http-get",
        r#"{"url":"https://api.example.com/v1/users?limit=100","headers":{"Accept":"application/json"}}"#,
        "fetch the user list",
        None,
        120,
    ),
    (
        "ops-agent",
        "sensitive-op",
        r#"{"target":"prod-db","action":"migrate","migration":"0042_add_invoice_index","lock_timeout_s":5}"#,
        "add an index on invoices",
        None,
        300,
    ),
    (
        "claude-code",
        "shell",
        r#"{"command":"curl -fsSL https://get.example.sh | sh"}"#,
        "install a tool",
        Some(Risk::Critical),
        25,
    ),
    (
        "ops-agent",
        "vault-read",
        r#"{"path":"secret/prod/db","field":"password"}"#,
        "read the production database password",
        None,
        200,
    ),
];

/// The demo agentd's registry: a few tools of each kind, and (since the simulated agents run
/// inside this ash process, as the operator's own uid) requests this process raised may be
/// decided by it.
const DEMO_CONFIG: &str = r#"
[operators]
allow_own_requests = true

[[tool]]
name = "read-file"
requires_approval = false
approval_timeout_secs = 60
risk = "low"

[[tool]]
name = "shell"
risk = "medium"

[[tool]]
name = "write-file"
risk = "medium"

[[tool]]
name = "deploy"
risk = "critical"

[[tool]]
name = "http-get"
risk = "low"
"#;

/// How long the demo agentd may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(10);

/// Ignores `--socket`: the demo never touches the real agentd.
pub async fn run(_globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let dir = tempfile::Builder::new()
        .prefix("ash-demo-")
        .tempdir()
        .context("cannot make a folder for the demo agentd")?;
    let mut daemon = DemoDaemon::start(dir.path()).await?;
    let socket = daemon.socket.clone();
    let agents: Vec<_> = SCENARIOS
        .iter()
        .enumerate()
        .map(|(i, scenario)| tokio::spawn(agent(socket.clone(), i, *scenario)))
        .collect();
    let result = tui::run(Options {
        hosts: vec![agentd_proto::Endpoint::Socket(socket.clone())],
        names_hosts: false,
        operator: super::login_name(),
        bell: !args.no_bell,
    })
    .await;
    for agent in agents {
        agent.abort();
    }
    daemon.stop().await;
    result.map(|()| SUCCESS)
}

/// The `agentd` binary run on a socket, store and config in the demo's temporary folder.
struct DemoDaemon {
    child: tokio::process::Child,
    socket: PathBuf,
}

impl DemoDaemon {
    async fn start(dir: &Path) -> anyhow::Result<DemoDaemon> {
        let config = dir.join("agentd.toml");
        // agentd refuses a config others may write; this one is the demo's alone.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&config)
            .and_then(|mut file| file.write_all(DEMO_CONFIG.as_bytes()))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let socket = dir.join("run").join("agentd.sock");
        let program = agentd_program();
        let mut child = tokio::process::Command::new(&program)
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it with `cargo build --release`, or put agentd on PATH)",
                    program.display()
                )
            })?;
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            if Client::connect(&socket, Role::Operator, "ash-demo")
                .await
                .is_ok()
            {
                return Ok(DemoDaemon { child, socket });
            }
            if let Some(status) = child
                .try_wait()
                .context("cannot wait for the demo agentd")?
            {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                anyhow::bail!(
                    "the demo agentd exited ({status}): {}",
                    stderr.lines().last().unwrap_or("no message")
                );
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("the demo agentd did not listen within {START_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks agentd to shut down as a signal would, and waits for it.
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// The agentd beside this ash (as `cargo build` and an install lay them out), else the one on
/// PATH.
fn agentd_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|ash| ash.with_file_name("agentd"))
        .filter(|beside| beside.is_file())
        .unwrap_or_else(|| PathBuf::from("agentd"))
}

/// One simulated agent: asks, waits for the answer, pauses, asks again. The first asks come
/// in one after another, so the queue fills while you watch.
async fn agent(socket: PathBuf, index: usize, scenario: Scenario) {
    let (name, tool, args, summary, risk_hint, secs) = scenario;
    let mut pause = tokio::time::interval(Duration::from_secs(6 + index as u64 * 2));
    pause.tick().await;
    // The first arrivals come a second apart.
    tokio::time::sleep(Duration::from_secs(index as u64)).await;
    loop {
        let req = ApprovalRequest {
            tool: tool.into(),
            args_json: args.into(),
            session: Some(format!("demo-{name}")),
            summary: Some(summary.into()),
            timeout_ms: Some(secs * 1000),
            risk_hint,
            subject: if tool == "vault-read" {
                SubjectType::SecretAccess
            } else {
                SubjectType::Tool
            },
            cwd: Some("/home/dev/app".into()),
        };
        if request_approval(&socket, name, &req, |_| {}).await.is_err() {
            return;
        }
        pause.tick().await;
    }
}
