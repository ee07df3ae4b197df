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
mod rows;
mod schema;
mod trust;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};

use agentd_proto::{AuditReport, GrantView, RequestView};
use tokio::sync::watch;

pub use audit::{args_hash, daemon_event, finished_event, queued_event, AuditEvent};
pub use history::{Cursor, Reader};
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
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Arc<std::io::Error>,
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
            source: Arc::new(source),
        }
    }

    pub(crate) fn query(source: rusqlite::Error) -> StoreError {
        StoreError::Query(Arc::new(source))
    }
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

    /// Opens (creating if needed) the store in `dir` and returns it with the requests that
    /// were pending when it was last written.
    pub fn open(dir: &Path, options: Options) -> Result<(Store, Recovered), StoreError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let io = |what: &str, e: std::io::Error| StoreError::io(what, e);
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io(&format!("cannot create the state dir {}", dir.display()), e))?;
        }
        // Everything read back from here decides what agents were granted: it must be ours.
        trust::check_dir(dir)?;
        for name in [LOCK_FILE, DB_FILE, "agentd.db-wal", "agentd.db-shm"] {
            trust::check_file(&dir.join(name))?;
        }
        for file in journal::files(dir)? {
            trust::check_file(&file)?;
        }
        trust::check_file(&dir.join(anchor::ANCHOR_FILE))?;
        // Evidence that a store lived here, for telling an emptied database from a new one.
        let used_before = dir.join(LOCK_FILE).exists();
        let db_size = std::fs::metadata(dir.join(DB_FILE)).map(|m| m.len()).ok();
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| io(&format!("cannot open {}", lock_path.display()), e))?;
        // A process that embeds agentd and forks children (tests, demos) can leave a copy of
        // the lock with a child until that child's exec: give such a copy a moment to go.
        let mut tries = 0;
        while lock.try_lock().is_err() {
            tries += 1;
            if tries > LOCK_TRIES {
                return Err(StoreError::Busy(dir.display().to_string()));
            }
            std::thread::sleep(LOCK_RETRY);
        }
        let path = dir.join(DB_FILE);
        let anchored = anchor::load(dir)?;
        if used_before && anchored.is_none() && db_size.unwrap_or(0) == 0 {
            return Err(StoreError::Damaged(format!(
                "{} is {}, but agentd has used this state dir before ({LOCK_FILE} is there): the database was emptied or removed; restore it from a backup; to start a new store on purpose, move {} away",
                path.display(),
                if db_size.is_some() { "empty" } else { "missing" },
                dir.display()
            )));
        }
        let conn = schema::open_writer(&path)?;
        let fail = |e: rusqlite::Error| StoreError::open(&path, e);
        let sync = match options.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(fail)?;
        if let Some(mib) = options.max_size_mib {
            let page_size: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(fail)?;
            let pages = (mib as i64).saturating_mul(1024 * 1024) / page_size.max(1);
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(fail)?;
        }
        // Checkpoints run on their own thread (see `checkpoint`), never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(fail)?;
        let mut conn = conn;
        let mut head = audit::Head::load(&conn).map_err(fail)?;
        let applied = replay(&mut conn, &mut head, dir)?;
        let now = anchor::current(&conn).map_err(fail)?;
        if let Some(was) = &anchored {
            anchor::check(dir, was, &now)?;
        }
        anchor::save(dir, &now)?;
        let pending = history::pending(&conn).map_err(fail)?;
        let grants = history::live_grants(&conn).map_err(fail)?;
        let reader = Arc::new(Reader::new(schema::open_reader(&path)?));
        let restart = Arc::new(AtomicBool::new(false));
        let checkpointer = checkpoint::Checkpointer::start(&path, Arc::clone(&restart))?;

        let (jobs_tx, jobs_rx) = mpsc::channel();
        let start = Committed {
            seq: applied,
            failed: None,
        };
        let (committed_tx, committed_rx) = watch::channel(start.clone());
        let committed_tx = Arc::new(committed_tx);
        let (sink, written, retired) = match options.durability {
            Durability::Full => (Sink::Writer(jobs_tx), None, None),
            Durability::Normal => {
                let journal = journal::Journal::start(dir, applied + 1)?;
                let retired = journal.retired();
                let (written_tx, written_rx) = watch::channel(start);
                let sink = Sink::Journal {
                    journal,
                    jobs: jobs_tx,
                    written: written_tx,
                    committed: Arc::clone(&committed_tx),
                };
                (sink, Some(written_rx), Some(retired))
            }
        };
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("agentd-store".into())
            .spawn(move || {
                writer::run(conn, shown, jobs_rx, &committed_tx, head, &restart, retired)
            })
            .map_err(|e| io("cannot start the store writer", e))?;
        Ok((
            Store {
                seq: Mutex::new(Sequencer {
                    last: applied,
                    sink,
                }),
                committed: committed_rx,
                written,
                reader: Some(reader),
                writer: Mutex::new(Some(writer)),
                checkpointer: Mutex::new(Some(checkpointer)),
                path: Some(path),
                lock: Mutex::new(Some(lock)),
            },
            Recovered { pending, grants },
        ))
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

/// Puts into the database every journal record it does not hold yet (those after the last
/// one a transaction recorded), then removes the journal files. Returns the sequence number
/// of the last write the database holds, where new writes continue.
fn replay(
    conn: &mut rusqlite::Connection,
    head: &mut audit::Head,
    dir: &Path,
) -> Result<u64, StoreError> {
    let db = |e: rusqlite::Error| StoreError::open(&dir.join(DB_FILE), e);
    let mut applied: u64 = conn
        .query_row("SELECT applied FROM journal_state WHERE id = 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|v| u64::try_from(v).unwrap_or(0))
        .map_err(db)?;
    // A journal that cannot be read holds acknowledged writes: refuse to start rather than
    // carry on without them.
    let files = journal::files(dir)?;
    let mut replayed = 0usize;
    // Writes are numbered without gaps: a number skipped past what the database holds is an
    // acknowledged write that was lost (a damaged record, a missing file).
    let mut expected = applied + 1;
    let mut lost: Vec<String> = Vec::new();
    for file in &files {
        let scan = journal::read_all(file)?;
        let name = file.display().to_string();
        let mut jobs: Vec<Job> = Vec::new();
        for r in scan.records.into_iter().filter(|r| r.seq > applied) {
            if r.seq > expected {
                let at = scan
                    .damaged
                    .iter()
                    .map(|d| format!("{} damaged bytes at byte {}", d.bytes, d.at))
                    .collect::<Vec<_>>()
                    .join(", ");
                let range = match r.seq - expected {
                    1 => format!("write {expected}"),
                    n => format!("writes {expected} to {} ({n} writes)", r.seq - 1),
                };
                lost.push(match at.is_empty() {
                    true => format!("{range} missing before {name}"),
                    false => format!("{range} unreadable in {name} ({at})"),
                });
            }
            expected = expected.max(r.seq + 1);
            jobs.push(Job {
                seq: r.seq,
                row: r.row,
                audit: r.audit.map(journal::AuditRecord::into_event),
            });
        }
        for batch in jobs.chunks(4096) {
            let Some(last) = batch.last().map(|j| j.seq) else {
                continue;
            };
            let mut next = head.clone();
            writer::write(conn, &mut next, batch, Some(last)).map_err(db)?;
            *head = next;
            applied = last;
            replayed += batch.len();
        }
    }
    if !lost.is_empty() {
        // Said at start, and kept in the audit trail, where `ash audit verify` reports it.
        let why = lost.join("; ");
        tracing::error!("the journal lost acknowledged writes: {why}");
        let seq = applied + 1;
        let event = audit::daemon_event(
            "store_damaged",
            "agentd",
            serde_json::json!({ "lost": lost, "why": why }),
        );
        let job = Job {
            seq,
            row: None,
            audit: Some(event),
        };
        let mut next = head.clone();
        writer::write(conn, &mut next, std::slice::from_ref(&job), Some(seq)).map_err(db)?;
        *head = next;
        applied = seq;
    }
    if replayed > 0 {
        tracing::info!(replayed, "journal replayed into the store");
    }
    // Everything is in the database now (and recorded as such), so the files can go; should
    // removing one fail, its records are skipped next time as already applied.
    for file in files {
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!("cannot remove the replayed journal {}: {e}", file.display());
        }
    }
    Ok(applied)
}
