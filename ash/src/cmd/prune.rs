//! `ash prune`: apply retention now, or count what it would remove.

use serde::Serialize;

use crate::json;
use crate::outcome::{UsageError, SUCCESS};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove everything finished before this time (RFC 3339, or an age like 7d or 12h)
    /// instead of what the [retention] settings keep; never what waits or a grant in force
    #[arg(long, value_name = "TIME")]
    before: Option<String>,
    /// Count what would go, and change nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Serialize)]
struct ReportJson {
    dry_run: bool,
    answered: u64,
    decided: u64,
    grants: u64,
    audit_entries: u64,
    /// The audit entry the kept trail starts from, and the time before which it was cut.
    trail_starts_at: Option<u64>,
    cut_before: Option<String>,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let before = match &args.before {
        Some(text) => Some(
            crate::when::parse(text, chrono::Utc::now())
                .map_err(|e| UsageError(format!("--before: {e}")))?,
        ),
        None => None,
    };
    let mut client = super::connect_operator(globals).await?;
    let report = client
        .prune(agentd_proto::PruneRequest {
            before,
            dry_run: args.dry_run,
        })
        .await?;
    if globals.json {
        json::print(&ReportJson {
            dry_run: report.dry_run,
            answered: report.answered,
            decided: report.decided,
            grants: report.grants,
            audit_entries: report.audit_entries,
            trail_starts_at: report.checkpoint.as_ref().map(|c| c.first_seq),
            cut_before: report.checkpoint.as_ref().map(|c| c.before.to_rfc3339()),
        })?;
        return Ok(SUCCESS);
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "{verb} {} calls answered at once, {} other finished requests, {} ended grants, {} audit entries",
        report.answered, report.decided, report.grants, report.audit_entries
    );
    if let Some(c) = &report.checkpoint {
        println!(
            "the audit trail starts at entry {} (cut before {}); `ash audit verify` checks from there",
            c.first_seq,
            c.before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    Ok(SUCCESS)
}
