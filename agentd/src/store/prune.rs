//! Retention: removing calls, decisions and grants old enough to go, and the audit entries
//! before them, while the trail stays verifiable.
//!
//! The audit trail is cut as a prefix: every entry before the first one at or after the cut
//! time goes, and a checkpoint records the hash of the last entry removed, which the first
//! kept entry links to. The cut time is the answered-calls horizon, but never later than the
//! oldest request still waiting or grant still in force, so nothing that can still change
//! loses its entries. Requests and grants kept from before the cut (decisions by people are
//! kept longer than calls answered at once) are *sealed*: the checkpoint carries a SHA-256 over
//! their rows, which `verify` recomputes, so editing them is caught as surely as editing the
//! chain. The checkpoint is also written into the chain itself as a `pruned` entry, so it cannot
//! be changed without breaking the chain.
//!
//! A prune is one write like any other (`RowWrite::Prune`): journaled, then applied by the
//! writer inside its transaction, on exactly the rows every earlier write left. Replaying the
//! journal after a crash applies it again to the same rows, with the same result.

use agentd_proto::{Checkpoint, PruneReport};
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

use super::audit::{self, AuditEvent, Head};
use super::rows::{micros, COLUMNS, GRANT_COLUMNS};

/// How requests count as answered at once: no person was asked.
const ANSWERED: &str = "decision_source IN ('policy', 'grant', 'rule')";

/// One prune, as decided when it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub now: DateTime<Utc>,
    /// Calls answered at once before this go, and the audit trail is cut here.
    pub answered_before: Option<DateTime<Utc>>,
    /// Other finished requests decided before this go, and grants that ended before it.
    pub decided_before: Option<DateTime<Utc>>,
    /// Who asked: an operator's name, or `agentd` for retention as it runs.
    pub by: String,
}

/// The cut a plan comes to on the store as it is.
struct Cut {
    /// Audit entries before this time go (capped by what waits or is in force).
    before: Option<i64>,
    /// The first entry kept.
    first_seq: i64,
    /// Calls answered at once before this go (their entries follow when the cut passes).
    answered_before: Option<i64>,
    decided_before: Option<i64>,
    now: i64,
}

fn cut(conn: &Connection, plan: &Plan, head: &Head) -> rusqlite::Result<Cut> {
    let now = micros(plan.now);
    // What can still change keeps its entries: the oldest waiting request, the oldest grant
    // in force.
    let floor: Option<i64> = conn.query_row(
        "SELECT MIN(t) FROM (\
           SELECT MIN(created_at) AS t FROM requests WHERE state = 'pending' \
           UNION ALL SELECT MIN(created_at) FROM grants WHERE ended IS NULL AND expires_at > ?1)",
        [now],
        |r| r.get(0),
    )?;
    let previous = load(conn)?;
    let before = plan.answered_before.map(|t| {
        let mut t = micros(t).min(now);
        if let Some(floor) = floor {
            t = t.min(floor);
        }
        // A cut never moves back: what went before is gone.
        if let Some(p) = &previous {
            t = t.max(micros(p.before));
        }
        t
    });
    let first_seq = match before {
        None => previous.as_ref().map_or(1, |p| p.first_seq as i64),
        Some(t) => conn
            .query_row("SELECT MIN(seq) FROM audit WHERE at >= ?1", [t], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(head.seq + 1),
    };
    Ok(Cut {
        before,
        first_seq,
        answered_before: plan.answered_before.map(|t| micros(t).min(now)),
        decided_before: plan.decided_before.map(|t| micros(t).min(now)),
        now,
    })
}

/// What `plan` would remove, without removing it.
pub fn count(conn: &Connection, plan: &Plan) -> rusqlite::Result<PruneReport> {
    let head = Head::load(conn)?;
    let cut = cut(conn, plan, &head)?;
    let answered: i64 = match cut.answered_before {
        Some(t) => conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM requests WHERE created_at < ?1 AND state != 'pending' AND {ANSWERED}"
            ),
            [t],
            |r| r.get(0),
        )?,
        None => 0,
    };
    let (decided, grants): (i64, i64) = match cut.decided_before {
        Some(t) => (
            conn.query_row(
                &format!(
                    "SELECT COUNT(*) FROM requests WHERE created_at < ?1 AND decided_at < ?1 \
                     AND state != 'pending' AND NOT ({ANSWERED})"
                ),
                [t],
                |r| r.get(0),
            )?,
            conn.query_row(
                "SELECT COUNT(*) FROM grants WHERE created_at < ?1 \
                 AND (ended IS NOT NULL OR expires_at <= ?2) AND expires_at < ?1",
                [t, cut.now],
                |r| r.get(0),
            )?,
        ),
        None => (0, 0),
    };
    let first_kept: i64 = conn
        .query_row("SELECT MIN(seq) FROM audit", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(head.seq + 1);
    // Earlier prunes' own entries do not count: cutting only those is not worth a prune (see
    // `apply`), and counting them would make every run write one.
    let audit_entries: i64 = conn.query_row(
        "SELECT COUNT(*) FROM audit WHERE seq >= ?1 AND seq < ?2 AND kind != 'pruned'",
        [first_kept, cut.first_seq],
        |r| r.get(0),
    )?;
    Ok(PruneReport {
        dry_run: true,
        answered: answered.max(0) as u64,
        decided: decided.max(0) as u64,
        grants: grants.max(0) as u64,
        audit_entries: audit_entries.max(0) as u64,
        checkpoint: load(conn)?,
    })
}

/// Applies `plan` inside the writer's transaction, appending the `pruned` entry that records
/// the new checkpoint. Does nothing, and records nothing, when nothing is old enough.
pub fn apply(tx: &Transaction<'_>, head: &mut Head, plan: &Plan) -> rusqlite::Result<()> {
    let cut = cut(tx, plan, head)?;
    let previous = load(tx)?;
    // Pruning what was edited would launder the edit: what goes, and what is sealed, must
    // verify first. A refusal is recorded, and nothing else changes.
    if let Some(problem) = refusal(tx, previous.as_ref(), cut.first_seq)? {
        let event = AuditEvent {
            at: plan.now,
            kind: Cow::Borrowed("prune_refused"),
            request_id: None,
            actor: plan.by.clone(),
            detail: serde_json::json!({ "problem": problem }),
        };
        return audit::append(tx, head, &event);
    }
    let mut answered = 0;
    if let Some(t) = cut.answered_before {
        answered = tx.execute(
            &format!(
                "DELETE FROM requests WHERE created_at < ?1 AND state != 'pending' AND {ANSWERED}"
            ),
            [t],
        )?;
    }
    let (mut decided, mut grants) = (0, 0);
    if let Some(t) = cut.decided_before {
        decided = tx.execute(
            &format!(
                "DELETE FROM requests WHERE created_at < ?1 AND decided_at < ?1 \
                 AND state != 'pending' AND NOT ({ANSWERED})"
            ),
            [t],
        )?;
        grants = tx.execute(
            "DELETE FROM grants WHERE created_at < ?1 \
             AND (ended IS NOT NULL OR expires_at <= ?2) AND expires_at < ?1",
            [t, cut.now],
        )?;
    }
    let old_first = previous.as_ref().map_or(1, |p| p.first_seq as i64);
    // Cutting nothing but the entries of earlier prunes is not worth a prune (each would only
    // make the next one's entry to cut).
    let worth_cutting: i64 = tx.query_row(
        "SELECT COUNT(*) FROM audit WHERE seq >= ?1 AND seq < ?2 AND kind != 'pruned'",
        [old_first, cut.first_seq],
        |r| r.get(0),
    )?;
    let cuts_audit = cut.first_seq > old_first && worth_cutting > 0;
    if answered + decided + grants == 0 && !cuts_audit {
        return Ok(());
    }
    let mut checkpoint = previous;
    let mut audit_entries = 0;
    if let (Some(before), true) = (cut.before, cuts_audit) {
        let prev_hash: String = tx
            .query_row(
                "SELECT hash FROM audit WHERE seq = ?1",
                [cut.first_seq - 1],
                |r| audit::hex_col(r, 0),
            )
            .optional()?
            .unwrap_or_else(|| head.hash.clone());
        // Which trail this is survives its first entry: the anchor reads it from here.
        let first_hash: Option<String> = match tx
            .query_row(
                "SELECT first_hash FROM audit_checkpoint WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?
        {
            Some(kept) => kept,
            None => tx
                .query_row("SELECT hash FROM audit WHERE seq = 1", [], |r| {
                    audit::hex_col(r, 0)
                })
                .optional()?,
        };
        audit_entries = tx.execute("DELETE FROM audit WHERE seq < ?1", [cut.first_seq])?;
        let at = micros(plan.now);
        tx.execute(
            "INSERT INTO audit_checkpoint (id, first_seq, prev_hash, first_hash, before, at, sealed) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5, '') \
             ON CONFLICT (id) DO UPDATE SET first_seq = excluded.first_seq, \
             prev_hash = excluded.prev_hash, first_hash = excluded.first_hash, \
             before = excluded.before, at = excluded.at",
            params![cut.first_seq, prev_hash, first_hash, before, at],
        )?;
        checkpoint = load(tx)?;
    }
    // The rows kept from before the cut are sealed by a digest the chain carries.
    let sealed = match &checkpoint {
        Some(c) => {
            let digest = sealed_digest(tx, micros(c.before))?;
            tx.execute(
                "UPDATE audit_checkpoint SET sealed = ?1 WHERE id = 1",
                [&digest],
            )?;
            Some(digest)
        }
        None => None,
    };
    let event = AuditEvent {
        at: plan.now,
        kind: Cow::Borrowed("pruned"),
        request_id: None,
        actor: plan.by.clone(),
        detail: serde_json::json!({
            "answered": answered,
            "decided": decided,
            "grants": grants,
            "audit_entries": audit_entries,
            "first_seq": checkpoint.as_ref().map(|c| c.first_seq),
            "prev_hash": checkpoint.as_ref().map(|c| c.prev_hash.clone()),
            "before": checkpoint.as_ref().map(|c| micros(c.before)),
            "sealed": sealed,
        }),
    };
    audit::append(tx, head, &event)
}

/// Why the entries before `first_seq` (which go) and the rows sealed so far may not be
/// pruned: they do not verify.
fn refusal(
    conn: &Connection,
    previous: Option<&Checkpoint>,
    first_seq: i64,
) -> rusqlite::Result<Option<String>> {
    if let Some(p) = previous {
        if recorded_seal(conn)? != Some(sealed_digest(conn, micros(p.before))?) {
            return Ok(Some(
                "the requests and grants kept from before the checkpoint were edited, added or deleted; `ash audit verify` says more".into(),
            ));
        }
    }
    let (mut expected, mut prev) = match previous {
        Some(p) => (p.first_seq as i64, p.prev_hash.clone()),
        None => (1, audit::GENESIS.to_string()),
    };
    let mut stmt = conn.prepare(
        "SELECT seq, at, kind, request_id, actor, detail, prev_hash, hash FROM audit          WHERE seq <= ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([first_seq])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let prev_hash = audit::hex_col(row, 6)?;
        let hash = audit::recompute(row)?;
        if seq != expected
            || prev_hash != prev
            || (seq < first_seq && hash != audit::hex_col(row, 7)?)
        {
            return Ok(Some(format!(
                "audit entry {seq}, which would be pruned, does not verify; `ash audit verify` says more"
            )));
        }
        prev = audit::hex_col(row, 7)?;
        expected += 1;
    }
    Ok(None)
}

/// The checkpoint the trail starts from, if it was ever cut.
pub fn load(conn: &Connection) -> rusqlite::Result<Option<Checkpoint>> {
    conn.query_row(
        "SELECT first_seq, prev_hash, before, at FROM audit_checkpoint WHERE id = 1",
        [],
        |r| {
            let time = |v: i64| DateTime::from_timestamp_micros(v).unwrap_or_default();
            Ok(Checkpoint {
                first_seq: r.get::<_, i64>(0)?.max(0) as u64,
                prev_hash: audit::hex_col(r, 1)?,
                before: time(r.get(2)?),
                at: time(r.get(3)?),
            })
        },
    )
    .optional()
}

/// The hash of the first entry the trail ever had, kept by the checkpoint once it is cut.
pub fn first_hash(conn: &Connection) -> rusqlite::Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT first_hash FROM audit_checkpoint WHERE id = 1",
            [],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

/// The digest the checkpoint recorded over the sealed rows.
pub fn recorded_seal(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT sealed FROM audit_checkpoint WHERE id = 1",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// SHA-256 over every request and grant row created before `before` (micros), in ID order,
/// every column length-prefixed: `<requests>:<grants>:<hex>`.
pub fn sealed_digest(conn: &Connection, before: i64) -> rusqlite::Result<String> {
    let mut h = Sha256::new();
    let mut counts = [0u64; 2];
    for (i, (table, columns, n)) in [("requests", COLUMNS, 25), ("grants", GRANT_COLUMNS, 16)]
        .into_iter()
        .enumerate()
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT {columns} FROM {table} WHERE created_at < ?1 ORDER BY id"
        ))?;
        let mut rows = stmt.query([before])?;
        while let Some(row) = rows.next()? {
            counts[i] += 1;
            for col in 0..n {
                let bytes = match row.get::<_, Value>(col)? {
                    Value::Null => b"\0null".to_vec(),
                    Value::Integer(v) => v.to_string().into_bytes(),
                    Value::Real(v) => v.to_string().into_bytes(),
                    Value::Text(s) => s.into_bytes(),
                    Value::Blob(b) => b,
                };
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(&bytes);
            }
        }
    }
    Ok(format!(
        "{}:{}:{}",
        counts[0],
        counts[1],
        hex::encode(h.finalize())
    ))
}
