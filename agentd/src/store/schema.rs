//! Opening the database file: refusing what is not ours or is newer than us, and migrating
//! older schemas forward.
//!
//! An agentd store is marked with SQLite's `application_id` (so a foreign database is never
//! written to) and carries its schema version in `user_version`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// 'agnd' in ASCII: marks a SQLite file as an agentd store.
pub const APPLICATION_ID: i64 = 0x6167_6e64;

/// The schema this agentd writes. Bump it with a new entry in `MIGRATIONS`.
pub const SCHEMA_VERSION: i64 = 7;

/// `MIGRATIONS[n]` takes a store from version n to n + 1.
const MIGRATIONS: [&str; 7] = [
    r#"
CREATE TABLE requests (
    id              TEXT PRIMARY KEY,
    tool            TEXT NOT NULL,
    args_json       TEXT NOT NULL,
    agent_name      TEXT NOT NULL,
    agent_pid       INTEGER,
    agent_uid       INTEGER,
    session         TEXT,
    summary         TEXT,
    risk            TEXT NOT NULL,
    risk_reasons    TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT NOT NULL,
    decision_source TEXT,
    decided_by      TEXT,
    reason          TEXT,
    decided_at      INTEGER
);
CREATE INDEX requests_created ON requests (created_at, id);
CREATE INDEX requests_state ON requests (state, created_at);
CREATE INDEX requests_agent ON requests (agent_name, created_at);
CREATE INDEX requests_tool ON requests (tool, created_at);
CREATE INDEX requests_decided_by ON requests (decided_by, created_at);

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    request_id  TEXT,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_request ON audit (request_id, seq);

-- The newest entry of the chain, kept apart so deleting the newest audit rows is caught.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"#,
    // 2: who decided, as the kernel reported it.
    r#"
ALTER TABLE requests ADD COLUMN decided_uid INTEGER;
ALTER TABLE requests ADD COLUMN decided_pid INTEGER;
"#,
    // 3: standing decisions (grants), and which grant answered a request.
    r#"
ALTER TABLE requests ADD COLUMN grant_id TEXT;
ALTER TABLE requests ADD COLUMN subject TEXT NOT NULL DEFAULT 'tool';
ALTER TABLE requests ADD COLUMN path TEXT NOT NULL DEFAULT '[]';
CREATE INDEX requests_subject ON requests (subject, created_at);
CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    verdict      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    ttl_secs     INTEGER,
    tool         TEXT NOT NULL,
    args_json    TEXT NOT NULL,
    agent        TEXT NOT NULL,
    agent_uid    INTEGER,
    session      TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    from_request TEXT NOT NULL,
    uses         INTEGER NOT NULL DEFAULT 0,
    ended        TEXT
);
CREATE INDEX grants_live ON grants (ended, expires_at);
"#,
    // 4: how far the journal (see `journal`) has been indexed into this database.
    r#"
CREATE TABLE journal_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    applied INTEGER NOT NULL
);
INSERT INTO journal_state (id, applied) VALUES (1, 0);
"#,
    // 5: the agent's working folder and the grant options of a request; what a grant covers
    // (JSON; NULL is the exact-arguments grant of schema 3).
    r#"
ALTER TABLE requests ADD COLUMN cwd TEXT;
ALTER TABLE requests ADD COLUMN grant_options TEXT NOT NULL DEFAULT '[]';
ALTER TABLE grants ADD COLUMN covers TEXT;
"#,
    // 6: the arguments an operator approved instead of those asked with.
    r#"
ALTER TABLE requests ADD COLUMN approved_args TEXT;
"#,
    // 7: the reason given with the decision that made a grant; where the audit trail starts
    // after pruning (see `prune`). New audit entries keep their hashes as raw bytes.
    r#"
ALTER TABLE grants ADD COLUMN reason TEXT;
CREATE TABLE audit_checkpoint (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    first_seq   INTEGER NOT NULL,
    prev_hash   TEXT NOT NULL,
    first_hash  TEXT,
    before      INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    sealed      TEXT NOT NULL
);
"#,
];

/// Opens (creating if needed) the store at `path` for reading and writing, checks it is an
/// agentd store this version understands, and migrates it to `SCHEMA_VERSION`.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let fail = |e: rusqlite::Error| StoreError::open(path, e);
    let existed = path.exists();
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    if !existed {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::io(format!("{}: cannot set mode 0600", path.display()), e))?;
    }
    // Any read fails on a file that is not a database at all.
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(fail)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(fail)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(fail)?;
    let fresh = app_id == 0 && version == 0 && tables == 0;
    if !fresh && app_id != APPLICATION_ID {
        return Err(StoreError::Foreign(path.display().to_string()));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            path: path.display().to_string(),
            found: version,
        });
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unusable(format!(
            "{}: cannot switch to WAL journaling (got {mode})",
            path.display()
        )));
    }
    migrate(&mut conn, version).map_err(fail)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()
}

/// A second, read-only connection for queries, so they never wait behind a write batch.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, e))
}
