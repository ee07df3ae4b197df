//! The one writer: drains every job waiting in its channel into a single transaction (group
//! commit), and only after that transaction commits tells anyone about it, in commit order.
//!
//! So many agents at once pay one commit between them, nothing is acknowledged before it is
//! durable, and subscribers can never see a request finish before they saw it queued.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params_from_iter, Connection};
use tokio::sync::watch;

use super::audit::{self, AuditEvent, Head};
use super::checkpoint;
use super::journal::Retired;
use super::rows::{grant_values, values, RowWrite, COLUMNS, GRANT_COLUMNS};

/// The most jobs one transaction takes; the rest wait for the next.
const MAX_BATCH: usize = 4096;

/// Behind a journal, how long the writer gathers jobs before committing them. Queries wait
/// for the writer to catch up, so this is the most it adds to one.
const LINGER: Duration = Duration::from_millis(4);

/// One unit of work: a request row to write and an audit entry.
pub struct Job {
    pub seq: u64,
    pub row: Option<RowWrite>,
    pub audit: Option<AuditEvent>,
}

/// How far the store has committed; `failed` once a commit has failed (the writer stops then).
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub seq: u64,
    pub failed: Option<String>,
}

/// The writer thread's body: runs until every sender is gone or a commit fails. With a
/// journal (`retired` is its list of full files), each transaction also records the last
/// journal record it holds, and full journal files go once indexed.
#[allow(clippy::too_many_arguments)]
pub fn run(
    mut conn: Connection,
    path: String,
    jobs: mpsc::Receiver<Job>,
    committed: &watch::Sender<Committed>,
    mut head: Head,
    restart: &AtomicBool,
    retired: Option<Arc<Retired>>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        // Behind a journal nobody waits on this commit, so gather what arrives for a moment:
        // each commit rewrites the same index pages, and fewer, larger commits write each
        // of them once for many requests.
        let linger = retired.as_ref().map(|_| Instant::now() + LINGER);
        while batch.len() < MAX_BATCH {
            let next = match linger {
                None => jobs.try_recv().ok(),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    jobs.recv_timeout(left).ok()
                }
            };
            match next {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        let mut next = head.clone();
        let last = batch.last().map_or(0, |j| j.seq);
        let applied = retired.as_ref().map(|_| last);
        match write(&mut conn, &mut next, &batch, applied) {
            Ok(()) => {
                head = next;
                committed.send_modify(|c| c.seq = last);
                if let Some(retired) = &retired {
                    retired.release(last);
                }
                checkpoint::writer_checkpoint(&conn, restart);
            }
            Err(e) => {
                let message = format!("cannot commit to the store {path}: {e}");
                tracing::error!("{message}");
                committed.send_modify(|c| c.failed = Some(message));
                return;
            }
        }
    }
}

/// Writes `batch` in one transaction; `applied`, with a journal, is the last journal record
/// the transaction holds, recorded with it so a start replays only what follows.
pub fn write(
    conn: &mut Connection,
    head: &mut Head,
    batch: &[Job],
    applied: Option<u64>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let first = head.seq;
    for job in batch {
        match &job.row {
            Some(RowWrite::Insert(view)) => {
                tx.prepare_cached(&format!(
                    "INSERT INTO requests ({COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                     ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
                ))?
                .execute(params_from_iter(values(view)))?;
            }
            Some(RowWrite::Decide(view)) => {
                let [id, .., state, source, by, reason, at, uid, pid, grant, _subject, _path, _cwd, _options, approved] =
                    values(view);
                tx.prepare_cached(
                    "UPDATE requests SET state = ?2, decision_source = ?3, decided_by = ?4, \
                     reason = ?5, decided_at = ?6, decided_uid = ?7, decided_pid = ?8, \
                     grant_id = ?9, approved_args = ?10 WHERE id = ?1",
                )?
                .execute(rusqlite::params![
                    id, state, source, by, reason, at, uid, pid, grant, approved
                ])?;
            }
            Some(RowWrite::GrantMade(grant)) => {
                tx.prepare_cached(&format!(
                    "INSERT INTO grants ({GRANT_COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ))?
                .execute(params_from_iter(grant_values(grant)))?;
            }
            Some(RowWrite::GrantUsed(id)) => {
                tx.prepare_cached("UPDATE grants SET uses = uses + 1 WHERE id = ?1")?
                    .execute([id.to_string()])?;
            }
            Some(RowWrite::Path(id, path)) => {
                tx.prepare_cached("UPDATE requests SET path = ?2 WHERE id = ?1")?
                    .execute(rusqlite::params![id.to_string(), path])?;
            }
            Some(RowWrite::Prune(plan)) => {
                super::prune::apply(&tx, head, plan)?;
            }
            Some(RowWrite::GrantEnded(id, why)) => {
                tx.prepare_cached("UPDATE grants SET ended = ?2 WHERE id = ?1")?
                    .execute(rusqlite::params![id.to_string(), why.as_ref()])?;
            }
            None => {}
        }
        if let Some(event) = &job.audit {
            audit::append(&tx, head, event)?;
        }
    }
    if head.seq != first {
        audit::save_head(&tx, head)?;
    }
    if let Some(seq) = applied {
        tx.prepare_cached("UPDATE journal_state SET applied = ?1 WHERE id = 1")?
            .execute([i64::try_from(seq).unwrap_or(i64::MAX)])?;
    }
    tx.commit()
}
