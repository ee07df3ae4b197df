//! Requests as table rows and back.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::Row;
use shared::{AgentIdentity, Decision, DecisionSource, RequestView, Risk, State};
use uuid::Uuid;

/// The columns `view_from_row` reads, in order.
pub const COLUMNS: &str = "id, tool, args_json, agent_name, agent_pid, agent_uid, session, \
    summary, risk, risk_reasons, created_at, expires_at, state, decision_source, decided_by, \
    reason, decided_at, decided_uid, decided_pid";

/// Times are stored as microseconds since the epoch, so they sort and compare as integers.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(v: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| bad(format!("time {v} is out of range")))
}

fn bad(message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, message.into())
}

/// The values of a request's row, in `COLUMNS` order.
pub fn values(v: &RequestView) -> [Value; 19] {
    let d = v.decision.as_ref();
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    [
        Value::Text(v.id.to_string()),
        Value::Text(v.tool.clone()),
        Value::Text(v.args_json.clone()),
        Value::Text(v.agent.name.clone()),
        v.agent
            .pid
            .map_or(Value::Null, |p| Value::Integer(p.into())),
        v.agent
            .uid
            .map_or(Value::Null, |u| Value::Integer(u.into())),
        text(&v.session),
        text(&v.summary),
        Value::Text(v.risk.to_string()),
        Value::Text(serde_json::to_string(&v.risk_reasons).unwrap_or_else(|_| "[]".into())),
        Value::Integer(micros(v.created_at)),
        Value::Integer(micros(v.expires_at)),
        Value::Text(v.state.to_string()),
        d.map_or(Value::Null, |d| Value::Text(d.source.to_string())),
        d.map_or(Value::Null, |d| Value::Text(d.by.clone())),
        d.and_then(|d| d.reason.clone())
            .map_or(Value::Null, Value::Text),
        d.map_or(Value::Null, |d| Value::Integer(micros(d.at))),
        d.and_then(|d| d.by_uid)
            .map_or(Value::Null, |u| Value::Integer(u.into())),
        d.and_then(|d| d.by_pid)
            .map_or(Value::Null, |p| Value::Integer(p.into())),
    ]
}

/// Reads a row selected with `COLUMNS`.
pub fn view_from_row(row: &Row<'_>) -> rusqlite::Result<RequestView> {
    let id: String = row.get(0)?;
    let id = Uuid::parse_str(&id).map_err(|e| bad(format!("request id {id:?}: {e}")))?;
    let risk: String = row.get(8)?;
    let risk: Risk = risk
        .parse()
        .map_err(|e: String| bad(format!("request {id}: {e}")))?;
    let reasons: String = row.get(9)?;
    let state: String = row.get(12)?;
    let state: State = state
        .parse()
        .map_err(|e: String| bad(format!("request {id}: {e}")))?;
    let source: Option<String> = row.get(13)?;
    let decision = match source {
        None => None,
        Some(src) => Some(Decision {
            state,
            source: src
                .parse::<DecisionSource>()
                .map_err(|e| bad(format!("request {id}: {e}")))?,
            by: row.get::<_, Option<String>>(14)?.unwrap_or_default(),
            reason: row.get(15)?,
            at: time(row.get::<_, Option<i64>>(16)?.unwrap_or_default())?,
            by_uid: row.get(17)?,
            by_pid: row.get(18)?,
        }),
    };
    Ok(RequestView {
        id,
        tool: row.get(1)?,
        args_json: row.get(2)?,
        agent: AgentIdentity {
            name: row.get(3)?,
            pid: row.get(4)?,
            uid: row.get(5)?,
        },
        session: row.get(6)?,
        summary: row.get(7)?,
        risk,
        risk_reasons: serde_json::from_str(&reasons)
            .map_err(|e| bad(format!("request {id}: risk reasons: {e}")))?,
        created_at: time(row.get(10)?)?,
        expires_at: time(row.get(11)?)?,
        state,
        attached: false,
        decision,
    })
}
