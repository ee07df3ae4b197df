//! Whether agentd may trust its state dir and the files in it: everything it reads back from
//! there (the database, its WAL, the journal) decides what agents were granted, so each must
//! be agentd's own and writable by nobody else, as ssh insists of `~/.ssh`. Otherwise agentd
//! refuses to start with one line naming the path and the fix.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::StoreError;

fn untrusted(message: String) -> StoreError {
    StoreError::Untrusted(message)
}

fn us() -> u32 {
    nix::unistd::Uid::effective().as_raw()
}

/// The state dir: a directory (not a link), ours, not writable by group or others.
pub fn check_dir(dir: &Path) -> Result<(), StoreError> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| StoreError::io(format!("cannot read the state dir {}", dir.display()), e))?;
    let shown = dir.display();
    if meta.file_type().is_symlink() {
        // A link is followed only if it points at a dir that passes the same checks.
        let target = std::fs::canonicalize(dir)
            .map_err(|e| StoreError::io(format!("cannot follow the state dir {shown}"), e))?;
        return check_dir(&target);
    }
    if !meta.is_dir() {
        return Err(untrusted(format!(
            "the state dir {shown} is not a directory; pass another --state-dir"
        )));
    }
    if meta.uid() != us() {
        return Err(untrusted(format!(
            "the state dir {shown} belongs to uid {}, not to agentd's user (uid {}); refusing to trust it: chown {} {shown}, or pass another --state-dir",
            meta.uid(),
            us(),
            us()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(untrusted(format!(
            "the state dir {shown} is writable by others (mode {:04o}); refusing to trust what it holds: chmod 700 {shown}",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// A file agentd reads from the state dir, if it exists: a regular file (not a link), ours,
/// not writable by group or others.
pub fn check_file(path: &Path) -> Result<(), StoreError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(format!("cannot read {}", path.display()), e)),
    };
    let shown = path.display();
    if meta.is_dir() {
        // Nobody else could have made it (the dir is checked first), and reading it fails
        // with its own message naming it.
        return Ok(());
    }
    if !meta.file_type().is_file() {
        return Err(untrusted(format!(
            "{shown} is not a regular file (a link or something else planted in the state dir); refusing to read it: remove it"
        )));
    }
    if meta.uid() != us() {
        return Err(untrusted(format!(
            "{shown} belongs to uid {}, not to agentd's user (uid {}); refusing to read it: remove it if you did not put it there, or chown {} {shown}",
            meta.uid(),
            us(),
            us()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(untrusted(format!(
            "{shown} is writable by others (mode {:04o}); refusing to read it: chmod 600 {shown}",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_open_or_foreign_dir_or_file_is_refused_with_the_fix(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        check_dir(dir.path())?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))?;
        let err = check_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("writable by others (mode 1777)") && err.contains("chmod 700"),
            "{err}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;

        let file = dir.path().join("agentd.journal.1");
        check_file(&file)?;
        std::fs::write(&file, b"x")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        check_file(&file)?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666))?;
        assert!(check_file(&file)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        std::fs::remove_file(&file)?;
        std::os::unix::fs::symlink("/etc/passwd", &file)?;
        assert!(check_file(&file)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        Ok(())
    }
}
