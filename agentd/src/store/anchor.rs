//! The store's anchor: a small file beside the database recording which audit trail the state
//! dir holds (its first entry's hash) and how long it was when agentd last started. A database
//! that was emptied, replaced by another store's, or rolled back to an older copy no longer
//! matches it, and agentd refuses to start instead of carrying on with a store that silently
//! lost what it had acknowledged.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::StoreError;

pub const ANCHOR_FILE: &str = "agentd.anchor";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The hash of audit entry 1: which trail this is.
    pub first_hash: Option<String>,
    /// How many audit entries the trail had.
    pub entries: u64,
}

/// The anchor of the database behind `conn` as it is now.
pub fn current(conn: &Connection) -> rusqlite::Result<Anchor> {
    let first_hash = match conn
        .query_row("SELECT hash FROM audit WHERE seq = 1", [], |r| {
            super::audit::hex_col(r, 0)
        })
        .optional()?
    {
        Some(hash) => Some(hash),
        // Pruned: the checkpoint keeps which trail this was.
        None => super::prune::first_hash(conn)?,
    };
    let entries: i64 =
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?;
    Ok(Anchor {
        first_hash,
        entries: u64::try_from(entries).unwrap_or(0),
    })
}

/// The anchor left in `dir`, if any.
pub fn load(dir: &Path) -> Result<Option<Anchor>, StoreError> {
    let path = dir.join(ANCHOR_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            StoreError::Unusable(format!(
                "{} is damaged ({e}); if the store is otherwise sound, remove it and start again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Refuses a database that does not carry on from `anchor`.
pub fn check(dir: &Path, anchor: &Anchor, now: &Anchor) -> Result<(), StoreError> {
    let db = dir.join(super::DB_FILE);
    let db = db.display();
    let fix = format!(
        "restore it from a backup; to start a new store on purpose, move {} away",
        dir.display()
    );
    if anchor.entries > 0 && now.entries == 0 {
        return Err(StoreError::Damaged(format!(
            "{db} holds no audit trail, but this state dir's store had {} entries when agentd last started: the database was emptied or removed; {fix}",
            anchor.entries
        )));
    }
    if anchor.first_hash.is_some() && anchor.first_hash != now.first_hash {
        return Err(StoreError::Damaged(format!(
            "{db} holds another store's audit trail than the one agentd last started with: the database was replaced; {fix}"
        )));
    }
    if now.entries < anchor.entries {
        return Err(StoreError::Damaged(format!(
            "{db} ends at audit entry {}, but agentd last started with entry {} written: the database was replaced by an older copy; {fix}",
            now.entries, anchor.entries
        )));
    }
    Ok(())
}

/// Writes `anchor` to `dir` (0600), replacing the old one at once.
pub fn save(dir: &Path, anchor: &Anchor) -> Result<(), StoreError> {
    let path = dir.join(ANCHOR_FILE);
    let tmp = dir.join(format!("{ANCHOR_FILE}.tmp"));
    let io = |e: std::io::Error| StoreError::io(format!("cannot write {}", path.display()), e);
    let text = serde_json::to_vec(anchor).map_err(|e| io(e.into()))?;
    {
        use std::io::Write;
        let mut file = std::fs::File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(first: Option<&str>, entries: u64) -> Anchor {
        Anchor {
            first_hash: first.map(String::from),
            entries,
        }
    }

    #[test]
    fn a_database_that_does_not_carry_on_from_its_anchor_is_refused() {
        let dir = Path::new("/state");
        let was = anchor(Some("aa"), 10);
        assert!(check(dir, &was, &anchor(Some("aa"), 10)).is_ok());
        assert!(check(dir, &was, &anchor(Some("aa"), 12)).is_ok());
        let emptied = check(dir, &was, &anchor(None, 0)).unwrap_err().to_string();
        assert!(emptied.contains("emptied or removed"), "{emptied}");
        let replaced = check(dir, &was, &anchor(Some("bb"), 50))
            .unwrap_err()
            .to_string();
        assert!(
            replaced.contains("another store's audit trail"),
            "{replaced}"
        );
        let older = check(dir, &was, &anchor(Some("aa"), 4))
            .unwrap_err()
            .to_string();
        assert!(older.contains("older copy"), "{older}");
        assert!(check(dir, &anchor(None, 0), &anchor(Some("cc"), 3)).is_ok());
    }

    #[test]
    fn saves_and_loads() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert_eq!(load(dir.path())?, None);
        save(dir.path(), &anchor(Some("aa"), 3))?;
        assert_eq!(load(dir.path())?, Some(anchor(Some("aa"), 3)));
        std::fs::write(dir.path().join(ANCHOR_FILE), b"{")?;
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("is damaged"));
        Ok(())
    }
}
