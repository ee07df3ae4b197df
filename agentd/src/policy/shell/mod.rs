//! Shell command lines understood as a shell understands them: the simple commands a line runs
//! (through lists, pipelines, subshells, groups, command and process substitution, and the
//! wrappers that run another command), each with its words and redirections.
//!
//! The parse is tree-sitter's bash grammar (the parser Codex uses for the same job), walked
//! here. Anything the walk cannot fully account for (a loop, a function, a command whose name
//! is computed at run time, a parse error) makes the whole line `Unknown`, and unknown means a
//! person is asked.

mod fast;
mod unwrap;
mod walk;

pub use walk::MAX_COMMAND_BYTES;

/// One word of a command: its text as the shell would pass it when `literal`; when not (it
/// holds a `$VAR`, `$(...)` or `$'...'`), the text as written, for showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub literal: bool,
    /// An unquoted `*` in it: bash replaces it with the file names it matches, which may be
    /// several words, or ones that start with `-`.
    pub glob: bool,
    /// An unquoted expansion in it: bash may split it into several words, or none.
    pub split: bool,
}

impl Word {
    pub fn literal(text: impl Into<String>) -> Word {
        Word {
            text: text.into(),
            literal: true,
            glob: false,
            split: false,
        }
    }

    /// A word computed when it runs, shown as written.
    pub fn computed(text: impl Into<String>) -> Word {
        Word {
            text: text.into(),
            literal: false,
            glob: false,
            split: true,
        }
    }
}

/// A redirection: its operator (`>`, `>>`, `<`, `2>`, `&>`, `<<`, `<<<` ...) and target (a
/// file, a descriptor, or for a here-document its body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub op: String,
    pub target: Word,
}

impl Redirect {
    /// Whether it writes to a file (`>`, `>>`, `>|`, `&>`, `&>>`, `<>`, with any descriptor),
    /// rather than reading or duplicating a descriptor.
    pub fn writes(&self) -> bool {
        let op = self.op.trim_start_matches(|c: char| c.is_ascii_digit());
        matches!(op, ">" | ">>" | ">|" | "&>" | "&>>" | "<>")
            && !(self.target.literal && self.target.text == "/dev/null")
    }
}

/// One simple command a line runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program and its arguments. The program is literal (otherwise the line is unknown)
    /// and written as it was (`/bin/rm`, `rm`); see [`Command::program`].
    pub argv: Vec<Word>,
    pub redirects: Vec<Redirect>,
    /// The wrappers that run it, outermost first (`sudo`, `env`, `xargs`, `find -exec`,
    /// `bash -c` ...), empty when the line runs it directly.
    pub via: Vec<String>,
    /// Variables set for it (`NAME=value cmd`, `env NAME=value cmd`), or, with no program, by
    /// a bare assignment for the rest of the line; by name.
    pub env: Vec<String>,
}

/// Variables that change nothing but output, locale, colour or a test's mode: setting them
/// for a command leaves it what it is. Any other (`PATH`, `LD_PRELOAD`, `GIT_*`, `PAGER`,
/// `BASH_ENV`, `NODE_OPTIONS` ...) can make a harmless program run other code.
pub fn harmless_variable(name: &str) -> bool {
    // Not LANG, LANGUAGE or LC_*: a locale is found by its name, and a name with `../` loads
    // a message catalogue from the project, whose formats a program then prints with.
    const NAMES: [&str; 20] = [
        "CI",
        "NODE_ENV",
        "RUST_BACKTRACE",
        "RUST_LOG",
        "RUST_TEST_THREADS",
        "DEBUG",
        "FORCE_COLOR",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "COLUMNS",
        "LINES",
        "TERM",
        "TZ",
        "CARGO_TERM_COLOR",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTEST_ADDOPTS_COLOR",
        "GIT_TERMINAL_PROMPT",
        "NEXT_TELEMETRY_DISABLED",
    ];
    NAMES.contains(&name)
}

impl Command {
    /// The program's name without its folder (`/usr/bin/rm` → `rm`).
    pub fn program(&self) -> &str {
        let first = self.argv.first().map_or("", |w| w.text.as_str());
        first.rsplit('/').next().unwrap_or(first)
    }

    /// The arguments after the program.
    pub fn args(&self) -> &[Word] {
        self.argv.get(1..).unwrap_or(&[])
    }
}

/// Why a reading stopped: the line is unknown, and why.
pub struct Unknown(pub String);

/// What a command line does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Analysis {
    /// Every simple command it runs, in order.
    Commands(Vec<Command>),
    /// Something in it could not be accounted for: the reason, for people.
    Unknown(String),
}

/// Analyses the command line `line`.
pub fn analyze(line: &str) -> Analysis {
    walk::analyze(line, 0)
}

/// A reading of a line, and whether bash is certain to read it that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub analysis: Analysis,
    /// The line is plain (`fast/`): only syntax whose reading by bash is settled (plain words
    /// and quotes, `$NAME`, `$(...)` of plain lines, lists and pipelines, redirections to a word
    /// or descriptor number, here-documents with a quoted delimiter). Only such a line may be
    /// approved at once or covered by a grant wider than its exact text.
    pub certain: bool,
}

/// Reads `line`: plainly when it can be (certain), else by the full parse (not certain).
pub fn read(line: &str) -> Reading {
    if line.len() <= MAX_COMMAND_BYTES {
        if let Ok(commands) = fast::commands(line, 0) {
            return Reading {
                analysis: Analysis::Commands(commands),
                certain: true,
            };
        }
    }
    Reading {
        analysis: walk::full_or_unknown(line, 0),
        certain: false,
    }
}

/// Whether `line` is plain enough for the quick reading (for the benchmark's figures).
pub fn is_plain(line: &str) -> bool {
    fast::commands(line, 0).is_ok()
}

/// Analyses `line` with the full parse only, never the quick reading of plain lines: what the
/// quick reading must agree with (the differential tests and the benchmark use it).
pub fn analyze_fully(line: &str) -> Analysis {
    walk::full(line, 0)
}

#[cfg(test)]
mod tests;
