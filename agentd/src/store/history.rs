//! Reading the store: pending requests at start-up, lookups by ID prefix, history with
//! filters, export in pages, and audit verification. Every query is bounded by an index and a
//! limit, so its cost follows what it returns rather than the size of the store.

use std::sync::{Mutex, PoisonError};

use agentd_proto::{
    AuditRef, AuditReport, ExportRecord, GrantView, HistoryQuery, PruneReport, RequestView,
};
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;
use rusqlite::{params_from_iter, Connection};
use uuid::Uuid;

use super::rows::{grant_from_row, micros, view_from_row, COLUMNS, GRANT_COLUMNS};
use super::{audit, StoreError};

/// The query connection. One at a time is enough: queries are short and bounded.
pub struct Reader {
    conn: Mutex<Connection>,
}

/// Where an export page ends, so the next page starts after it.
pub type Cursor = (i64, String);

fn query_err(e: rusqlite::Error) -> StoreError {
    StoreError::query(e)
}

/// Every pending request, oldest first (read once at start-up).
pub fn pending(conn: &Connection) -> rusqlite::Result<Vec<RequestView>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM requests WHERE state = 'pending' ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], view_from_row)?;
    rows.collect()
}

/// Every grant still in force (not ended, not expired), oldest first.
pub fn live_grants(conn: &Connection) -> rusqlite::Result<Vec<GrantView>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE ended IS NULL AND expires_at > ?1 ORDER BY created_at"
    ))?;
    let rows = stmt.query_map([micros(Utc::now())], grant_from_row)?;
    rows.collect()
}

/// The WHERE clause and its parameters for a history filter.
fn filter(q: &HistoryQuery) -> (String, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut eq = |column: &str, value: &Option<String>| {
        if let Some(v) = value {
            clauses.push(format!("{column} = ?"));
            params.push(Value::Text(v.clone()));
        }
    };
    eq("agent_name", &q.agent);
    eq("tool", &q.tool);
    eq("decided_by", &q.operator);
    eq("state", &q.state.map(|s| s.to_string()));
    eq("subject", &q.subject.map(|s| s.to_string()));
    if let Some(since) = q.since {
        clauses.push("created_at >= ?".into());
        params.push(Value::Integer(micros(since)));
    }
    if let Some(until) = q.until {
        clauses.push("created_at < ?".into());
        params.push(Value::Integer(micros(until)));
    }
    let sql = if clauses.is_empty() {
        "1 = 1".to_string()
    } else {
        clauses.join(" AND ")
    };
    (sql, params)
}

impl Reader {
    pub fn new(conn: Connection) -> Reader {
        Reader {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Requests whose ID starts with `prefix` (the hyphenated form), at most `limit`.
    pub fn by_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<RequestView>, StoreError> {
        let conn = self.conn();
        // IDs hold only hex digits and dashes, all below '~', so this range is the prefix.
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM requests WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id LIMIT ?2"
            ))
            .map_err(query_err)?;
        let rows = stmt
            .query_map(rusqlite::params![prefix, limit as i64], view_from_row)
            .map_err(query_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(query_err)
    }

    pub fn by_id(&self, id: Uuid) -> Result<Option<RequestView>, StoreError> {
        Ok(self.by_prefix(&id.to_string(), 1)?.into_iter().next())
    }

    /// Matching requests, newest first, at most `limit`.
    pub fn history(&self, q: &HistoryQuery, limit: u32) -> Result<Vec<RequestView>, StoreError> {
        let (clause, mut params) = filter(q);
        params.push(Value::Integer(limit.into()));
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM requests WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ?"
            ))
            .map_err(query_err)?;
        let rows = stmt
            .query_map(params_from_iter(params), view_from_row)
            .map_err(query_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(query_err)
    }

    /// One page of an export, oldest first, after `cursor`; each request comes with its audit
    /// entries.
    pub fn export_page(
        &self,
        q: &HistoryQuery,
        cursor: Option<&Cursor>,
        page: u32,
    ) -> Result<(Vec<ExportRecord>, Option<Cursor>), StoreError> {
        let (clause, mut params) = filter(q);
        let after = match cursor {
            Some((at, id)) => {
                params.push(Value::Integer(*at));
                params.push(Value::Text(id.clone()));
                " AND (created_at, id) > (?, ?)"
            }
            None => "",
        };
        params.push(Value::Integer(page.into()));
        let conn = self.conn();
        let views: Vec<RequestView> = {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM requests WHERE {clause}{after} ORDER BY created_at, id LIMIT ?"
                ))
                .map_err(query_err)?;
            let rows = stmt
                .query_map(params_from_iter(params), view_from_row)
                .map_err(query_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(query_err)?
        };
        let next = views
            .last()
            .map(|v| (micros(v.created_at), v.id.to_string()));
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, kind, at, hash FROM audit WHERE request_id = ?1 ORDER BY seq",
            )
            .map_err(query_err)?;
        let mut records = Vec::with_capacity(views.len());
        for request in views {
            let refs = stmt
                .query_map([request.id.to_string()], |r| {
                    let at: i64 = r.get(2)?;
                    Ok(AuditRef {
                        seq: r.get::<_, i64>(0)? as u64,
                        kind: r.get(1)?,
                        at: chrono::DateTime::from_timestamp_micros(at).unwrap_or_else(Utc::now),
                        hash: super::audit::hex_col(r, 3)?,
                    })
                })
                .map_err(query_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(query_err)?;
            records.push(ExportRecord {
                request,
                audit: refs,
            });
        }
        Ok((records, next))
    }

    pub fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        audit::verify(&self.conn()).map_err(query_err)
    }

    /// What `plan` would remove.
    pub fn prune_count(&self, plan: &super::PrunePlan) -> Result<PruneReport, StoreError> {
        super::prune::count(&self.conn(), plan).map_err(query_err)
    }

    /// The newest `pruned` (or `prune_refused`) entry: its number and what it recorded.
    pub fn newest_prune(&self) -> Result<Option<(i64, serde_json::Value)>, StoreError> {
        let conn = self.conn();
        let found: Option<(i64, String)> = conn
            .query_row(
                "SELECT seq, detail FROM audit WHERE kind IN ('pruned', 'prune_refused') \
                 ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(query_err)?;
        Ok(found.map(|(seq, detail)| (seq, serde_json::from_str(&detail).unwrap_or_default())))
    }

    /// How many requests the store keeps, the oldest one's time, and the checkpoint (the
    /// files' bytes are the store's to add).
    pub fn reach(&self) -> Result<super::Reach, StoreError> {
        let conn = self.conn();
        let (count, oldest): (i64, Option<i64>) = conn
            .query_row("SELECT COUNT(*), MIN(created_at) FROM requests", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(query_err)?;
        Ok(super::Reach {
            bytes: 0,
            requests: count.max(0) as u64,
            oldest: oldest.and_then(DateTime::from_timestamp_micros),
            checkpoint: super::prune::load(&conn).map_err(query_err)?,
        })
    }
}
