//! `ash hook RUNTIME`: hooks for agent runtimes (`claude-code`, `codex`, `gemini`). Each reads
//! its runtime's hook input on stdin, asks agentd for approval of the tool call, blocks, and
//! prints the answer in that runtime's own shape (`claude.rs`, `codex.rs`, `gemini.rs`).
//!
//! They fail closed: a runtime runs the tool (or falls back to its own prompt) when a hook
//! errors out or is killed at its timeout, so every failure (agentd unreachable, malformed
//! input, this command's own deadline, which comes before the hook's) answers an explicit deny
//! (or, with `--on-error ask`, leaves the call to the runtime's own prompt where it has one)
//! and exits 0.

mod claude;
mod codex;
mod gemini;

use std::io::Read;
use std::time::Duration;

use agentd_proto::{ApprovalRequest, State};
use serde_json::Value;

use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// A Claude Code hook (PreToolUse or PermissionRequest, by hook_event_name): JSON on stdin,
    /// a decision on stdout
    ClaudeCode(Args),
    /// A Codex hook (PermissionRequest or PreToolUse, by hook_event_name)
    Codex(Args),
    /// A Gemini CLI BeforeTool hook
    Gemini(Args),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Block the tool (fail closed)
    Deny,
    /// Leave the call to the runtime's own prompt
    Ask,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Answer deny by then at the latest, in seconds (keep it below the hook's timeout)
    #[arg(long, value_name = "SECS", default_value_t = 550)]
    pub deadline: u64,
    /// What to answer when agentd cannot be asked or the input is malformed
    #[arg(long, value_enum, default_value_t = OnError::Deny)]
    pub on_error: OnError,
    /// The agent name requests carry [default: the runtime's: claude-code, codex, gemini]
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

/// What a hook answers, before it is put in the runtime's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Allowed, with the arguments to use instead when an operator edited them.
    Allow(String, Option<Value>),
    Deny(String),
    /// No decision: the runtime's own prompt decides (only with `--on-error ask`).
    Undecided(String),
}

/// A tool call as the hooks hand it to agentd.
pub struct Call {
    pub agent: String,
    pub tool: String,
    pub tool_input: Value,
    pub session: Option<String>,
    pub cwd: Option<String>,
    pub summary: String,
}

/// The most hook input read from stdin.
const MAX_INPUT: u64 = 2 * 1024 * 1024;

pub async fn run(globals: &Globals, command: Command) -> anyhow::Result<u8> {
    let (runtime, args): (&dyn Runtime, Args) = match command {
        Command::ClaudeCode(a) => (&claude::ClaudeCode, a),
        Command::Codex(a) => (&codex::Codex, a),
        Command::Gemini(a) => (&gemini::Gemini, a),
    };
    let mut text = String::new();
    let read = std::io::stdin().take(MAX_INPUT).read_to_string(&mut text);
    let agent = args
        .agent
        .clone()
        .unwrap_or_else(|| runtime.default_agent().to_string());
    let (answer, event, input) = match read {
        Err(e) => (
            failure(&args, format!("cannot read the hook input: {e}")),
            None,
            None,
        ),
        Ok(_) => match runtime.parse(&text, &agent) {
            Err(why) => (
                failure(&args, format!("malformed hook input: {why}")),
                None,
                None,
            ),
            Ok((call, event)) => {
                let input = call.tool_input.clone();
                (ask(globals, &args, call).await, Some(event), Some(input))
            }
        },
    };
    let asked = Asked {
        event: event.as_deref(),
        input: input.as_ref(),
    };
    if let Some(out) = runtime.render(&asked, &answer) {
        println!("{out}");
    }
    Ok(SUCCESS)
}

/// A runtime's hook contract: its input, and its answer's shape.
pub trait Runtime {
    fn default_agent(&self) -> &'static str;
    /// The call in the input, and the hook event it came with.
    fn parse(&self, text: &str, agent: &str) -> Result<(Call, String), String>;
    /// The answer in the runtime's shape, or nothing to print (no decision).
    fn render(&self, asked: &Asked<'_>, answer: &Answer) -> Option<Value>;
}

/// What was asked: the hook event and the tool's arguments (`None` when the input could not be
/// read).
pub struct Asked<'a> {
    pub event: Option<&'a str>,
    pub input: Option<&'a Value>,
}

/// What a failure answers: a denial, or no decision with `--on-error ask`.
pub fn failure(args: &Args, why: String) -> Answer {
    match args.on_error {
        OnError::Deny => Answer::Deny(format!("agentd: {why}; denied to be safe")),
        OnError::Ask => Answer::Undecided(format!("agentd: {why}")),
    }
}

/// Asks agentd about `call` and waits, at most until the deadline.
pub async fn ask(globals: &Globals, args: &Args, call: Call) -> Answer {
    let deadline = Duration::from_secs(args.deadline.max(1));
    let req = ApprovalRequest {
        tool: call.tool,
        args_json: call.tool_input.to_string(),
        session: call.session,
        summary: Some(call.summary),
        // agentd gives up at the same time, so the request does not linger after the answer.
        timeout_ms: Some(deadline.as_millis() as u64),
        cwd: call.cwd.filter(|c| c.starts_with('/')),
        ..ApprovalRequest::default()
    };
    let to = match globals.endpoint() {
        Ok(to) => to,
        Err(e) => return Answer::Deny(format!("{e}; denied")),
    };
    // How long agentd gave the request: the shorter of the tool's timeout and this deadline.
    let lasts = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = std::sync::Arc::clone(&lasts);
    let asked = agentd_proto::request_approval_watched(&to, &call.agent, None, &req, move |p| {
        match p {
            agentd_proto::Progress::Queued(ticket) => {
                if let Ok(mut lasts) = seen.lock() {
                    *lasts = Some((ticket.expires_at - ticket.created_at).num_seconds());
                }
            }
            // The runtime shows a hook's stderr in its logs.
            agentd_proto::Progress::Lost => {
                eprintln!("agentd went away; waiting for it to come back, up to the deadline")
            }
            agentd_proto::Progress::Reattached => {
                eprintln!("agentd is back; still waiting for the decision")
            }
        }
    });
    let hook_deadline = format!("the hook's {} s deadline (--deadline)", deadline.as_secs());
    match tokio::time::timeout(deadline, asked).await {
        Err(_) => Answer::Deny(format!("no decision within {hook_deadline}; denied")),
        Ok(Err(e)) => failure(args, e.to_string()),
        Ok(Ok(outcome)) => {
            let d = outcome.decision;
            match d.state {
                State::Approved => Answer::Allow(
                    d.to_string(),
                    d.approved_args
                        .as_deref()
                        .and_then(|a| serde_json::from_str(a).ok()),
                ),
                State::Expired => {
                    let lasted = lasts.lock().ok().and_then(|l| *l);
                    let which = match lasted {
                        // agentd cut the request to the tool's timeout, which came first.
                        Some(secs) if secs + 1 < deadline.as_secs() as i64 => {
                            format!("the tool's {secs} s timeout (set in agentd), before {hook_deadline}")
                        }
                        _ => hook_deadline,
                    };
                    Answer::Deny(format!("no decision within {which}; denied"))
                }
                _ => Answer::Deny(d.to_string()),
            }
        }
    }
}

/// One line for the operator: the command or the file, where, and anything else worth
/// knowing (`notes`, e.g. a permission mode).
pub fn summary(tool: &str, input: &Value, cwd: Option<&str>, notes: &[String]) -> String {
    let what = ["command", "file_path", "url", "path", "pattern"]
        .iter()
        .find_map(|k| input.get(k).and_then(Value::as_str))
        .map(|s| s.lines().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| tool.to_string());
    let mut context: Vec<String> = cwd.map(|c| format!("in {c}")).into_iter().collect();
    context.extend(notes.iter().cloned());
    match context.is_empty() {
        true => what,
        false => format!("{what} ({})", context.join("; ")),
    }
}

/// The runtime's permission mode, for the summary, when it is not the default one.
pub fn mode_note(mode: Option<&str>) -> Vec<String> {
    mode.filter(|m| *m != "default")
        .and_then(name_part)
        .map(|m| format!("permission mode {m}"))
        .into_iter()
        .collect()
}

/// A name part from a hook input (a sub-agent's type), made safe to be part of an agent's
/// name: letters, digits, `-`, `_`, `.`, at most 64 of them.
pub fn name_part(text: &str) -> Option<String> {
    let part: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(64)
        .collect();
    (!part.is_empty()).then_some(part)
}
