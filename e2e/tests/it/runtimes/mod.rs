//! The real agent runtimes, as released on npm and pinned in `e2e/runtimes/package.json`
//! (Claude Code, Codex, Gemini CLI), driving a real agentd through their own hooks, each
//! pointed at the scripted model server and set up as docs/INTEGRATIONS.md says.
//!
//! A test scripts the model's tool calls, runs the runtime headless in a temporary HOME, decides
//! what reaches the queue with the real `ash`, and checks what ran (marker files) and what the
//! model was told.

/// One test per named scenario of `scenarios`, for one set-up.
macro_rules! scenario_tests {
    ($setup:expr, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                scenarios::$name($setup).await;
            }
        )*
    };
}

mod claude_code;
mod codex;
mod doctor;
mod fixtures;
mod gemini;
mod scenarios;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use agentd_e2e::model::{Call, ModelServer};
use agentd_testkit::Poller;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common;

/// How long one headless run may take, start to end.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The runtimes the tests drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    ClaudeCode,
    Codex,
    Gemini,
}

impl Runtime {
    fn binary(self) -> PathBuf {
        let name = match self {
            Runtime::ClaudeCode => "claude",
            Runtime::Codex => "codex",
            Runtime::Gemini => "gemini",
        };
        let path = runtimes_dir().join("node_modules/.bin").join(name);
        assert!(
            path.exists(),
            "{} is not installed: run `npm ci --prefix e2e/runtimes` (the README's test \
             command does)",
            path.display()
        );
        path
    }

    /// The shell tool as the model calls it, running `command`.
    pub fn shell(self, command: &str) -> Call {
        match self {
            Runtime::ClaudeCode => Call::new(
                "Bash",
                serde_json::json!({"command": command, "description": "run it"}),
            ),
            Runtime::Codex => Call::new("exec_command", serde_json::json!({"cmd": command})),
            Runtime::Gemini => Call::new(
                "run_shell_command",
                serde_json::json!({"command": command, "description": "run it"}),
            ),
        }
    }
}

/// `e2e/runtimes`, where the pinned runtimes are installed.
pub fn runtimes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtimes")
}

/// One test's world: a temporary HOME and project, a real agentd on a socket there, and the
/// model server with the test's script.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub model: ModelServer,
    agentd: Option<Child>,
}

impl Rig {
    /// A rig whose model makes `turns` of tool calls, with agentd running.
    pub async fn start(turns: Vec<Vec<Call>>) -> Rig {
        let mut rig = Rig::without_agentd(turns).await;
        rig.start_agentd().await;
        rig
    }

    /// A rig whose agentd is not running (its socket does not exist).
    pub async fn without_agentd(turns: Vec<Vec<Call>>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "project", "run", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("project/README.md"), "the project\n").unwrap();
        let model = ModelServer::start(turns, "All done.").await.unwrap();
        Rig {
            dir,
            model,
            agentd: None,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/agentd.sock")
    }

    /// Starts (or restarts) agentd on the rig's socket and store, with the default config
    /// (presets on), and waits until it answers.
    pub async fn start_agentd(&mut self) {
        let child = common::spawn_agentd(&self.socket(), &self.dir.path().join("state"));
        self.agentd = Some(child);
        let mut poller = Poller::new(Duration::from_secs(20), "agentd to answer");
        while !self.ash(&["pending", "--json"]).await.status.success() {
            poller.tick().await;
        }
    }

    /// Kills agentd (SIGKILL), as a crash would.
    pub async fn kill_agentd(&mut self) {
        if let Some(mut child) = self.agentd.take() {
            child.kill().await.unwrap();
        }
    }

    /// Records every hook input from now on: an `ash` first on PATH that appends its standard
    /// input to `hook-inputs.jsonl` (one line each) before handing it to the real `ash`.
    pub fn capture_hook_inputs(&self) {
        let bin = self.dir.path().join("capture-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = hook ]; then\n  input=$(cat)\n  printf '%s\\n' \"$input\" >> '{log}'\n  printf '%s' \"$input\" | exec '{ash}' \"$@\"\nfi\nexec '{ash}' \"$@\"\n",
            log = self.dir.path().join("hook-inputs.jsonl").display(),
            ash = common::ash_bin().display()
        );
        let wrapper = bin.join("ash");
        std::fs::write(&wrapper, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The hook inputs recorded since `capture_hook_inputs`.
    pub fn hook_inputs(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("hook-inputs.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A runtime's command with the rig's environment: its HOME, the model server, agentd's
    /// socket, and `ash` first on PATH (the hooks are written as `ash hook …`, as documented).
    pub fn command(&self, runtime: Runtime) -> Command {
        let mut cmd = Command::new(runtime.binary());
        let path = std::env::var("PATH").unwrap_or_default();
        let capture = self.dir.path().join("capture-bin");
        let first = match capture.exists() {
            true => format!("{}:{}", capture.display(), common::bin_dir().display()),
            false => common::bin_dir().display().to_string(),
        };
        cmd.current_dir(self.project())
            .env_clear()
            .env("PATH", format!("{first}:{path}"))
            .env("HOME", self.home())
            .env("USER", "dev")
            .env("TERM", "dumb")
            .env("AGENTD_SOCKET", self.socket())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match runtime {
            Runtime::ClaudeCode => {
                cmd.env("ANTHROPIC_BASE_URL", self.model.url())
                    .env("ANTHROPIC_API_KEY", "sk-ant-test")
                    .env("DISABLE_TELEMETRY", "1")
                    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
                    .env("DISABLE_AUTOUPDATER", "1");
            }
            Runtime::Codex => {
                cmd.env("CODEX_HOME", self.home().join(".codex"))
                    .env("MODEL_SERVER_KEY", "test");
            }
            Runtime::Gemini => {
                cmd.env("GOOGLE_GEMINI_BASE_URL", self.model.url())
                    .env("GEMINI_API_KEY", "test")
                    .env("GEMINI_CLI_NO_RELAUNCH", "true");
            }
        }
        cmd
    }

    /// `ash setup ARGS` as the rig's user would run it in the project, which must succeed.
    pub fn setup(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(common::ash_bin())
            .arg("setup")
            .args(args)
            .current_dir(self.project())
            .env("HOME", self.home())
            .env("CODEX_HOME", self.home().join(".codex"))
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ash setup {}: {said}", args.join(" "));
        said
    }

    /// `ash ARGS` against the rig's agentd as the operator alice.
    pub async fn ash(&self, args: &[&str]) -> Output {
        common::ash_as_alice(&self.socket())
            .args(args)
            .output()
            .await
            .unwrap()
    }

    /// Waits for `n` requests to be pending and returns them.
    pub async fn pending(&self, n: usize, run: &mut Child) -> Vec<Value> {
        let mut poller = Poller::new(RUN_LIMIT, format!("{n} pending requests"));
        loop {
            let out = self.ash(&["pending", "--json"]).await;
            let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if list.len() >= n {
                return list;
            }
            // A runtime that ended will never ask: say what it printed.
            if let Ok(Some(status)) = run.try_wait() {
                panic!(
                    "the runtime ended ({status}) with {} pending of {n}; it offered {:?} and told the model {:?}",
                    list.len(),
                    self.model.tools(),
                    self.model.results()
                );
            }
            poller.tick().await;
        }
    }

    /// `ash VERB ID ARGS…`, which must succeed.
    pub async fn decide(&self, verb: &str, id: &str, args: &[&str]) {
        let mut all = vec![verb, id];
        all.extend(args);
        let out = self.ash(&all).await;
        assert!(
            out.status.success(),
            "ash {}: {}",
            all.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The requests agentd decided, newest first, as `ash history --json` shows them.
    pub async fn history(&self) -> Vec<Value> {
        let out = self.ash(&["history", "--json"]).await;
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Whether the project holds a file named `name`.
    pub fn made(&self, name: &str) -> bool {
        self.project().join(name).exists()
    }

    /// What the model was told about its `n`th call of turn `turn`.
    pub fn told(&self, turn: usize, n: usize) -> String {
        let id = format!("agentd_call_{turn}_{n}");
        self.model.results().get(&id).cloned().unwrap_or_else(|| {
            panic!(
                "the model was told nothing of {id}: {:?}",
                self.model.results()
            )
        })
    }
}

/// Waits for a headless run to end and returns its output, whatever its exit status.
pub async fn finished(run: Child) -> Output {
    tokio::time::timeout(RUN_LIMIT, run.wait_with_output())
        .await
        .expect("the runtime ends")
        .unwrap()
}

/// A run's stdout and stderr, for failure messages.
pub fn said(out: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `touch NAME` in the project folder (a relative path: every runtime runs in the project).
pub fn touch(name: &str) -> String {
    format!("touch {name}")
}

/// A runtime set up with one of agentd's hooks, as docs/INTEGRATIONS.md says.
#[derive(Clone, Copy, Debug)]
pub enum Setup {
    /// Claude Code's PreToolUse hook in the project's `.claude/settings.json`.
    ClaudePreToolUse,
    /// Claude Code's PermissionRequest hook in the project's `.claude/settings.json`.
    ClaudePermissionRequest,
    /// `claude -p --permission-prompt-tool mcp__agentd__approve` with `ash mcp`.
    ClaudeMcp,
    /// Codex's PreToolUse hook in `$CODEX_HOME/config.toml`, trusted.
    CodexPreToolUse,
    /// Codex's PermissionRequest hook, with `codex exec --approve-for-me`.
    CodexPermissionRequest,
    /// Gemini CLI's BeforeTool hook in `~/.gemini/settings.json`, `gemini -p --yolo`.
    GeminiBeforeTool,
}

impl Setup {
    pub fn runtime(self) -> Runtime {
        match self {
            Setup::ClaudePreToolUse | Setup::ClaudePermissionRequest | Setup::ClaudeMcp => {
                Runtime::ClaudeCode
            }
            Setup::CodexPreToolUse | Setup::CodexPermissionRequest => Runtime::Codex,
            Setup::GeminiBeforeTool => Runtime::Gemini,
        }
    }

    /// The agent name the requests carry.
    pub fn agent(self) -> &'static str {
        match self.runtime() {
            Runtime::ClaudeCode => "claude-code",
            Runtime::Codex => "codex",
            Runtime::Gemini => "gemini",
        }
    }

    /// The shell call the model makes to run `command`; under Codex's PermissionRequest set-up
    /// it asks to run outside the sandbox, the one kind of call that reaches that hook.
    pub fn shell(self, command: &str) -> Call {
        let mut call = self.runtime().shell(command);
        if let Setup::CodexPermissionRequest = self {
            call.args["sandbox_permissions"] = serde_json::json!("require_escalated");
            call.args["justification"] = serde_json::json!("it writes a marker");
        }
        call
    }

    /// The call that starts a sub-agent on `task`, and the agent name its calls carry.
    pub fn subagent(self, task: &str) -> Option<(Call, &'static str)> {
        match self.runtime() {
            Runtime::ClaudeCode => Some((
                Call::new(
                    "Agent",
                    serde_json::json!({"description": "make the marker", "prompt": task, "subagent_type": "general-purpose"}),
                ),
                "claude-code/general-purpose",
            )),
            // Gemini CLI's hook input names no sub-agent (0.61.0): its calls are the agent's.
            Runtime::Gemini => Some((
                Call::new(
                    "invoke_agent",
                    serde_json::json!({"agent_name": "generalist", "prompt": task}),
                ),
                "gemini",
            )),
            // Codex 0.169.0's sub-agents (`multi_agent_v2`) are off by default; not driven.
            Runtime::Codex => None,
        }
    }

    /// The name the runtime gives the `touch` tool of the test's MCP server `probe`.
    pub fn mcp_tool_name(self) -> String {
        match self.runtime() {
            Runtime::ClaudeCode | Runtime::Codex => "mcp__probe__touch".to_string(),
            Runtime::Gemini => "mcp_probe_touch".to_string(),
        }
    }

    /// Registers the test's MCP server (`e2e/tests/support/touch_mcp_server.py`) as `probe`.
    pub fn add_mcp_server(self, rig: &Rig) {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/touch_mcp_server.py");
        let script = script.to_string_lossy().to_string();
        match self.runtime() {
            Runtime::ClaudeCode => {
                // Given with --mcp-config, as a headless run takes MCP servers.
                let config = serde_json::json!({"mcpServers": {"probe": {"command": "python3", "args": [script]}}});
                std::fs::write(rig.dir.path().join("probe-mcp.json"), config.to_string()).unwrap();
            }
            Runtime::Codex => {
                let file = rig.home().join(".codex/config.toml");
                let mut text = std::fs::read_to_string(&file).unwrap();
                // `codex exec` never asks for approval, so an MCP tool runs only if its server
                // is approved to run tools without Codex asking: agentd's hook is the gate.
                text.push_str(&format!(
                    "\n[mcp_servers.probe]\ncommand = \"python3\"\nargs = [{script:?}]\ndefault_tools_approval_mode = \"approve\"\n"
                ));
                std::fs::write(&file, text).unwrap();
            }
            Runtime::Gemini => {
                let file = rig.home().join(".gemini/settings.json");
                let mut doc: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                doc["mcpServers"] =
                    serde_json::json!({"probe": {"command": "python3", "args": [script]}});
                std::fs::write(&file, doc.to_string()).unwrap();
            }
        }
    }

    /// Writes the runtime's settings into the rig's HOME and project.
    pub fn configure(self, rig: &Rig) {
        match self {
            Setup::ClaudePreToolUse => claude_code::hook(rig, "PreToolUse"),
            Setup::ClaudePermissionRequest => claude_code::hook(rig, "PermissionRequest"),
            Setup::ClaudeMcp => claude_code::mcp(rig),
            Setup::CodexPreToolUse => codex::configure(rig, "PreToolUse"),
            Setup::CodexPermissionRequest => codex::configure(rig, "PermissionRequest"),
            Setup::GeminiBeforeTool => gemini::configure(rig),
        }
    }

    /// Starts the runtime headless on `prompt`.
    pub fn run(self, rig: &Rig, prompt: &str) -> Child {
        let mut cmd = rig.command(self.runtime());
        match self {
            Setup::ClaudePreToolUse | Setup::ClaudePermissionRequest => {
                cmd.args(["-p", prompt]);
                let probe = rig.dir.path().join("probe-mcp.json");
                if probe.exists() {
                    cmd.arg("--mcp-config").arg(probe);
                }
            }
            Setup::ClaudeMcp => {
                cmd.args(["-p", prompt, "--mcp-config"])
                    .arg(rig.dir.path().join("agentd-mcp.json"))
                    .args(["--permission-prompt-tool", "mcp__agentd__approve"]);
            }
            Setup::CodexPreToolUse => {
                cmd.args(codex::EXEC).arg(prompt);
            }
            Setup::CodexPermissionRequest => {
                // --approve-for-me brings its own workspace-write sandbox.
                cmd.args(["exec", "--skip-git-repo-check", "--approve-for-me", prompt]);
            }
            Setup::GeminiBeforeTool => {
                cmd.args(["-p", prompt, "--yolo"]);
            }
        }
        cmd.spawn().unwrap()
    }
}
