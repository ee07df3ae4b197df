//! What a `commands` grant names for one command: the program, its subcommand words (verbs),
//! and every flag the person saw, each with the value that followed it. A later command is
//! covered only with the same verbs, flags among those seen (with the same values), and plain
//! arguments otherwise: `make test` does not cover `make test --eval=...`, `git stash` does not
//! cover `git stash clear`, `npm run lint` does not cover `npm run deploy`.
//!
//! A key is a list of words: verbs first (they never start with `-`), then flag units (they
//! always do). Old grants, which named only a prefix, read as keys with no flags.

use crate::policy::shell::Command;

mod tables;

use tables::{
    BOOLEAN, CODE_FLAGS, CODE_SHORTS, DEEPER, FREE_VALUES, NEVER_WIDER, NEVER_WIDER_DEEP,
    NEVER_WIDER_SUB, RUNNERS, VERBS,
};

/// Whether `(program, verb)` reads a secret whatever its flags say (`kubectl get secrets`).
fn reads_secrets(verbs: &[String]) -> bool {
    let joined = verbs.join(" ");
    [
        "kubectl get secret",
        "kubectl describe secret",
        "gh auth token",
    ]
    .iter()
    .any(|s| joined.starts_with(s))
}

/// Why a flag word makes `program` run other code, if it does.
fn code_flag(program: &str, word: &str) -> Option<String> {
    let name = word.split('=').next().unwrap_or(word);
    if let Some(long) = name.strip_prefix("--") {
        if !long.is_empty() && CODE_FLAGS.iter().any(|f| f.starts_with(name)) {
            return Some(format!(
                "{name} can make {program} run other code or read other settings"
            ));
        }
        return None;
    }
    let letters = name.trim_start_matches('-');
    let shorts = CODE_SHORTS
        .iter()
        .find(|(p, _)| *p == program)
        .map_or("", |(_, s)| *s);
    letters
        .chars()
        .find(|c| shorts.contains(*c))
        .map(|c| format!("-{c} can make {program} run other code or read other settings"))
}

/// The key a `commands` grant for `command` would name, or why it may not be granted wider.
pub fn of(command: &Command) -> Result<Vec<String>, String> {
    if let Some(wrapper) = command
        .via
        .iter()
        .find(|v| !matches!(v.as_str(), "bash" | "sh" | "zsh" | "dash" | "command"))
    {
        return Err(format!(
            "it runs through {wrapper}, which takes its words from elsewhere"
        ));
    }
    let written = command
        .argv
        .first()
        .filter(|w| w.literal)
        .map(|w| w.text.clone())
        .ok_or("no program")?;
    let program = command.program().to_string();
    let never = |p: &str| format!("`{p}` is never granted wider than the exact call");
    let words = command.args();
    // A runner: what it runs is keyed on its own, after the runner's words.
    for runner in RUNNERS {
        let matches = runner[0] == program
            && runner[1..]
                .iter()
                .zip(words)
                .all(|(r, w)| w.literal && w.text == *r)
            && words.len() >= runner.len();
        if matches {
            let rest = &words[runner.len() - 1..];
            // Runner flags before the command (`npx -y pkg`): only a few plain ones.
            let start = rest
                .iter()
                .position(|w| !matches!(w.text.as_str(), "-y" | "--yes" | "-q" | "--quiet"))
                .unwrap_or(rest.len());
            let inner = &rest[start..];
            if inner.is_empty() || !inner[0].literal || !subcommand_like(&inner[0].text) {
                return Err(format!(
                    "`{}` without a plain command after it",
                    runner.join(" ")
                ));
            }
            let mut key: Vec<String> = runner.iter().map(|s| s.to_string()).collect();
            let inner_command = Command {
                argv: inner.to_vec(),
                redirects: Vec::new(),
                via: Vec::new(),
                env: Vec::new(),
            };
            key.extend(of(&inner_command)?);
            return Ok(key);
        }
    }
    if NEVER_WIDER.contains(&program.as_str())
        || program.starts_with("python")
        || program.starts_with("mkfs")
    {
        return script_key(command, &written).ok_or_else(|| never(&program));
    }
    let depth = VERBS
        .iter()
        .find(|(p, _)| *p == program || *p == written)
        .map(|(_, d)| *d);
    let mut verbs = vec![written.clone()];
    let mut i = 0;
    if let Some(depth) = depth.filter(|d| *d > 0) {
        let mut want = depth;
        while verbs.len() <= want {
            let verb = words
                .get(i)
                .filter(|w| w.literal && subcommand_like(&w.text))
                .ok_or_else(|| format!("`{program}` without a plain subcommand first"))?;
            verbs.push(verb.text.clone());
            if verbs.len() == 2 {
                if NEVER_WIDER_SUB.contains(&(program.as_str(), verb.text.as_str())) {
                    return Err(never(&format!("{program} {}", verb.text)));
                }
                if DEEPER.contains(&(program.as_str(), verb.text.as_str())) {
                    want += 1;
                }
            }
            i += 1;
            if i > words.len() {
                break;
            }
        }
    }
    let all_verbs = depth == Some(0);
    let mut units = Vec::new();
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if !word.literal {
            return Err(format!("{}: an argument computed when it runs", word.text));
        }
        if word.glob && word.text.starts_with('*') {
            return Err(format!("{}: a pattern that can match an option", word.text));
        }
        // `@FILE` is a file of more options to gcc, javac, tsc, rustc, pytest.
        if word.text.starts_with('@') {
            return Err(format!("{}: read as a file of more options", word.text));
        }
        if !word.text.starts_with('-') || word.text == "-" {
            if all_verbs {
                if !subcommand_like(&word.text) && !word.text.contains('=') {
                    return Err(format!("{}: not a plain target", word.text));
                }
                if NEVER_WIDER_SUB.contains(&(program.as_str(), word.text.as_str())) {
                    return Err(never(&format!("{program} {}", word.text)));
                }
                verbs.push(word.text.clone());
            }
            continue;
        }
        if let Some(why) = code_flag(&program, &word.text) {
            return Err(why);
        }
        let boolean = BOOLEAN
            .iter()
            .any(|(p, flags)| *p == program && flags.contains(&word.text.as_str()));
        let next = words
            .get(i)
            .filter(|w| !boolean && (!w.text.starts_with('-') || !w.literal));
        let free = FREE_VALUES.contains(&(program.as_str(), word.text.as_str()));
        match next {
            Some(value) if word.text != "--" && !word.text.contains('=') => {
                i += 1;
                if !value.literal && value.split {
                    return Err(format!(
                        "{} {}: a value bash may split",
                        word.text, value.text
                    ));
                }
                let shown = if !value.literal {
                    "<computed>"
                } else if free {
                    "<text>"
                } else {
                    value.text.as_str()
                };
                units.push(format!("{} {shown}", word.text));
            }
            _ => units.push(word.text.clone()),
        }
    }
    if reads_secrets(&verbs) {
        return Err("it reads secrets".into());
    }
    let joined = verbs.join(" ");
    if let Some(deep) = NEVER_WIDER_DEEP.iter().find(|d| joined.starts_with(*d)) {
        return Err(never(deep));
    }
    let mut key = verbs;
    units.sort();
    units.dedup();
    key.extend(units);
    Ok(key)
}

/// `[interpreter, script]` or `[interpreter, -m, module]`: the script is a literal file name
/// (not an option, not `-`), the module a plain dotted name; the rest as for any program.
fn script_key(command: &Command, written: &str) -> Option<Vec<String>> {
    const INTERPRETERS: &[&str] = &["python", "python3", "node", "ruby", "perl", "php", "deno"];
    let program = command.program();
    let interpreter =
        INTERPRETERS.contains(&program) || (program.starts_with("python3.") && program.len() <= 10);
    if !interpreter {
        return None;
    }
    let first = command.argv.get(1).filter(|w| w.literal)?;
    let (mut key, rest) = if first.text == "-m" {
        let module = command.argv.get(2).filter(|w| w.literal)?;
        let plain = !module.text.is_empty()
            && module
                .text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._".contains(c));
        if !plain {
            return None;
        }
        (
            vec![written.to_string(), "-m".into(), module.text.clone()],
            3,
        )
    } else {
        let script = &first.text;
        let is_file = !script.starts_with('-')
            && [".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".php"]
                .iter()
                .any(|ext| script.ends_with(ext));
        if !is_file {
            return None;
        }
        (vec![written.to_string(), script.clone()], 2)
    };
    // The script's own arguments: as for any program.
    let tail = Command {
        argv: std::iter::once(crate::policy::shell::Word::literal("script-arguments"))
            .chain(command.argv.get(rest..).unwrap_or(&[]).iter().cloned())
            .collect(),
        redirects: Vec::new(),
        via: Vec::new(),
        env: Vec::new(),
    };
    let tail_key = of(&tail).ok()?;
    key.extend(tail_key.into_iter().skip(1));
    Some(key)
}

/// A plain word in the subcommand's place: `commit`, `run`, `create-next-app@latest`,
/// `@scope/pkg` (npx); never a flag, a path that starts at `.` or `/`, or one that climbs.
fn subcommand_like(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || "._:-@/".contains(c))
        && !word.contains("..")
}

/// Whether a grant's key covers a command's key: the same verbs, and every flag unit of the
/// command among the grant's.
pub fn covers(grant: &[String], command: &[String]) -> bool {
    let verbs = |k: &[String]| -> Vec<String> {
        k.iter().filter(|w| !w.starts_with('-')).cloned().collect()
    };
    if verbs(grant) != verbs(command) {
        return false;
    }
    command
        .iter()
        .filter(|w| w.starts_with('-'))
        .all(|unit| grant.contains(unit))
}

/// The key for people: "`cargo test --workspace`".
pub fn describe(key: &[String]) -> String {
    format!("`{}`", key.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::shell::{read, Analysis};

    fn key(line: &str) -> Result<Vec<String>, String> {
        let Analysis::Commands(c) = read(line).analysis else {
            panic!("{line} not read")
        };
        of(&c[c.len() - 1])
    }

    fn grant_covers(seen: &str, later: &str) -> bool {
        covers(&key(seen).unwrap(), &key(later).unwrap_or_default())
    }

    #[test]
    fn a_grant_covers_the_flags_seen_and_plain_arguments() {
        assert!(grant_covers("make test", "make test"));
        assert!(grant_covers(
            "cargo test --workspace",
            "cargo test --workspace"
        ));
        assert!(grant_covers("cargo test one", "cargo test two"));
        assert!(grant_covers("cargo test -p a x", "cargo test -p b y"));
        assert!(grant_covers("git commit -m one", "git commit -m two"));
        assert!(grant_covers("npm run lint", "npm run lint"));
        assert!(grant_covers("pytest -x tests/a.py", "pytest -x tests/a.py"));
        assert!(grant_covers("uv run pytest -q", "uv run pytest -q"));
    }

    #[test]
    fn grants_wider_than_they_read_are_not() {
        assert!(key("make test --eval='$(shell id)'").is_err());
        assert!(!grant_covers("make test", "make test deploy"));
        assert!(!grant_covers("make test", "make -f evil.mk test"));
        assert!(key("cargo test --config x").is_err());
        assert!(key("cargo test --conf x").is_err());
        assert!(key("npm test --node-options=--require=./x").is_err());
        assert!(key("git fetch --upload-pack=x origin").is_err());
        assert!(key("git grep --open-files-in-pager=sh x").is_err());
        assert!(key("uv run sh -c id").is_err());
        assert!(key("poetry run bash x").is_err());
        assert!(key("bundle exec sh").is_err());
        assert!(!grant_covers("npm run lint", "npm run deploy"));
        assert!(key("git stash clear").is_err());
        assert!(!grant_covers("gh pr view 12", "gh pr merge 12"));
        assert!(key("gh repo delete --yes x").is_err());
        assert!(key("kubectl get secrets -o yaml").is_err());
        assert!(!grant_covers(
            "kubectl get pods",
            "kubectl get pods -o yaml"
        ));
        assert!(key("awk '{print $1}' x").is_err());
        assert!(key("sed -n 1,5p x").is_err());
        assert!(key("tar -tzf x.tgz").is_err());
        assert!(key("find . -name x").is_err());
        assert!(key("apply_patch x").is_err());
        assert!(!grant_covers(
            "pytest -x tests/a.py",
            "pytest -x --pdbcls=x:y tests/a.py"
        ));
        assert!(!grant_covers(
            "cargo test -j 4",
            "cargo test -j 4 --release"
        ));
        // The sixth pass.
        assert!(!grant_covers(
            "make -j 8 test",
            "make -j 'SHELL=/bin/sh -c id' test"
        ));
        assert!(!grant_covers("make test -j 8", "make -j install test"));
        assert!(key("git bisect run make test").is_err());
        assert!(!grant_covers("uvx ruff check .", "uvx evil-package"));
        assert!(key("npm init -y").is_err());
        assert!(!grant_covers("npm init vite", "npm init evil"));
        assert!(key("gcc -c main.c @opts").is_err());
        assert!(key("git show HEAD~1").is_err());
    }
}
