//! `ash exec [--tool NAME] [--timeout SECS] [--agent NAME] -- CMD ARGS...`: ask for approval
//! to run a command, and on approval become that command (its exit code is ash's). Denied or
//! expired, the command never runs and ash exits as `ash request` does (1 denied, 3 expired,
//! 4 any other error), so `ash exec -- terraform apply` works in scripts and Makefiles.

use std::os::unix::process::CommandExt;

use agentd_proto::{ApprovalRequest, State, SubjectType};
use anyhow::Context;

use crate::display::one_line;
use crate::outcome::{for_state, UsageError};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tool the approval is asked for
    #[arg(long, value_name = "NAME", default_value = "exec")]
    tool: String,
    /// Give up sooner than the tool's timeout (seconds, fractions allowed)
    #[arg(long, value_name = "SECS", value_parser = super::request::parse_timeout)]
    timeout: Option<u64>,
    /// The agent's name
    #[arg(long, value_name = "NAME", default_value = "ash-exec")]
    agent: String,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let Some(program) = args.command.first() else {
        return Err(UsageError("give the command to run after --".into()).into());
    };
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let req = ApprovalRequest {
        tool: args.tool,
        args_json: serde_json::json!({ "argv": args.command, "cwd": cwd }).to_string(),
        summary: Some(format!("run {}", one_line(&args.command.join(" ")))),
        timeout_ms: args.timeout,
        subject: SubjectType::Tool,
        cwd: cwd.to_str().map(String::from),
        ..ApprovalRequest::default()
    };
    let to = globals.endpoint()?;
    let outcome =
        agentd_proto::request_approval_watched(&to, &args.agent, None, &req, |p| match p {
            agentd_proto::Progress::Queued(ticket) => eprintln!(
                "waiting for approval to run {} (request {})",
                one_line(program),
                agentd_proto::request_id::short(&ticket.id)
            ),
            agentd_proto::Progress::Lost => {
                eprintln!("agentd went away; waiting for it to come back, up to the deadline")
            }
            agentd_proto::Progress::Reattached => {
                eprintln!("agentd is back; still waiting for the decision")
            }
        })
        .await
        .map_err(super::explain)?;
    if outcome.decision.state != State::Approved {
        eprintln!(
            "not running {}: {}",
            one_line(program),
            one_line(&outcome.decision.to_string())
        );
        return Ok(for_state(outcome.decision.state));
    }
    // Approved with edited arguments: run what was approved, never what was asked.
    let argv: Vec<String> = match outcome.decision.approved_args.as_deref() {
        None => args.command.clone(),
        Some(edited) => {
            let argv = serde_json::from_str::<serde_json::Value>(edited)
                .ok()
                .and_then(|v| serde_json::from_value::<Vec<String>>(v["argv"].clone()).ok())
                .filter(|argv| !argv.is_empty());
            match argv {
                Some(argv) => {
                    eprintln!(
                        "running the command as the operator edited it: {}",
                        one_line(&argv.join(" "))
                    );
                    argv
                }
                None => {
                    eprintln!(
                        "not running {}: the operator approved edited arguments without an argv list of strings",
                        one_line(program)
                    );
                    return Ok(for_state(State::Denied));
                }
            }
        }
    };
    // Become the command: same pid, same terminal, its exit code is ours.
    let error = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    Err(error).with_context(|| format!("cannot run {}", one_line(&argv[0])))
}
