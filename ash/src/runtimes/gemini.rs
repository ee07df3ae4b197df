//! Gemini CLI's settings: `~/.gemini/settings.json` (user) and `.gemini/settings.json` in the
//! folder Gemini CLI starts in (project; read from that folder only). Hooks are off with
//! `hooksConfig.enabled = false`, a hook is off when `hooksConfig.disabled` names it, and in a
//! folder it does not trust Gemini CLI runs no hook at all (`gemini -p` exits 55). Trust is
//! kept in `~/.gemini/trustedFolders.json`; timeouts are in milliseconds.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// `~/.gemini` (`$GEMINI_CLI_HOME/.gemini` when that is set, as Gemini CLI has it).
pub fn dir() -> Option<PathBuf> {
    let home = std::env::var_os("GEMINI_CLI_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(super::home);
    home.map(|h| h.join(".gemini"))
}

/// The system settings file, which overrides user and project settings.
pub fn system_settings() -> PathBuf {
    std::env::var_os("GEMINI_CLI_SYSTEM_SETTINGS_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/gemini-cli/settings.json"))
}

/// The user's settings file.
pub fn user_settings() -> Option<PathBuf> {
    dir().map(|d| d.join("settings.json"))
}

/// The project settings of a run started in `cwd`.
pub fn project_settings(cwd: &Path) -> PathBuf {
    cwd.join(".gemini/settings.json")
}

/// The trusted-folders file (`$GEMINI_CLI_TRUSTED_FOLDERS_PATH` overrides it).
pub fn trusted_folders() -> Option<PathBuf> {
    match std::env::var_os("GEMINI_CLI_TRUSTED_FOLDERS_PATH").filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => dir().map(|d| d.join("trustedFolders.json")),
    }
}

/// `hooksConfig.enabled` across the settings files, lowest first (user, project, system):
/// the last one that sets it wins; true when none does.
pub fn hooks_enabled(layers: &[&Value]) -> bool {
    layers
        .iter()
        .rev()
        .find_map(|d| d["hooksConfig"]["enabled"].as_bool())
        .unwrap_or(true)
}

/// Whether `hooksConfig.disabled` in any layer names a hook: by its `name` when it has one,
/// else by its exact command (Gemini CLI merges the lists).
pub fn hook_disabled(layers: &[&Value], name: Option<&str>, command: &str) -> bool {
    let key = name.unwrap_or(command);
    layers.iter().any(|doc| {
        doc["hooksConfig"]["disabled"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d.as_str() == Some(key))
    })
}

/// Whether folder trust is on: `security.folderTrust.enabled` in the user or system settings
/// (project settings cannot turn it off), true when neither sets it.
pub fn folder_trust_on(user_and_system: &[&Value]) -> bool {
    user_and_system
        .iter()
        .rev()
        .find_map(|d| d["security"]["folderTrust"]["enabled"].as_bool())
        .unwrap_or(true)
}

/// Whether the environment decides trust: `GEMINI_RESTRICTED_MODE=true` or
/// `GEMINI_CLI_TRUST_WORKSPACE=false` distrust, `GEMINI_CLI_TRUST_WORKSPACE=true` trusts.
pub fn trust_from_env() -> Option<bool> {
    let var = |name: &str| std::env::var(name).ok();
    if var("GEMINI_RESTRICTED_MODE").as_deref() == Some("true")
        || var("GEMINI_CLI_TRUST_WORKSPACE").as_deref() == Some("false")
    {
        return Some(false);
    }
    (var("GEMINI_CLI_TRUST_WORKSPACE").as_deref() == Some("true")).then_some(true)
}

/// Whether `folder` is trusted by `trusted` (the trusted-folders file's JSON), as Gemini CLI
/// 0.61.0 decides it: each rule covers its folder and everything below it (`TRUST_PARENT`:
/// the folder above the one it names), whole path parts only; of the rules that cover
/// `folder`, the one with the longest key wins; none means untrusted.
pub fn is_trusted(trusted: &Value, folder: &Path) -> bool {
    let Some(rules) = trusted.as_object() else {
        return false;
    };
    let mut best: Option<(usize, bool)> = None;
    for (key, level) in rules {
        let path = Path::new(key.trim_end_matches('/'));
        let covered = match level.as_str() {
            Some("TRUST_PARENT") => path.parent().unwrap_or(path),
            Some("TRUST_FOLDER") | Some("DO_NOT_TRUST") => path,
            _ => continue,
        };
        if folder.starts_with(covered) && best.is_none_or(|(len, _)| key.len() > len) {
            best = Some((key.len(), level != "DO_NOT_TRUST"));
        }
    }
    best.is_some_and(|(_, trusted)| trusted)
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

    // The cases Gemini CLI 0.61.0 was run on.
    #[test]
    fn trust_is_decided_as_gemini_cli_decides_it() {
        let parent = json!({"/tmp/gq/proj/sub": "TRUST_PARENT"});
        for folder in ["/tmp/gq/proj", "/tmp/gq/proj/other", "/tmp/gq/proj/sub"] {
            assert!(is_trusted(&parent, Path::new(folder)), "{folder}");
        }
        let nested = json!({"/tmp/gq": "TRUST_FOLDER", "/tmp/gq/proj": "DO_NOT_TRUST"});
        assert!(!is_trusted(&nested, Path::new("/tmp/gq/proj/sub")));
        assert!(is_trusted(&nested, Path::new("/tmp/gq/other")));
        let longest = json!({"/tmp/gq/proj": "DO_NOT_TRUST", "/tmp/gq/proj/sub": "TRUST_PARENT"});
        assert!(is_trusted(&longest, Path::new("/tmp/gq/proj")));
        let parts = json!({"/tmp/gq/pro": "TRUST_FOLDER"});
        assert!(!is_trusted(&parts, Path::new("/tmp/gq/proj")));
        assert!(!is_trusted(&json!({}), Path::new("/home/u")));
    }

    #[test]
    fn a_named_hook_is_disabled_by_its_name_only() {
        let user = json!({"hooksConfig": {"disabled": ["ash hook gemini"]}});
        assert!(!hook_disabled(&[&user], Some("agentd"), "ash hook gemini"));
        assert!(hook_disabled(&[&user], None, "ash hook gemini"));
        let project = json!({"hooksConfig": {"disabled": ["agentd"], "enabled": true}});
        assert!(hook_disabled(
            &[&user, &project],
            Some("agentd"),
            "ash hook gemini"
        ));
        let off = json!({"hooksConfig": {"enabled": false}});
        assert!(!hooks_enabled(&[&project, &off]));
        assert!(hooks_enabled(&[&off, &project]));
    }
}
