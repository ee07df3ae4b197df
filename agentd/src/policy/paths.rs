//! File paths for folder grants: made absolute against the agent's working folder, normalised
//! without touching the disk, checked against the places that always ask, and resolved through
//! symbolic links so that a link inside a folder cannot carry a change outside it.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute against `cwd` and normalised (`.` dropped, `..` applied); `None` if it
/// is relative with no absolute working folder, or climbs above the root.
pub fn absolute(path: &str, cwd: Option<&str>) -> Option<PathBuf> {
    // `~` is the home folder to a shell, never a folder named `~` under the working one.
    if path.starts_with('~') {
        return None;
    }
    let path = Path::new(path);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = Path::new(cwd?);
        if !cwd.is_absolute() {
            return None;
        }
        cwd.join(path)
    };
    walk(&joined)
}

/// An absolute `path` as the kernel walks it: `..` goes up from where the path so far really
/// is, so after a link (`src/link/../..`) it climbs from the link's target, not from the link's
/// own folder, which a lexical reading would. `None` for a path that is not absolute.
pub fn walk(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                }
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Lexical normalisation of an absolute path.
pub fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Why changing `path` always asks, whatever was granted: it runs code later, configures the
/// agent or a tool that runs code, or holds secrets.
pub fn always_asks(path: &Path, secrets: &regex::Regex) -> Option<String> {
    const CONTROL_DIRS: [&str; 37] = [
        ".git",
        ".hg",
        ".svn",
        ".husky",
        ".claude",
        ".codex",
        ".gemini",
        ".cursor",
        ".vscode",
        ".idea",
        ".ssh",
        ".gnupg",
        ".config",
        ".cargo",
        ".github",
        ".gitlab",
        ".devcontainer",
        ".continue",
        ".windsurf",
        ".roo",
        ".cline",
        ".amazonq",
        ".aider",
        ".zed",
        ".local",
        ".bundle",
        ".yarn",
        ".gradle",
        ".m2",
        ".pip",
        ".docker",
        ".kube",
        ".aws",
        ".azure",
        ".circleci",
        ".buildkite",
        ".direnv",
    ];
    const CONTROL_FILES: [&str; 41] = [
        // Agent instruction files: what the agent is told to do next time.
        "claude.md",
        "claude.local.md",
        "agents.md",
        "gemini.md",
        ".cursorrules",
        ".windsurfrules",
        ".clinerules",
        ".aider.conf.yml",
        "copilot-instructions.md",
        // Files a tool reads as settings that run code.
        ".git-credentials",
        ".bash_aliases",
        ".pre-commit-config.yaml",
        ".yarnrc",
        ".yarnrc.yml",
        "rust-toolchain",
        "rust-toolchain.toml",
        ".vimrc",
        ".exrc",
        ".tmux.conf",
        ".gitlab-ci.yml",
        ".travis.yml",
        "jenkinsfile",
        "pip.conf",
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".bash_logout",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".zlogin",
        ".inputrc",
        ".envrc",
        ".gitconfig",
        ".gitmodules",
        ".mcp.json",
        ".npmrc",
        ".pypirc",
        ".netrc",
        "authorized_keys",
    ];
    // As written, and where its links lead: a link in the project to `.git/config` is
    // `.git/config`. Names are compared without case: on a case-insensitive disk `.GIT` is
    // `.git`.
    let resolved = resolve(path).filter(|r| r != path);
    for path in std::iter::once(path.to_path_buf()).chain(resolved) {
        let text = path.to_string_lossy();
        for part in path.components() {
            let Component::Normal(name) = part else {
                continue;
            };
            let name = name.to_string_lossy().to_lowercase();
            if CONTROL_DIRS.contains(&name.as_str()) || CONTROL_FILES.contains(&name.as_str()) {
                return Some(format!("{text} is in or is {name}, which always asks"));
            }
        }
        if secrets.is_match(&text) {
            return Some(format!("{text} holds secrets, which always asks"));
        }
    }
    None
}

/// A folder too wide to grant changes under: the root, a top-level folder, `/home`, a home
/// folder itself (where start-up files and keys live).
pub fn too_wide(dir: &Path) -> bool {
    let parts: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    match parts.as_slice() {
        [] | [_] => true,
        [home, _] => matches!(home.as_str(), "home" | "Users"),
        _ => false,
    }
}

/// Whether `path` (absolute, normalised) is under `dir` both as written and once every
/// symbolic link on the way is followed, as far as each exists. A path whose existing part
/// cannot be resolved (no permission, a dangling link) is not.
pub fn inside(path: &Path, dir: &Path) -> bool {
    if !path.starts_with(dir) || path == dir {
        return false;
    }
    match (resolve(path), resolve(dir)) {
        (Some(real), Some(real_dir)) => real.starts_with(&real_dir) && real != real_dir,
        _ => false,
    }
}

/// `path` with its longest existing part resolved through every link; the rest is plain
/// names (it was normalised), so it stays where that part is.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                rest.push(existing.file_name()?.to_os_string());
                if !existing.pop() {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    let mut real = std::fs::canonicalize(&existing).ok()?;
    real.extend(rest.iter().rev());
    Some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_absolute_and_normalised() {
        let cwd = Some("/home/dev/app");
        assert_eq!(
            absolute("src/../lib/x.rs", cwd),
            Some(PathBuf::from("/home/dev/app/lib/x.rs"))
        );
        assert_eq!(
            absolute("../.bashrc", cwd),
            Some(PathBuf::from("/home/dev/.bashrc"))
        );
        assert_eq!(absolute("x", None), None);
        assert_eq!(absolute("x", Some("relative")), None);
        // As the kernel reads it: above the root is the root.
        assert_eq!(absolute("/../../etc", None), Some(PathBuf::from("/etc")));
    }

    #[test]
    fn dot_dot_after_a_link_climbs_from_where_the_link_leads() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        let home = root.join("home/dev");
        let app = home.join("app");
        std::fs::create_dir_all(app.join("src")).unwrap();
        std::fs::create_dir_all(home.join(".config/x")).unwrap();
        std::os::unix::fs::symlink(home.join(".config/x"), app.join("src/cachelink")).unwrap();
        // Lexically this is app/.bashrc; the kernel climbs from home/.config/x: `..` is
        // home/.config, `../..` is home.
        let got = absolute("src/cachelink/../../.bashrc", app.to_str()).unwrap();
        assert_eq!(got, home.join(".bashrc"));
    }

    #[test]
    fn control_files_and_secrets_always_ask() {
        let secrets = crate::policy::commands::secret_words().unwrap();
        for p in [
            "/a/app/.git/hooks/pre-commit",
            "/a/app/.claude/settings.json",
            "/a/app/.envrc",
            "/a/app/.env",
            "/a/app/.vscode/tasks.json",
            "/home/dev/.ssh/authorized_keys",
            "/a/app/deploy.pem",
        ] {
            assert!(always_asks(Path::new(p), &secrets).is_some(), "{p}");
        }
        for p in [
            "/a/app/src/main.rs",
            "/a/app/github/README.md",
            "/a/app/git.rs",
            "/a/app/docs/claude.txt",
        ] {
            assert!(always_asks(Path::new(p), &secrets).is_none(), "{p}");
        }
        // Agent instruction files, a tool's settings that run code, CI that runs code, in any
        // case.
        for p in [
            "/a/app/CLAUDE.md",
            "/a/app/sub/AGENTS.md",
            "/a/app/GEMINI.md",
            "/a/app/.cargo/config.toml",
            "/a/app/.GIT/hooks/pre-commit",
            "/a/app/.Claude/settings.json",
            "/a/app/.github/workflows/ci.yml",
            "/a/app/rust-toolchain.toml",
            "/a/app/.yarnrc.yml",
            "/home/dev/.bash_aliases",
            "/home/dev/.git-credentials",
        ] {
            assert!(always_asks(Path::new(p), &secrets).is_some(), "{p}");
        }
    }

    #[test]
    fn wide_folders_are_never_offered() {
        for d in ["/", "/tmp", "/home", "/home/dev", "/Users/dev"] {
            assert!(too_wide(Path::new(d)), "{d}");
        }
        for d in ["/home/dev/app", "/srv/app", "/tmp/x"] {
            assert!(!too_wide(Path::new(d)), "{d}");
        }
    }

    #[test]
    fn a_link_out_of_the_folder_is_outside() {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("app");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(app.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, app.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), app.join("file-link")).unwrap();
        assert!(inside(&app.join("src/new.rs"), &app));
        assert!(inside(&app.join("new/deeper/x.rs"), &app));
        assert!(
            !inside(&app.join("link/x.rs"), &app),
            "through a folder link"
        );
        assert!(!inside(&app.join("file-link"), &app), "a dangling link out");
        assert!(!inside(&outside.join("x"), &app));
        assert!(!inside(&app, &app), "the folder itself");
        let gone = root.path().join("not-there/app");
        assert!(inside(&gone.join("src/x.rs"), &gone), "nothing exists yet");
    }
}
