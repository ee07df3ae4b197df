//! `agentd replay [--config FILE] [--operator once|session|broadest] TRACE.jsonl [--json]`:
//! replays recorded tool calls through the real decision path (a private agentd on a temporary
//! socket, in memory, with the given config) and counts how often a person would be asked.
//!
//! Every call is sent as its agent would send it; a call that reaches a person is approved by a
//! simulated operator with the chosen scope (`once`: no grant; `session`: an exact-arguments
//! grant for the session; `broadest`: the widest grant on offer, which is the session grant
//! until wider grant options exist). So the figures are the product's own behaviour.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentd::config::Limits;
use agentd::{Daemon, Settings};
use agentd_proto::{ApprovalRequest, Client, DecideRequest, Role, Scope, Submitted, Verdict};
use serde::{Deserialize, Serialize};

/// How the simulated operator answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OperatorMode {
    Once,
    Session,
    Broadest,
}

/// What to replay and how to show it.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub mode: OperatorMode,
    pub json: bool,
    /// Also list every call that reached a person.
    pub list_asked: bool,
}

/// One recorded call (the trace format of `../shared/traces`).
#[derive(Deserialize)]
struct Record {
    tool_name: String,
    #[serde(default)]
    tool_input: serde_json::Value,
    session: String,
    agent: String,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    cwd: Option<String>,
}

/// A call that reached a person, for `--asked`.
#[derive(Debug, Clone, Serialize)]
pub struct AskedCall {
    pub session: String,
    /// Its position in the session (the record's `seq`, else counted).
    pub seq: u64,
    pub tool: String,
    /// The command, path or URL it carried, or its arguments, shortened.
    pub what: String,
    /// The grant the simulated operator chose.
    pub grant: String,
}

/// What happened to the calls of one tool.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ToolCount {
    pub calls: u64,
    pub asked: u64,
    pub approved_at_once: u64,
    pub denied_at_once: u64,
    /// Calls answered at once, by what answered them (`policy`, `rule`, `grant`).
    pub by: BTreeMap<String, u64>,
}

/// The replay's result.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub calls: u64,
    pub asked: u64,
    /// Calls after the first 20 of their session, and how many of those were asked.
    pub later_calls: u64,
    pub later_asked: u64,
    pub tools: BTreeMap<String, ToolCount>,
    /// Every call that reached a person (only with `--asked`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub asked_calls: Vec<AskedCall>,
}

impl Report {
    fn percent(n: u64, of: u64) -> f64 {
        if of == 0 {
            0.0
        } else {
            100.0 * n as f64 / of as f64
        }
    }

    /// The closing line the interface names.
    pub fn summary(&self) -> String {
        format!(
            "asked {} of {} calls ({:.1}%); after the first 20 of each session: {} of {} ({:.1}%)",
            self.asked,
            self.calls,
            Self::percent(self.asked, self.calls),
            self.later_asked,
            self.later_calls,
            Self::percent(self.later_asked, self.later_calls)
        )
    }
}

pub fn run(config: Option<&Path>, options: Options, trace: &Path) -> ExitCode {
    let settings = match config {
        Some(path) => match Settings::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("agentd: error: {e}");
                return ExitCode::from(1);
            }
        },
        None => Settings::default(),
    };
    let records = match read_trace(trace) {
        Ok(records) => records,
        Err(message) => {
            eprintln!("agentd: error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentd: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(replay(settings, options, &records)) {
        Ok(report) => {
            print(&report, options);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("agentd: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn read_trace(path: &Path) -> Result<Vec<Record>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the trace {}: {e}", path.display()))?;
    let mut records = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: not a trace record: {e}", path.display(), n + 1))?;
        records.push(record);
    }
    Ok(records)
}

async fn replay(
    settings: Settings,
    options: Options,
    records: &[Record],
) -> Result<Report, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    let socket: PathBuf = dir.path().join("agentd.sock");
    let settings = Settings {
        state_dir: None,
        // This one process is every agent and the operator.
        allow_own_requests: true,
        // A trace is replayed as fast as it goes: no rate or pending limit should bite.
        limits: Limits {
            requests_per_sec: 1e9,
            burst: 1e9,
            requests_per_sec_per_uid: 1e9,
            burst_per_uid: 1e9,
            pending_per_agent: usize::MAX,
            pending_per_uid: usize::MAX,
            ..settings.limits
        },
        notify: None,
        ..settings
    };
    let daemon = Daemon::start(settings, &socket).map_err(|e| e.to_string())?;
    let result = drive(&socket, options, records).await;
    daemon.stop().await.map_err(|e| e.to_string())?;
    result
}

async fn drive(socket: &Path, options: Options, records: &[Record]) -> Result<Report, String> {
    let err = |e: agentd_proto::ClientError| e.to_string();
    let mut operator = Client::connect(socket, Role::Operator, "replay")
        .await
        .map_err(err)?;
    let mut agents: HashMap<String, Client> = HashMap::new();
    let mut seen_in_session: HashMap<String, u64> = HashMap::new();
    // The folder each session started in: its project, which the hook sends (Claude Code's
    // CLAUDE_PROJECT_DIR), while a record's `cwd` follows the shell's `cd`s.
    let mut project: HashMap<String, String> = HashMap::new();
    let mut report = Report::default();
    for record in records {
        let position = seen_in_session.entry(record.session.clone()).or_insert(0);
        *position += 1;
        let later = *position > 20;
        let agent = match agents.get_mut(&record.agent) {
            Some(agent) => agent,
            None => {
                let client = Client::connect(socket, Role::Agent, &record.agent)
                    .await
                    .map_err(err)?;
                agents.entry(record.agent.clone()).or_insert(client)
            }
        };
        let req = ApprovalRequest {
            tool: record.tool_name.clone(),
            args_json: record.tool_input.to_string(),
            session: Some(record.session.clone()),
            cwd: match (&record.cwd, project.get(&record.session)) {
                (_, Some(dir)) => Some(dir.clone()),
                (Some(dir), None) => {
                    project.insert(record.session.clone(), dir.clone());
                    Some(dir.clone())
                }
                (None, None) => None,
            },
            ..ApprovalRequest::default()
        };
        let tool = report.tools.entry(record.tool_name.clone()).or_default();
        tool.calls += 1;
        report.calls += 1;
        report.later_calls += u64::from(later);
        match agent.submit(&req).await {
            Ok(Submitted::Decided(outcome)) => {
                let d = &outcome.decision;
                if outcome.approved() {
                    tool.approved_at_once += 1;
                } else {
                    tool.denied_at_once += 1;
                }
                *tool.by.entry(d.source.as_str().to_string()).or_insert(0) += 1;
            }
            Ok(Submitted::Queued(ticket)) => {
                tool.asked += 1;
                report.asked += 1;
                report.later_asked += u64::from(later);
                let (scope, grant) = match options.mode {
                    OperatorMode::Once => (Scope::Once, None),
                    OperatorMode::Session => (Scope::Session, None),
                    // The widest option on offer: they come narrowest first.
                    OperatorMode::Broadest => {
                        let view = operator.get(&ticket.id.to_string()).await.map_err(err)?;
                        let widest = view.grant_options.last().map(|o| o.key.clone());
                        (Scope::Session, widest)
                    }
                };
                if options.list_asked {
                    report.asked_calls.push(AskedCall {
                        session: record.session.clone(),
                        seq: record.seq.unwrap_or(*position),
                        tool: record.tool_name.clone(),
                        what: what(&record.tool_input),
                        grant: grant.clone().unwrap_or_else(|| scope.to_string()),
                    });
                }
                operator
                    .decide(&DecideRequest {
                        id: ticket.id.to_string(),
                        verdict: Verdict::Approve,
                        operator: "replay".into(),
                        reason: None,
                        scope,
                        grant,
                        args_json: None,
                    })
                    .await
                    .map_err(err)?;
                agent.wait().await.map_err(err)?;
            }
            // A call agentd refuses outright (bad arguments, a name it will not take) counts
            // as denied at once, with the refusal's code as what answered it.
            Err(e) => {
                tool.denied_at_once += 1;
                let why = e.code().map_or("error".to_string(), |c| format!("{c:?}"));
                *tool.by.entry(format!("refused: {why}")).or_insert(0) += 1;
            }
        }
    }
    Ok(report)
}

/// What a call carried, in one short line: its command, path or URL, else its arguments.
fn what(input: &serde_json::Value) -> String {
    let text = ["command", "cmd", "file_path", "path", "url", "pattern"]
        .iter()
        .find_map(|k| match input.get(*k) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other @ serde_json::Value::Array(_)) => Some(other.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| input.to_string());
    let line = agentd_proto::text::escape_hidden(&text.replace('\n', " ⏎ "), false).0;
    shorten(&line, 160)
}

fn print(report: &Report, options: Options) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A reader that goes away early (`| head`) ends the output, not the program with a panic.
    let _ = write_report(&mut out, report, options).and_then(|()| out.flush());
}

fn write_report(
    out: &mut impl std::io::Write,
    report: &Report,
    options: Options,
) -> std::io::Result<()> {
    let mode = options.mode;
    if options.json {
        let mut doc = serde_json::to_value(report).unwrap_or_default();
        doc["operator"] = serde_json::json!(format!("{mode:?}").to_lowercase());
        doc["summary"] = serde_json::json!(report.summary());
        return writeln!(out, "{doc}");
    }
    writeln!(
        out,
        "{:<44} {:>6} {:>6} {:>9} {:>7}  answered at once by",
        "TOOL", "CALLS", "ASKED", "APPROVED", "DENIED"
    )?;
    let mut tools: Vec<(&String, &ToolCount)> = report.tools.iter().collect();
    tools.sort_by(|a, b| b.1.asked.cmp(&a.1.asked).then(b.1.calls.cmp(&a.1.calls)));
    for (name, t) in tools {
        let by: Vec<String> = t.by.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            out,
            "{:<44} {:>6} {:>6} {:>9} {:>7}  {}",
            shorten(&agentd_proto::text::escape_hidden(name, false).0, 44),
            t.calls,
            t.asked,
            t.approved_at_once,
            t.denied_at_once,
            by.join(", ")
        )?;
    }
    if !report.asked_calls.is_empty() {
        writeln!(out, "\nASKED (session#position tool: what → grant chosen)")?;
        for c in &report.asked_calls {
            let session = shorten(&c.session, 24);
            writeln!(
                out,
                "{session}#{} {}: {} → {}",
                c.seq, c.tool, c.what, c.grant
            )?;
        }
    }
    writeln!(out, "{}", report.summary())
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}
