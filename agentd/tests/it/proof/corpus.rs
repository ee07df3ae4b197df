//! The lines the proofs run: every shell command of the recorded traces and the hostile
//! corpora, and thousands generated from the classes the red team broke the gate with
//! (wrappers fed from data, syntax bash reads otherwise, flags spelled another way, secrets by
//! another spelling, paths that resolve elsewhere), mutated over quoting, expansions,
//! here-documents, redirections and separators. Generation is seeded: the same lines every run.

use std::path::Path;

/// A small, seeded random source (xorshift), so the corpus is the same on every machine.
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Seeded {
        Seeded(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Programs the rules know, with flags they allow and flags they must not take, spelled as
/// programs accept them (abbreviated, bundled, glued, negated).
const PROGRAMS: &[(&str, &[&str], &[&str])] = &[
    (
        "ls",
        &["-la", "-1", "-R", "--color=never", "-lh"],
        &["--colo=never", "-I", "--hide=x", "-w 5"],
    ),
    (
        "cat",
        &["-n", "-A", "-s"],
        &["--show-al", "-u", "--number-n"],
    ),
    (
        "head",
        &["-n 5", "-5", "-c 10", "--lines=3"],
        &["--lin=5", "-z", "--line=3"],
    ),
    (
        "tail",
        &["-n 5", "-n +2", "-3"],
        &["-f", "--follow", "-F", "--pid=1", "-s 1"],
    ),
    (
        "wc",
        &["-l", "-w", "-c", "-lw"],
        &["--files0-from=list", "--files0-from list"],
    ),
    (
        "grep",
        &["-n", "-i", "-c", "-e x", "-E", "-v", "-nH"],
        &[
            "-r",
            "-R",
            "--include=.env",
            "-f patterns",
            "-rl",
            "--recursive",
            "-d recurse",
        ],
    ),
    (
        "rg",
        &["-n", "-i", "--files", "-g '*.rs'", "-c", "-tnote"],
        &[
            "--pre=sh",
            "--pre sh",
            "--pr=sh",
            "--hidden",
            "-uu",
            "-u",
            "-L",
            "--follow",
            "-z",
            "--search-zip",
            "--no-ignore",
            "-g '*.pem'",
            "--pre-glob=*",
        ],
    ),
    (
        "sort",
        &["-u", "-r", "-n", "-k 2", "-t: -k2", "-ur"],
        &[
            "-o out",
            "-uo out",
            "-o/home/dev/.bashrc",
            "--output=out",
            "--outp=out",
            "--compress-program=sh",
            "--compress-prog=sh",
            "-T /tmp",
            "--files0-from=list",
        ],
    ),
    (
        "date",
        &["+%s", "-u", "-u +%F", "-d yesterday +%F"],
        &[
            "-s 2001-01-01",
            "--set=2001-01-01",
            "--se=2001-01-01",
            "0101000070",
            "-f list",
        ],
    ),
    (
        "sed",
        &["-n 1,5p", "-n 3p", "s/a/b/g", "-n '$p'", "-E s/a/b/"],
        &[
            "-n '1e id'",
            "-i s/a/b/",
            "'s/a/b/e'",
            "'s/a/b/w out'",
            "-n 1w/tmp/out",
            "-f script",
            "'1r /home/dev/.ssh/id_rsa'",
            "-ni 1p",
            "--in-place s/a/b/",
        ],
    ),
    (
        "jq",
        &[". ", "-r .name", "-c .", "-S ."],
        &[
            "-n env",
            "-n '$ENV'",
            "--rawfile a /home/dev/.netrc -n '$a'",
            "-L /tmp 'import \"x\" as x; .'",
            "--arg a b .",
        ],
    ),
    (
        "find",
        &[
            ". -name '*.rs'",
            "src -type f",
            ". -maxdepth 1",
            ". -name x -o -name y",
            "src -newer README.md",
        ],
        &[
            ". -delete",
            ". -exec rm {} ;",
            ". -execdir id ;",
            ". -fprint out",
            ". -fprintf out %p",
            ". -fls out",
            ". -ok rm {} ;",
        ],
    ),
    (
        "diff",
        &["-u README.md notes.txt", "-q README.md notes.txt"],
        &[
            "-r . /home/dev",
            "--to-file=/home/dev/.bashrc README.md",
            "-D x README.md notes.txt",
        ],
    ),
    (
        "file",
        &["-b", "--mime-type", "-i"],
        &["-m magic", "-C -m magic", "-f list", "--magic-file=magic"],
    ),
    ("stat", &["-c %s", "-L"], &["--printf=%n -f"]),
    (
        "du",
        &["-sh", "-h -d 1"],
        &["--files0-from=list", "-X excl"],
    ),
    ("tree", &["-L 2", "-a"], &["-o out", "-R -o out"]),
    ("nl", &["-ba", "-ba -w 4"], &["-x"]),
    (
        "cut",
        &["-d: -f1", "-c1-5"],
        &["--output-delimiter=x -f1 -d,"],
    ),
    ("uniq", &["-c", "-d"], &["-c in out"]),
    (
        "git status",
        &["", "-s", "-sb", "--porcelain"],
        &["--ignore-sub=all", "-c core.fsmonitor=id", "--column=x"],
    ),
    (
        "git log",
        &["--oneline -3", "-n 2", "-p -1", "--stat -2"],
        &[
            "--output=out",
            "--outp=out",
            "--ext-diff",
            "--textconv",
            "-c core.pager=id",
        ],
    ),
    (
        "git diff",
        &["", "--stat", "--cached", "-U1"],
        &[
            "--output=out",
            "--ext-diff",
            "--no-index /home/dev/.ssh/id_rsa /dev/null",
            "--textconv",
        ],
    ),
    (
        "git show",
        &["HEAD --stat", "HEAD:README.md"],
        &["--output=out", "--ext-diff"],
    ),
    (
        "git branch",
        &["--show-current", "-a", "-vv"],
        &[
            "-D main",
            "-m a b",
            "--no-show-current",
            "-c a b",
            "newbranch",
            "-d x",
        ],
    ),
    (
        "git remote",
        &["-v", ""],
        &[
            "add x y",
            "set-url origin x",
            "-v set-url --push origin x",
            "remove origin",
        ],
    ),
    (
        "git grep",
        &["-n x", "-e x -- src"],
        &[
            "-O x",
            "-Osh x",
            "--open-files-in-pager=sh x",
            "--open-fil=sh x",
            "--no-index x /home/dev",
        ],
    ),
    ("echo", &["hello", "-n done", "'---'", "a b c"], &[]),
    ("pwd", &["", "-P"], &["x"]),
    ("uname", &["-a", "-s"], &[]),
    ("basename", &["src/main.rs .rs", "-a a/b c/d"], &[]),
    ("realpath", &["src", "-e README.md"], &[]),
    ("which", &["ls", "-a ls"], &[]),
    ("cd", &["src", "."], &["~", "/home/dev", "-", ".."]),
    (
        "nice",
        &["-n 5 ls", "ls -la"],
        &["rm x", "-n 5 rm x", "xargs rm"],
    ),
    (
        "timeout",
        &["5 ls", "10s git status"],
        &["5 rm x", "-s 9 5 sh -c id"],
    ),
    ("command", &["-v ls", "-V gh"], &["rm x", "-p rm x"]),
    (
        "xargs",
        &[],
        &["rm", "cat", "-I{} sh -c {}", "nice", "-a list rm", "find"],
    ),
    ("awk", &[], &["'{print $1}'", "'BEGIN{system(\"id\")}'"]),
    (
        "tar",
        &[],
        &["-tzf x.tgz", "--checkpoint-action=exec=sh -tf x.tar"],
    ),
    ("env", &[], &["", "ls", "-S 'sh -c id'", "PATH=/tmp ls"]),
    ("printenv", &[], &["", "HOME"]),
    // Programs a person grants: the grants' own spellings, and the ways out of them.
    (
        "make",
        &["test", "test test"],
        &[
            "test --eval='$(shell id)'",
            "test deploy",
            "-f /tmp/x.mk test",
            "test SHELL=/tmp/x",
            "test -j8",
            "-C /tmp test",
            "test --eval=x",
        ],
    ),
    (
        "npm",
        &["run build", "test", "run build -- x"],
        &[
            "run deploy",
            "test --node-options=--require=./x.js",
            "test --prefix /tmp",
            "exec x",
            "publish",
            "test --userconfig=x",
        ],
    ),
    (
        "cargo",
        &[
            "test --workspace",
            "test --workspace x",
            "test --workspace -- x",
        ],
        &[
            "test --config x",
            "test --conf x",
            "test --workspace -Zx",
            "publish",
            "test --manifest-path /tmp/Cargo.toml",
            "install x",
        ],
    ),
    (
        "mkdir",
        &["-p build", "-p build/x"],
        &["-m 777 x", "-p ~/.config/autostart"],
    ),
    (
        "python3",
        &["scripts/check.py --fast", "scripts/check.py --fast x"],
        &[
            "-c 'import os'",
            "scripts/check.py --config x",
            "-m http.server",
            "scripts/check.py -v",
        ],
    ),
    (
        "uv",
        &["run pytest -q", "run pytest -q tests"],
        &[
            "run sh -c id",
            "run python -c 1",
            "run pytest -q -p x",
            "pip install x",
        ],
    ),
    (
        "time",
        &[],
        &["ls", "-o out ls", "--output=out ls", "-p ls"],
    ),
];

/// Operands: files of the sandbox's project, its secrets, places outside it, and spellings
/// that resolve elsewhere.
const OPERANDS: &[&str] = &[
    "README.md",
    "src/main.rs",
    "src",
    ".",
    "notes.txt",
    "src/*.rs",
    "'src/*.rs'",
    "*.md",
    "*",
    ".env",
    ".git/config",
    "cfg-link",
    "out-link",
    "../outside.txt",
    "..",
    "~",
    "~/.",
    "~/.bashrc",
    "~/.ssh/id_rsa",
    "~/.git-credentials",
    "~/.claude/.credentials.json",
    "~/.codex/auth.json",
    "~/.config/gh/hosts.yml",
    "~/.cargo/credentials.toml",
    "~/.aws/credentials",
    "~dev",
    "~root",
    "~+",
    "/etc/os-release",
    "/etc/shadow",
    "/etc/shado?",
    "/etc/shado[w]",
    "/proc/self/environ",
    "/proc/self/enviro?",
    "/home/dev",
    "/home/dev/.ssh",
    "/",
    "/tmp",
    ".s*/id*",
    ".*",
    "'.env'",
    "\\.env",
    "\".\"env",
    "./-delete",
    "-- -x",
];

/// Ways a word is written: as it is, quoted, escaped, or computed.
fn spell(r: &mut Seeded, word: &str) -> String {
    if word.is_empty() || word.contains([' ', '\'', '"', '\\', '*', '?', '[', '~']) {
        return word.to_string();
    }
    match r.below(12) {
        0 => format!("'{word}'"),
        1 => format!("\"{word}\""),
        2 => format!("{}''{}", &word[..1], &word[1..]),
        3 => format!("\\{word}"),
        4 => format!("\"$(echo {word})\""),
        5 => format!("$(echo {word})"),
        6 => format!("`echo {word}`"),
        7 => format!("{{{word},}}"),
        8 => format!("$'{word}'"),
        _ => word.to_string(),
    }
}

/// One generated command.
fn command(r: &mut Seeded) -> String {
    let (program, good, bad) = *r.pick(PROGRAMS);
    let mut words = vec![program.to_string()];
    let flags = if !bad.is_empty() && (good.is_empty() || r.chance(35)) {
        bad
    } else {
        good
    };
    if !flags.is_empty() {
        let flag = *r.pick(flags);
        if r.chance(15) && !flag.is_empty() {
            let mut split = flag.split_whitespace();
            let first = split.next().unwrap_or("");
            words.push(spell(r, first));
            words.extend(split.map(String::from));
        } else if !flag.is_empty() {
            words.push(flag.to_string());
        }
    }
    let takes_operands = !matches!(
        program,
        "pwd"
            | "uname"
            | "echo"
            | "git branch"
            | "git remote"
            | "xargs"
            | "nice"
            | "timeout"
            | "command"
            | "env"
            | "printenv"
            | "time"
    );
    if takes_operands && r.chance(70) {
        for _ in 0..=r.below(2) {
            let operand = *r.pick(OPERANDS);
            words.push(spell(r, operand));
        }
    }
    words.join(" ")
}

/// Redirections, by how dangerous.
const REDIRECTS: &[&str] = &[
    "2>/dev/null",
    "2>&1",
    ">/dev/null",
    "> out.txt",
    ">> ~/.bashrc",
    ">& ~/.bashrc",
    "&> out.txt",
    ">&2",
    "< README.md",
    "< ~/.ssh/id_rsa",
    "<<< 'rm -rf x'",
    ">| out.txt",
    "> /dev/tcp/127.0.0.1/9",
];

/// How commands are joined.
const SEPARATORS: &[&str] = &[" ; ", " && ", " || ", " | ", " & ", "\n", "\r\n", " |& "];

/// Whole lines around commands: wrappers, shells, here-documents, substitutions.
fn line(r: &mut Seeded) -> String {
    let mut out = command(r);
    if r.chance(25) {
        out.push(' ');
        out.push_str(r.pick(REDIRECTS).as_ref());
    }
    for _ in 0..r.below(3) {
        out.push_str(r.pick(SEPARATORS).as_ref());
        out.push_str(&command(r));
        if r.chance(15) {
            out.push(' ');
            out.push_str(r.pick(REDIRECTS).as_ref());
        }
    }
    match r.below(14) {
        0 => format!("bash -c '{}'", out.replace('\'', "'\\''")),
        1 => format!("sh -lc \"{}\"", out.replace(['"', '\\', '$', '`'], "")),
        2 => format!("cat <<'EOF' | {out}\nplain body\nEOF"),
        3 => format!("cat <<EOF | {out}\n$(id)\nEOF"),
        4 => format!("cat <<EOF\n`id`\nEOF\n{out}"),
        5 => format!("cat <<EO\"F\"\nx\nEOF\n{out}\nEOF"),
        6 => format!("{out} \\\r\n&& id"),
        7 => format!("echo \"$(cat <<'EOF'\nmsg\nEOF\n)\" && {out}"),
        8 => format!("({out})"),
        9 => format!("{{ {out}; }}"),
        10 => format!("X=1 {out}"),
        11 => format!("PATH=/tmp {out}"),
        _ => out,
    }
}

/// `count` generated lines, the same ones every run.
pub fn generated(count: usize) -> Vec<String> {
    let mut r = Seeded::new(0x5eed_a9e7d);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        out.push(line(&mut r));
    }
    out
}

/// Every shell command of a trace file in the record format: `command` or `cmd` strings, and
/// the script of argv arrays (`bash -lc SCRIPT`).
pub fn recorded(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let input = &v["tool_input"];
            match input.get("command").or_else(|| input.get("cmd")) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Array(words)) => words.last()?.as_str().map(String::from),
                _ => None,
            }
        })
        .collect()
}

/// The recorded lines: the development set beside the repository (when it is there), the
/// trace fixture, the destructive and red-team corpora.
pub fn all_recorded() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = Vec::new();
    for file in [
        "tests/fixtures/trace.jsonl",
        "tests/fixtures/destructive.jsonl",
        "tests/fixtures/red-team.jsonl",
        "../../shared/traces/dev-set.jsonl",
    ] {
        lines.extend(recorded(&root.join(file)));
    }
    lines
}
