//! Proof by running: what the policy approves at once (or a grant made from harmless calls
//! covers) is run for real in a throwaway project with a fake home full of canary secrets,
//! under `strace -f` (`executed.rs`), and read by bash itself (`bash_reads.rs`). Both run over
//! the recorded lines and thousands generated from the red team's classes (`corpus.rs`).

mod bash_reads;
pub mod corpus;
mod executed;
mod red_team;

use std::path::PathBuf;
use std::process::Command as Process;

use agentd::policy::commands::{decide, CommandRule, ShellTool};
use agentd::policy::reach::{of_call, Reach, Shapes};
use agentd::policy::Place;
use agentd_proto::Verdict;

/// How many lines are generated for the proofs: the issue asks for at least 10,000.
pub const GENERATED: usize = 12_000;

/// A throwaway machine in a folder: a home with canary secrets, a project (a git repository)
/// with its own secret and links a clone could carry, stubs for granted programs.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub project: PathBuf,
    pub stubs: PathBuf,
    /// Files that hold (fake) secrets: reading one is a failure.
    pub canaries: Vec<PathBuf>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("home/dev");
        let project = home.join("app");
        let stubs = root.join("stubs");
        for d in [&project.join("src"), &home.join(".ssh"), &stubs] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut canaries = Vec::new();
        for secret in [
            ".ssh/id_rsa",
            ".ssh/id_ed25519",
            ".bashrc",
            ".bash_history",
            ".git-credentials",
            ".netrc",
            ".claude/.credentials.json",
            ".codex/auth.json",
            ".config/gh/hosts.yml",
            ".cargo/credentials.toml",
            ".aws/credentials",
            "app/.env",
            "app/config/credentials.json",
        ] {
            let path = home.join(secret);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("CANARY {secret}\n")).unwrap();
            canaries.push(path);
        }
        for (file, text) in [
            ("README.md", "# app\nhello\n"),
            ("notes.txt", "a b\nc d\n"),
            ("src/main.rs", "fn main() {}\n"),
            ("src/lib.rs", "pub fn x() {}\n"),
            (
                "package.json",
                "{\"name\": \"app\", \"scripts\": {\"test\": \"true\"}}\n",
            ),
            ("Makefile", "test:\n\ttrue\n"),
        ] {
            std::fs::write(project.join(file), text).unwrap();
        }
        std::fs::write(home.join("outside.txt"), "outside\n").unwrap();
        let git = |args: &[&str]| git(&project, &home, args);
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "add",
            "README.md",
            "notes.txt",
            "src",
            "package.json",
            "Makefile",
        ]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "first",
        ]);
        // Old enough that `git status` has no cause to refresh (and write) its index.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for file in [
            "README.md",
            "notes.txt",
            "src/main.rs",
            "src/lib.rs",
            "package.json",
            "Makefile",
        ] {
            let f = std::fs::File::options()
                .write(true)
                .open(project.join(file))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        git(&["update-index", "--really-refresh", "-q"]);
        // Links a cloned repository may carry: into its own control files, and out of it.
        std::os::unix::fs::symlink(project.join(".git/config"), project.join("cfg-link")).unwrap();
        std::os::unix::fs::symlink(home.join("outside.txt"), project.join("out-link")).unwrap();
        // Stubs for the programs grants are made for: they only record how they were called.
        for program in ["make", "npm", "cargo", "mkdir", "python3", "uv", "pytest"] {
            let stub = stubs.join(program);
            std::fs::write(
                &stub,
                "#!/bin/bash\nr=\"${0##*/}\"$'\\037'\nfor w in \"$@\"; do r+=\"$w\"$'\\037'; done\nprintf '%s\\036' \"$r\" >> \"$STUB_LOG\"\n",
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Sandbox {
            _dir: dir,
            root,
            home,
            project,
            stubs,
            canaries,
        }
    }

    pub fn place(&self) -> Place {
        Place {
            project: Some(self.project.clone()),
            home: Some(self.home.clone()),
        }
    }
}

/// Runs git in `dir` with `home` as its home and no system config; it must succeed.
pub fn git(dir: &std::path::Path, home: &std::path::Path, args: &[&str]) {
    let out = Process::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The policy as agentd runs it with the presets: the shell tool and the read-only rules.
pub struct Policy {
    tools: Vec<ShellTool>,
    rules: Vec<CommandRule>,
    secrets: regex::Regex,
}

impl Policy {
    pub fn presets() -> Policy {
        let secrets = agentd::policy::commands::secret_words().unwrap();
        Policy {
            tools: vec![ShellTool {
                name: "Bash".into(),
                pointer: "/command".into(),
                workdir: Vec::new(),
                rules_approve: true,
            }],
            rules: agentd::policy::presets::command_rules(true, &[], &secrets).unwrap(),
            secrets,
        }
    }

    /// Whether `line` is approved at once, and what it reaches if not.
    pub fn verdict(&self, line: &str, place: &Place) -> (bool, Reach) {
        let args = serde_json::json!({ "command": line });
        let found = decide(
            &self.tools,
            &self.rules,
            &self.secrets,
            "Bash",
            &args,
            place,
        );
        let approved = found
            .as_ref()
            .is_some_and(|v| v.verdict == Some(Verdict::Approve));
        let project = place
            .project
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let reach = of_call(
            &Shapes::default(),
            &self.secrets,
            "Bash",
            &args,
            project.as_deref(),
            found.as_ref(),
        );
        (approved, reach)
    }
}

/// The `commands` grant keys a person would make, with the broadest option, from harmless
/// calls: what a grant covers is proven on the lines these keys cover.
pub fn granted_keys(policy: &Policy, place: &Place) -> Vec<Vec<String>> {
    let mut keys = Vec::new();
    for line in [
        "make test",
        "npm run build",
        "cargo test --workspace",
        "mkdir -p build",
        "python3 scripts/check.py --fast",
        "uv run pytest -q",
        "npm test",
    ] {
        match policy.verdict(line, place).1 {
            Reach::Shell { prefixes, .. } => keys.extend(prefixes),
            other => panic!("{line} reaches {other:?}"),
        }
    }
    keys
}

/// Whether `reach` is covered by `keys`: every command by a key, nothing written or read
/// outside.
pub fn covered(reach: &Reach, keys: &[Vec<String>]) -> bool {
    match reach {
        Reach::Shell {
            prefixes,
            writes,
            reads,
        } => {
            !prefixes.is_empty()
                && writes.is_empty()
                && reads.is_empty()
                && prefixes
                    .iter()
                    .all(|p| keys.iter().any(|k| agentd::policy::grant_key::covers(k, p)))
        }
        _ => false,
    }
}

/// The lines the proofs run: recorded and generated, each once.
pub fn lines() -> Vec<String> {
    let mut all = corpus::all_recorded();
    all.extend(corpus::generated(GENERATED));
    let mut seen = std::collections::HashSet::new();
    all.retain(|l| seen.insert(l.clone()));
    all
}

/// The first failures, one a line, for an assertion's message.
pub fn first_failures(failures: &[String]) -> String {
    failures
        .iter()
        .take(30)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

/// `program` on PATH, or a clear failure naming the package that brings it.
pub fn need(program: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{program} is needed for this test: install Debian's {package} (apt-get install {package}); .ci/run does")
    })
}
