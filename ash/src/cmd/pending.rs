//! `ash pending`: the requests waiting for a decision, most urgent first.
//!
//! The table fits the terminal: the arguments get what the other columns leave, cut with an
//! ellipsis. With nothing pending, stdout stays empty (`[]` with
//! `--json`) so a script's loop does not trip on a message.

use agentd_proto::request_id::short;
use agentd_proto::{RequestView, State};
use chrono::{DateTime, Utc};

use crate::display::{clock, fit, one_line, remaining, tool_cell};
use crate::json::{self, RequestJson};
use crate::outcome::{FAILURE, SUCCESS};
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
const MAX_HOST: usize = 28;

pub async fn run(globals: &Globals, _args: Args) -> anyhow::Result<u8> {
    let (mut pending, failed) = across_hosts(globals).await?;
    pending.sort_by_key(|(_, v)| (v.expires_at, v.created_at));
    if globals.json {
        let docs: Vec<RequestJson> = pending
            .iter()
            .map(|(host, v)| RequestJson {
                host: host.clone(),
                ..RequestJson::from(v)
            })
            .collect();
        json::print(&docs)?;
    } else if pending.is_empty() {
        if !failed {
            eprintln!("no pending requests");
        }
    } else {
        let now = Utc::now();
        match globals.names_hosts() {
            true => print!("{}", table_with_hosts(&pending, terminal_width(), now)),
            false => {
                let views: Vec<RequestView> = pending.into_iter().map(|(_, v)| v).collect();
                print!("{}", table(&views, terminal_width(), now));
            }
        }
    }
    Ok(if failed { FAILURE } else { SUCCESS })
}

/// Every pending request on every host, with its host when `--host` named hosts. A host that
/// cannot be reached or refuses is reported on stderr, on one line naming it, and the others
/// are still listed; `true` in the second place says one failed. With one host its error is
/// the command's.
pub async fn across_hosts(
    globals: &Globals,
) -> anyhow::Result<(Vec<(Option<String>, RequestView)>, bool)> {
    let endpoints = globals.endpoints();
    let lists = futures_util::future::join_all(endpoints.iter().map(|to| async move {
        let mut client = super::connect_operator_to(globals, to).await?;
        client
            .list(Some(State::Pending))
            .await
            .map_err(|e| super::on_host(globals, to, e.into()))
    }))
    .await;
    let mut pending = Vec::new();
    let mut failed = false;
    for (to, list) in endpoints.iter().zip(lists) {
        match list {
            Ok(views) => {
                let host = globals.names_hosts().then(|| to.to_string());
                pending.extend(views.into_iter().map(|v| (host.clone(), v)));
            }
            Err(e) if endpoints.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("ash: {e:#}");
                failed = true;
            }
        }
    }
    Ok((pending, failed))
}

/// The table with a HOST column first.
pub fn table_with_hosts(
    requests: &[(Option<String>, RequestView)],
    width: Option<usize>,
    now: DateTime<Utc>,
) -> String {
    let views: Vec<RequestView> = requests.iter().map(|(_, v)| v.clone()).collect();
    let plain = table(&views, width.map(|w| w.saturating_sub(MAX_HOST + 2)), now);
    let hosts = std::iter::once("HOST".to_string()).chain(
        requests
            .iter()
            .map(|(host, _)| fit(host.as_deref().unwrap_or("-"), MAX_HOST, width)),
    );
    let widest = requests
        .iter()
        .map(|(h, _)| crate::display::width(&fit(h.as_deref().unwrap_or("-"), MAX_HOST, width)))
        .max()
        .unwrap_or(0)
        .max(4);
    plain
        .lines()
        .zip(hosts)
        .map(|(line, host)| format!("{}  {line}\n", crate::display::pad(&host, widest)))
        .collect()
}

/// Renders the table; `width` limits each line when given.
pub fn table(requests: &[RequestView], width: Option<usize>, now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|v| {
            vec![
                short(&v.id),
                fit(&one_line(&v.agent.name), MAX_AGENT, width),
                fit(&tool_cell(v), MAX_TOOL, width),
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
