//! `cargo bench -p agentd --bench shell`: what understanding a shell command costs, and how
//! much of real traffic it understands.
//!
//! - the median time to analyse a 2 KB compound command (target: well under 50 µs), with the
//!   quick reading of plain lines (`shell/fast/`) and with tree-sitter's full parse alone;
//! - over the shell commands of `../shared/traces/dev-set.jsonl` (Claude Code's `Bash`,
//!   Codex's `shell` and `exec_command`), how many are fully understood, and the most common
//!   reasons the rest are not;
//! - what deciding each of those commands costs with the presets' rules (`commands::decide`:
//!   the reading, the flag allowlists, the reads judged on disk), in a project that is a real
//!   git repository: median, p90 and p99 per call.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use agentd::policy::shell::{analyze, analyze_fully, is_plain, Analysis};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    parse_cost();
    coverage()?;
    decision_cost()
}

/// Deciding every shell command of the development set, with the presets, as agentd does.
fn decision_cost() -> Result<(), Box<dyn std::error::Error>> {
    use agentd::policy::commands::{decide, secret_words, ShellTool};
    use agentd::policy::Place;
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/dev-set.jsonl");
    let Ok(text) = std::fs::read_to_string(&trace) else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let project = dir.path().join("app");
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::write(project.join("src/main.rs"), "fn main() {}\n")?;
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&project)
        .status()?;
    let place = Place {
        project: Some(project.clone()),
        home: Some(dir.path().to_path_buf()),
    };
    let secrets = secret_words()?;
    let rules = agentd::policy::presets::command_rules(true, &[], &secrets)?;
    let tools: Vec<ShellTool> = [
        ("Bash", "/command"),
        ("shell", "/command"),
        ("exec_command", "/cmd"),
    ]
    .iter()
    .map(|(name, pointer)| ShellTool {
        name: (*name).into(),
        pointer: (*pointer).into(),
        workdir: Vec::new(),
        rules_approve: true,
    })
    .collect();
    let calls: Vec<(String, serde_json::Value)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| tools.iter().any(|t| t.name == v["tool_name"]))
        .map(|v| {
            (
                v["tool_name"].as_str().unwrap_or_default().to_string(),
                v["tool_input"].clone(),
            )
        })
        .collect();
    let mut times = Vec::with_capacity(calls.len() * 20);
    for _ in 0..20 {
        for (tool, args) in &calls {
            let start = Instant::now();
            std::hint::black_box(decide(&tools, &rules, &secrets, tool, args, &place));
            times.push(start.elapsed());
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "deciding the development set's {} shell calls with the presets, 20 rounds: median {:.1?}, p90 {:.1?}, p99 {:.1?} per call",
        calls.len(),
        at(0.5),
        at(0.9),
        at(0.99)
    );
    Ok(())
}

fn parse_cost() {
    let part = "cd /srv/app && git status --short | grep -v '^??' | sort > /tmp/changes.txt; \
                npm run build 2>&1 | tail -n 20 && echo \"built $(date +%s)\" || exit 1\n";
    let mut line = String::new();
    while line.len() < 2048 {
        line.push_str(part);
    }
    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(analyze(std::hint::black_box(&line)));
            start.elapsed()
        })
        .collect();
    times.sort();
    let mut full: Vec<Duration> = (0..500)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(analyze_fully(std::hint::black_box(&line)));
            start.elapsed()
        })
        .collect();
    full.sort();
    println!(
        "  the same line through the full parse alone: median {:.1?} (plain enough for the quick reading: {})",
        full[full.len() / 2],
        is_plain(&line)
    );
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_bash::LANGUAGE.into()).ok();
    let mut ts: Vec<Duration> = (0..500)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(parser.parse(&line, None));
            start.elapsed()
        })
        .collect();
    ts.sort();
    println!(
        "  of which tree-sitter's parse alone: median {:.1?}",
        ts[ts.len() / 2]
    );
    let commands = match analyze(&line) {
        Analysis::Commands(c) => c.len(),
        Analysis::Unknown(_) => 0,
    };
    println!(
        "analysing a {} byte compound command ({commands} simple commands): median {:.1?}, p99 {:.1?} (target: well under 50 µs)",
        line.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}

fn coverage() -> Result<(), Box<dyn std::error::Error>> {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/dev-set.jsonl");
    let Ok(text) = std::fs::read_to_string(&trace) else {
        println!(
            "(no development set at {}: coverage skipped)",
            trace.display()
        );
        return Ok(());
    };
    let (mut understood, mut total, mut plain) = (0, 0, 0);
    let mut costs: Vec<(Duration, usize)> = Vec::new();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line)?;
        let input = &record["tool_input"];
        let command = match record["tool_name"].as_str() {
            Some("Bash") => input["command"].as_str().map(String::from),
            Some("shell") => match &input["command"] {
                serde_json::Value::Array(argv) => {
                    let words: Vec<&str> = argv.iter().filter_map(|w| w.as_str()).collect();
                    // Codex wraps most commands as ["bash", "-lc", SCRIPT].
                    match words.as_slice() {
                        [_, flag, script] if flag.starts_with('-') && flag.contains('c') => {
                            Some(script.to_string())
                        }
                        _ => Some(words.join(" ")),
                    }
                }
                serde_json::Value::String(s) => Some(s.clone()),
                _ => None,
            },
            Some("exec_command") => input["cmd"].as_str().map(String::from),
            _ => None,
        };
        let Some(command) = command else { continue };
        total += 1;
        plain += usize::from(is_plain(&command));
        let start = Instant::now();
        for _ in 0..20 {
            std::hint::black_box(analyze(std::hint::black_box(&command)));
        }
        costs.push((start.elapsed() / 20, command.len()));
        match analyze(&command) {
            Analysis::Commands(_) => understood += 1,
            Analysis::Unknown(why) => *reasons.entry(why).or_insert(0) += 1,
        }
    }
    println!(
        "development set: {understood} of {total} shell commands fully understood ({:.1}%); {plain} read by the quick reading",
        100.0 * understood as f64 / total.max(1) as f64
    );
    costs.sort();
    let at = |q: usize| costs[(costs.len() - 1) * q / 100];
    println!(
        "  analysis per real command: median {:.1?}, p90 {:.1?}, max {:.1?} ({} bytes)",
        at(50).0,
        at(90).0,
        at(100).0,
        at(100).1
    );
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (why, n) in reasons.iter().take(8) {
        println!("  {n:>4}  {why}");
    }
    Ok(())
}
