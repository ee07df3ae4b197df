//! Bash as the judge: each line the policy approves at once, or a grant made from harmless
//! calls covers, is run by bash with every program and builtin replaced by a function that
//! records the words it was called with (`command_not_found_handle`, with `PATH` empty and the
//! builtins switched off). What bash passes must be what agentd read: the same commands, each
//! with the same words (words agentd knows are computed or globbed are compared up to there).

use std::process::{Command as Process, Stdio};

use agentd::policy::shell::{read, Analysis, Command};

use super::{covered, granted_keys, lines, need, Policy, Sandbox};

/// Bash's own reading set-up: a recorder for every command, and no builtin but what it uses.
const SETUP: &str = r#"command_not_found_handle() { local w r=; for w in "$@"; do r+="$w"$'\037'; done; printf '%s\036' "$r" >> "$READ_LOG"; return "$READ_STATUS"; }
enable -n $(enable | sed -e 's/^enable //' | grep -vx -e printf -e local -e return -e enable -e wait)
PATH=/nonexistent-agentd-path
"#;

/// The commands bash ran `line` as, each argv once: run with every command succeeding, then
/// with every command failing, so that both sides of `&&` and `||` run.
fn bash_reading(line: &str, sandbox: &Sandbox) -> Vec<Vec<String>> {
    let mut all = bash_run(line, sandbox, 0);
    for argv in bash_run(line, sandbox, 1) {
        if !all.contains(&argv) {
            all.push(argv);
        }
    }
    all
}

fn bash_run(line: &str, sandbox: &Sandbox, status: u8) -> Vec<Vec<String>> {
    let log = sandbox.root.join("read.log");
    let _ = std::fs::remove_file(&log);
    // The set-up needs sed and grep once, before PATH is emptied.
    // `wait`: what the line started in the background is recorded too.
    let script = format!("{SETUP}{line}\nwait");
    Process::new("timeout")
        .args([
            "-s",
            "KILL",
            "5",
            "bash",
            "--norc",
            "--noprofile",
            "-c",
            &script,
        ])
        .current_dir(&sandbox.project)
        .env_clear()
        .env("HOME", &sandbox.home)
        .env("PATH", "/usr/bin:/bin")
        .env("READ_LOG", &log)
        .env("READ_STATUS", status.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .split('\u{1e}')
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split('\u{1f}')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// Whether bash's `argv` is `ours`: word for word (`~` and `~/` are the home folder), up to
/// a word computed or globbed.
fn same(ours: &Command, argv: &[String], home: &str) -> bool {
    let certain = ours
        .argv
        .iter()
        .position(|w| !w.literal || w.glob)
        .unwrap_or(ours.argv.len());
    if certain == ours.argv.len() && argv.len() != ours.argv.len() {
        return false;
    }
    argv.len() >= certain
        && ours.argv[..certain].iter().zip(argv).all(|(w, b)| {
            w.text == *b
                || (w.text == "~" && b == home)
                || w.text
                    .strip_prefix("~/")
                    .is_some_and(|rest| *b == format!("{home}/{rest}"))
        })
}

/// Where agentd's reading of `line` and bash's differ, if they do.
fn differs(line: &str, sandbox: &Sandbox) -> Option<String> {
    let Analysis::Commands(commands) = read(line).analysis else {
        return Some("agentd did not read it".into());
    };
    // What bash runs itself: the commands not run through a wrapper.
    let ours: Vec<&Command> = commands
        .iter()
        .filter(|c| c.via.is_empty() && !c.argv.is_empty())
        .collect();
    let theirs = bash_reading(line, sandbox);
    let home = sandbox.home.to_string_lossy();
    let same = |c: &Command, argv: &Vec<String>| same(c, argv, &home);
    let shown = |c: &Command| c.argv.iter().map(|w| w.text.clone()).collect::<Vec<_>>();
    // Everything agentd read, bash ran; and bash ran nothing agentd did not read.
    if let Some(missing) = ours
        .iter()
        .find(|c| !theirs.iter().any(|argv| same(c, argv)))
    {
        return Some(format!(
            "agentd read {:?}; bash ran {theirs:?}",
            shown(missing)
        ));
    }
    if let Some(extra) = theirs
        .iter()
        .find(|argv| !ours.iter().any(|c| same(c, argv)))
    {
        return Some(format!("bash ran {extra:?}, which agentd did not read"));
    }
    None
}

#[test]
fn bash_reads_every_line_that_passes_as_agentd_does() {
    need("bash", "bash");
    let sandbox = Sandbox::new();
    let place = sandbox.place();
    let policy = Policy::presets();
    let keys = granted_keys(&policy, &place);
    let all = lines();
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in &all {
        let (at_once, reach) = policy.verdict(line, &place);
        if !at_once && !covered(&reach, &keys) {
            continue;
        }
        checked += 1;
        if let Some(why) = differs(line, &sandbox) {
            failures.push(format!("{line:?}: {why}"));
        }
    }
    println!(
        "{} lines: {checked} pass at once or by a grant; bash read each",
        all.len()
    );
    assert!(checked > 500, "only {checked} lines checked");
    assert!(
        failures.is_empty(),
        "{} lines that pass are read otherwise by bash:\n{}",
        failures.len(),
        super::first_failures(&failures)
    );
}

#[test]
fn the_recorder_sees_what_bash_passes() {
    // The judge itself, on lines whose reading is known.
    let sandbox = Sandbox::new();
    let mut got = bash_reading("ls -la 'a b' && echo \"x y\" | cat || pwd", &sandbox);
    got.sort();
    assert_eq!(
        got,
        vec![
            vec!["cat".to_string()],
            vec!["echo".to_string(), "x y".into()],
            vec!["ls".to_string(), "-la".into(), "a b".into()],
            vec!["pwd".to_string()],
        ]
    );
    // A brace expands to several words: bash runs `find . -delete`. The plain reading never
    // claims such a line, so it is never approved.
    assert_eq!(
        bash_reading("find . {-delete,}", &sandbox),
        vec![vec!["find".to_string(), ".".into(), "-delete".into()]]
    );
    assert!(!read("find . {-delete,}").certain);
}
