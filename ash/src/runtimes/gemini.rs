//! Gemini CLI's settings: `~/.gemini/settings.json` (user) and `.gemini/settings.json` in the
//! folder Gemini CLI starts in (project; read from that folder only). Hooks are off with
//! `hooksConfig.enabled = false`, a hook is off when `hooksConfig.disabled` names it, and in a
//! folder it does not trust Gemini CLI runs no hook at all (`gemini -p` exits 55). Trust is
//! kept in `~/.gemini/trustedFolders.json`; timeouts are in milliseconds.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// `~/.gemini`.
pub fn dir() -> Option<PathBuf> {
    super::home().map(|h| h.join(".gemini"))
}

/// The user's settings file.
pub fn user_settings() -> Option<PathBuf> {
    dir().map(|d| d.join("settings.json"))
}

/// The project settings of a run started in `cwd`.
pub fn project_settings(cwd: &Path) -> PathBuf {
    cwd.join(".gemini/settings.json")
}

/// The trusted-folders file.
pub fn trusted_folders() -> Option<PathBuf> {
    dir().map(|d| d.join("trustedFolders.json"))
}

/// Whether hooks are switched off in `doc` (`hooksConfig.enabled = false`).
pub fn hooks_switched_off(doc: &Value) -> bool {
    doc["hooksConfig"]["enabled"] == json!(false)
}

/// Whether `hooksConfig.disabled` in `doc` names a hook called `name` or running `command`.
pub fn hook_disabled(doc: &Value, name: Option<&str>, command: &str) -> bool {
    doc["hooksConfig"]["disabled"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|d| Some(d) == name || d == command)
}

/// Whether folder trust is on in `doc` (it is unless `security.folderTrust.enabled` is false).
pub fn folder_trust_on(doc: &Value) -> bool {
    doc["security"]["folderTrust"]["enabled"] != json!(false)
}

/// Whether `folder` is trusted by `trusted` (the trusted-folders file's JSON): it or a folder
/// above it is marked `TRUST_FOLDER`, or its parent (or a folder above) is marked
/// `TRUST_PARENT`, and the nearest mark is not `DO_NOT_TRUST`.
pub fn is_trusted(trusted: &Value, folder: &Path) -> bool {
    let Some(marks) = trusted.as_object() else {
        return false;
    };
    for dir in folder.ancestors() {
        for (path, mark) in marks {
            let path = Path::new(path);
            let hit = match mark.as_str() {
                Some("TRUST_FOLDER") | Some("DO_NOT_TRUST") => path == dir,
                Some("TRUST_PARENT") => path.parent() == Some(dir),
                _ => false,
            };
            if hit {
                return mark != "DO_NOT_TRUST";
            }
        }
    }
    false
}

/// `trusted` with `folder` marked `TRUST_FOLDER`.
pub fn with_trusted(trusted: &Value, folder: &Path) -> Value {
    let mut out = match trusted {
        Value::Object(_) => trusted.clone(),
        _ => json!({}),
    };
    out[folder.to_string_lossy().as_ref()] = json!("TRUST_FOLDER");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_comes_from_the_nearest_mark() {
        let trusted = json!({"/home/u/work": "TRUST_FOLDER", "/home/u/work/secret": "DO_NOT_TRUST", "/srv/x/app": "TRUST_PARENT"});
        assert!(is_trusted(&trusted, Path::new("/home/u/work/app")));
        assert!(!is_trusted(&trusted, Path::new("/home/u/work/secret/a")));
        assert!(is_trusted(&trusted, Path::new("/srv/x/other")));
        assert!(!is_trusted(&trusted, Path::new("/home/u")));
    }
}
