//! The JSON documents `--json` prints. Field names are part of the interface: scripts read them.

use agentd_proto::{Decision, Outcome, RequestView};
use serde::Serialize;
use serde_json::Value;

use crate::display::rfc3339;

#[derive(Serialize)]
pub struct RequestJson {
    /// The host the request is on, when `--host` named hosts (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub id: String,
    pub agent: String,
    pub agent_pid: Option<u32>,
    pub agent_uid: Option<u32>,
    pub tool: String,
    pub args: Value,
    pub risk: String,
    pub risk_reasons: Vec<String>,
    pub session: Option<String>,
    pub summary: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub state: String,
    pub attached: bool,
    pub decision: Option<DecisionJson>,
    pub subject: String,
    /// Reviews by parent agents and escalations, oldest first.
    pub path: Vec<String>,
    /// The parent agent reviewing it now.
    pub reviewer: Option<String>,
    /// The agent's working folder, as it said.
    pub cwd: Option<String>,
    /// The grants an operator may make from it, narrowest first: `{key, label, covers}`.
    pub grant_options: Vec<Value>,
}

#[derive(Serialize)]
pub struct DecisionJson {
    pub state: String,
    pub source: String,
    pub by: String,
    /// The decider's uid and pid as the kernel reported them.
    pub by_uid: Option<u32>,
    pub by_pid: Option<u32>,
    pub reason: Option<String>,
    pub decided_at: String,
    /// The arguments the agent must use, when an operator approved with edited ones.
    pub approved_args: Option<Value>,
}

#[derive(Serialize)]
pub struct OutcomeJson {
    pub id: String,
    #[serde(flatten)]
    pub decision: DecisionJson,
}

impl From<&RequestView> for RequestJson {
    fn from(v: &RequestView) -> Self {
        RequestJson {
            host: None,
            id: v.id.to_string(),
            agent: v.agent.name.clone(),
            agent_pid: v.agent.pid,
            agent_uid: v.agent.uid,
            tool: v.tool.clone(),
            // agentd stores canonical JSON; keep the text if it ever is not.
            args: serde_json::from_str(&v.args_json)
                .unwrap_or_else(|_| Value::String(v.args_json.clone())),
            risk: v.risk.to_string(),
            risk_reasons: v.risk_reasons.clone(),
            session: v.session.clone(),
            summary: v.summary.clone(),
            created_at: rfc3339(v.created_at),
            expires_at: rfc3339(v.expires_at),
            state: v.state.to_string(),
            attached: v.attached,
            decision: v.decision.as_ref().map(DecisionJson::from),
            subject: v.subject.to_string(),
            path: v.path.clone(),
            reviewer: v.reviewer.clone(),
            cwd: v.cwd.clone(),
            grant_options: v.grant_options.iter().map(|o| o.to_json()).collect(),
        }
    }
}

impl From<&Decision> for DecisionJson {
    fn from(d: &Decision) -> Self {
        DecisionJson {
            state: d.state.to_string(),
            source: d.source.to_string(),
            by: d.by.clone(),
            by_uid: d.by_uid,
            by_pid: d.by_pid,
            reason: d.reason.clone(),
            decided_at: rfc3339(d.at),
            approved_args: d
                .approved_args
                .as_ref()
                .map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.clone()))),
        }
    }
}

impl From<&Outcome> for OutcomeJson {
    fn from(o: &Outcome) -> Self {
        OutcomeJson {
            id: o.id.to_string(),
            decision: DecisionJson::from(&o.decision),
        }
    }
}

/// Prints one JSON document on stdout, written as it is serialized: 10,000 requests are
/// megabytes of JSON, which need not be held as one string on top of the requests.
pub fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
