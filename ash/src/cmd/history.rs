//! `ash history`: what was asked and decided, newest first, from agentd's store.

use agentd_proto::request_id::short;
use chrono::Utc;

use crate::display::{clock, fit, one_line};
use crate::json::{self, RequestJson};
use crate::outcome::SUCCESS;
use crate::table::{render, terminal_width};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    filters: super::filter::Filters,
    /// Show at most this many
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: u32,
}

const HEADERS: [&str; 7] = [
    "REQUEST-ID",
    "CREATED",
    "AGENT",
    "TOOL",
    "STATE",
    "BY",
    "REASON",
];

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let query = args.filters.query(Some(args.limit))?;
    let mut client = super::connect_operator(globals).await?;
    let found = client.history(&query).await?;
    if globals.json {
        let docs: Vec<RequestJson> = found.iter().map(RequestJson::from).collect();
        json::print(&docs)?;
        return Ok(SUCCESS);
    }
    if found.is_empty() {
        eprintln!("no requests match");
        return Ok(SUCCESS);
    }
    let now = Utc::now();
    let term = terminal_width();
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|v| {
            let (by, reason) = match &v.decision {
                Some(d) => (one_line(&d.by), d.reason.as_deref().map(one_line)),
                None => ("-".into(), None),
            };
            vec![
                short(&v.id),
                clock(v.created_at, now),
                fit(&one_line(&v.agent.name), 16, term),
                fit(&one_line(&v.tool), 24, term),
                v.state.to_string(),
                fit(&by, 16, term),
                reason.unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", render(&HEADERS, &rows, term));
    Ok(SUCCESS)
}
