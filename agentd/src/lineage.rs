//! Process lineage from /proc: who a process descends from, so that a request cannot be
//! decided or reviewed from inside the process tree that raised it.
//!
//! A process is named by its pid and its start time (field 22 of /proc/PID/stat), so a pid the
//! kernel hands out again to an unrelated process is not mistaken for the one that asked.

use std::path::Path;

/// One process, as long as it lives: pid plus start time in clock ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proc {
    pub pid: u32,
    pub start: u64,
}

/// The most ancestors followed; real trees are a few dozen deep at most.
const MAX_DEPTH: usize = 128;

/// What /proc/PID/stat says: the parent pid and the start time.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after its last ')'.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state (3), ppid (4), ... starttime (22).
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

/// The process `pid` now, if it exists.
pub fn process(pid: u32) -> Option<Proc> {
    stat(pid).map(|(_, start)| Proc { pid, start })
}

/// The parent of process `pid`, if it still exists.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat(pid).map(|(ppid, _)| ppid)
}

/// `pid` and its ancestors, nearest first, up to (not including) pid 0.
pub fn ancestry(pid: u32) -> Vec<Proc> {
    let mut chain = Vec::new();
    let mut next = pid;
    while next != 0 && chain.len() < MAX_DEPTH {
        let Some((ppid, start)) = stat(next) else {
            break;
        };
        chain.push(Proc { pid: next, start });
        if ppid == next {
            break;
        }
        next = ppid;
    }
    chain
}

/// Whether `pid` runs a non-interactive shell given a command string (`sh -c '...'`): the
/// wrapper agent runtimes put around the hooks they start. An interactive shell, a shell
/// reading a script file, or anything else is not a wrapper.
pub fn is_shell_wrapper(pid: u32) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    shell_wrapper_args(&args)
}

/// The test behind [`is_shell_wrapper`], on an argument vector.
pub fn shell_wrapper_args(args: &[String]) -> bool {
    const SHELLS: [&str; 7] = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"];
    let Some(first) = args.first() else {
        return false;
    };
    let name = Path::new(first.trim_start_matches('-'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !SHELLS.contains(&name.as_str()) {
        return false;
    }
    let mut command = false;
    for arg in &args[1..] {
        if arg == "--" || !arg.starts_with('-') && !arg.starts_with('+') {
            break;
        }
        // Long options (`--login`, `--norc`) carry no single-letter flags.
        if arg.starts_with("--") {
            if arg == "--interactive" {
                return false;
            }
            continue;
        }
        let letters = &arg[1..];
        if letters.contains('i') && arg.starts_with('-') {
            return false;
        }
        if letters.contains('c') {
            command = true;
        }
    }
    command
}

/// The processes a request's decider and reviewers must not descend from: the process that
/// raised it and the agent runtime that started it (its parent, passing over `sh -c`
/// wrappers), plus every ancestor, for telling whether a reviewer is one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The requesting process, then its runtime (when it could be read).
    pub roots: Vec<Proc>,
    /// The requesting process and all its ancestors, nearest first.
    pub ancestors: Vec<Proc>,
}

impl Lineage {
    /// Reads the lineage of the process `pid`; empty if it is gone.
    pub fn of(pid: u32) -> Lineage {
        let ancestors = ancestry(pid);
        let mut roots = Vec::new();
        if let Some(me) = ancestors.first() {
            roots.push(*me);
        }
        // The runtime: the first ancestor above the requester that is not a shell wrapper.
        // pid 1 (init, or a container's first process) is never a runtime to protect: every
        // process descends from it.
        if let Some(runtime) = ancestors
            .iter()
            .skip(1)
            .find(|p| p.pid == 1 || !is_shell_wrapper(p.pid))
            .filter(|p| p.pid != 1)
        {
            roots.push(*runtime);
        }
        Lineage { roots, ancestors }
    }

    /// Whether a process whose ancestry (itself first) is `chain` descends from the requester
    /// or its runtime, or is one of them.
    pub fn contains_descendant(&self, chain: &[Proc]) -> bool {
        chain.iter().any(|p| self.roots.contains(p))
    }

    /// Whether the process `chain[0]` is the requester, one of its ancestors, or one of its
    /// (or its runtime's) descendants.
    pub fn related(&self, chain: &[Proc]) -> bool {
        let Some(me) = chain.first() else {
            return false;
        };
        self.ancestors.contains(me) || self.contains_descendant(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_its_own_ancestry() {
        let me = std::process::id();
        let chain = ancestry(me);
        assert_eq!(chain[0].pid, me);
        assert!(chain.len() >= 2, "{chain:?}");
        assert_eq!(parent_pid(me), Some(chain[1].pid));
        assert_eq!(process(me), Some(chain[0]));
        assert_eq!(parent_pid(u32::MAX), None);
        assert!(ancestry(u32::MAX).is_empty());
    }

    #[test]
    fn tells_command_wrappers_from_interactive_shells() {
        assert!(shell_wrapper_args(&args(&[
            "sh",
            "-c",
            "ash hook claude-code"
        ])));
        assert!(shell_wrapper_args(&args(&[
            "/bin/bash",
            "-c",
            "ash approve x"
        ])));
        assert!(shell_wrapper_args(&args(&["/usr/bin/zsh", "-lc", "x"])));
        assert!(shell_wrapper_args(&args(&["bash", "--norc", "-ec", "x"])));
        assert!(!shell_wrapper_args(&args(&["bash"])), "interactive");
        assert!(!shell_wrapper_args(&args(&["-bash"])), "login shell");
        assert!(!shell_wrapper_args(&args(&["bash", "-i", "-c", "x"])));
        assert!(!shell_wrapper_args(&args(&["bash", "-ic", "x"])));
        assert!(!shell_wrapper_args(&args(&["bash", "script.sh", "-c"])));
        assert!(!shell_wrapper_args(&args(&["node", "-c", "x"])));
        assert!(!shell_wrapper_args(&[]));
    }

    #[test]
    fn relations_are_by_pid_and_start_time() {
        let p = |pid, start| Proc { pid, start };
        let lineage = Lineage {
            roots: vec![p(100, 5), p(90, 4)],
            ancestors: vec![p(100, 5), p(95, 4), p(90, 4), p(1, 1)],
        };
        // A child of the runtime: related.
        assert!(lineage.related(&[p(200, 9), p(90, 4), p(1, 1)]));
        // The requester's ancestor: related.
        assert!(lineage.related(&[p(95, 4), p(90, 4), p(1, 1)]));
        // Another tree: not related, even with a reused pid.
        assert!(!lineage.related(&[p(300, 9), p(90, 7), p(1, 1)]));
        assert!(!lineage.contains_descendant(&[p(300, 9), p(1, 1)]));
    }
}
