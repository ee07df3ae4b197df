//! `ash export`: every matching request with its decision and audit hashes, streamed as it
//! arrives (NDJSON by default, or one JSON array), so it works on any number of records.

use std::io::{self, BufWriter, Write};

use agentd_proto::ExportRecord;
use anyhow::Context;
use serde::Serialize;

use crate::display::rfc3339;
use crate::json::RequestJson;
use crate::outcome::SUCCESS;
use crate::Globals;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line
    Ndjson,
    /// One JSON array
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    filters: super::filter::Filters,
    /// The output format (`--json` means `--format json`)
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    format: Format,
    /// Export at most this many (oldest first)
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
}

#[derive(Serialize)]
struct ExportJson {
    #[serde(flatten)]
    request: RequestJson,
    audit: Vec<AuditJson>,
}

#[derive(Serialize)]
struct AuditJson {
    seq: u64,
    kind: String,
    at: String,
    hash: String,
}

impl From<&ExportRecord> for ExportJson {
    fn from(r: &ExportRecord) -> Self {
        ExportJson {
            request: RequestJson::from(&r.request),
            audit: r
                .audit
                .iter()
                .map(|a| AuditJson {
                    seq: a.seq,
                    kind: a.kind.clone(),
                    at: rfc3339(a.at),
                    hash: a.hash.clone(),
                })
                .collect(),
        }
    }
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let format = if globals.json {
        Format::Json
    } else {
        args.format
    };
    let query = args.filters.query(args.limit)?;
    let mut client = super::connect_operator(globals).await?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut first = true;
    if format == Format::Json {
        out.write_all(b"[")?;
    }
    let written = client
        .export(&query, |record| -> io::Result<()> {
            let line = serde_json::to_string(&ExportJson::from(&record))?;
            match format {
                Format::Ndjson => writeln!(out, "{line}"),
                Format::Json => {
                    let sep = if first { "\n" } else { ",\n" };
                    first = false;
                    write!(out, "{sep}{line}")
                }
            }
        })
        .await?;
    let count = match written {
        Ok(count) => count,
        // The reader went away (e.g. `ash export | head`): that is how it said "enough".
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(SUCCESS),
        Err(e) => return Err(e).context("cannot write the export"),
    };
    if format == Format::Json {
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(SUCCESS),
        other => other.context("cannot write the export")?,
    }
    eprintln!("exported {count} requests");
    Ok(SUCCESS)
}
