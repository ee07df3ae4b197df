//! Requests as table rows and back.

use agentd_proto::{
    AgentIdentity, Decision, DecisionSource, GrantCover, GrantView, RequestView, Risk, Scope,
    State, Verdict,
};
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::Row;
use uuid::Uuid;

/// The columns `view_from_row` reads, in order.
pub const COLUMNS: &str = "id, tool, args_json, agent_name, agent_pid, agent_uid, session, \
    summary, risk, risk_reasons, created_at, expires_at, state, decision_source, decided_by, \
    reason, decided_at, decided_uid, decided_pid, grant_id, subject, path, cwd, grant_options, approved_args";

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
pub fn values(v: &RequestView) -> [Value; 25] {
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
        d.and_then(|d| d.grant)
            .map_or(Value::Null, |g| Value::Text(g.to_string())),
        Value::Text(v.subject.to_string()),
        Value::Text(serde_json::to_string(&v.path).unwrap_or_else(|_| "[]".into())),
        text(&v.cwd),
        Value::Text(serde_json::to_string(&v.grant_options).unwrap_or_else(|_| "[]".into())),
        d.and_then(|d| d.approved_args.clone())
            .map_or(Value::Null, Value::Text),
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
            grant: row
                .get::<_, Option<String>>(19)?
                .and_then(|g| Uuid::parse_str(&g).ok()),
            approved_args: row.get(24)?,
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
        subject: {
            let text: String = row.get(20)?;
            text.parse()
                .map_err(|e: String| bad(format!("request {id}: {e}")))?
        },
        path: {
            let text: String = row.get(21)?;
            serde_json::from_str(&text).map_err(|e| bad(format!("request {id}: path: {e}")))?
        },
        reviewer: None,
        cwd: row.get(22)?,
        grant_options: {
            let text: String = row.get(23)?;
            serde_json::from_str(&text)
                .map_err(|e| bad(format!("request {id}: grant options: {e}")))?
        },
    })
}

/// The columns `grant_from_row` reads, in order.
pub const GRANT_COLUMNS: &str = "id, verdict, scope, ttl_secs, tool, args_json, agent, agent_uid, \
    session, created_at, expires_at, created_by, from_request, uses, covers, reason";

/// The values of a grant's row, in `GRANT_COLUMNS` order.
pub fn grant_values(g: &GrantView) -> [Value; 16] {
    let (scope, ttl) = match g.scope {
        Scope::Once => ("once", Value::Null),
        Scope::Session => ("session", Value::Null),
        Scope::Timeboxed { ttl_secs } => ("timeboxed", Value::Integer(ttl_secs as i64)),
    };
    [
        Value::Text(g.id.to_string()),
        Value::Text(verdict_str(g.verdict).into()),
        Value::Text(scope.into()),
        ttl,
        Value::Text(g.tool.clone()),
        Value::Text(g.args_json.clone()),
        Value::Text(g.agent.clone()),
        g.agent_uid
            .map_or(Value::Null, |u| Value::Integer(u.into())),
        g.session.clone().map_or(Value::Null, Value::Text),
        Value::Integer(micros(g.created_at)),
        Value::Integer(micros(g.expires_at)),
        Value::Text(g.created_by.clone()),
        Value::Text(g.from_request.to_string()),
        Value::Integer(g.uses as i64),
        match &g.covers {
            GrantCover::Exact => Value::Null,
            wider => Value::Text(serde_json::to_string(wider).unwrap_or_default()),
        },
        g.reason.clone().map_or(Value::Null, Value::Text),
    ]
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    }
}

/// Reads a row selected with `GRANT_COLUMNS`.
pub fn grant_from_row(row: &Row<'_>) -> rusqlite::Result<GrantView> {
    let id: String = row.get(0)?;
    let uuid = |s: String| Uuid::parse_str(&s).map_err(|e| bad(format!("grant id {s:?}: {e}")));
    let verdict = match row.get::<_, String>(1)?.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        other => return Err(bad(format!("grant {id}: unknown verdict {other:?}"))),
    };
    let scope = match row.get::<_, String>(2)?.as_str() {
        "session" => Scope::Session,
        "timeboxed" => Scope::Timeboxed {
            ttl_secs: row.get::<_, Option<i64>>(3)?.unwrap_or_default().max(0) as u64,
        },
        _ => Scope::Once,
    };
    let covers = match row.get::<_, Option<String>>(14)? {
        None => GrantCover::Exact,
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| bad(format!("grant {id}: what it covers: {e}")))?,
    };
    Ok(GrantView {
        id: uuid(id)?,
        verdict,
        scope,
        tool: row.get(4)?,
        args_json: row.get(5)?,
        agent: row.get(6)?,
        agent_uid: row.get(7)?,
        session: row.get(8)?,
        created_at: time(row.get(9)?)?,
        expires_at: time(row.get(10)?)?,
        created_by: row.get(11)?,
        from_request: uuid(row.get(12)?)?,
        uses: row.get::<_, i64>(13)?.max(0) as u64,
        covers,
        reason: row.get(15)?,
    })
}

/// What to do with a request's row.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum RowWrite {
    /// A new request.
    Insert(RequestView),
    /// A decision on a stored request: only the decision columns change, so only their
    /// indexes are touched.
    Decide(RequestView),
    /// A new grant.
    GrantMade(GrantView),
    /// A grant answered one more request.
    GrantUsed(Uuid),
    /// A grant ended before its time (revoked, or evicted from the full set of grants).
    GrantEnded(Uuid, Cow<'static, str>),
    /// A request's path through reviewers changed.
    Path(Uuid, String),
    /// Apply retention (see `prune`).
    Prune(super::prune::Plan),
}
