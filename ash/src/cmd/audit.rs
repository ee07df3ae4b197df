//! `ash audit verify`: has anyone edited, deleted or reordered the audit trail?

use serde::Serialize;

use crate::json;
use crate::outcome::{FAILURE, SUCCESS};
use crate::Globals;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Recompute the audit trail's hash chain: exit 0 if intact, 1 naming the first broken entry
    Verify,
}

#[derive(Serialize)]
struct ReportJson {
    intact: bool,
    entries: u64,
    broken_at: Option<u64>,
    problem: Option<String>,
    /// The entry the kept trail starts from (1 unless it was pruned), and the time before
    /// which entries were cut.
    starts_at: u64,
    cut_before: Option<String>,
}

pub async fn run(globals: &Globals, command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Verify => {
            let mut client = super::connect_operator(globals).await?;
            let report = client.verify_audit().await?;
            if globals.json {
                json::print(&ReportJson {
                    intact: report.broken.is_none(),
                    entries: report.entries,
                    broken_at: report.broken.as_ref().map(|b| b.seq),
                    problem: report.broken.as_ref().map(|b| b.problem.clone()),
                    starts_at: report.checkpoint.as_ref().map_or(1, |c| c.first_seq),
                    cut_before: report.checkpoint.as_ref().map(|c| c.before.to_rfc3339()),
                })?;
            } else {
                match &report.broken {
                    None => match &report.checkpoint {
                        None => println!("audit trail intact: {} entries", report.entries),
                        Some(c) => println!(
                            "audit trail intact: {} entries, from entry {} (entries before it were pruned at {}, linking to {})",
                            report.entries,
                            c.first_seq,
                            c.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            &c.prev_hash[..c.prev_hash.len().min(16)]
                        ),
                    },
                    Some(b) if b.seq == 0 => println!("audit trail broken: {}", b.problem),
                    Some(b) => println!("audit trail broken at entry {}: {}", b.seq, b.problem),
                }
            }
            Ok(if report.broken.is_none() {
                SUCCESS
            } else {
                FAILURE
            })
        }
    }
}
