//! Where a read is harmless: inside the project folder (minus the files that hold secrets) and
//! in the read-only system folders. A path is judged as the call will resolve it: `~` is the
//! agent's home folder, a relative path is taken from every folder the line may be in, `.`
//! and `..` are applied, and symbolic links are followed on this machine as far as the path
//! exists; it must be harmless both as written and once resolved.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::policy::paths;

/// Where a call runs: the project (the agent's working folder when the session began) and
/// the agent's home folder.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub project: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Place {
    /// The place of an agent working in `cwd` (absolute) as `uid`.
    pub fn of(cwd: Option<&str>, uid: Option<u32>) -> Place {
        let home = uid.and_then(|uid| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.dir)
        });
        Place {
            project: cwd.and_then(|c| paths::walk(Path::new(c))),
            home,
        }
    }

    /// `word` as the shell makes it a path: `~` and `~/...` under the home folder, relative
    /// paths under `dir`.
    pub fn absolute(&self, word: &str, dir: Option<&Path>) -> Option<PathBuf> {
        paths::walk(&self.joined(word, dir)?)
    }

    /// `word` joined to its folder (or the home folder), not yet walked.
    pub fn joined(&self, word: &str, dir: Option<&Path>) -> Option<PathBuf> {
        Some(if word == "~" {
            self.home.clone()?
        } else if let Some(rest) = word.strip_prefix("~/") {
            self.home.as_ref()?.join(rest)
        } else if word.starts_with('~') {
            return None;
        } else if word.starts_with('/') {
            PathBuf::from(word)
        } else {
            dir?.join(word)
        })
    }
}

/// System folders whose files anyone may read and no secret is kept in.
const SYSTEM: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/opt",
    "/etc",
    "/dev/null",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/version",
    "/proc/loadavg",
    "/proc/uptime",
];

/// Places under those that hold secrets.
const SYSTEM_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/security",
    "/etc/krb5.keytab",
    "/etc/NetworkManager/system-connections",
    "/etc/wpa_supplicant",
    "/etc/credstore",
    "/etc/credstore.encrypted",
];

/// What reading a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// In the project folder or a read-only system folder, and no secret.
    Harmless,
    /// Somewhere else, but not a secret: a person may grant reads under a folder holding them.
    Outside(Vec<PathBuf>),
    /// A secret, a place that is never read without asking, or a path that cannot be judged.
    Refused(String),
}

impl Read {
    /// Both: the stricter, with the places outside added up.
    pub fn and(self, other: Read) -> Read {
        match (self, other) {
            (Read::Refused(why), _) | (_, Read::Refused(why)) => Read::Refused(why),
            (Read::Outside(mut a), Read::Outside(b)) => {
                for p in b {
                    if !a.contains(&p) {
                        a.push(p);
                    }
                }
                Read::Outside(a)
            }
            (Read::Outside(a), Read::Harmless) | (Read::Harmless, Read::Outside(a)) => {
                Read::Outside(a)
            }
            (Read::Harmless, Read::Harmless) => Read::Harmless,
        }
    }

    /// For people: why it is not harmless.
    pub fn why(&self) -> Option<String> {
        match self {
            Read::Harmless => None,
            Read::Outside(paths) => Some(format!(
                "{} is outside the project folder and the system's read-only folders",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Read::Refused(why) => Some(why.clone()),
        }
    }
}

/// Why reading `word` from any of `dirs` may not be harmless; `None` when it is.
pub fn unreadable(
    word: &str,
    dirs: &[Option<PathBuf>],
    place: &Place,
    secrets: &Regex,
) -> Option<String> {
    judge(word, dirs, place, secrets, How::CONTENTS).why()
}

/// How a program reads a path it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct How {
    /// It shows names and sizes (`ls`, `find`, `du`), never what a file holds, so a secret's
    /// name is no secret.
    pub names_only: bool,
    /// Only the project counts as harmless (git's pathspecs: a path outside the repository
    /// turns `git diff` into a comparison of any two folders).
    pub project_only: bool,
    /// A folder may not be given (`diff` compares every file of two folders).
    pub file_only: bool,
}

impl How {
    pub const CONTENTS: How = How {
        names_only: false,
        project_only: false,
        file_only: false,
    };
}

/// What reading `word` from any of `dirs` is, read `how`.
pub fn judge(
    word: &str,
    dirs: &[Option<PathBuf>],
    place: &Place,
    secrets: &Regex,
    how: How,
) -> Read {
    if dirs.is_empty() {
        return Read::Refused(format!("{word}: the folder it is read from is not known"));
    }
    let mut verdict = Read::Harmless;
    for dir in dirs {
        let Some(path) = place.absolute(word, dir.as_deref()) else {
            return Read::Refused(format!("{word}: not a path under a known folder"));
        };
        verdict = verdict.and(place_of(&path, place, secrets, how));
        // The folder part of a pattern (`src/*.rs`) is what exists; what the pattern may match
        // is checked against secret names.
        let existing: PathBuf = path
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains('*'))
            .collect();
        // A pattern for hidden names (`.*`, `.s*/id*`) is where secrets live: it asks where
        // contents are read, whatever it matches now.
        if !how.names_only
            && word
                .split('/')
                .any(|part| part.starts_with('.') && part.contains('*'))
        {
            return Read::Refused(format!("{word} can match hidden files, where secrets live"));
        }
        if word.contains('*') {
            // What the pattern matches now, each judged where it leads (a match may be a link,
            // and `..` after one climbs from its target).
            let joined = place.joined(word, dir.as_deref()).unwrap_or(path.clone());
            match expand(&joined) {
                Some(matches) => {
                    for found in matches {
                        let real = paths::resolve(&found).unwrap_or(found.clone());
                        if how.file_only && real.is_dir() {
                            return Read::Refused(format!(
                                "{word} matches the folder {}: every file in it would be read",
                                found.display()
                            ));
                        }
                        for p in [&found, &real] {
                            if let Read::Refused(why) = place_of(p, place, secrets, how) {
                                return Read::Refused(format!(
                                    "{word} matches {}: {why}",
                                    found.display()
                                ));
                            }
                        }
                        verdict = verdict.and(place_of(&real, place, secrets, how));
                    }
                }
                None => {
                    return Read::Refused(format!("{word} matches too many files to check"));
                }
            }
            // What it matches now is what bash will pass: nothing to match, nothing read.
        }
        match paths::resolve(&existing) {
            Some(real) if real != existing => {
                let through = place_of(&real, place, secrets, how);
                if let Read::Refused(why) = through {
                    return Read::Refused(format!("{word} leads to {}: {why}", real.display()));
                }
                verdict = verdict.and(through);
            }
            Some(_) => {}
            None => return Read::Refused(format!("{word}: its links cannot be followed")),
        }
    }
    verdict
}

/// The most names a pattern may match and still be checked one by one.
const EXPAND_LIMIT: usize = 10_000;

/// The files a pattern with `*` matches now, as bash expands it (hidden names only where the
/// pattern's part starts with `.`), each walked as the kernel walks it (`..` after a link
/// climbs from its target); `None` past the limit.
fn expand(pattern: &Path) -> Option<Vec<PathBuf>> {
    use std::path::Component;
    let mut found = vec![PathBuf::from("/")];
    let mut looked_at = 0;
    for component in pattern.components().skip(1) {
        if component == Component::CurDir {
            continue;
        }
        if component == Component::ParentDir {
            for base in &mut found {
                if let Ok(real) = std::fs::canonicalize(&*base) {
                    *base = real;
                }
                base.pop();
            }
            continue;
        }
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &found {
            if !part.contains('*') {
                next.push(base.join(part.as_ref()));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(base) else {
                continue;
            };
            for entry in entries.flatten() {
                looked_at += 1;
                if looked_at > super::search::SEARCH_LIMIT {
                    return None;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if glob_matches(&part, &name) {
                    next.push(base.join(&name));
                }
            }
            if next.len() > EXPAND_LIMIT {
                return None;
            }
        }
        found = next;
    }
    Some(found)
}

/// Places no read is granted in, however narrow: what the kernel shows of processes and
/// devices, and what runs.
const NEVER_GRANTED: &[&str] = &["/proc", "/sys", "/dev", "/run", "/var/run", "/boot"];

/// What reading `path` (absolute, normalised) is.
fn place_of(path: &Path, place: &Place, secrets: &Regex, how: How) -> Read {
    let text = path.to_string_lossy();
    if secrets.is_match(&text) && !how.names_only {
        return Read::Refused(format!("{text} holds secrets"));
    }
    let in_project = place
        .project
        .as_ref()
        .is_some_and(|p| !paths::too_wide(p) && path.starts_with(p));
    let in_system = !how.project_only
        && SYSTEM.iter().any(|s| path.starts_with(s))
        && !SYSTEM_SECRETS.iter().any(|s| path.starts_with(s));
    if in_project || in_system {
        Read::Harmless
    } else if SYSTEM_SECRETS
        .iter()
        .chain(NEVER_GRANTED)
        .any(|s| path.starts_with(s))
    {
        Read::Refused(format!("{text} is never read without a person"))
    } else {
        Read::Outside(vec![path.to_path_buf()])
    }
}

/// Names of files that hold secrets, for patterns: a pattern that matches one of them may
/// read it.
const SECRET_NAMES: &[&str] = &[
    "credentials",
    "credentials.json",
    "credentials.toml",
    "id_rsa",
    "id_ecdsa",
    "id_ed25519",
    "id_dsa",
    "server.pem",
    "server.key",
    "cert.p12",
    "cert.pfx",
    "environ",
    "shadow",
    "gshadow",
    "sudoers",
    "auth.json",
    "hosts.yml",
    "keystore.jks",
    ".env",
    ".env.local",
    ".env.production",
    ".env.development",
    ".dev.vars",
    ".envrc",
    ".netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".credentials.json",
    ".bash_history",
    ".zsh_history",
    ".ssh",
    ".aws",
    ".gnupg",
    ".kube",
    ".docker",
    ".azure",
    ".password-store",
];

/// Whether a pattern with `*` (the only wildcard plain lines carry) matches a secret's name.
pub fn may_match_secret(pattern: &str) -> bool {
    SECRET_NAMES.iter().any(|name| glob_matches(pattern, name))
}

fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        Place {
            project: Some(PathBuf::from("/nonexistent-project/app")),
            home: Some(PathBuf::from("/nonexistent-home/dev")),
        }
    }

    fn check(word: &str) -> Option<String> {
        let secrets = crate::policy::commands::secret_words().unwrap();
        let p = place();
        unreadable(word, std::slice::from_ref(&p.project), &p, &secrets)
    }

    #[test]
    fn reads_in_the_project_and_the_system_are_harmless() {
        assert_eq!(check("src/main.rs"), None);
        assert_eq!(check("/nonexistent-project/app/README.md"), None);
        assert_eq!(check("/usr/share/doc/x"), None);
        assert_eq!(check("/etc/os-release"), None);
        assert_eq!(check("src/*.rs"), None);
    }

    #[test]
    fn reads_elsewhere_or_of_secrets_are_not() {
        for word in [
            "~/.bashrc",
            "~",
            "~/.",
            "..",
            "../other/x",
            "/nonexistent-home/dev/.git-credentials",
            "/etc/shadow",
            "/etc/ssh/ssh_host_ed25519_key",
            "/proc/self/environ",
            "/tmp/x",
            ".env",
            "config/credentials.json",
            "~dev",
        ] {
            assert!(check(word).is_some(), "{word} passed");
        }
    }

    #[test]
    fn a_pattern_is_judged_by_what_it_matches_now() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().canonicalize().unwrap().join("app");
        std::fs::create_dir_all(project.join("keys")).unwrap();
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("keys/server.pem"), "x").unwrap();
        std::fs::write(project.join("src/a.rs"), "x").unwrap();
        let place = Place {
            project: Some(project.clone()),
            home: None,
        };
        let secrets = crate::policy::commands::secret_words().unwrap();
        let judge = |w: &str| unreadable(w, std::slice::from_ref(&place.project), &place, &secrets);
        assert!(judge("keys/*").is_some());
        assert!(judge("keys/*.pem").is_some());
        assert!(judge("src/*").is_none());
        assert!(judge("nothing/*.pem").is_none(), "no match, nothing read");
    }
}
