//! Every config snippet in the docs parses: each ```toml block as an agentd config, each
//! ```toml codex block as a Codex config whose hooks run `ash hook ...`, and each ```json
//! block as JSON (the runtimes' hook settings: every hook command runs `ash hook ...`). A
//! person copying one gets a working file, not an error.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use agentd::Settings;

/// The fenced blocks of a Markdown file whose info string is `info`, with the line each
/// starts on.
fn blocks(text: &str, info: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim_start().strip_prefix("```") == Some(info) => {
                current = Some((n + 1, String::new()));
            }
            Some(_) if line.trim_start().starts_with("```") => {
                blocks.extend(current.take());
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Every Markdown file of docs/, with its text.
fn docs() -> Vec<(std::path::PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

#[test]
fn every_toml_snippet_in_the_docs_parses() {
    let mut checked = 0;
    for (path, text) in docs() {
        for (line, block) in blocks(&text, "toml") {
            let origin = format!("{}:{line}", path.display());
            if let Err(e) = Settings::parse(&block, Path::new(&origin)) {
                panic!("the snippet at {origin} does not parse: {e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} snippets found");
}

/// Every `command` of a runtime's hook settings, wherever it sits.
fn hook_commands(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("command", serde_json::Value::String(c)) => out.push(c.clone()),
                    _ => hook_commands(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| hook_commands(i, out)),
        _ => {}
    }
}

#[test]
fn every_hook_settings_snippet_parses_and_runs_ash() {
    let mut checked = 0;
    for (path, text) in docs() {
        let mut found = Vec::new();
        for (line, block) in blocks(&text, "json") {
            let origin = format!("{}:{line}", path.display());
            let v: serde_json::Value = serde_json::from_str(&block)
                .unwrap_or_else(|e| panic!("the JSON at {origin} does not parse: {e}"));
            found.push((origin, serde_json::to_value(v).unwrap()));
        }
        for (line, block) in blocks(&text, "toml codex") {
            let origin = format!("{}:{line}", path.display());
            let v: toml::Value = toml::from_str(&block)
                .unwrap_or_else(|e| panic!("the Codex TOML at {origin} does not parse: {e}"));
            let events = v["hooks"]
                .as_table()
                .unwrap_or_else(|| panic!("{origin}: no hooks"));
            for (event, groups) in events {
                let hook = &groups[0]["hooks"][0];
                assert_eq!(hook["type"].as_str(), Some("command"), "{origin}: {event}");
            }
            found.push((origin, serde_json::to_value(v).unwrap()));
        }
        for (origin, v) in found {
            if v.get("hooks").is_none() {
                continue;
            }
            let mut commands = Vec::new();
            hook_commands(&v["hooks"], &mut commands);
            assert!(!commands.is_empty(), "{origin}: no hook command");
            for c in commands {
                assert!(c.starts_with("ash hook "), "{origin}: {c}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} hook settings found");
}

#[test]
fn the_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/agentd.toml");
    Settings::load(&path).unwrap();
}
