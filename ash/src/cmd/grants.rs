//! `ash grants` and `ash revoke`: the standing decisions in force, and ending them.

use agentd_proto::request_id::short;
use agentd_proto::{GrantCover, GrantView, Verdict};
use chrono::Utc;
use serde::Serialize;

use crate::display::{fit, one_line, remaining, rfc3339};
use crate::json;
use crate::outcome::{UsageError, SUCCESS};
use crate::table::{render, terminal_width};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct ListArgs {}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The grant ID, or a unique prefix of one
    id: Option<String>,
    /// Revoke every grant
    #[arg(long, conflicts_with = "id")]
    all: bool,
}

#[derive(Serialize)]
struct GrantJson {
    id: String,
    verdict: &'static str,
    scope: String,
    tool: String,
    args: serde_json::Value,
    agent: String,
    agent_uid: Option<u32>,
    session: Option<String>,
    created_at: String,
    expires_at: String,
    created_by: String,
    from_request: String,
    uses: u64,
    /// What it covers: `{"kind": "exact"}`, or a wider grant option.
    covers: serde_json::Value,
    /// The reason given with the decision that made it; the requests it answers carry it.
    reason: Option<String>,
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    }
}

impl From<&GrantView> for GrantJson {
    fn from(g: &GrantView) -> Self {
        GrantJson {
            id: g.id.to_string(),
            verdict: verdict_word(g.verdict),
            scope: g.scope.to_string(),
            tool: g.tool.clone(),
            args: serde_json::from_str(&g.args_json)
                .unwrap_or_else(|_| serde_json::Value::String(g.args_json.clone())),
            agent: g.agent.clone(),
            agent_uid: g.agent_uid,
            session: g.session.clone(),
            created_at: rfc3339(g.created_at),
            expires_at: rfc3339(g.expires_at),
            created_by: g.created_by.clone(),
            from_request: g.from_request.to_string(),
            uses: g.uses,
            covers: g.covers.to_json(),
            reason: g.reason.clone(),
        }
    }
}

const HEADERS: [&str; 8] = [
    "GRANT-ID",
    "VERDICT",
    "SCOPE",
    "AGENT",
    "TOOL",
    "EXPIRES-IN",
    "USES",
    "COVERS",
];

/// What a grant covers, in one line: its arguments for an exact grant, else the wider option.
fn covers(g: &GrantView) -> String {
    match &g.covers {
        GrantCover::Exact => one_line(&crate::mask::mask_args(&g.args_json).0),
        GrantCover::Commands { prefixes } => {
            let names: Vec<String> = prefixes.iter().map(|p| p.join(" ")).collect();
            one_line(&format!(
                "commands: {} (other plain arguments)",
                names.join(", ")
            ))
        }
        GrantCover::Reads { dir } => one_line(&format!("reads under {dir}")),
        GrantCover::Folder { dir } => one_line(&format!("file changes under {dir}")),
        GrantCover::Domain { host } => one_line(&format!("fetches from {host}")),
        GrantCover::Tool => "any call of the tool".into(),
    }
}

pub async fn list(globals: &Globals, _args: ListArgs) -> anyhow::Result<u8> {
    let mut client = super::connect_operator(globals).await?;
    let grants = client.grants().await?;
    if globals.json {
        json::print(&grants.iter().map(GrantJson::from).collect::<Vec<_>>())?;
        return Ok(SUCCESS);
    }
    if grants.is_empty() {
        eprintln!("no grants in force");
        return Ok(SUCCESS);
    }
    let now = Utc::now();
    let term = terminal_width();
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            let scope = match &g.session {
                Some(s) => format!("session {}", fit(&one_line(s), 12, term)),
                None => g.scope.to_string(),
            };
            vec![
                short(&g.id),
                verdict_word(g.verdict).to_string(),
                scope,
                fit(&one_line(&g.agent), 16, term),
                fit(&one_line(&g.tool), 20, term),
                remaining(g.expires_at, now),
                g.uses.to_string(),
                covers(g),
            ]
        })
        .collect();
    print!("{}", render(&HEADERS, &rows, term));
    Ok(SUCCESS)
}

pub async fn revoke(globals: &Globals, args: RevokeArgs) -> anyhow::Result<u8> {
    let id = match (&args.id, args.all) {
        (Some(id), false) => {
            super::check_id(id)?;
            Some(id.as_str())
        }
        (None, true) => None,
        _ => return Err(UsageError("name a grant to revoke, or --all".into()).into()),
    };
    let mut client = super::connect_operator(globals).await?;
    let count = client.revoke(id).await?;
    if globals.json {
        json::print(&serde_json::json!({ "revoked": count }))?;
    } else {
        println!("revoked {count} grant{}", if count == 1 { "" } else { "s" });
    }
    Ok(SUCCESS)
}
