//! The durable store: SQLite (WAL) in the state dir, holding every request, its decision and
//! the hash-chained audit trail.
//!
//! Every write gets a sequence number and may be awaited with `durable(seq)`. At the default
//! durability a write is durable once appended to the journal (see `journal`), and one writer
//! thread (see `writer`) indexes it into SQLite behind; at full durability the writer's fsync'd
//! commit is what makes it durable. Queries use a separate read-only connection. Without a
//! state dir the store is `memory()`: the same interface, with jobs "committed" at once, for
//! embedding and for measuring what durability costs.

mod anchor;
mod audit;
mod checkpoint;
mod history;
mod journal;
mod open;
mod prune;
mod rows;
mod schema;
mod trust;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};

use agentd_proto::{AuditReport, GrantView, PruneReport, RequestView};
use tokio::sync::watch;

pub use audit::{args_hash, daemon_event, finished_event, queued_event, AuditEvent};
pub use history::{Cursor, Reader};
pub use prune::Plan as PrunePlan;
pub use rows::RowWrite;
pub use writer::Committed;
use writer::Job;

/// How far a commit goes before it counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The write is in the journal file (one `write` into the page cache) before anyone is
    /// told, and indexed into SQLite (WAL, `synchronous = NORMAL`) right behind: survives
    /// agentd being killed at any instant, not a power cut.
    #[default]
    Normal,
    /// Also fsync'd on every batch: survives a power cut (`synchronous = FULL`).
    Full,
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub durability: Durability,
    /// The most the database file may grow to; a commit past it fails and stops agentd.
    pub max_size_mib: Option<u64>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: Arc<rusqlite::Error>,
    },
    #[error("{0} is not an agentd store; refusing to touch it (move it away, or pass another --state-dir)")]
    Foreign(String),
    #[error("{path} was written by a newer agentd (schema {found}; this agentd knows schema {}); refusing to start", schema::SCHEMA_VERSION)]
    Newer { path: String, found: i64 },
    #[error("another agentd is using the state dir {0}")]
    Busy(String),
    // The OS cause is part of the message and not a `source` as well, so a report of the
    // whole chain says it once.
    #[error("{what}: {cause}")]
    Io {
        what: String,
        cause: Arc<std::io::Error>,
    },
    /// A file of the store is not what it must be (and no lower error says more).
    #[error("{0}")]
    Unusable(String),
    #[error("{0}")]
    Failed(String),
    #[error("store query failed: {0}")]
    Query(#[source] Arc<rusqlite::Error>),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Untrusted(String),
    #[error("{0}")]
    Damaged(String),
}

impl StoreError {
    fn open(path: &Path, e: rusqlite::Error) -> StoreError {
        StoreError::Open {
            path: path.display().to_string(),
            source: Arc::new(e),
        }
    }

    /// `what` could not be done, for this reason.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            what: what.into(),
            cause: Arc::new(source),
        }
    }

    pub(crate) fn query(source: rusqlite::Error) -> StoreError {
        StoreError::Query(Arc::new(source))
    }
}

/// How large the store is and how far back it goes.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The database, its WAL and the journal, in bytes.
    pub bytes: u64,
    pub requests: u64,
    pub oldest: Option<chrono::DateTime<chrono::Utc>>,
    pub checkpoint: Option<agentd_proto::Checkpoint>,
}

/// What a store held when it was opened.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Requests still pending, oldest first.
    pub pending: Vec<RequestView>,
    /// Grants still in force.
    pub grants: Vec<GrantView>,
}

/// The file name of the database inside the state dir.
pub const DB_FILE: &str = "agentd.db";
const LOCK_FILE: &str = "agentd.lock";
/// How long, in all, opening waits for the lock before saying another agentd has the store.
const LOCK_TRIES: u32 = 50;
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

enum Sink {
    /// No store: jobs count as committed when enqueued.
    Memory(watch::Sender<Committed>),
    /// Durable once the writer commits them (full durability: fsync'd).
    Writer(mpsc::Sender<Job>),
    /// Durable once in the journal; the writer indexes them behind.
    Journal {
        journal: journal::Journal,
        jobs: mpsc::Sender<Job>,
        /// How far the journal goes.
        written: watch::Sender<Committed>,
        /// The writer's progress, also told here when the journal fails, so agentd stops.
        committed: Arc<watch::Sender<Committed>>,
    },
    /// After `close`: jobs are dropped.
    Closed,
}

/// With a journal, how many writes the writer may fall behind before answers wait for it:
/// bounds the memory of jobs queued for indexing, and how much a start may have to replay.
const MAX_BACKLOG: u64 = 16_384;

/// One write: a request or grant row to change, an audit entry, or both.
#[derive(Debug, Default)]
pub struct Write {
    row: Option<RowWrite>,
    audit: Option<AuditEvent>,
}

impl Write {
    pub fn row(row: RowWrite) -> Write {
        Write {
            row: Some(row),
            audit: None,
        }
    }

    pub fn audit(event: AuditEvent) -> Write {
        Write {
            row: None,
            audit: Some(event),
        }
    }

    /// With this audit entry too, committed in the same transaction.
    pub fn and_audit(mut self, event: AuditEvent) -> Write {
        self.audit = Some(event);
        self
    }
}

struct Sequencer {
    last: u64,
    sink: Sink,
}

pub struct Store {
    seq: Mutex<Sequencer>,
    /// How far the database goes: what queries can see.
    committed: watch::Receiver<Committed>,
    /// With a journal, how far it goes: what is durable.
    written: Option<watch::Receiver<Committed>>,
    reader: Option<Arc<Reader>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<checkpoint::Checkpointer>>,
    path: Option<PathBuf>,
    /// Held until `close` so a second agentd cannot write the same file meanwhile.
    lock: Mutex<Option<File>>,
}

impl Store {
    /// A store that keeps nothing: every write is committed when made.
    pub fn memory() -> Store {
        let (tx, rx) = watch::channel(Committed::default());
        Store {
            seq: Mutex::new(Sequencer {
                last: 0,
                sink: Sink::Memory(tx),
            }),
            committed: rx,
            written: None,
            reader: None,
            writer: Mutex::new(None),
            checkpointer: Mutex::new(None),
            path: None,
            lock: Mutex::new(None),
        }
    }

    fn sequencer(&self) -> MutexGuard<'_, Sequencer> {
        self.seq.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes a write: numbers it and, with a journal, appends it there before returning. The
    /// returned number is passed to `durable`, or compared with `durable_seq`.
    pub fn write(&self, write: Write) -> u64 {
        let Write { row, audit } = write;
        let mut s = self.sequencer();
        s.last += 1;
        let seq = s.last;
        match &mut s.sink {
            Sink::Memory(committed) => {
                committed.send_modify(|c| c.seq = seq);
            }
            Sink::Writer(jobs) => {
                // A send fails only if the writer stopped after a failed commit; `durable`
                // reports that failure to whoever waits.
                let _ = jobs.send(Job { seq, row, audit });
            }
            Sink::Journal {
                journal,
                jobs,
                written,
                committed,
            } => {
                // After a failed commit nothing more is made durable: agentd is stopping, and
                // what it refuses now must not come back at the next start.
                let failed = committed.borrow().failed.clone();
                if let Some(message) = failed {
                    written.send_modify(|c| c.failed = Some(message));
                    return seq;
                }
                match journal.append(seq, row.as_ref(), audit.as_ref()) {
                    Ok(()) => {
                        written.send_modify(|c| c.seq = seq);
                        let _ = jobs.send(Job { seq, row, audit });
                    }
                    Err(message) => {
                        tracing::error!("{message}");
                        written.send_modify(|c| c.failed = Some(message.clone()));
                        committed.send_modify(|c| c.failed = Some(message));
                    }
                }
            }
            Sink::Closed => {}
        }
        seq
    }

    /// The number of the newest write that is durable: journaled, or committed where there
    /// is no journal.
    pub fn durable_seq(&self) -> u64 {
        self.written
            .as_ref()
            .unwrap_or(&self.committed)
            .borrow()
            .seq
    }

    /// Changes as writes become durable; ends when the store closes.
    pub fn durable_watch(&self) -> watch::Receiver<Committed> {
        self.written.as_ref().unwrap_or(&self.committed).clone()
    }

    /// The number of the newest write enqueued so far.
    pub fn last_seq(&self) -> u64 {
        self.sequencer().last
    }

    /// Resolves once write `seq` (and so every earlier one) is durable: in the journal, or
    /// committed where there is none. With a journal it also waits while the writer is more
    /// than `MAX_BACKLOG` writes behind.
    pub async fn durable(&self, seq: u64) -> Result<(), StoreError> {
        let Some(written) = &self.written else {
            return self.indexed(seq).await;
        };
        let state = written
            .clone()
            .wait_for(|c| c.seq >= seq || c.failed.is_some())
            .await
            .map(|c| c.clone())
            .unwrap_or_else(|_| written.borrow().clone());
        if state.seq < seq {
            return Err(StoreError::Failed(
                state
                    .failed
                    .unwrap_or_else(|| "the store was closed before the write".into()),
            ));
        }
        // Already durable; whatever the writer does now, the journal keeps it.
        let behind = seq.saturating_sub(MAX_BACKLOG);
        let _ = self
            .committed
            .clone()
            .wait_for(|c| c.seq >= behind || c.failed.is_some())
            .await;
        Ok(())
    }

    /// Resolves once everything enqueued so far is in the database, so a query sees it.
    pub async fn caught_up(&self) -> Result<(), StoreError> {
        self.indexed(self.last_seq()).await
    }

    /// Resolves once write `seq` (and so every earlier one) is committed to the database.
    async fn indexed(&self, seq: u64) -> Result<(), StoreError> {
        let mut rx = self.committed.clone();
        let state = rx
            .wait_for(|c| c.seq >= seq || c.failed.is_some())
            .await
            .map(|c| c.clone())
            .unwrap_or_else(|_| self.committed.borrow().clone());
        match state {
            c if c.seq >= seq => Ok(()),
            c => Err(StoreError::Failed(c.failed.unwrap_or_else(|| {
                "the store was closed before the write".into()
            }))),
        }
    }

    /// Resolves with the error message if a commit ever fails; never resolves otherwise.
    pub async fn failure(&self) -> String {
        let mut rx = self.committed.clone();
        let failed = rx
            .wait_for(|c| c.failed.is_some())
            .await
            .map(|c| c.failed.clone().unwrap_or_default());
        match failed {
            Ok(message) => message,
            // The writer finished normally (the store was closed): nothing will fail now.
            Err(_) => std::future::pending().await,
        }
    }

    /// The error message if a commit has failed by now.
    pub fn failed(&self) -> Option<String> {
        self.committed.borrow().failed.clone()
    }

    /// The query side, or `None` for a memory store.
    pub fn reader(&self) -> Option<Arc<Reader>> {
        self.reader.clone()
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes `last` (e.g. the daemon-stopped audit entry), lets the writer commit everything
    /// queued, and waits for it to finish.
    pub async fn close(&self, last: Option<AuditEvent>) {
        if let Some(event) = last {
            let seq = self.write(Write::audit(event));
            let _ = self.durable(seq).await;
        }
        self.sequencer().sink = Sink::Closed;
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.finish()).await;
        }
        // Everything journaled is in the database now, unless a commit failed: then the
        // journal is what the next start needs.
        let indexed = self.committed.borrow().clone();
        if let (Some(dir), None) = (self.path.as_deref().and_then(Path::parent), indexed.failed) {
            if indexed.seq >= self.sequencer().last {
                for file in journal::files(dir).unwrap_or_default() {
                    if let Err(e) = std::fs::remove_file(&file) {
                        tracing::warn!("cannot remove the journal {}: {e}", file.display());
                    }
                }
            }
            // The anchor moves up to what the database now holds, so that even the copy of it
            // from before this run counts as older.
            let anchored = self
                .path
                .as_deref()
                .ok_or_else(|| StoreError::Unavailable("no store".into()))
                .and_then(schema::open_reader)
                .and_then(|conn| anchor::current(&conn).map_err(StoreError::query))
                .and_then(|now| anchor::save(dir, &now));
            if let Err(e) = anchored {
                tracing::warn!("cannot record the store's anchor: {e}");
            }
        }
        // Everything is written: the next agentd may have the state dir.
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Applies retention as `plan` says: one write, journaled and applied by the writer like
    /// every other, answered once it is in the database with what it removed. `dry_run` only
    /// counts.
    pub async fn prune(&self, plan: PrunePlan, dry_run: bool) -> Result<PruneReport, StoreError> {
        let unavailable = || {
            StoreError::Unavailable(
                "agentd runs without a store, so it keeps nothing to prune".into(),
            )
        };
        if dry_run {
            return self
                .query(move |r| r.prune_count(&plan))
                .await?
                .ok_or_else(unavailable);
        }
        // Nothing to remove is the common case (retention runs hourly): then nothing is written.
        let (before, would) = {
            let plan = plan.clone();
            self.query(move |r| Ok((r.newest_prune()?, r.prune_count(&plan)?)))
                .await?
                .ok_or_else(unavailable)?
        };
        if would.answered + would.decided + would.grants + would.audit_entries == 0 {
            return Ok(PruneReport {
                dry_run: false,
                ..would
            });
        }
        let seq = self.write(Write::row(RowWrite::Prune(plan)));
        self.indexed(seq).await?;
        let after = self
            .query(|r| Ok((r.newest_prune()?, r.reach()?.checkpoint)))
            .await?
            .ok_or_else(unavailable)?;
        let (newest, checkpoint) = after;
        let count = |d: &serde_json::Value, k: &str| d[k].as_u64().unwrap_or(0);
        if let Some((seq, d)) = &newest {
            let fresh = before.as_ref().is_none_or(|(b, _)| seq > b);
            if let (true, Some(problem)) = (fresh, d["problem"].as_str()) {
                return Err(StoreError::Untrusted(format!(
                    "refused to prune: {problem}"
                )));
            }
        }
        Ok(match newest {
            Some((seq, d)) if before.as_ref().is_none_or(|(b, _)| seq > *b) => PruneReport {
                dry_run: false,
                answered: count(&d, "answered"),
                decided: count(&d, "decided"),
                grants: count(&d, "grants"),
                audit_entries: count(&d, "audit_entries"),
                checkpoint,
            },
            _ => PruneReport {
                dry_run: false,
                answered: 0,
                decided: 0,
                grants: 0,
                audit_entries: 0,
                checkpoint,
            },
        })
    }

    /// The store's files in bytes (database, WAL, journal), the requests it keeps, the oldest
    /// one's time and the audit checkpoint; `None` for a memory store.
    pub async fn reach(&self) -> Result<Option<Reach>, StoreError> {
        let Some(dir) = self
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
        else {
            return Ok(None);
        };
        let Some(mut reach) = self.query(|r| r.reach()).await? else {
            return Ok(None);
        };
        let mut files = vec![dir.join(DB_FILE), dir.join("agentd.db-wal")];
        files.extend(journal::files(&dir).unwrap_or_default());
        reach.bytes = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        Ok(Some(reach))
    }

    /// Recomputes the audit chain.
    pub async fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        self.query(|reader| reader.verify_audit())
            .await?
            .ok_or(StoreError::Unavailable(
                "agentd runs without a store, so it keeps no audit trail".into(),
            ))
    }

    /// The one way queries run: once the database holds every write made so far (so a query
    /// sees everything already answered), on the blocking pool (so a long query never stalls
    /// the connections being served). `None` for a memory store, which keeps nothing.
    pub async fn query<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<Option<T>, StoreError> {
        let Some(reader) = self.reader.clone() else {
            return Ok(None);
        };
        self.caught_up().await?;
        tokio::task::spawn_blocking(move || query(&reader))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the query did not finish: {e}")))?
            .map(Some)
    }
}
