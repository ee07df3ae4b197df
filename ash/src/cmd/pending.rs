//! `ash pending`: the requests waiting for a decision, most urgent first.
//!
//! The table fits the terminal: the arguments get what the other columns leave, cut with an
//! ellipsis. With nothing pending, stdout stays empty (`[]` with
//! `--json`) so a script's loop does not trip on a message.

use agentd_proto::request_id::short;
use agentd_proto::{RequestView, State};
use chrono::{DateTime, Utc};

use crate::display::{clock, ellipsize, one_line, remaining, tool_cell};
use crate::json::{self, RequestJson};
use crate::outcome::SUCCESS;
use crate::table::{render, terminal_width};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {}

const HEADERS: [&str; 7] = [
    "REQUEST-ID",
    "AGENT",
    "TOOL",
    "RISK",
    "CREATED",
    "EXPIRES-IN",
    "ARGS",
];
const MAX_AGENT: usize = 16;
const MAX_TOOL: usize = 32;

pub async fn run(globals: &Globals, _args: Args) -> anyhow::Result<u8> {
    let mut client = super::connect_operator(globals).await?;
    let mut pending = client.list(Some(State::Pending)).await?;
    pending.sort_by_key(|v| (v.expires_at, v.created_at));
    if globals.json {
        let docs: Vec<RequestJson> = pending.iter().map(RequestJson::from).collect();
        json::print(&docs)?;
    } else if pending.is_empty() {
        eprintln!("no pending requests");
    } else {
        print!("{}", table(&pending, terminal_width(), Utc::now()));
    }
    Ok(SUCCESS)
}

/// Renders the table; `width` limits each line when given.
pub fn table(requests: &[RequestView], width: Option<usize>, now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|v| {
            vec![
                short(&v.id),
                ellipsize(&one_line(&v.agent.name), MAX_AGENT),
                ellipsize(&tool_cell(v), MAX_TOOL),
                v.risk.to_string(),
                clock(v.created_at, now),
                remaining(v.expires_at, now),
                one_line(&crate::mask::mask_args(&v.args_json).0),
            ]
        })
        .collect();
    render(&HEADERS, &rows, width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_proto::{AgentIdentity, Risk};
    use chrono::Duration;
    use uuid::Uuid;

    fn view(agent: &str, tool: &str, args: &str, left: i64) -> RequestView {
        let now = Utc::now();
        RequestView {
            id: Uuid::parse_str("7f3a2c1e-1111-4222-8333-444455556666").unwrap(),
            tool: tool.into(),
            args_json: args.into(),
            agent: AgentIdentity {
                name: agent.into(),
                pid: Some(1),
                uid: Some(0),
            },
            session: None,
            summary: None,
            risk: Risk::High,
            risk_reasons: vec![],
            created_at: now,
            expires_at: now + Duration::seconds(left),
            state: State::Pending,
            attached: true,
            decision: None,
            subject: agentd_proto::SubjectType::Tool,
            path: Vec::new(),
            reviewer: None,
            cwd: None,
            grant_options: Vec::new(),
        }
    }

    #[test]
    fn fits_eighty_columns_and_cuts_long_arguments() {
        let long = format!("{{\"command\":\"{}\"}}", "x".repeat(200));
        let now = Utc::now();
        let out = table(&[view("claude", "sensitive-op", &long, 252)], Some(80), now);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0]
                .starts_with("REQUEST-ID  AGENT   TOOL          RISK  CREATED   EXPIRES-IN  ARGS"),
            "{out}"
        );
        assert!(
            lines[1].starts_with("7f3a2c1e    claude  sensitive-op  high  "),
            "{out}"
        );
        assert!(lines[1].contains("4m1"), "{out}");
        assert!(lines[1].ends_with('…'), "{out}");
        for line in &lines {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn drops_the_arguments_when_the_pane_is_too_narrow() {
        let out = table(
            &[view("claude", "sensitive-op", "{}", 30)],
            Some(60),
            Utc::now(),
        );
        assert!(!out.contains("ARGS"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 66));
    }

    #[test]
    fn shows_everything_when_not_on_a_terminal() {
        let long = format!("{{\"k\":\"{}\"}}", "y".repeat(300));
        let out = table(&[view("a", "t", &long, 30)], None, Utc::now());
        assert!(out.contains(&long));
    }

    #[test]
    fn hostile_names_cannot_move_the_cursor() {
        let out = table(
            &[view("evil\u{1b}[2J", "t\u{7}", "{}", 30)],
            Some(120),
            Utc::now(),
        );
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    }
}
