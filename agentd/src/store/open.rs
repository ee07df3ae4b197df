//! Opening a store: the state dir checked and locked, the database opened or made, the
//! journal replayed into it, the pending requests and live grants read back, and the writer
//! and checkpointer threads started.

use super::*;

impl Store {
    /// Opens (creating if needed) the store in `dir` and returns it with the requests that
    /// were pending when it was last written.
    pub fn open(dir: &Path, options: Options) -> Result<(Store, Recovered), StoreError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let io = |what: &str, e: std::io::Error| StoreError::io(what, e);
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::Unusable(format!(
                "the state dir {} is a file, not a folder",
                dir.display()
            )));
        }
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
