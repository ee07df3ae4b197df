//! `ash show ID`: everything about one request, pending or finished.

use agentd_proto::{RequestView, State};
use chrono::Utc;

use crate::display::{clean, one_line, remaining, rfc3339};
use crate::json::{self, RequestJson};
use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The request ID, or a unique prefix of one
    id: String,
    /// Show values that look like secrets (passwords, tokens, API keys) instead of masking them
    #[arg(long)]
    reveal: bool,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    super::check_id(&args.id)?;
    let (_, host, view) = super::find_request(globals, &args.id).await?;
    if globals.json {
        let mut doc = RequestJson::from(&view);
        doc.host = globals.names_hosts().then(|| host.to_string());
        json::print(&doc)?;
    } else {
        print!("{}", render(&view, args.reveal));
    }
    Ok(SUCCESS)
}

/// The human-readable page for one request.
pub fn render(v: &RequestView, reveal: bool) -> String {
    let now = Utc::now();
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<10}{value}\n"));
    field("request", v.id.to_string());
    let state = match v.state {
        State::Pending => format!(
            "pending, expires in {} (at {}){}",
            remaining(v.expires_at, now),
            rfc3339(v.expires_at),
            if v.attached {
                ""
            } else {
                "; the agent is disconnected"
            }
        ),
        s => s.to_string(),
    };
    field("state", state);
    field("tool", one_line(&v.tool));
    field("subject", v.subject.to_string());
    field("risk", v.risk.to_string());
    for reason in &v.risk_reasons {
        field("", format!("- {}", one_line(reason)));
    }
    let pid = v.agent.pid.map_or("unknown".into(), |p| p.to_string());
    let uid = v.agent.uid.map_or("unknown".into(), |u| u.to_string());
    field(
        "agent",
        format!("{} (pid {pid}, uid {uid})", one_line(&v.agent.name)),
    );
    field("session", v.session.as_deref().map_or("-".into(), one_line));
    if let Some(cwd) = &v.cwd {
        field("folder", one_line(cwd));
    }
    for (n, option) in v.grant_options.iter().enumerate() {
        field(
            if n == 0 { "grants" } else { "" },
            format!("--grant {:<9} {}", option.key, one_line(&option.label)),
        );
    }
    if let Some(summary) = &v.summary {
        field("summary", one_line(summary));
    }
    if let Some(reviewer) = &v.reviewer {
        field(
            "review",
            format!("with parent agent {}", one_line(reviewer)),
        );
    }
    for (n, step) in v.path.iter().enumerate() {
        field(
            if n == 0 { "path" } else { "" },
            format!("- {}", one_line(step)),
        );
    }
    field("created", rfc3339(v.created_at));
    field("deadline", rfc3339(v.expires_at));
    if let Some(d) = &v.decision {
        let verified = match (d.by_uid, d.by_pid) {
            (Some(uid), Some(pid)) => format!(", uid {uid}, pid {pid}"),
            (Some(uid), None) => format!(", uid {uid}"),
            _ => String::new(),
        };
        field(
            "decision",
            format!(
                "{} by {} ({}{verified}) at {}",
                d.state,
                one_line(&d.by),
                d.source,
                rfc3339(d.at)
            ),
        );
        if let Some(reason) = &d.reason {
            field("reason", one_line(reason));
        }
    }
    let (masked, hidden) = crate::mask::mask_args(&v.args_json);
    let shown = if reveal { &v.args_json } else { &masked };
    let escaped = crate::display::has_hidden(&v.args_json);
    match (hidden && !reveal, escaped) {
        (true, _) => out.push_str(
            "arguments (values that look like secrets are hidden; --reveal shows them)\n",
        ),
        _ => out.push_str("arguments\n"),
    }
    if escaped {
        out.push_str(
            "  (\\u{..} marks an invisible or control character the agent sent, shown escaped)\n",
        );
    }
    let pretty = serde_json::from_str::<serde_json::Value>(shown)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| shown.to_string());
    for line in clean(&pretty).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    // Approved with other arguments: those are what the agent was told to use.
    if let Some(edited) = v.decision.as_ref().and_then(|d| d.approved_args.as_ref()) {
        out.push_str("approved arguments (edited by the operator; the agent runs these)\n");
        let (masked, _) = crate::mask::mask_args(edited);
        let shown = if reveal { edited } else { &masked };
        let pretty = serde_json::from_str::<serde_json::Value>(shown)
            .ok()
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or_else(|| shown.to_string());
        for line in clean(&pretty).lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
