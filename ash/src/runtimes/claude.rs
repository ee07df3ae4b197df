//! Claude Code's settings: `~/.claude/settings.json` (user), `.claude/settings.json` and
//! `.claude/settings.local.json` (project). `disableAllHooks` in any of them turns every hook off.

use std::path::{Path, PathBuf};

/// The user's settings file.
pub fn user_settings() -> Option<PathBuf> {
    super::home().map(|h| h.join(".claude/settings.json"))
}

/// The project settings files of `dir`.
pub fn project_settings(dir: &Path) -> [PathBuf; 2] {
    [
        dir.join(".claude/settings.json"),
        dir.join(".claude/settings.local.json"),
    ]
}

/// The folder whose `.claude/` holds the project settings for a run started in `cwd`: `cwd`
/// itself. Claude Code 2.1.328 reads no project settings of a folder above the one it starts
/// in, git repository or not (checked by running it from a subfolder).
pub fn project_dir(cwd: &Path) -> PathBuf {
    cwd.to_path_buf()
}

/// The `--deadline` written in a hook command (550 s when none is).
pub fn deadline_of(command: &str) -> u64 {
    let words: Vec<&str> = command.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        if let Some(value) = word.strip_prefix("--deadline=") {
            return value.parse().unwrap_or(550);
        }
        if *word == "--deadline" {
            return words.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(550);
        }
    }
    550
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_read_from_the_command() {
        assert_eq!(deadline_of("ash hook claude-code"), 550);
        assert_eq!(deadline_of("ash hook claude-code --deadline 700"), 700);
        assert_eq!(
            deadline_of("ash hook codex --deadline=90 --on-error ask"),
            90
        );
    }
}
