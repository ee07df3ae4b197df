//! Codex's hooks: `$CODEX_HOME/config.toml` (else `~/.codex/config.toml`), and how Codex
//! records that a person trusted a hook. `codex exec` silently skips a hook that is not trusted
//! (new, or edited since it was trusted), so a hook counts as set up only when trusted.
//!
//! Trust, as Codex 0.169.0 keeps it (`codex-rs/hooks/src/lib.rs` `hook_key`,
//! `codex-rs/hooks/src/engine/discovery.rs` `hook_hash`; checked against the `currentHash` that
//! `codex app-server`'s `hooks/list` reports): `[hooks.state."KEY"] trusted_hash = "sha256:HEX"`
//! in the user's config.toml only, where KEY is `<config file, links resolved>:<event in
//! snake_case>:<group index>:<handler index>` and HEX is the SHA-256 of the handler's identity
//! as compact JSON with sorted keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `$CODEX_HOME`, else `~/.codex`.
pub fn home() -> Option<PathBuf> {
    match std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => super::home().map(|h| h.join(".codex")),
    }
}

/// The user's config file, where hooks and their trust live.
pub fn user_config() -> Option<PathBuf> {
    home().map(|h| h.join("config.toml"))
}

/// The key `[hooks.state]` uses for handler `handler` of group `group` of `event` in `file`.
pub fn hook_key(file: &Path, event: &str, group: usize, handler: usize) -> String {
    format!(
        "{}:{}:{group}:{handler}",
        resolved(file).display(),
        snake(event)
    )
}

/// `file` with links resolved, as Codex names it; for a file not written yet, its folder's.
fn resolved(file: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(file) {
        return path;
    }
    match (file.parent().map(std::fs::canonicalize), file.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => file.to_path_buf(),
    }
}

/// `PreToolUse` → `pre_tool_use`.
pub fn snake(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Events whose matcher Codex drops, and those whose `additionalContextLimit` counts.
const NO_MATCHER: &[&str] = &[
    "UserPromptSubmit",
    "Stop",
    "Interrupt",
    "SubagentStart",
    "SubagentStop",
];
const CONTEXT_LIMIT: &[&str] = &[
    "PreToolUse",
    "PostToolUse",
    "SessionStart",
    "UserPromptSubmit",
    "SubagentStart",
];

/// The hash Codex records when a person trusts `handler` (a `[[hooks.EVENT.hooks]]` table, as
/// JSON) of a group with `matcher`.
pub fn hook_hash(event: &str, matcher: Option<&str>, handler: &Value) -> String {
    let short = matches!(event, "SessionEnd" | "Interrupt");
    let timeout = handler["timeout"]
        .as_u64()
        .unwrap_or(if short { 1 } else { 600 });
    let timeout = match short {
        true => timeout.clamp(1, 3),
        false => timeout.max(1),
    };
    let mut h = BTreeMap::new();
    h.insert("type", json!("command"));
    h.insert("command", handler["command"].clone());
    h.insert("timeout", json!(timeout));
    h.insert("async", json!(handler["async"].as_bool().unwrap_or(false)));
    if let Some(message) = handler.get("statusMessage").filter(|m| !m.is_null()) {
        h.insert("statusMessage", message.clone());
    }
    if let Some(limit) = handler["additionalContextLimit"].as_u64() {
        if CONTEXT_LIMIT.contains(&event) && limit != 2500 {
            h.insert("additionalContextLimit", json!(limit));
        }
    }
    let mut identity = BTreeMap::new();
    identity.insert("event_name", json!(snake(event)));
    identity.insert("hooks", json!([h]));
    if let Some(matcher) = matcher.filter(|_| !NO_MATCHER.contains(&event)) {
        identity.insert("matcher", json!(matcher));
    }
    // BTreeMaps serialise with their keys sorted, as Codex's canonical JSON has them.
    let bytes = serde_json::to_vec(&identity).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One hook handler found in a Codex config file.
#[derive(Debug, Clone)]
pub struct Handler {
    pub event: String,
    pub group: usize,
    pub index: usize,
    pub matcher: Option<String>,
    pub command: String,
    pub timeout_secs: Option<u64>,
    /// The key and hash trust is recorded under.
    pub key: String,
    pub hash: String,
}

/// What a config file says about hooks.
#[derive(Debug, Default)]
pub struct Hooks {
    pub handlers: Vec<Handler>,
    /// `[features] hooks = false` (or the older `codex_hooks = false`): no hook runs.
    pub disabled: bool,
    /// `[hooks.state."KEY"]`: the trusted hash and whether the hook was switched off.
    pub state: BTreeMap<String, (Option<String>, bool)>,
}

impl Hooks {
    /// Whether `h` is trusted as it is now.
    pub fn trusted(&self, h: &Handler) -> bool {
        self.state.get(&h.key).and_then(|(hash, _)| hash.as_deref()) == Some(h.hash.as_str())
    }

    /// Whether `[hooks.state]` switched `h` off (`enabled = false`).
    pub fn switched_off(&self, h: &Handler) -> bool {
        self.state.get(&h.key).is_some_and(|(_, off)| *off)
    }
}

/// Reads the hooks of the Codex config `file` (`text` is its contents).
pub fn read(file: &Path, text: &str) -> Result<Hooks, String> {
    let doc: toml::Value = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let doc = serde_json::to_value(doc).map_err(|e| e.to_string())?;
    let mut hooks = Hooks {
        disabled: doc["features"]["hooks"] == json!(false)
            || doc["features"]["codex_hooks"] == json!(false),
        ..Hooks::default()
    };
    if let Some(state) = doc["hooks"]["state"].as_object() {
        for (key, entry) in state {
            let hash = entry["trusted_hash"].as_str().map(str::to_string);
            let off = entry["enabled"] == json!(false);
            hooks.state.insert(key.clone(), (hash, off));
        }
    }
    let Some(events) = doc["hooks"].as_object() else {
        return Ok(hooks);
    };
    for (event, groups) in events.iter().filter(|(e, _)| *e != "state") {
        for (g, group) in groups.as_array().into_iter().flatten().enumerate() {
            let matcher = group["matcher"].as_str().map(str::to_string);
            for (i, handler) in group["hooks"].as_array().into_iter().flatten().enumerate() {
                let Some(command) = handler["command"].as_str() else {
                    continue;
                };
                hooks.handlers.push(Handler {
                    event: event.clone(),
                    group: g,
                    index: i,
                    matcher: matcher.clone(),
                    command: command.to_string(),
                    timeout_secs: handler["timeout"].as_u64(),
                    key: hook_key(file, event, g, i),
                    hash: hook_hash(event, matcher.as_deref(), handler),
                });
            }
        }
    }
    Ok(hooks)
}

/// `text` (a Codex config, possibly empty) with `command` as a handler of `event`: an
/// existing handler running `command` keeps its place and gets a 600 s timeout, else a group
/// `matcher = "*"` is added at the end (so no other hook's key moves). `file` is where the
/// text will be written. Returns the text and the `(key, hash)` Codex's trust needs.
pub fn with_hook(
    text: &str,
    file: &Path,
    event: &str,
    command: &str,
) -> Result<(String, (String, String)), String> {
    use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let hooks = table(doc.as_table_mut(), "hooks")?;
    if hooks.get(event).is_none() {
        hooks.insert(event, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let groups = hooks
        .get_mut(event)
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| format!("hooks.{event} is not a list of tables"))?;
    let found = groups.iter().enumerate().find_map(|(g, group)| {
        let handlers = group.get("hooks")?.as_array_of_tables()?;
        handlers
            .iter()
            .position(|h| h.get("command").and_then(Item::as_str) == Some(command))
            .map(|i| (g, i))
    });
    let (g, i) = match found {
        Some(place) => place,
        None => {
            let mut handler = Table::new();
            handler.insert("type", value("command"));
            handler.insert("command", value(command));
            let mut handlers = ArrayOfTables::new();
            handlers.push(handler);
            let mut group = Table::new();
            group.insert("matcher", value("*"));
            group.insert("hooks", Item::ArrayOfTables(handlers));
            groups.push(group);
            (groups.len() - 1, 0)
        }
    };
    let group = groups
        .get_mut(g)
        .ok_or_else(|| "the hook's group vanished".to_string())?;
    let matcher = group
        .get("matcher")
        .and_then(Item::as_str)
        .map(str::to_string);
    let handler = group
        .get_mut("hooks")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|h| h.get_mut(i))
        .ok_or_else(|| "the hook's handler vanished".to_string())?;
    handler.insert("timeout", value(600));
    let as_json = table_json(handler);
    let key = hook_key(file, event, g, i);
    let hash = hook_hash(event, matcher.as_deref(), &as_json);
    Ok((doc.to_string(), (key, hash)))
}

/// `text` (the user's Codex config) with `hash` recorded as trusted for `key`.
pub fn with_trust(text: &str, key: &str, hash: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let hooks = table(doc.as_table_mut(), "hooks")?;
    let state = table(hooks, "state")?;
    let entry = table(state, key)?;
    entry.set_implicit(false);
    entry.insert("trusted_hash", toml_edit::value(hash));
    Ok(doc.to_string())
}

/// `text` without any handler whose command starts with `command`, and without their trust;
/// the hooks after a removed one move up, and their trust moves with them.
pub fn without_hook(text: &str, file: &Path, command: &str) -> Result<String, String> {
    use toml_edit::{DocumentMut, Item};
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let before = read(file, text)?;
    let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_like_mut) else {
        return Ok(text.to_string());
    };
    let events: Vec<String> = hooks
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| k != "state")
        .collect();
    for event in &events {
        let Some(groups) = hooks.get_mut(event).and_then(Item::as_array_of_tables_mut) else {
            continue;
        };
        for group in groups.iter_mut() {
            if let Some(handlers) = group
                .get_mut("hooks")
                .and_then(Item::as_array_of_tables_mut)
            {
                handlers.retain(|h| {
                    !h.get("command")
                        .and_then(Item::as_str)
                        .is_some_and(|c| c.starts_with(command))
                });
            }
        }
        groups.retain(|g| {
            g.get("hooks")
                .and_then(Item::as_array_of_tables)
                .is_some_and(|h| !h.is_empty())
        });
        if groups.is_empty() {
            hooks.remove(event);
        }
    }
    // Trust follows each remaining hook to its new place; the removed ones' goes.
    let text = doc.to_string();
    let after = read(file, &text)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let kept: Vec<(String, Option<String>)> = after
        .handlers
        .iter()
        .map(|h| {
            let old = before
                .handlers
                .iter()
                .find(|b| b.event == h.event && b.hash == h.hash && before.trusted(b));
            (h.key.clone(), old.map(|b| b.hash.clone()))
        })
        .collect();
    if let Some(state) = doc
        .get_mut("hooks")
        .and_then(Item::as_table_like_mut)
        .and_then(|h| h.get_mut("state"))
        .and_then(Item::as_table_like_mut)
    {
        let ours: Vec<String> = before.handlers.iter().map(|h| h.key.clone()).collect();
        let stale: Vec<String> = state
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| ours.contains(k))
            .collect();
        for key in stale {
            state.remove(&key);
        }
        for (key, hash) in kept {
            if let Some(hash) = hash {
                let mut entry = toml_edit::Table::new();
                entry.insert("trusted_hash", toml_edit::value(hash));
                state.insert(&key, Item::Table(entry));
            }
        }
        if state.is_empty() {
            if let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_like_mut) {
                hooks.remove("state");
            }
        }
    }
    if doc
        .get("hooks")
        .and_then(Item::as_table_like)
        .is_some_and(|h| h.is_empty())
    {
        doc.remove("hooks");
    }
    Ok(doc.to_string())
}

/// The table `key` of `parent`, made (implicit, so it is written only through its children)
/// if missing.
fn table<'a>(
    parent: &'a mut toml_edit::Table,
    key: &str,
) -> Result<&'a mut toml_edit::Table, String> {
    if parent.get(key).is_none() {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        parent.insert(key, toml_edit::Item::Table(t));
    }
    parent
        .get_mut(key)
        .and_then(toml_edit::Item::as_table_mut)
        .ok_or_else(|| format!("`{key}` is not a table"))
}

/// A handler table as the JSON `hook_hash` takes.
fn table_json(t: &toml_edit::Table) -> Value {
    let text = t.to_string();
    toml::from_str::<toml::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_hash_is_the_one_codex_computes() {
        // `currentHash` as `codex app-server` (0.169.0) reports it for this hook.
        let handler = json!({"type": "command", "command": "ash hook codex", "timeout": 600});
        assert_eq!(
            hook_hash("PreToolUse", Some("*"), &handler),
            "sha256:ee8dcaaa62562c10201cda6d0f63ee0ccd4d573c8f134e4b6d180a8e048a1718"
        );
    }

    #[test]
    fn a_hook_written_is_trusted_and_writing_it_again_changes_nothing() {
        let file = Path::new("/nonexistent/codex/config.toml");
        let text = "model = \"gpt-5.5\" # mine\n";
        let (once, (key, hash)) = with_hook(text, file, "PreToolUse", "ash hook codex").unwrap();
        let once = with_trust(&once, &key, &hash).unwrap();
        assert!(once.starts_with("model = \"gpt-5.5\" # mine\n"), "{once}");
        let hooks = read(file, &once).unwrap();
        assert_eq!(hooks.handlers.len(), 1, "{once}");
        assert!(hooks.trusted(&hooks.handlers[0]), "{once}");
        let (again, (key, hash)) = with_hook(&once, file, "PreToolUse", "ash hook codex").unwrap();
        assert_eq!(with_trust(&again, &key, &hash).unwrap(), once);
        let removed = without_hook(&once, file, "ash hook codex").unwrap();
        assert_eq!(removed.trim(), text.trim(), "{removed}");
    }

    #[test]
    fn removing_a_hook_moves_the_trust_of_those_after_it() {
        let file = Path::new("/nonexistent/codex/config.toml");
        let mut text = String::new();
        for command in ["ash hook codex", "other-hook"] {
            let (t, (key, hash)) = with_hook(&text, file, "PreToolUse", command).unwrap();
            text = with_trust(&t, &key, &hash).unwrap();
        }
        let text = without_hook(&text, file, "ash hook codex").unwrap();
        let hooks = read(file, &text).unwrap();
        assert_eq!(hooks.handlers.len(), 1, "{text}");
        assert_eq!(hooks.handlers[0].group, 0, "{text}");
        assert!(hooks.trusted(&hooks.handlers[0]), "{text}");
    }

    #[test]
    fn keys_name_the_file_the_event_and_the_places() {
        assert_eq!(
            hook_key(
                Path::new("/nonexistent/x/config.toml"),
                "PermissionRequest",
                1,
                0
            ),
            "/nonexistent/x/config.toml:permission_request:1:0"
        );
    }
}
