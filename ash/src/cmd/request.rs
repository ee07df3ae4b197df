//! `ash request`: ask for approval as an agent would and block until it is decided.
//!
//! Progress goes to stderr; stdout carries only the `--json` document, so scripts can use the
//! exit code alone. Ctrl-C withdraws the request instead of leaving a stale card behind.

use std::sync::OnceLock;

use agentd_proto::request_id::short;
use agentd_proto::Progress;
use agentd_proto::{ApprovalRequest, Client, Risk, Role, SubjectType};
use chrono::Utc;
use uuid::Uuid;

use crate::display::{one_line, remaining};
use crate::json::{self, OutcomeJson};
use crate::outcome::{for_state, UsageError, WAIT_ERROR};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tool to ask about
    #[arg(long, value_name = "NAME")]
    tool: String,
    /// The tool's arguments as JSON
    #[arg(long = "args", value_name = "JSON", default_value = "{}")]
    args_json: String,
    /// The agent's name
    #[arg(long, value_name = "NAME", default_value = "ash")]
    agent: String,
    /// The agent's session
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// One line for the operator saying what the call is for
    #[arg(long, value_name = "TEXT")]
    summary: Option<String>,
    /// Give up sooner than the tool's timeout (seconds, fractions allowed, or a length such as
    /// 15m); never later
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    timeout: Option<u64>,
    /// A risk hint (low, medium, high, critical); it can raise the tool's risk, never lower it
    #[arg(long, value_name = "LEVEL")]
    risk: Option<Risk>,
    /// What kind of thing is asked: tool, secret_access, channel_send, browser_action,
    /// node_capability or device_pairing
    #[arg(long, value_name = "TYPE", default_value = "tool")]
    subject: SubjectType,
    /// A parent agent that reviews this request first, if it is connected as a reviewer
    #[arg(long, value_name = "NAME")]
    parent: Option<String>,
    /// The agent's working folder (absolute): file paths are judged against it, and folder
    /// grants offered for it
    #[arg(long, value_name = "DIR")]
    cwd: Option<String>,
}

pub use crate::when::parse_timeout;

/// When agentd gave the request less time than `--timeout` asked (a tool's timeout is the
/// most a request of it may wait), a note saying so.
fn cut_note(asked_ms: Option<u64>, ticket: &agentd_proto::Ticket) -> String {
    let given_ms = (ticket.expires_at - ticket.created_at)
        .num_milliseconds()
        .max(0) as u64;
    match asked_ms {
        // A second of slack: agentd counts the deadline from when it queued the request.
        Some(asked) if asked > given_ms + 1000 => format!(
            " (--timeout {} cut to the tool's maximum, {})",
            crate::display::compact_secs((asked / 1000) as i64),
            crate::display::compact_secs((given_ms / 1000) as i64)
        ),
        _ => String::new(),
    }
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    serde_json::from_str::<serde_json::Value>(&args.args_json)
        .map_err(|e| UsageError(format!("invalid JSON in --args: {e}")))?;
    if args.cwd.as_ref().is_some_and(|c| !c.starts_with('/')) {
        return Err(UsageError("--cwd must be an absolute path".into()).into());
    }
    let req = ApprovalRequest {
        tool: args.tool,
        args_json: args.args_json,
        session: args.session,
        summary: args.summary,
        timeout_ms: args.timeout,
        risk_hint: args.risk,
        subject: args.subject,
        cwd: args.cwd,
    };
    let queued: OnceLock<Uuid> = OnceLock::new();
    let asked_ms = req.timeout_ms;
    let parent = args.parent.as_deref();
    let to = globals.endpoint()?;
    let wait = agentd_proto::request_approval_watched(&to, &args.agent, parent, &req, |progress| {
        match progress {
            Progress::Queued(ticket) => {
                let _ = queued.set(ticket.id);
                // Progress goes to stderr with --json too: stdout keeps only the document.
                eprintln!(
                    "waiting for approval of {} (risk {}), request {}; expires in {}{}",
                    one_line(&ticket.tool),
                    ticket.risk,
                    short(&ticket.id),
                    remaining(ticket.expires_at, Utc::now()),
                    cut_note(asked_ms, ticket),
                );
                eprintln!(
                    "  decide with: ash approve {0}   or: ash deny {0}",
                    short(&ticket.id)
                );
            }
            Progress::Lost => {
                eprintln!("agentd went away; waiting for it to come back, up to the deadline")
            }
            Progress::Reattached => eprintln!("agentd is back; still waiting for the decision"),
        }
    });
    let outcome = tokio::select! {
        outcome = wait => outcome.map_err(super::explain)?,
        _ = tokio::signal::ctrl_c() => {
            let Some(id) = queued.get().copied() else {
                eprintln!("interrupted before the request was queued");
                return Ok(WAIT_ERROR);
            };
            let mut client = Client::connect(&to, Role::Agent, &args.agent).await?;
            client.cancel(id).await?
        }
    };
    if globals.json {
        json::print(&OutcomeJson::from(&outcome))?;
    } else {
        eprintln!("{}", one_line(&outcome.decision.to_string()));
    }
    Ok(for_state(outcome.decision.state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_take_fractions_and_refuse_nonsense() {
        assert_eq!(parse_timeout("1.5"), Ok(1500));
        assert_eq!(parse_timeout("300"), Ok(300_000));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-3").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("inf").is_err());
    }
}
