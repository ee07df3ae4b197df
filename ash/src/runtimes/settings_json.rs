//! JSON settings files as Claude Code and Gemini CLI keep them: `hooks.EVENT` is a list of
//! groups `{matcher, hooks: [{type, command, timeout, name?}]}`. Gemini CLI also accepts
//! comments in them, so reading strips `//` and `/* */` comments outside strings.

use serde_json::{json, Map, Value};

/// One hook handler found: its event, command and timeout as written (seconds for Claude
/// Code, milliseconds for Gemini CLI), and its name (Gemini CLI's `name`).
#[derive(Debug, Clone)]
pub struct Entry {
    pub event: String,
    pub command: String,
    pub timeout: Option<u64>,
    pub name: Option<String>,
}

/// Parses a settings file's text, comments allowed; an empty file is an empty object.
pub fn parse(text: &str) -> Result<Value, String> {
    let stripped = strip_comments(text);
    if stripped.trim().is_empty() {
        return Ok(json!({}));
    }
    let doc: Value = serde_json::from_str(&stripped).map_err(|e| e.to_string())?;
    match doc {
        Value::Object(_) => Ok(doc),
        _ => Err("the settings are not a JSON object".to_string()),
    }
}

/// `text` without `//` line comments and `/* */` block comments (outside strings); what is
/// removed becomes spaces, so line and column numbers in errors stay true.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                chars.next();
                out.push_str("  ");
                let mut star = false;
                for c in chars.by_ref() {
                    out.push(if c == '\n' { '\n' } else { ' ' });
                    if star && c == '/' {
                        break;
                    }
                    star = c == '*';
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every handler under `hooks` that has a command.
pub fn entries(doc: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return out;
    };
    for (event, groups) in hooks {
        for group in groups.as_array().into_iter().flatten() {
            for hook in group["hooks"].as_array().into_iter().flatten() {
                let Some(command) = hook["command"].as_str() else {
                    continue;
                };
                out.push(Entry {
                    event: event.clone(),
                    command: command.to_string(),
                    timeout: hook["timeout"].as_u64(),
                    name: hook["name"].as_str().map(str::to_string),
                });
            }
        }
    }
    out
}

/// Puts `handler` (which has a `command`) on `event`: a handler with the same command keeps its
/// place and takes `handler`'s fields; else a group `{"matcher": "*"}` holding it is added.
pub fn put_hook(doc: &mut Value, event: &str, handler: Value) -> Result<(), String> {
    let command = handler["command"].clone();
    let hooks = object(doc, "hooks")?;
    let groups = hooks.entry(event).or_insert_with(|| json!([]));
    let groups = groups
        .as_array_mut()
        .ok_or_else(|| format!("hooks.{event} is not a list"))?;
    for group in groups.iter_mut() {
        for existing in group["hooks"].as_array_mut().into_iter().flatten() {
            if existing["command"] == command {
                if let (Some(existing), Some(new)) = (existing.as_object_mut(), handler.as_object())
                {
                    for (k, v) in new {
                        existing.insert(k.clone(), v.clone());
                    }
                }
                return Ok(());
            }
        }
    }
    groups.push(json!({"matcher": "*", "hooks": [handler]}));
    Ok(())
}

/// Removes every handler whose command starts with `command`, then groups left empty, then
/// an emptied `hooks`.
pub fn remove_hooks(doc: &mut Value, command: &str) {
    let Some(hooks) = doc.get_mut("hooks").and_then(Value::as_object_mut) else {
        return;
    };
    for groups in hooks.values_mut() {
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        for group in groups.iter_mut() {
            if let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                handlers.retain(|h| {
                    !h["command"]
                        .as_str()
                        .is_some_and(|c| c.starts_with(command))
                });
            }
        }
        groups.retain(|g| g["hooks"].as_array().is_some_and(|h| !h.is_empty()));
    }
    hooks.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
    if hooks.is_empty() {
        if let Some(doc) = doc.as_object_mut() {
            doc.remove("hooks");
        }
    }
}

/// The object `key` of `doc`, made if missing.
pub fn object<'a>(doc: &'a mut Value, key: &str) -> Result<&'a mut Map<String, Value>, String> {
    let parent = doc
        .as_object_mut()
        .ok_or_else(|| "the settings are not a JSON object".to_string())?;
    parent
        .entry(key)
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| format!("`{key}` is not a JSON object"))
}

/// The settings as written back: pretty JSON and a final newline.
pub fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn comments_go_and_strings_stay() {
        let doc =
            parse("{\n // a comment\n \"a\": \"x // y /* z */\", /* more */ \"b\": 1\n}").unwrap();
        assert_eq!(doc, json!({"a": "x // y /* z */", "b": 1}));
    }

    #[test]
    fn a_hook_is_put_once_and_removed() {
        let mut doc = json!({"model": "m"});
        let handler = json!({"type": "command", "command": "ash hook gemini", "timeout": 600000});
        put_hook(&mut doc, "BeforeTool", handler.clone()).unwrap();
        let once = doc.clone();
        put_hook(&mut doc, "BeforeTool", handler).unwrap();
        assert_eq!(doc, once);
        assert_eq!(entries(&doc).len(), 1);
        remove_hooks(&mut doc, "ash hook gemini");
        assert_eq!(doc, json!({"model": "m"}));
    }
}
