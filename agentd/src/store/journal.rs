//! The journal: at the default durability, where a write is durable before anyone is told.
//!
//! Each write is appended, as one checksummed record, to a plain file by the task that makes
//! it, with one `write` call: once that returns the bytes belong to the kernel, so they survive
//! agentd being killed at any instant (not a power cut: nothing here fsyncs, which is what
//! `durability = "full"` is for, and it does not use the journal). The writer thread then
//! indexes the same writes into SQLite in large batches behind the answers, recording in each
//! transaction the last journal record it holds; a start replays whatever the database does not
//! hold yet. So an answer waits for a `write` into the page cache, not for a thread hop and a
//! SQLite commit.
//!
//! Records: `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload]`, the payload a
//! bincode [`Record`]. Files are `agentd.journal.<first seq>`; once one passes `ROTATE_BYTES`,
//! the next record starts a new file, and the writer deletes a full file once everything in
//! it is in the database, so the journal stays small however long agentd runs.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::AuditEvent;
use super::rows::RowWrite;
use super::StoreError;

/// A journal file is closed for new records once it is this large.
const ROTATE_BYTES: u64 = 8 * 1024 * 1024;
/// Journal files are named this, then their first record's sequence number.
const PREFIX: &str = "agentd.journal.";
/// The largest record read back; a length over it is a torn or damaged record.
const MAX_RECORD: usize = 16 * 1024 * 1024;

/// One write, as the journal keeps it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub row: Option<RowWrite>,
    pub audit: Option<AuditRecord>,
}

/// An audit event with its detail as JSON text (bincode cannot carry a free-form JSON value).
#[derive(Debug, Serialize, Deserialize)]
pub struct AuditRecord {
    at: DateTime<Utc>,
    kind: String,
    request_id: Option<Uuid>,
    actor: String,
    detail: String,
}

impl AuditRecord {
    fn from_event(e: &AuditEvent) -> AuditRecord {
        AuditRecord {
            at: e.at,
            kind: e.kind.to_string(),
            request_id: e.request_id,
            actor: e.actor.clone(),
            detail: e.detail.to_string(),
        }
    }

    pub fn into_event(self) -> AuditEvent {
        AuditEvent {
            at: self.at,
            kind: Cow::Owned(self.kind),
            request_id: self.request_id,
            actor: self.actor,
            // Written from a JSON value by this module; text that does not parse is kept as a
            // string rather than lost.
            detail: serde_json::from_str(&self.detail)
                .unwrap_or(serde_json::Value::String(self.detail)),
        }
    }
}

/// Full journal files waiting for the writer to index everything in them: (last sequence
/// number in the file, its path).
#[derive(Debug, Default)]
pub struct Retired(Mutex<Vec<(u64, PathBuf)>>);

impl Retired {
    /// Deletes the files whose every record is in the database by now.
    pub fn release(&self, indexed: u64) {
        let mut files = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        files.retain(|(last, path)| {
            if *last > indexed {
                return true;
            }
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!("cannot remove the indexed journal {}: {e}", path.display());
            }
            false
        });
    }

    fn push(&self, last: u64, path: PathBuf) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((last, path));
    }
}

/// The file records are appended to now.
pub struct Journal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    size: u64,
    /// Reused for every record, so appending does not allocate once warmed up.
    buf: Vec<u8>,
    retired: Arc<Retired>,
}

fn file_name(first_seq: u64) -> String {
    // Zero-padded so the names sort in order.
    format!("{PREFIX}{first_seq:020}")
}

/// Creates the file for records from `first_seq` on. One by that name can only be a journal
/// whose records the database already holds (a start replays every file before the first
/// new one, and numbers only grow), left because it could not be deleted: it is emptied.
fn create(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), StoreError> {
    let path = dir.join(file_name(first_seq));
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::io(format!("cannot create the journal {}", path.display()), e))?;
    Ok((file, path))
}

impl Journal {
    /// Starts a new journal file in `dir` whose first record will be `first_seq`.
    pub fn start(dir: &Path, first_seq: u64) -> Result<Journal, StoreError> {
        let (file, path) = create(dir, first_seq)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            file,
            path,
            size: 0,
            buf: Vec::with_capacity(4096),
            retired: Arc::new(Retired::default()),
        })
    }

    /// The list of full files, for the writer to delete once indexed.
    pub fn retired(&self) -> Arc<Retired> {
        Arc::clone(&self.retired)
    }

    /// The file being appended to.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record with a single `write`; once this returns it survives agentd being
    /// killed.
    pub fn append(
        &mut self,
        seq: u64,
        row: Option<&RowWrite>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), String> {
        if self.size >= ROTATE_BYTES {
            self.rotate(seq)?;
        }
        #[derive(Serialize)]
        struct RecordRef<'a> {
            seq: u64,
            row: Option<&'a RowWrite>,
            audit: Option<AuditRecord>,
        }
        let payload = agentd_proto::codec::encode(&RecordRef {
            seq,
            row,
            audit: audit.map(AuditRecord::from_event),
        })
        .map_err(|e| format!("cannot encode a journal record: {e}"))?;
        let len =
            u32::try_from(payload.len()).map_err(|_| "a journal record over 4 GiB".to_string())?;
        self.buf.clear();
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf
            .extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        self.buf.extend_from_slice(&payload);
        if let Err(e) = self.file.write_all(&self.buf) {
            // A partial record is ignored when read back (its checksum fails); the next one
            // must not follow it in the same file.
            let failed = format!("cannot write the journal {}: {e}", self.path.display());
            let _ = self.rotate(seq);
            return Err(failed);
        }
        self.size += self.buf.len() as u64;
        Ok(())
    }

    /// Closes this file to new records (the writer deletes it once indexed) and starts one
    /// whose first record is `next`.
    fn rotate(&mut self, next: u64) -> Result<(), String> {
        let (file, path) = create(&self.dir, next).map_err(|e| e.to_string())?;
        let old = std::mem::replace(&mut self.path, path);
        self.file = file;
        self.size = 0;
        self.retired.push(next.saturating_sub(1), old);
        Ok(())
    }
}

/// The journal files in `dir`, oldest first.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("cannot list the state dir {}", dir.display()), e))?;
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let first = name.to_str()?.strip_prefix(PREFIX)?.parse().ok()?;
            Some((first, e.path()))
        })
        .collect();
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// What reading a journal file found: its whole records in order, and where it was damaged.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<Record>,
    /// Damaged stretches with whole records after them: bytes that held acknowledged writes.
    pub damaged: Vec<Damage>,
}

/// A stretch of a journal file that did not read as records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Where it starts, in bytes from the start of the file.
    pub at: usize,
    pub bytes: usize,
}

/// Reads every whole record of `path`, in order. A record that is cut short or fails its
/// checksum costs that record only: reading resumes at the next place a whole record with a
/// later sequence number starts. Damage at the very end is a write torn by a crash (never
/// acknowledged) and is only logged; damage with records after it is reported in the scan.
pub fn read_all(path: &Path) -> Result<Scan, StoreError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| StoreError::io(format!("cannot read the journal {}", path.display()), e))?;
    let mut scan = Scan::default();
    let mut at = 0usize;
    while at < bytes.len() {
        if let Some((record, used)) = record_at(&bytes[at..]) {
            scan.records.push(record);
            at += used;
            continue;
        }
        let after = scan.records.last().map_or(0, |r| r.seq);
        match resync(&bytes, at + 1, after) {
            Some(next) => {
                tracing::warn!(
                    "journal {}: {} damaged bytes at byte {at}; reading on after them",
                    path.display(),
                    next - at
                );
                scan.damaged.push(Damage {
                    at,
                    bytes: next - at,
                });
                at = next;
            }
            None => {
                tracing::warn!(
                    "journal {}: the record at byte {at} is torn or damaged; ignoring the last {} bytes",
                    path.display(),
                    bytes.len() - at
                );
                break;
            }
        }
    }
    Ok(scan)
}

/// The records of `path` (see [`read_all`]).
#[cfg(test)]
pub fn read(path: &Path) -> Result<Vec<Record>, StoreError> {
    read_all(path).map(|scan| scan.records)
}

/// The largest record looked for when reading on after damage: far above any real record
/// (arguments are at most 512 KiB), and small enough that random bytes rarely pass as a
/// length worth checking.
const RESYNC_MAX_RECORD: usize = 2 * 1024 * 1024;

/// The first offset from `from` where a whole record with a sequence number above `after`
/// starts.
fn resync(bytes: &[u8], from: usize, after: u64) -> Option<usize> {
    (from..bytes.len()).find(|&at| {
        let Some(len) = bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(|b: [u8; 4]| u32::from_le_bytes(b) as usize)
        else {
            return false;
        };
        if len == 0 || len > RESYNC_MAX_RECORD || at + 8 + len > bytes.len() {
            return false;
        }
        record_at(&bytes[at..]).is_some_and(|(r, _)| r.seq > after)
    })
}

fn record_at(bytes: &[u8]) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(8..8 + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let record = agentd_proto::codec::decode(payload).ok()?;
    Some((record, 8 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> AuditEvent {
        super::super::audit::daemon_event("daemon_started", "test", serde_json::json!({ "n": n }))
    }

    #[test]
    fn records_read_back_in_order_across_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut journal = Journal::start(dir.path(), 1)?;
        for seq in 1..=3 {
            journal.append(seq, None, Some(&event(seq)))?;
        }
        journal.rotate(4)?;
        journal.append(4, Some(&RowWrite::GrantUsed(Uuid::nil())), None)?;
        let files = files(dir.path())?;
        assert_eq!(files.len(), 2);
        let seqs: Vec<u64> = files
            .iter()
            .map(|f| read(f))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        let first = read(&files[0])?.remove(0);
        let back = first.audit.ok_or("no audit record")?.into_event();
        assert_eq!(back.kind, "daemon_started");
        assert_eq!(back.detail, serde_json::json!({ "n": 1 }));
        Ok(())
    }

    #[test]
    fn a_torn_tail_is_ignored_and_what_precedes_it_kept() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let mut journal = Journal::start(dir.path(), 1)?;
        journal.append(1, None, Some(&event(1)))?;
        journal.append(2, None, Some(&event(2)))?;
        let path = journal.path().to_path_buf();
        let full = std::fs::read(&path)?;
        for cut in 1..full.len() {
            std::fs::write(&path, &full[..cut])?;
            let n = read(&path)?.len();
            assert!(n <= 1 || cut == full.len(), "cut at {cut} kept {n} records");
        }
        // A flipped byte in the second record's payload: its checksum fails.
        let mut damaged = full.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0xff;
        std::fs::write(&path, &damaged)?;
        assert_eq!(read(&path)?.len(), 1);
        assert!(
            read_all(&path)?.damaged.is_empty(),
            "a torn tail is not damage"
        );
        Ok(())
    }

    #[test]
    fn a_damaged_record_costs_that_record_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut journal = Journal::start(dir.path(), 1)?;
        let mut starts = Vec::new();
        for seq in 1..=154 {
            starts.push(std::fs::metadata(journal.path())?.len() as usize);
            journal.append(seq, None, Some(&event(seq)))?;
        }
        let path = journal.path().to_path_buf();
        let full = std::fs::read(&path)?;
        // Every kind of damage to record 144: its length, its checksum, its payload.
        for offset in [0, 2, 5, 9, 20] {
            let mut damaged = full.clone();
            damaged[starts[143] + offset] ^= 0x5a;
            std::fs::write(&path, &damaged)?;
            let scan = read_all(&path)?;
            let seqs: Vec<u64> = scan.records.iter().map(|r| r.seq).collect();
            let expected: Vec<u64> = (1..=154).filter(|s| *s != 144).collect();
            assert_eq!(seqs, expected, "damage at +{offset}");
            assert_eq!(scan.damaged.len(), 1, "damage at +{offset}");
            assert_eq!(scan.damaged[0].at, starts[143]);
            assert_eq!(scan.damaged[0].bytes, starts[144] - starts[143]);
        }
        Ok(())
    }

    #[test]
    fn retired_files_go_once_indexed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut journal = Journal::start(dir.path(), 1)?;
        journal.append(1, None, Some(&event(1)))?;
        journal.rotate(2)?;
        journal.append(2, None, Some(&event(2)))?;
        let retired = journal.retired();
        retired.release(0);
        assert_eq!(files(dir.path())?.len(), 2, "nothing indexed yet");
        retired.release(1);
        assert_eq!(files(dir.path())?, [journal.path().to_path_buf()]);
        Ok(())
    }

    #[test]
    fn a_leftover_file_by_the_same_name_is_emptied() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut old = Journal::start(dir.path(), 5)?;
        old.append(5, None, Some(&event(5)))?;
        drop(old);
        let journal = Journal::start(dir.path(), 5)?;
        assert!(read(journal.path())?.is_empty());
        Ok(())
    }
}
