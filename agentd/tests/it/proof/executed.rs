//! Every line the policy approves at once, and every line a grant made from harmless calls
//! covers, is run for real under `strace -f` in the sandbox: it fails if one wrote, deleted,
//! renamed or changed the mode of a file, ran a program the line does not name, opened a
//! network connection, or read a canary secret. Granted programs (make, npm, cargo ...) are
//! stubs that record how they were called; a stub called with a flag its grant does not list
//! fails too.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use agentd::policy::shell::{read, Analysis};

use super::{covered, granted_keys, lines, need, Policy, Sandbox};

/// Syscalls that change files, start programs or reach the network.
const TRACED: &str = "trace=execve,execveat,open,openat,openat2,creat,unlink,unlinkat,rename,\
renameat,renameat2,chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown,mkdir,mkdirat,rmdir,\
link,linkat,symlink,symlinkat,truncate,ftruncate,utimensat,connect";

/// What one run did wrong, if anything.
fn judge_trace(
    logs: &Path,
    sandbox: &Sandbox,
    named: &HashSet<String>,
    stubs: bool,
    login: &HashSet<String>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let stub_log = sandbox.root.join("stub.log");
    let Ok(entries) = std::fs::read_dir(logs) else {
        return vec!["strace left no log".into()];
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for call in text.lines() {
            let Some((name, rest)) = call.split_once('(') else {
                continue;
            };
            let result = call.rsplit_once(" = ").map_or("", |(_, r)| r.trim());
            let ok = result.starts_with(|c: char| c.is_ascii_digit());
            let path = rest.split('"').nth(1).map(|p| {
                let p = PathBuf::from(p);
                if p.is_absolute() {
                    p
                } else {
                    sandbox.project.join(p)
                }
            });
            match name {
                "execve" | "execveat" if ok => {
                    let program = path
                        .as_ref()
                        .and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let helper = path.as_ref().is_some_and(|p| {
                        named.contains("git") && p.to_string_lossy().contains("git-core/")
                    });
                    let stub =
                        stubs && path.as_ref().is_some_and(|p| p.starts_with(&sandbox.stubs));
                    // A login shell (`bash -lc`) runs what the system's start-up files run,
                    // whatever the line: measured once, on an empty line.
                    let login_shell = named.contains("bash") || named.contains("sh");
                    let start_up = login_shell && login.contains(&program);
                    if !(program == "bash"
                        || named.contains(&program)
                        || helper
                        || stub
                        || start_up)
                    {
                        wrong.push(format!("ran {program}: {call}"));
                    }
                }
                "open" | "openat" | "openat2" | "creat" if ok => {
                    let writes = name == "creat"
                        || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"]
                            .iter()
                            .any(|f| rest.contains(f));
                    let Some(path) = path else { continue };
                    // git takes its index's lock to refresh it in passing; that changes no
                    // file the project tracks, and the lock is gone when it ends.
                    let git_lock =
                        named.contains("git") && path == sandbox.project.join(".git/index.lock");
                    let harmless_target = path == Path::new("/dev/null")
                        || path == Path::new("/dev/tty")
                        || path.starts_with("/dev/pts")
                        || path == stub_log
                        || git_lock;
                    if writes && !harmless_target {
                        wrong.push(format!("wrote {}: {call}", path.display()));
                    }
                    let real = path.canonicalize().unwrap_or(path.clone());
                    if sandbox.canaries.iter().any(|c| *c == path || *c == real) {
                        wrong.push(format!("read a secret {}: {call}", path.display()));
                    }
                }
                "connect" if rest.contains("AF_INET") => {
                    wrong.push(format!("opened a network connection: {call}"));
                }
                "connect" => {}
                "execve" | "execveat" | "open" | "openat" | "openat2" | "creat" => {}
                "unlink" | "rename"
                    if named.contains("git")
                        && path.as_ref() == Some(&sandbox.project.join(".git/index.lock")) => {}
                _ if ok => wrong.push(format!("changed the file system: {call}")),
                _ => {}
            }
        }
    }
    wrong
}

/// Whether `line` starts a login shell (`bash -lc`), which reads the system's start-up files.
fn login_shell(line: &str) -> bool {
    matches!(read(line).analysis, Analysis::Commands(c) if c.iter().any(|c| {
        matches!(c.program(), "bash" | "sh" | "zsh" | "dash")
            && c.args().iter().any(|a| a.text.starts_with('-') && !a.text.starts_with("--") && a.text.contains('l'))
    }))
}

/// The programs `line` names: each command's and each wrapper's.
fn named(line: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Analysis::Commands(commands) = read(line).analysis {
        for c in commands {
            out.insert(c.program().to_string());
            out.extend(c.via.iter().cloned());
        }
    }
    out
}

/// The programs a login shell runs on its own (the system's start-up files), for an empty line.
fn login_shell_runs(sandbox: &Sandbox, logs: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    for shell in ["bash", "sh"] {
        trace(&format!("{shell} -lc ''"), sandbox, logs, false);
        for entry in std::fs::read_dir(logs).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for call in text.lines().filter(|c| c.starts_with("execve(")) {
                if let Some(path) = call.split('"').nth(1) {
                    out.extend(
                        Path::new(path)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned()),
                    );
                }
            }
        }
    }
    out
}

/// Runs `line` in the sandbox under strace; what it did wrong.
fn run(
    line: &str,
    sandbox: &Sandbox,
    logs: &Path,
    stubs: bool,
    login: &HashSet<String>,
) -> Vec<String> {
    trace(line, sandbox, logs, stubs);
    // Judged on what it did, whether it ended or was killed at the deadline.
    judge_trace(logs, sandbox, &named(line), stubs, login)
}

/// Runs `line` under strace, its log in `logs`.
fn trace(line: &str, sandbox: &Sandbox, logs: &Path, stubs: bool) {
    let _ = std::fs::remove_dir_all(logs);
    std::fs::create_dir_all(logs).unwrap();
    let path = if stubs {
        format!("{}:/usr/local/bin:/usr/bin:/bin", sandbox.stubs.display())
    } else {
        "/usr/local/bin:/usr/bin:/bin".into()
    };
    Process::new("timeout")
        .args([
            "-s", "KILL", "10", "strace", "-f", "-ff", "-qq", "-s", "4096", "-e",
        ])
        .arg(TRACED)
        .args(["-e", "signal=none", "-o"])
        .arg(logs.join("t"))
        .args(["bash", "--norc", "--noprofile", "-c", line])
        .current_dir(&sandbox.project)
        .env_clear()
        .env("HOME", &sandbox.home)
        .env("PATH", path)
        .env("LANG", "C")
        .env("USER", "dev")
        .env("STUB_LOG", sandbox.root.join("stub.log"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
}

/// The flags each stub was called with must be among its grant's.
fn stub_calls_within(sandbox: &Sandbox, keys: &[Vec<String>]) -> Vec<String> {
    let log = sandbox.root.join("stub.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut wrong = Vec::new();
    for call in text.split('\u{1e}').filter(|c| !c.is_empty()) {
        let argv: Vec<&str> = call.split('\u{1f}').filter(|w| !w.is_empty()).collect();
        let Some(program) = argv.first() else {
            continue;
        };
        let flags: Vec<&&str> = argv.iter().skip(1).filter(|w| w.starts_with('-')).collect();
        let ok = keys.iter().any(|k| {
            k.first()
                .is_some_and(|p| p == program || p.ends_with(&format!("/{program}")))
                && flags.iter().all(|f| {
                    k.iter()
                        .any(|unit| unit == **f || unit.split(' ').next() == Some(**f))
                })
        });
        if !ok {
            wrong.push(format!(
                "{program} was called with {argv:?}, which no grant lists"
            ));
        }
    }
    wrong
}

#[test]
fn what_is_approved_at_once_or_granted_changes_nothing_runs_nothing_else_and_reads_no_secret() {
    need("strace", "strace");
    need("bash", "bash");
    let sandbox = Sandbox::new();
    let place = sandbox.place();
    let policy = Policy::presets();
    let keys = granted_keys(&policy, &place);
    let all = lines();
    let mut approved = Vec::new();
    let mut granted = Vec::new();
    for line in &all {
        let (at_once, reach) = policy.verdict(line, &place);
        if at_once {
            approved.push(line.clone());
        } else if covered(&reach, &keys) && !login_shell(line) {
            // A login shell sets its own PATH from the system's start-up files, past the
            // stubs: such lines are read by bash (`bash_reads.rs`) but not run here.
            granted.push(line.clone());
        }
    }
    assert!(all.len() >= super::GENERATED, "{} lines", all.len());
    assert!(approved.len() > 500, "only {} approved", approved.len());
    assert!(!granted.is_empty(), "no line is covered by the grants");
    let mut failures = Vec::new();
    let logs = sandbox.root.join("strace");
    let login = login_shell_runs(&sandbox, &logs);
    for (line, stubs) in approved
        .iter()
        .map(|l| (l, false))
        .chain(granted.iter().map(|l| (l, true)))
    {
        for why in run(line, &sandbox, &logs, stubs, &login) {
            failures.push(format!("{line:?}: {why}"));
        }
        if stubs {
            for why in stub_calls_within(&sandbox, &keys) {
                failures.push(format!("{line:?}: {why}"));
            }
        }
    }
    println!(
        "{} lines: {} approved at once and run, {} covered by grants and run",
        all.len(),
        approved.len(),
        granted.len()
    );
    assert!(
        failures.is_empty(),
        "{} of the lines run did harm:\n{}",
        failures.len(),
        super::first_failures(&failures)
    );
}
