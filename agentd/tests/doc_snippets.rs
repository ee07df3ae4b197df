//! Every TOML snippet in the docs parses as an agentd config: a person copying one gets a
//! working file, not an error.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use agentd::Settings;

/// The ```toml blocks of a Markdown file, with the line each starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```toml") => {
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

#[test]
fn every_toml_snippet_in_the_docs_parses() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, block) in toml_blocks(&text) {
            let origin = format!("{}:{line}", path.display());
            if let Err(e) = Settings::parse(&block, Path::new(&origin)) {
                panic!("the snippet at {origin} does not parse: {e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} snippets found");
}

#[test]
fn the_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/agentd.toml");
    Settings::load(&path).unwrap();
}
