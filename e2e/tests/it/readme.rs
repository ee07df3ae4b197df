//! The README's tour, run as written: each command of its `sh` blocks against a real agentd,
//! each `# ` line under a command compared with what that command printed (request IDs,
//! clock times, durations and counts aside), so the README cannot drift from the program.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use agentd_testkit::Poller;
use regex::Regex;
use tokio::process::Command;

use crate::common;

/// The tour's `sh` blocks: each command with the lines the README says it prints.
fn tour() -> Vec<(String, Vec<String>)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("## A 60-second tour")
        .expect("the README has its tour");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_block = false;
    for line in section[..end].lines() {
        match (in_block, line.trim_start()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, l) if l.starts_with("# ") || l == "#" => {
                let said = l.strip_prefix("# ").unwrap_or("").to_string();
                steps.last_mut().unwrap().1.push(said);
            }
            (true, l) if !l.is_empty() => steps.push((l.to_string(), Vec::new())),
            _ => {}
        }
    }
    steps
}

/// A line with what changes from run to run written the same way, spaces collapsed. Counts
/// stay in the audit line: the tour's own steps make exactly that many entries.
fn normal(line: &str) -> String {
    if line.starts_with("audit trail intact") {
        return line.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let rules = [
        (r"\b[0-9a-f]{8}\b", "ID"),
        (r"\b\d\d:\d\d:\d\d\b", "TIME"),
        (r"\b\d+m\d\ds\b|\b\d+s\b", "DUR"),
        (r"\b\d+\b", "N"),
    ];
    let mut out = line.to_string();
    for (pattern, word) in rules {
        out = Regex::new(pattern)
            .unwrap()
            .replace_all(&out, word)
            .into_owned();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn compare(command: &str, expected: &[String], printed: &str) {
    let printed: Vec<String> = printed.lines().map(normal).collect();
    for line in expected {
        assert!(
            printed.contains(&normal(line)),
            "README: `{command}` should print `{line}`; it printed:\n{}",
            printed.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let path = format!(
        "{}:{}",
        common::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shell = |line: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("AGENTD_SOCKET", &socket)
            .env("AGENTD_STATE_DIR", dir.path().join("state"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("USER", "alice")
            .env_remove("COLUMNS")
            .env_remove("AGENTD_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    };
    let request_id = Regex::new(r"request ([0-9a-f]{8})").unwrap();
    let steps = tour();
    assert!(steps.len() >= 7, "{steps:?}");
    let mut daemon = None;
    let mut waiting = None;
    let mut id = String::new();
    for (command, expected) in &steps {
        if command == "agentd" {
            daemon = Some(shell("exec agentd").spawn().unwrap());
            let mut poller = Poller::new(Duration::from_secs(20), "agentd to answer");
            while !shell("ash pending --json")
                .output()
                .await
                .unwrap()
                .status
                .success()
            {
                poller.tick().await;
            }
            continue;
        }
        // The README's example ID stands for the one this run got.
        let line = command
            .replace("7f3a2c1e", &id)
            .replace("7f3a", &id[..id.len().min(4)]);
        if line.starts_with("ash request") {
            // It blocks: what it says goes to stderr while it waits. It runs detached, as in
            // its own pane: a process may not approve a request its parent raised.
            let log = dir.path().join("request.log");
            let rc = dir.path().join("request.rc");
            let detached = format!(
                "( {line} 2> {}; echo $? > {} ) &",
                log.display(),
                rc.display()
            );
            assert!(shell(&detached).status().await.unwrap().success());
            let mut poller = Poller::new(Duration::from_secs(20), "the request to wait");
            let said = loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("decide with") {
                    break text;
                }
                assert!(!rc.exists(), "ash request ended: {text}");
                poller.tick().await;
            };
            compare(command, expected, &said);
            id = request_id.captures(&said).unwrap()[1].to_string();
            waiting = Some(rc);
            continue;
        }
        let out = shell(&line).output().await.unwrap();
        assert!(
            out.status.success(),
            "README: `{line}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        compare(command, expected, &String::from_utf8_lossy(&out.stdout));
    }
    // "The waiting `ash request` prints `approved by alice` and exits 0."
    let rc = waiting.unwrap();
    let mut poller = Poller::new(Duration::from_secs(20), "ash request to end");
    while !std::fs::read_to_string(&rc).is_ok_and(|t| t.ends_with('\n')) {
        poller.tick().await;
    }
    assert_eq!(std::fs::read_to_string(&rc).unwrap().trim(), "0");
    let said = std::fs::read_to_string(dir.path().join("request.log")).unwrap();
    assert!(said.ends_with("approved by alice\n"), "{said}");
    drop(daemon);
}
