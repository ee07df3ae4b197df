//! Copying the WAL back into the database file (checkpointing) on a thread of its own.
//!
//! SQLite would otherwise checkpoint inside whichever commit crosses the threshold, and with
//! it fsync the database file: the writer, and every agent waiting on it, would pay for that
//! commit. A passive checkpoint never blocks the writer.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How often the WAL is copied back.
const EVERY: Duration = Duration::from_millis(500);

/// The running checkpointer; dropping `stop` ends it after one last, full checkpoint.
pub struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::open(path, e))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("agentd-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| StoreError::Io(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer { stop, thread })
    }

    /// Stops after a final checkpoint that also empties the WAL file.
    pub fn finish(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => checkpoint(conn, "PASSIVE"),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                checkpoint(conn, "TRUNCATE");
                return;
            }
        }
    }
}

fn checkpoint(conn: &Connection, mode: &str) {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()));
    if let Err(e) = result {
        // The WAL keeps every commit safe meanwhile; the next round tries again.
        tracing::warn!("WAL checkpoint ({mode}) failed: {e}");
    }
}
