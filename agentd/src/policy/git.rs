//! What a git command run from a folder will read, found as git finds it: the repository git
//! discovers by walking up from that folder (a `.git` folder, a `.git` file naming another,
//! or a bare repository, whose `config` git then obeys), and the files the index tracks. A git
//! command passes at once only in the project's own repository, and one that prints what
//! files hold only when no tracked file holds secrets.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::policy::reads::{Place, Read};

/// What a git command's rule reads of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Names, refs and status (`git status`, `git branch`).
    Names,
    /// What tracked files hold (`git diff`, `git blame`).
    Contents,
    /// The remotes' addresses (`git remote -v`), which may carry a token.
    Remotes,
}

/// The most index entries read; a larger index asks.
const MAX_ENTRIES: u32 = 200_000;

/// What running git (reading `reads`) from each of `dirs` is.
pub fn check(dirs: &[Option<PathBuf>], place: &Place, secrets: &Regex, reads: Reads) -> Read {
    let Some(project) = &place.project else {
        return Read::Refused("git outside a known project".into());
    };
    // A project folder that is not on this machine holds nothing git could read or run.
    if !project.exists() {
        return Read::Harmless;
    }
    let mut own = project.join(".git");
    for dir in dirs {
        let Some(dir) = dir else {
            return Read::Refused("git from a folder that is not known".into());
        };
        match discover(dir) {
            // The project's own repository, or one it lies in (a subfolder of a monorepo):
            // a repository outside the project is one the agent cannot change without a person.
            Ok(found)
                if found == own || found.parent().is_some_and(|top| project.starts_with(top)) =>
            {
                if found.join("commondir").exists() {
                    return Read::Refused(format!(
                        "{} shares another repository's config (commondir)",
                        found.display()
                    ));
                }
            }
            Ok(found) => {
                return Read::Refused(format!(
                    "git run in {} would use the repository at {}, not the project's own",
                    dir.display(),
                    found.display()
                ))
            }
            // No repository at all: git refuses to run, but `git diff A B` outside one compares
            // any two files or folders, so only what reads names may go on.
            Err(NoRepository(_)) if reads == Reads::Names => return Read::Harmless,
            Err(NoRepository(why)) | Err(Elsewhere(why)) => return Read::Refused(why),
        }
        if let Ok(found) = discover(dir) {
            own = found;
        }
    }
    if reads == Reads::Remotes {
        // `https://user:token@host/…`: an address with credentials in it, in the repository's
        // config or in one git reads before it (a `url.….insteadOf` rewrite there applies).
        let mut configs = vec![own.join("config"), PathBuf::from("/etc/gitconfig")];
        if let Some(home) = &place.home {
            configs.push(home.join(".gitconfig"));
            configs.push(home.join(".config/git/config"));
        }
        let carries = |text: String| {
            text.lines().any(|l| {
                l.split("://").skip(1).any(|rest| {
                    rest.split(['/', '"', ' '])
                        .next()
                        .is_some_and(|host| host.contains('@'))
                })
            })
        };
        if configs
            .iter()
            .any(|c| std::fs::read_to_string(c).is_ok_and(carries))
        {
            return Read::Refused(
                "a remote's address, or a rewrite of it, carries credentials".into(),
            );
        }
    }
    if reads == Reads::Contents {
        match tracked_secret_cached(&own.join("index"), secrets) {
            Ok(None) => {}
            Ok(Some(path)) => {
                return Read::Refused(format!(
                    "the repository tracks {path}, which holds secrets: git would print it"
                ))
            }
            Err(why) => return Read::Refused(why),
        }
    }
    Read::Harmless
}

/// Why no repository of the project's was found.
enum NotFound {
    /// No repository above the folder.
    NoRepository(String),
    /// One that is not a plain `.git` folder: a bare repository, or a `.git` file.
    Elsewhere(String),
}
use NotFound::{Elsewhere, NoRepository};

/// The repository git finds from `dir`: the first folder up from it that holds a `.git`
/// folder, or is a bare repository. A `.git` file (which names a repository anywhere) is not
/// followed here: it asks.
fn discover(dir: &Path) -> Result<PathBuf, NotFound> {
    let start = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for folder in start.ancestors() {
        let dot_git = folder.join(".git");
        match std::fs::symlink_metadata(&dot_git) {
            Ok(meta) if meta.is_dir() => return Ok(dot_git),
            Ok(_) => {
                return Err(Elsewhere(format!(
                    "{} is not a folder: it names a repository elsewhere",
                    dot_git.display()
                )))
            }
            Err(_) => {}
        }
        if looks_like_a_repository(folder) {
            return Err(Elsewhere(format!(
                "{} is a bare repository, whose own config git would obey",
                folder.display()
            )));
        }
    }
    Err(NoRepository(format!(
        "no git repository above {}",
        dir.display()
    )))
}

/// Whether git might take `folder` for a repository: it has a `HEAD` of any kind (a file, a
/// link, even a dangling one). Git's own test is looser than `HEAD` + `objects/` + `refs/`
/// (a `commondir` file stands in for the last two, a `HEAD` link may name a packed ref), so
/// anything with a `HEAD` on the way up asks.
fn looks_like_a_repository(folder: &Path) -> bool {
    std::fs::symlink_metadata(folder.join("HEAD")).is_ok()
}

/// What an index was found to track, by its path, size and change time: a large repository's
/// index is megabytes, read once per change rather than once per call.
type Seen = (u64, std::time::SystemTime, Result<Option<String>, String>);

fn tracked_secret_cached(index: &Path, secrets: &Regex) -> Result<Option<String>, String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Seen>>> = OnceLock::new();
    let Ok(meta) = std::fs::metadata(index) else {
        return tracked_secret(index, secrets);
    };
    let stamp = (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH));
    let seen = SEEN.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = seen.lock() {
        if let Some((len, modified, found)) = map.get(index) {
            if (*len, *modified) == stamp {
                return found.clone();
            }
        }
    }
    let found = tracked_secret(index, secrets);
    if let Ok(mut map) = seen.lock() {
        // Bounded: one entry a repository; a daemon sees few.
        if map.len() > 1024 {
            map.clear();
        }
        map.insert(index.to_path_buf(), (stamp.0, stamp.1, found.clone()));
    }
    found
}

/// The first path the index at `index` tracks that names a secret, if any. Versions 2 and 3
/// are read; an index that cannot be read asks.
fn tracked_secret(index: &Path, secrets: &Regex) -> Result<Option<String>, String> {
    let bytes = match std::fs::read(index) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", index.display())),
    };
    let bad = || format!("{} is not an index git 2 or 3 wrote", index.display());
    if bytes.len() < 12 || &bytes[..4] != b"DIRC" {
        return Err(bad());
    }
    let word = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let version = word(4).ok_or_else(bad)?;
    let count = word(8).ok_or_else(bad)?;
    if !(2..=3).contains(&version) || count > MAX_ENTRIES {
        return Err(bad());
    }
    let mut at = 12;
    for _ in 0..count {
        // ctime, mtime, dev, ino, mode, uid, gid, size (4 bytes each but the times, 8), the
        // object name (20), then flags (2).
        let flags_at = at + 60;
        let flags = bytes
            .get(flags_at..flags_at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(bad)?;
        let mut path_at = flags_at + 2;
        if version == 3 && flags & 0x4000 != 0 {
            path_at += 2;
        }
        let len = bytes[path_at.min(bytes.len())..]
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(bad)?;
        let path = String::from_utf8_lossy(&bytes[path_at..path_at + len]).into_owned();
        if secrets.is_match(&format!("/{path}")) {
            return Ok(Some(path));
        }
        // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
        let entry = path_at - at + len;
        at += entry + (8 - entry % 8);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn the_index_is_read_as_git_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        git(dir, &["init", "-q"]);
        std::fs::create_dir_all(dir.join("src/deep")).unwrap();
        for f in ["a.rs", "src/b.rs", "src/deep/c-with-a-long-name.rs"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        git(dir, &["add", "."]);
        let secrets = crate::policy::commands::secret_words().unwrap();
        let index = dir.join(".git/index");
        assert_eq!(tracked_secret(&index, &secrets), Ok(None));
        std::fs::write(dir.join(".env"), "K=v").unwrap();
        git(dir, &["add", "-f", ".env"]);
        assert_eq!(tracked_secret(&index, &secrets), Ok(Some(".env".into())));
    }

    #[test]
    fn a_bare_repository_or_a_git_file_in_the_way_asks() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().canonicalize().unwrap();
        git(&project, &["init", "-q"]);
        let vendor = project.join("vendor/lib");
        std::fs::create_dir_all(&vendor).unwrap();
        git(&vendor, &["init", "-q", "--bare"]);
        let place = Place {
            project: Some(project.clone()),
            home: None,
        };
        let secrets = crate::policy::commands::secret_words().unwrap();
        assert_eq!(
            check(&[Some(project.join("src"))], &place, &secrets, Reads::Names),
            Read::Harmless
        );
        assert!(matches!(
            check(&[Some(vendor)], &place, &secrets, Reads::Names),
            Read::Refused(_)
        ));
        let other = project.join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join(".git"), "gitdir: /tmp/elsewhere\n").unwrap();
        assert!(matches!(
            check(&[Some(other)], &place, &secrets, Reads::Names),
            Read::Refused(_)
        ));
    }
}
