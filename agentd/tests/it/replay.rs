//! `agentd replay` through the real binary: real recorded calls (a slice of the development
//! set, committed as a fixture) replayed against a private agentd, with the counts checked
//! against what the fixture itself says should happen.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace.jsonl")
}

fn records() -> Vec<Value> {
    std::fs::read_to_string(fixture())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A config in which exactly Read and Grep need no approval (no presets), as
/// docs/CLAUDE-CODE.md once suggested.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("agentd.toml");
    std::fs::write(
        &path,
        "presets = []\n[[tool]]\nname = \"Read\"\nrequires_approval = false\n[[tool]]\nname = \"Grep\"\nrequires_approval = false\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("replay")
        .args(args)
        .env_remove("AGENTD_CONFIG")
        // No config of the machine's own: only what a test names.
        .env("XDG_CONFIG_HOME", "/nonexistent/agentd-test-config")
        .output()
        .unwrap()
}

fn free(tool: &str) -> bool {
    tool == "Read" || tool == "Grep"
}

/// What the summary line must say for `asked` of all calls and of those after the 20th of
/// their session.
fn summary(records: &[Value], asked: impl Fn(usize) -> bool) -> String {
    let mut position = std::collections::HashMap::new();
    let (mut n, mut later, mut later_n) = (0, 0, 0);
    for (i, r) in records.iter().enumerate() {
        let p = position.entry(r["session"].as_str().unwrap()).or_insert(0);
        *p += 1;
        let a = asked(i);
        n += usize::from(a);
        if *p > 20 {
            later += 1;
            later_n += usize::from(a);
        }
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    format!(
        "asked {n} of {} calls ({:.1}%); after the first 20 of each session: {later_n} of {later} ({:.1}%)",
        records.len(),
        pct(n, records.len()),
        pct(later_n, later)
    )
}

#[test]
fn every_call_not_free_is_asked_once_and_a_session_grant_covers_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let recs = records();
    let trace = fixture();

    let out = replay(&[
        "--config",
        cfg.to_str().unwrap(),
        "--operator",
        "once",
        trace.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = summary(&recs, |i| !free(recs[i]["tool_name"].as_str().unwrap()));
    assert_eq!(text.lines().last().unwrap(), expected, "{text}");
    assert!(text.starts_with("TOOL"), "{text}");

    // For the session: a call identical to one approved earlier in its session is answered by
    // the grant, not asked again.
    let mut granted = HashSet::new();
    let asked: Vec<bool> = recs
        .iter()
        .map(|r| {
            let tool = r["tool_name"].as_str().unwrap();
            let key = (
                r["session"].to_string(),
                tool.to_string(),
                r["tool_input"].to_string(),
            );
            !free(tool) && granted.insert(key)
        })
        .collect();
    let out = replay(&[
        "--config",
        cfg.to_str().unwrap(),
        "--operator",
        "session",
        trace.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().last().unwrap(), summary(&recs, |i| asked[i]));
}

#[test]
fn json_gives_the_same_as_one_document() {
    let out = replay(&["--json", fixture().to_str().unwrap()]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recs = records();
    assert_eq!(doc["calls"], recs.len());
    assert_eq!(doc["operator"], "session");
    let per_tool: u64 = doc["tools"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(per_tool, recs.len() as u64);
    assert!(doc["summary"].as_str().unwrap().starts_with("asked "));
}

/// The summary line's two counts: asked of all calls, and asked after the 20th.
fn asked_counts(line: &str) -> (u64, u64) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let n = words[1].parse().unwrap();
    let later = words[words.iter().position(|w| *w == "session:").unwrap() + 1]
        .parse()
        .unwrap();
    (n, later)
}

#[test]
fn the_broadest_grants_ask_less_and_every_asked_call_is_listed_with_its_grant() {
    let trace = fixture();
    let last = |mode: &str| {
        let out = replay(&["--operator", mode, trace.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let session = last("session");
    let broadest = last("broadest");
    let (s_all, _) = asked_counts(session.lines().last().unwrap());
    let (b_all, _) = asked_counts(broadest.lines().last().unwrap());
    assert!(b_all < s_all, "broadest {b_all} vs session {s_all}");

    let out = replay(&[
        "--operator",
        "broadest",
        "--asked",
        "--json",
        trace.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let asked = doc["asked_calls"].as_array().unwrap();
    assert_eq!(asked.len() as u64, b_all);
    assert_eq!(doc["asked"], b_all);
    for call in asked {
        let grant = call["grant"].as_str().unwrap();
        assert!(
            ["exact", "commands", "folder", "domain", "tool", "reads"].contains(&grant),
            "{call}"
        );
    }
    // Some wider grant was chosen, or broadest would be session.
    assert!(asked.iter().any(|c| c["grant"] != "exact"));
    let table = String::from_utf8(
        replay(&["--operator", "broadest", "--asked", trace.to_str().unwrap()]).stdout,
    )
    .unwrap();
    assert!(
        table.contains("ASKED (session#position tool: what → grant chosen)"),
        "{table}"
    );
    assert_eq!(
        table.lines().last().unwrap(),
        broadest.lines().last().unwrap()
    );
}

#[test]
fn a_bad_trace_or_config_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"tool_name\":\"Read\",\"tool_input\":{},\"session\":\"s\",\"agent\":\"claude-code\"}\n\n{\"tool_name\": 3}\n",
    )
    .unwrap();
    let out = replay(&[bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "agentd: error: {}:3: not a trace record",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let missing = replay(&[dir.path().join("nope.jsonl").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));

    let cfg = dir.path().join("broken.toml");
    std::fs::write(&cfg, "[[tool]\n").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = replay(&[
        "--config",
        cfg.to_str().unwrap(),
        fixture().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
}
