//! Copying the WAL back into the database file (checkpointing) on a thread of its own.
//!
//! SQLite would otherwise checkpoint inside whichever commit crosses the threshold, and with
//! it fsync the database file: the writer, and every agent waiting on it, would pay for that
//! commit. A passive checkpoint never blocks the writer.
//!
//! But a passive checkpoint alone cannot bound the WAL under sustained load: the WAL starts
//! over from its beginning only when a write finds every frame copied back, and a writer that
//! never pauses always has appended more by the time a checkpoint ends (a load test grew it by
//! 330 MB a second, every write extending the file). So when a checkpoint finds the WAL over
//! `RESTART_FRAMES`, it asks the writer to finish the job between two of its transactions: the
//! writer copies back the few frames this thread has not, and its next transaction starts the
//! WAL over.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How often the WAL is copied back.
const EVERY: Duration = Duration::from_millis(100);

/// A WAL longer than this many frames (4 KiB pages) after a checkpoint is not starting over
/// by itself; the writer is asked to finish the checkpoint (16 MiB).
pub const RESTART_FRAMES: i64 = 4096;

/// The running checkpointer; dropping `stop` ends it after one last, full checkpoint.
pub struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing the store at `path`; sets `restart` when the writer should finish
    /// a checkpoint itself (see [`writer_checkpoint`]).
    pub fn start(path: &Path, restart: Arc<AtomicBool>) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::open(path, e))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("agentd-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &restart))
            .map_err(|e| StoreError::io("cannot start the checkpointer", e))?;
        Ok(Checkpointer { stop, thread })
    }

    /// Stops after a final checkpoint that also empties the WAL file.
    pub fn finish(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>, restart: &AtomicBool) {
    loop {
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => {
                if checkpoint(conn, "PASSIVE").is_some_and(|frames| frames > RESTART_FRAMES) {
                    restart.store(true, Ordering::Relaxed);
                }
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                checkpoint(conn, "TRUNCATE");
                return;
            }
        }
    }
}

/// The writer's part: called between transactions when asked, so that no frame is appended
/// while it runs and the next transaction starts the WAL over.
pub fn writer_checkpoint(conn: &Connection, restart: &AtomicBool) {
    if restart.swap(false, Ordering::Relaxed) {
        checkpoint(conn, "PASSIVE");
    }
}

/// Runs a checkpoint; returns how many frames the WAL holds, or `None` if it failed.
fn checkpoint(conn: &Connection, mode: &str) -> Option<i64> {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        r.get::<_, i64>(1)
    });
    match result {
        Ok(frames) => Some(frames),
        Err(e) => {
            // The WAL keeps every commit safe meanwhile; the next round tries again.
            tracing::warn!("WAL checkpoint ({mode}) failed: {e}");
            None
        }
    }
}
