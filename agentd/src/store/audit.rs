//! The audit trail: an append-only table where every entry carries a SHA-256 hash of its own
//! contents and of the entry before it, so editing, deleting or reordering entries breaks the
//! chain where it happened.
//!
//! What it cannot catch on its own: someone who rewrites the whole chain consistently from the
//! point they changed (every later hash recomputed, and the head updated). An exported copy
//! taken earlier, whose hashes no longer match, shows that.

use std::borrow::Cow;

use agentd_proto::{AuditBreak, AuditReport, RequestView};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::prune;
use super::rows::micros;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// `queued`, `approved`, `denied`, `expired`, `withdrawn`, `tool_registered`,
    /// `daemon_started`, `daemon_stopped`.
    pub kind: Cow<'static, str>,
    pub request_id: Option<Uuid>,
    /// Who caused it: the agent, the operator, or `agentd`.
    pub actor: String,
    /// The facts worth keeping, as a JSON object.
    pub detail: serde_json::Value,
}

/// The SHA-256 of a request's canonical arguments, as the audit trail records it.
pub fn args_hash(args_json: &str) -> String {
    hex::encode(Sha256::digest(args_json.as_bytes()))
}

/// A request entered the queue. The arguments are kept as their SHA-256, so the chain also
/// proves the stored arguments were not changed.
pub fn queued_event(v: &RequestView) -> AuditEvent {
    AuditEvent {
        at: v.created_at,
        kind: Cow::Borrowed("queued"),
        request_id: Some(v.id),
        actor: v.agent.name.clone(),
        detail: serde_json::json!({
            "tool": v.tool,
            "args_sha256": hex::encode(Sha256::digest(v.args_json.as_bytes())),
            "risk": v.risk.as_str(),
            "agent_pid": v.agent.pid,
            "agent_uid": v.agent.uid,
            "session": v.session,
            "expires_at": micros(v.expires_at),
        }),
    }
}

/// A request ended: approved, denied, expired or withdrawn.
pub fn finished_event(v: &RequestView) -> AuditEvent {
    let d = v.decision.as_ref();
    let kind = d.map_or(v.state.as_str(), |d| d.state.as_str());
    let source = d.map(|d| d.source.to_string()).unwrap_or_default();
    let mut detail = serde_json::json!({
        "tool": v.tool,
        "source": source,
    });
    // Absent rather than null: most entries are calls answered at once, with no reason given
    // and no deciding process, and every byte is kept for each of them.
    if let Some(reason) = d.and_then(|d| d.reason.clone()) {
        detail["reason"] = reason.into();
    }
    if let Some(uid) = d.and_then(|d| d.by_uid) {
        detail["by_uid"] = uid.into();
    }
    if let Some(pid) = d.and_then(|d| d.by_pid) {
        detail["by_pid"] = pid.into();
    }
    if let Some(grant) = d.and_then(|d| d.grant) {
        detail["grant"] = grant.to_string().into();
    }
    if let Some(edited) = d.and_then(|d| d.approved_args.as_ref()) {
        // Approved with other arguments than those asked with: both are kept (the asked ones
        // with the queued entry, these here, whole).
        detail["approved_args"] = edited.clone().into();
        detail["approved_args_sha256"] = hex::encode(Sha256::digest(edited.as_bytes())).into();
    }
    if matches!(source.as_str(), "policy" | "grant" | "rule") {
        // Never queued, so the arguments are recorded here.
        detail["args_sha256"] = hex::encode(Sha256::digest(v.args_json.as_bytes())).into();
    }
    AuditEvent {
        at: d.map_or(v.created_at, |d| d.at),
        kind: Cow::Borrowed(kind),
        request_id: Some(v.id),
        actor: d.map(|d| d.by.clone()).unwrap_or_default(),
        detail,
    }
}

/// An event of the daemon itself (`daemon_started`, `daemon_stopped`, `tool_registered`).
pub fn daemon_event(kind: &'static str, actor: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        at: Utc::now(),
        kind: Cow::Borrowed(kind),
        request_id: None,
        actor: actor.to_string(),
        detail,
    }
}

/// A hash column as hex: entries since schema 7 keep their hashes as 32 raw bytes (half the
/// space of hex text), older ones as hex text; both read the same.
pub fn hex_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    match row.get_ref(idx)? {
        ValueRef::Blob(bytes) => Ok(hex::encode(bytes)),
        ValueRef::Text(text) => Ok(String::from_utf8_lossy(text).into_owned()),
        other => Err(rusqlite::Error::InvalidColumnType(
            idx,
            "hash".into(),
            other.data_type(),
        )),
    }
}

/// A hex hash as the bytes stored; text that is not hex (never written by agentd) is kept as
/// it is, so verification reports it rather than the write failing.
fn hash_value(hex_text: &str) -> rusqlite::types::Value {
    match hex::decode(hex_text) {
        Ok(bytes) => rusqlite::types::Value::Blob(bytes),
        Err(_) => rusqlite::types::Value::Text(hex_text.to_string()),
    }
}

/// The newest entry, which the next one links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn load(conn: &Connection) -> rusqlite::Result<Head> {
        let head = conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok(Head {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        });
        match head {
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(Head {
                seq: 0,
                hash: GENESIS.into(),
            }),
            other => other,
        }
    }
}

/// The hash of one entry: every field, each on its own line, then the previous hash.
pub fn entry_hash(
    seq: i64,
    at: i64,
    kind: &str,
    request_id: Option<&str>,
    actor: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        seq.to_string().as_str(),
        at.to_string().as_str(),
        kind,
        request_id.unwrap_or(""),
        actor,
        detail,
        prev_hash,
    ] {
        // Length-prefixed, so no two different entries hash the same bytes.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The hash an entry should have, from a row selected as `seq, at, kind, request_id, actor,
/// detail, prev_hash, ...`.
pub fn recompute(row: &rusqlite::Row<'_>) -> rusqlite::Result<String> {
    let request_id: Option<String> = row.get(3)?;
    Ok(entry_hash(
        row.get(0)?,
        row.get(1)?,
        &row.get::<_, String>(2)?,
        request_id.as_deref(),
        &row.get::<_, String>(4)?,
        &row.get::<_, String>(5)?,
        &hex_col(row, 6)?,
    ))
}

/// Appends `event` inside the caller's transaction and moves `head` forward. The caller
/// stores the head with `save_head` once per transaction.
pub fn append(tx: &Transaction<'_>, head: &mut Head, event: &AuditEvent) -> rusqlite::Result<()> {
    let seq = head.seq + 1;
    let at = micros(event.at);
    let request_id = event.request_id.map(|id| id.to_string());
    let detail = event.detail.to_string();
    let hash = entry_hash(
        seq,
        at,
        &event.kind,
        request_id.as_deref(),
        &event.actor,
        &detail,
        &head.hash,
    );
    tx.prepare_cached(
        "INSERT INTO audit (seq, at, kind, request_id, actor, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        seq,
        at,
        event.kind.as_ref(),
        request_id,
        event.actor,
        detail,
        hash_value(&head.hash),
        hash_value(&hash)
    ])?;
    head.seq = seq;
    head.hash = hash;
    Ok(())
}

/// Records the newest entry, so deleting entries from the end of the chain is caught.
pub fn save_head(tx: &Transaction<'_>, head: &Head) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )?
    .execute(params![head.seq, head.hash])?;
    Ok(())
}

/// Recomputes the whole chain and reports the first entry that does not verify.
pub fn verify(conn: &Connection) -> rusqlite::Result<AuditReport> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, kind, request_id, actor, detail, prev_hash, hash FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    // After pruning the trail starts at the checkpoint, linking to the last entry removed.
    let checkpoint = prune::load(conn)?;
    let first = checkpoint.as_ref().map_or(1, |c| c.first_seq as i64);
    let mut expected = first;
    let mut prev = checkpoint
        .as_ref()
        .map_or_else(|| GENESIS.to_string(), |c| c.prev_hash.clone());
    let report = |last: i64, broken: AuditBreak| AuditReport {
        entries: (last - first + 1).max(0) as u64,
        broken: Some(broken),
        checkpoint: checkpoint.clone(),
    };
    let broken = |seq: i64, problem: String| AuditBreak {
        seq: seq as u64,
        problem,
    };
    // The newest `pruned` entry, which must record the checkpoint as it is.
    let mut pruned: Option<(i64, String)> = None;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let prev_hash = hex_col(row, 6)?;
        let hash = hex_col(row, 7)?;
        if seq != expected {
            return Ok(report(
                expected - 1,
                broken(
                    expected,
                    format!("entry {expected} is missing (the next entry is {seq}): deleted"),
                ),
            ));
        }
        if prev_hash != prev {
            return Ok(report(
                seq - 1,
                broken(
                    seq,
                    format!(
                        "entry {seq} does not link to entry {}: entries were reordered, replaced or deleted",
                        seq - 1
                    ),
                ),
            ));
        }
        if recompute(row)? != hash {
            return Ok(report(
                seq - 1,
                broken(
                    seq,
                    format!("entry {seq} does not match its hash: it was edited"),
                ),
            ));
        }
        let kind: String = row.get(2)?;
        if kind == "pruned" {
            pruned = Some((seq, row.get(5)?));
        }
        prev = hash;
        expected += 1;
    }
    let last = expected - 1;
    let head = Head::load(conn)?;
    if head.seq != last || (last > 0 && head.hash != prev) {
        return Ok(report(
            last,
            broken(
                last + 1,
                format!(
                    "the chain ends at entry {last} but its recorded head is entry {}: the newest entries were deleted or the head was edited",
                    head.seq
                ),
            ),
        ));
    }
    if let Some(c) = &checkpoint {
        if let Some(problem) = check_checkpoint(conn, c, pruned.as_ref())? {
            return Ok(report(last, problem));
        }
    }
    let sealed_before = checkpoint.as_ref().map(|c| micros(c.before));
    if let Some(problem) = cross_check(conn, sealed_before)? {
        return Ok(report(last, problem));
    }
    // The chain is whole, but agentd itself recorded that acknowledged writes were lost.
    let damaged: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, detail FROM audit WHERE kind = 'store_damaged' ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((seq, detail)) = damaged {
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
        return Ok(report(
            last,
            broken(
                seq,
                format!(
                    "entry {seq} records acknowledged writes lost to damaged store files: {}",
                    detail["why"].as_str().unwrap_or("see the entry")
                ),
            ),
        ));
    }
    Ok(AuditReport {
        entries: (last - first + 1).max(0) as u64,
        broken: None,
        checkpoint,
    })
}

/// The checkpoint against the newest `pruned` entry that recorded it, and the rows it sealed
/// against their digest.
fn check_checkpoint(
    conn: &Connection,
    c: &agentd_proto::Checkpoint,
    pruned: Option<&(i64, String)>,
) -> rusqlite::Result<Option<AuditBreak>> {
    let at = c.first_seq;
    let Some((seq, detail)) = pruned else {
        return Ok(Some(AuditBreak {
            seq: at,
            problem: format!(
                "the trail starts at entry {at} but no kept entry records that cut: the checkpoint was edited or its entry deleted"
            ),
        }));
    };
    let detail: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
    let recorded_seal = prune::recorded_seal(conn)?;
    let matches = detail["first_seq"].as_u64() == Some(c.first_seq)
        && detail["prev_hash"].as_str() == Some(c.prev_hash.as_str())
        && detail["before"].as_i64() == Some(micros(c.before))
        && detail["sealed"].as_str() == recorded_seal.as_deref();
    if !matches {
        return Ok(Some(AuditBreak {
            seq: *seq as u64,
            problem: format!(
                "the checkpoint does not match entry {seq}, which recorded it: the checkpoint was edited"
            ),
        }));
    }
    let actual = prune::sealed_digest(conn, micros(c.before))?;
    if Some(actual.as_str()) != recorded_seal.as_deref() {
        return Ok(Some(AuditBreak {
            seq: *seq as u64,
            problem: format!(
                "the requests and grants kept from before the checkpoint do not match the digest entry {seq} recorded: they were edited, added or deleted"
            ),
        }));
    }
    Ok(None)
}

/// Checks every request row against its audit entries: the arguments against the hash
/// recorded when it was queued, and the decision against the entry that recorded it. So an
/// edit of the requests table is caught as surely as an edit of the audit table.
fn cross_check(
    conn: &Connection,
    sealed_before: Option<i64>,
) -> rusqlite::Result<Option<AuditBreak>> {
    // Rows from before the checkpoint lost their entries to pruning; the seal covers them.
    let mut requests = conn.prepare(
        "SELECT id, args_json, state, decided_by FROM requests WHERE created_at >= ?1 \
         ORDER BY created_at, id",
    )?;
    let mut entries = conn
        .prepare("SELECT seq, kind, actor, detail FROM audit WHERE request_id = ?1 ORDER BY seq")?;
    let mut rows = requests.query([sealed_before.unwrap_or(i64::MIN)])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let args: String = row.get(1)?;
        let state: String = row.get(2)?;
        let by: Option<String> = row.get(3)?;
        let found: Vec<(i64, String, String, String)> = entries
            .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let (Some(first), Some(last)) = (found.first(), found.last()) else {
            return Ok(Some(AuditBreak {
                seq: 0,
                problem: format!("request {id} has no audit entries: it was added by hand"),
            }));
        };
        let recorded: serde_json::Value = serde_json::from_str(&first.3).unwrap_or_default();
        let actual = hex::encode(Sha256::digest(args.as_bytes()));
        if recorded["args_sha256"].as_str() != Some(actual.as_str()) {
            return Ok(Some(AuditBreak {
                seq: first.0 as u64,
                problem: format!(
                    "request {id}'s arguments do not match entry {}: they were edited",
                    first.0
                ),
            }));
        }
        let decided_as_recorded = if state == "pending" {
            last.1 == "queued"
        } else {
            last.1 == state && Some(&last.2) == by.as_ref()
        };
        if !decided_as_recorded {
            return Ok(Some(AuditBreak {
                seq: last.0 as u64,
                problem: format!(
                    "request {id} reads {state} by {} but entry {} records {} by {}: the decision was edited",
                    by.as_deref().unwrap_or("nobody"),
                    last.0,
                    last.1,
                    last.2
                ),
            }));
        }
    }
    Ok(None)
}
