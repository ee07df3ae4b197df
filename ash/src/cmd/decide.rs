//! `ash approve ID` and `ash deny ID`: one decision, named for the audit trail, for this
//! request alone or (with `--scope`) also for identical requests to come.

use std::io::{BufRead, IsTerminal, Write};

use agentd_proto::request_id::short;
use agentd_proto::{DecideRequest, Scope, Verdict};

use crate::display::one_line;
use crate::json::{self, RequestJson};
use crate::outcome::{UsageError, SUCCESS};
use crate::Globals;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeArg {
    /// This request only
    Once,
    /// Also identical requests (tool, arguments, agent) in the same session
    Session,
    /// Also identical requests from the same agent for --ttl
    Timeboxed,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The request ID, or a unique prefix of one
    id: String,
    /// Who decides, for the audit trail [default: your login name]
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Why; a denial's reason reaches the agent verbatim. Denying in a terminal without it
    /// asks for one (Enter skips)
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// How far the decision reaches: a grant answers identical later requests at once
    /// [default: once; session with --grant]
    #[arg(long, value_enum)]
    scope: Option<ScopeArg>,
    /// Which of the request's grant options to make (`ash show ID` lists them): exact (the
    /// same arguments), commands, folder, domain or tool
    #[arg(long, value_name = "KEY")]
    grant: Option<String>,
    /// Approve with these arguments (JSON) instead of those asked with; the agent is told to
    /// use them. For this call only: not with --scope or --grant
    #[arg(long = "args", value_name = "JSON")]
    args_json: Option<String>,
    /// How long a timeboxed grant lasts: 90s, 15m, 2h, 7d [default: 15m]
    #[arg(long, value_name = "TIME", value_parser = crate::when::parse_duration)]
    ttl: Option<u64>,
}

const DEFAULT_TTL_SECS: u64 = 15 * 60;

pub async fn run(globals: &Globals, verdict: Verdict, args: Args) -> anyhow::Result<u8> {
    super::check_id(&args.id)?;
    let chosen = match (args.scope, &args.grant) {
        (Some(ScopeArg::Once), Some(_)) => {
            return Err(
                UsageError("--grant goes with --scope session or --scope timeboxed".into()).into(),
            )
        }
        (Some(scope), _) => scope,
        (None, Some(_)) if args.ttl.is_some() => ScopeArg::Timeboxed,
        (None, Some(_)) => ScopeArg::Session,
        (None, None) => ScopeArg::Once,
    };
    if let Some(text) = &args.args_json {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| UsageError(format!("invalid JSON in --args: {e}")))?;
        if verdict == Verdict::Deny {
            return Err(UsageError("--args goes with approve".into()).into());
        }
        if args.scope.is_some() || args.grant.is_some() {
            return Err(UsageError(
                "--args approves this call only: it goes without --scope and --grant".into(),
            )
            .into());
        }
    }
    if args.grant.is_some() && verdict == Verdict::Deny {
        return Err(
            UsageError("--grant goes with approve; a denial covers the exact call".into()).into(),
        );
    }
    let scope = match (chosen, args.ttl) {
        (ScopeArg::Timeboxed, ttl) => Scope::Timeboxed {
            ttl_secs: ttl.unwrap_or(DEFAULT_TTL_SECS),
        },
        (_, Some(_)) => {
            return Err(UsageError("--ttl goes with --scope timeboxed".into()).into());
        }
        (ScopeArg::Session, None) => Scope::Session,
        (ScopeArg::Once, None) => Scope::Once,
    };
    let operator = args
        .operator
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(super::login_name);
    let reason = match (args.reason, verdict) {
        (None, Verdict::Deny) if !globals.json && std::io::stdin().is_terminal() => ask_reason()?,
        (reason, _) => reason,
    };
    // With several hosts, the decision goes to the host whose agentd holds the request.
    let (mut client, id) = match globals.endpoints().len() {
        1 => (super::connect_operator(globals).await?, args.id),
        _ => {
            let (client, _, view) = super::find_request(globals, &args.id).await?;
            (client, view.id.to_string())
        }
    };
    let view = client
        .decide(&DecideRequest {
            id,
            verdict,
            operator,
            reason,
            scope,
            grant: args.grant.clone(),
            args_json: args.args_json.clone(),
        })
        .await?;
    if globals.json {
        json::print(&RequestJson::from(&view))?;
    } else {
        // What the grant covers, in the words the request offered it.
        let what = args
            .grant
            .as_deref()
            .and_then(|key| view.grant_options.iter().find(|o| o.key == key))
            .map_or(String::new(), |o| format!(" ({})", one_line(&o.label)));
        let granted = match (scope, view.decision.as_ref().and_then(|d| d.grant)) {
            (Scope::Once, _) | (_, None) => String::new(),
            (Scope::Session, Some(g)) => {
                format!("; grant {}{what} covers this session", short(&g))
            }
            (Scope::Timeboxed { ttl_secs }, Some(g)) => format!(
                "; grant {}{what} covers the next {}",
                short(&g),
                crate::display::compact_secs(ttl_secs as i64)
            ),
        };
        let edited = match view
            .decision
            .as_ref()
            .and_then(|d| d.approved_args.as_ref())
        {
            Some(_) => " with edited arguments",
            None => "",
        };
        println!(
            "{} {} ({} from {}){edited}{granted}",
            view.state,
            short(&view.id),
            one_line(&view.tool),
            one_line(&view.agent.name)
        );
    }
    // Recorded, but no agent is there to act on it (it went away; it may come back for it
    // within agentd's grace period): a script must not take this for "the call will run".
    if !view.attached {
        eprintln!(
            "ash: nobody is waiting for this answer: {} went away; it gets the answer only if it comes back for it",
            one_line(&view.agent.name)
        );
        return Ok(crate::outcome::FAILURE);
    }
    Ok(SUCCESS)
}

/// One optional line for the agent to read; empty means none.
fn ask_reason() -> anyhow::Result<Option<String>> {
    eprint!("reason for the agent (optional, Enter to skip): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim();
    Ok((!line.is_empty()).then(|| line.to_string()))
}
