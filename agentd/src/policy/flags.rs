//! A command rule's allowlist of flags and operands, and the reading of a command's arguments
//! against it as the program itself reads them: long options exactly as listed (an
//! abbreviation, which GNU getopt and git would accept, is not on the list and so asks),
//! bundled short options (`-uo F` is `-u -o F`), values attached (`-o/x`, `--key=2`) or in the
//! next word, `--` ending the options, and numbers as options (`head -20`) where listed.
//!
//! Only what the list names passes; every value and operand is typed (a count, a file that
//! is read, a pattern, text, a sed script that only prints, a jq filter that cannot read the
//! environment), so the rule can check what each word will be used for.

use std::collections::HashMap;

use crate::policy::shell::Word;

/// What a flag's value or an operand is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number, optionally signed or with a size suffix (`20`, `+5`, `10K`).
    Count,
    /// A file or folder the program reads: it must be somewhere reads are harmless.
    Path,
    /// A file the program reads, never a folder (`diff` compares every file of two folders).
    File,
    /// A path git reads in its repository (`git diff PATH`, `HEAD:PATH`): only the project
    /// counts (a path outside it turns `git diff` into a comparison of any two folders).
    Pathspec,
    /// A pathspec of the working tree: it must be there (a word that is not could be a
    /// revision, and git would print what history holds).
    Worktree,
    /// A git `--format`: no `%G` placeholder (it runs gpg to check signatures).
    GitFormat,
    /// A pattern or any other text the program only matches or prints.
    Text,
    /// A sed script that only prints lines by number (`1,200p`, `$p`).
    SedPrint,
    /// A jq filter that does not read the environment or load modules.
    JqFilter,
    /// A `date` output format (`+%s`): any other operand sets the clock.
    DateFormat,
    /// A pattern of file names to search (`rg -g '*.ts'`): it must not match a secret's name.
    FileGlob,
    /// A type of files to search (`rg -t json`), which makes hidden files of it searched too.
    FileType,
    /// The command a wrapper runs, with its arguments: judged as a command of its own.
    Command,
}

/// Whether a flag takes a value, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    No,
    /// In the same word or the next (`-n 5`, `-n5`, `--lines=5`, `--lines 5`).
    Required(Kind),
    /// Only in the same word (`--color=auto`, `-uno`): the next word is never its value.
    Optional(Kind),
}

impl Kind {
    /// Whether words of this kind are files read.
    pub fn is_path(self) -> bool {
        matches!(
            self,
            Kind::Path | Kind::File | Kind::Pathspec | Kind::Worktree
        )
    }

    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "count" => Kind::Count,
            "path" => Kind::Path,
            "file" => Kind::File,
            "pathspec" => Kind::Pathspec,
            "worktree" => Kind::Worktree,
            "git-format" => Kind::GitFormat,
            "text" | "pattern" => Kind::Text,
            "sed-print" => Kind::SedPrint,
            "jq-filter" => Kind::JqFilter,
            "date-format" => Kind::DateFormat,
            "file-glob" => Kind::FileGlob,
            "file-type" => Kind::FileType,
            "command" => Kind::Command,
            _ => return None,
        })
    }

    /// Whether `text` is acceptable as this kind (paths are checked by the caller).
    fn accepts(self, text: &str) -> bool {
        match self {
            Kind::Count => {
                let t = text.trim_start_matches(['+', '-']);
                let digits = t.trim_end_matches(|c: char| "kKmMgGbB".contains(c));
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            }
            Kind::Path | Kind::File | Kind::Pathspec | Kind::Worktree | Kind::Text => true,
            Kind::GitFormat => !text.contains("%G"),
            Kind::SedPrint => sed_prints(text),
            Kind::JqFilter => jq_harmless(text),
            Kind::DateFormat => text.starts_with('+'),
            Kind::FileGlob => {
                // Only `*` as a wildcard, never a hidden name (a glob that names one makes rg
                // search it), and no secret's name in any case of letters.
                let pattern = text.trim_start_matches('!');
                !pattern.contains(['?', '[', '{', '}', '\\'])
                    && !pattern.starts_with('.')
                    && !pattern.contains("/.")
                    && !super::reads::may_match_secret(&pattern.to_lowercase())
            }
            Kind::Command => true,
            Kind::FileType => text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        }
    }
}

/// How a program reads its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// GNU getopt and its kin (git, gh, cargo): `-abc` bundles, `--name[=value]`, `--`.
    #[default]
    Gnu,
    /// One option a word, however many dashes (`find -name x -o -type f`); `!`, `(`, `)` are
    /// expression words, and operands come before the first option.
    Find,
    /// Every word is printed, whatever it looks like (`echo`).
    Text,
    /// One flag a word, its value in the next word, operands anywhere (`tree`: `-Io` is `-I`
    /// then `-o`, each taking a word of its own, never `-I o`).
    Separate,
}

/// A compiled allowlist.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    /// By spelling (`-n`, `--lines`): the kind of its value, if it takes one.
    flags: HashMap<String, Value>,
    /// Whether `-NUM` is an option (`head -20`).
    numbers: bool,
    /// The operands' kinds in order; the last repeats when it ends the list with `...`.
    operands: Vec<Kind>,
    repeats: bool,
    /// Flags that give the first operand instead (`grep -e PATTERN`).
    first_operand_flags: Vec<String>,
    style: Style,
}

/// Why an entry's allowlist is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error("flag {0:?} is not `-x`, `--name`, either with ` <kind>`, or `--name[=<kind>]`")]
    Flag(String),
    #[error("unknown kind {0:?} (count, path, file, pathspec, worktree, text, pattern, file-glob, file-type, sed-print, jq-filter, date-format, git-format, command)")]
    Kind(String),
    #[error("style {0:?} is not \"gnu\", \"find\", \"text\" or \"separate\"")]
    Style(String),
}

impl Allowlist {
    /// `flags` as written in a rule (`"-n"`, `"-n <count>"`, `"--key <text>"`, `"-NUM"`),
    /// `operands` (`["pattern", "path..."]`).
    pub fn compile(
        flags: &[String],
        operands: &[String],
        first_operand_flags: &[String],
        style: Option<&str>,
    ) -> Result<Allowlist, AllowlistError> {
        let mut list = Allowlist {
            style: match style {
                None | Some("gnu") => Style::Gnu,
                Some("find") => Style::Find,
                Some("text") => Style::Text,
                Some("separate") => Style::Separate,
                Some(other) => return Err(AllowlistError::Style(other.into())),
            },
            first_operand_flags: first_operand_flags.to_vec(),
            ..Allowlist::default()
        };
        for flag in flags {
            if flag == "-NUM" {
                list.numbers = true;
                continue;
            }
            let kind_of = |k: &str| -> Result<Kind, AllowlistError> {
                let k = k
                    .strip_prefix('<')
                    .and_then(|k| k.strip_suffix('>'))
                    .ok_or_else(|| AllowlistError::Flag(flag.clone()))?;
                Kind::parse(k).ok_or_else(|| AllowlistError::Kind(k.into()))
            };
            let (name, kind) = if let Some((name, kind)) = flag.split_once(' ') {
                (name, Value::Required(kind_of(kind)?))
            } else if let Some((name, rest)) = flag.split_once('[') {
                let kind = rest
                    .strip_suffix(']')
                    .map(|k| k.strip_prefix('=').unwrap_or(k))
                    .ok_or_else(|| AllowlistError::Flag(flag.clone()))?;
                (name, Value::Optional(kind_of(kind)?))
            } else {
                (flag.as_str(), Value::No)
            };
            let short = name.len() == 2 && name.starts_with('-') && name != "--";
            let long = name.len() > 2 && name.starts_with('-');
            if !(short || long) || name.contains('=') {
                return Err(AllowlistError::Flag(flag.clone()));
            }
            list.flags.insert(name.to_string(), kind);
        }
        for (i, operand) in operands.iter().enumerate() {
            let (name, repeats) = match operand.strip_suffix("...") {
                Some(name) => (name, true),
                None => (operand.as_str(), false),
            };
            if repeats && i + 1 != operands.len() {
                return Err(AllowlistError::Kind(operand.clone()));
            }
            list.repeats = repeats;
            list.operands
                .push(Kind::parse(name).ok_or_else(|| AllowlistError::Kind(name.into()))?);
        }
        Ok(list)
    }

    /// Reads `args` (the words after the rule's prefix): every word with what it is, or why
    /// the program would read one differently from anything the list allows.
    pub fn read<'w>(&self, args: &'w [Word]) -> Result<Vec<(Kind, &'w Word)>, String> {
        let mut typed = Vec::new();
        let mut operands = Vec::new();
        let mut options_done = false;
        let mut gave_first = false;
        let mut i = 0;
        while i < args.len() {
            let word = &args[i];
            i += 1;
            let text = word.text.as_str();
            // A word that is computed, or globbed from its first character, may become an
            // option when it runs.
            if !word.literal {
                return Err(format!("{text} is computed when it runs"));
            }
            if word.glob && text.starts_with('*') {
                return Err(format!("{text} can match a file whose name is an option"));
            }
            if options_done || text == "-" || !text.starts_with('-') || self.style == Style::Text {
                if self.style == Style::Find && !options_done {
                    if matches!(text, "!" | "(" | ")" | ",") {
                        // Expression words: from here on, no more start paths.
                        options_done = false;
                        gave_first = true;
                        continue;
                    }
                    if gave_first {
                        return Err(format!("{text} is not part of find's expression"));
                    }
                }
                // A wrapper's command starts here: its words are its own.
                let at = operands.len() + usize::from(gave_first && self.style == Style::Gnu);
                let kind = self
                    .operands
                    .get(at)
                    .or(self.operands.last().filter(|_| self.repeats));
                if kind == Some(&Kind::Command) {
                    break;
                }
                operands.push(word);
                continue;
            }
            if text == "--" {
                // find reads its whole expression after `--` still; only getopt's programs
                // take what follows as operands.
                if self.style != Style::Find {
                    options_done = true;
                }
                continue;
            }
            if matches!(self.style, Style::Find | Style::Separate) {
                gave_first |= self.style == Style::Find;
                if let Value::Required(kind) | Value::Optional(kind) = self.flag(text)? {
                    let value = args.get(i).ok_or_else(|| format!("{text} needs a value"))?;
                    i += 1;
                    typed.push((kind, self.value(kind, value)?));
                }
                continue;
            }
            if let Some(long) = text.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (format!("--{n}"), Some(v)),
                    None => (text.to_string(), None),
                };
                let kind = self.flag(&name)?;
                gave_first |= self.first_operand_flags.contains(&name);
                match (kind, inline) {
                    (Value::No, Some(_)) => return Err(format!("{name} takes no value")),
                    (Value::No | Value::Optional(_), None) => {}
                    (Value::Required(kind) | Value::Optional(kind), Some(v)) => {
                        if !kind.accepts(v) || kind.is_path() || kind == Kind::Command {
                            return Err(format!("{name}={v}: not a {}", describe(kind)));
                        }
                        // Seen like a value in the next word (a file type, a glob count).
                        typed.push((kind, word));
                    }
                    (Value::Required(kind), None) => {
                        let value = args.get(i).ok_or_else(|| format!("{name} needs a value"))?;
                        i += 1;
                        typed.push((kind, self.value(kind, value)?));
                    }
                }
                continue;
            }
            // Short options, bundled: each letter in turn; one that takes a value takes the
            // rest of the word, or the next word.
            let letters = &text[1..];
            if self.numbers && letters.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            for (at, c) in letters.char_indices() {
                let name = format!("-{c}");
                let kind = self.flag(&name)?;
                gave_first |= self.first_operand_flags.contains(&name);
                let rest = &letters[at + c.len_utf8()..];
                if let Value::Optional(kind) = kind {
                    if !rest.is_empty() {
                        if !kind.accepts(rest) || kind.is_path() {
                            return Err(format!("{name}{rest}: a value glued to {name}"));
                        }
                        typed.push((kind, word));
                    }
                    break;
                }
                if let Value::Required(kind) = kind {
                    if rest.is_empty() {
                        let value = args.get(i).ok_or_else(|| format!("{name} needs a value"))?;
                        i += 1;
                        typed.push((kind, self.value(kind, value)?));
                    } else if !kind.accepts(rest) || kind.is_path() {
                        // A path glued to its flag is not checked as one: asks.
                        return Err(format!("{name}{rest}: a value glued to {name}"));
                    } else {
                        typed.push((kind, word));
                    }
                    break;
                }
            }
        }
        let mut kinds = self.operands.clone();
        if gave_first && !kinds.is_empty() && self.style == Style::Gnu {
            kinds.remove(0);
        }
        for (n, word) in operands.into_iter().enumerate() {
            let kind = match kinds.get(n) {
                Some(kind) => *kind,
                None if self.repeats && !kinds.is_empty() => kinds[kinds.len() - 1],
                None => return Err(format!("{}: no operand is expected here", word.text)),
            };
            if kind == Kind::Command {
                // The rest is the command run, with its own flags: judged on its own.
                break;
            }
            typed.push((kind, self.value(kind, word)?));
        }
        Ok(typed)
    }

    /// Whether its operands are files it reads.
    pub fn reads_paths(&self) -> bool {
        self.operands.iter().any(|k| k.is_path())
    }

    fn flag(&self, name: &str) -> Result<Value, String> {
        self.flags
            .get(name)
            .copied()
            .ok_or_else(|| format!("{name} is not among the flags this rule knows"))
    }

    fn value<'w>(&self, kind: Kind, word: &'w Word) -> Result<&'w Word, String> {
        if !word.literal {
            return Err(format!("{} is computed when it runs", word.text));
        }
        if word.glob && (!kind.is_path() || word.text.starts_with('*')) {
            return Err(format!("{}: a pattern the shell expands", word.text));
        }
        if !kind.accepts(&word.text) {
            return Err(format!("{}: not a {}", word.text, describe(kind)));
        }
        // binutils (strings) read `@FILE` as more arguments, printing what FILE holds.
        if kind.is_path() && word.text.starts_with('@') {
            return Err(format!("{}: read as a file of arguments", word.text));
        }
        Ok(word)
    }
}

fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Count => "count",
        Kind::Path => "path",
        Kind::File => "file (not a folder)",
        Kind::Pathspec => "path in the project",
        Kind::Worktree => "file of the working tree",
        Kind::GitFormat => "git format without %G",
        Kind::Text => "text",
        Kind::SedPrint => "sed script that only prints lines",
        Kind::JqFilter => "jq filter that reads no environment or module",
        Kind::DateFormat => "date format (+...)",
        Kind::FileGlob => "file pattern that matches no secret's name",
        Kind::FileType => "file type",
        Kind::Command => "command",
    }
}

/// `N`, `N,M`, `$`, `N,$` followed by `p`, or one substitution `s/RE/TEXT/` with only the
/// flags `g`, `p`, `i`, `I` and a count: printing or rewriting lines on the way through, and
/// nothing else (sed's `e` runs a command, `w` writes a file, `r` reads one; several commands
/// are not read here).
fn sed_prints(script: &str) -> bool {
    sed_line_print(script) || sed_substitutes(script)
}

fn sed_substitutes(script: &str) -> bool {
    let mut chars = script.chars();
    if chars.next() != Some('s') {
        return false;
    }
    let Some(delim) = chars.next() else {
        return false;
    };
    if delim.is_alphanumeric() || delim == '\\' || delim == '\n' || delim == ' ' {
        return false;
    }
    // The pattern and the replacement, each up to an unescaped delimiter.
    for _ in 0..2 {
        loop {
            match chars.next() {
                None | Some('\n') => return false,
                Some('\\') => {
                    if matches!(chars.next(), None | Some('\n')) {
                        return false;
                    }
                }
                Some(c) if c == delim => break,
                Some(_) => {}
            }
        }
    }
    chars.all(|c| matches!(c, 'g' | 'p' | 'i' | 'I') || c.is_ascii_digit())
}

fn sed_line_print(script: &str) -> bool {
    let Some(range) = script.strip_suffix('p') else {
        return false;
    };
    let address = |a: &str| a == "$" || (!a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
    match range.split_once(',') {
        Some((a, b)) => address(a) && address(b),
        None => address(range),
    }
}

/// A jq filter that cannot read the environment (`env`, `$ENV`) or load modules
/// (`import`, `include`), whatever else it computes.
fn jq_harmless(filter: &str) -> bool {
    let words: Vec<&str> = filter
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .collect();
    !words.iter().any(|w| {
        matches!(
            *w,
            "env"
                | "ENV"
                | "$ENV"
                | "import"
                | "include"
                | "input_filename"
                | "$__prog_args"
                | "getpath"
                | "modulemeta"
                | "get_search_list"
                | "$__loc__"
        ) || w.starts_with("$__")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Word> {
        line.split_whitespace().map(Word::literal).collect()
    }

    fn list(flags: &[&str], operands: &[&str]) -> Allowlist {
        let f: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let o: Vec<String> = operands.iter().map(|s| s.to_string()).collect();
        Allowlist::compile(&f, &o, &["-e".into()], None).unwrap()
    }

    #[test]
    fn bundles_abbreviations_and_attached_values_are_read_as_getopt_reads_them() {
        let sort = list(
            &["-u", "-r", "-n", "-k <text>", "--key <text>"],
            &["path..."],
        );
        assert!(sort.read(&words("-ur -k 2 names.txt")).is_ok());
        assert!(sort.read(&words("-uk2 names.txt")).is_ok());
        assert!(sort.read(&words("--key=2 names.txt")).is_ok());
        // -o hides in a bundle or is glued to its value: not on the list.
        assert!(sort.read(&words("-uo out names.txt")).is_err());
        assert!(sort.read(&words("-o/home/dev/.bashrc")).is_err());
        // Abbreviations of long options are other spellings: not on the list.
        assert!(sort.read(&words("--compress-prog=sh x")).is_err());
        assert!(sort.read(&words("--ke=2 x")).is_err());
        // After `--`, words are operands.
        assert!(sort.read(&words("-- -o")).is_ok());
    }

    #[test]
    fn operands_are_typed() {
        let sed = list(&["-n"], &["sed-print", "path..."]);
        assert!(sed.read(&words("-n 1,200p src/main.rs")).is_ok());
        assert!(sed.read(&words("-n 1e_id src/main.rs")).is_err());
        assert!(sed.read(&words("-n 1w/tmp/x src/main.rs")).is_err());
        assert!(sed.read(&words("s|types/|| x")).is_ok());
        assert!(sed.read(&words("s/a/b/g x")).is_ok());
        assert!(sed.read(&words("s/a/b/e x")).is_err());
        assert!(sed.read(&words("s/a/b/w/tmp/out x")).is_err());
        assert!(sed.read(&words("s/a/b/;e x")).is_err());
        assert!(sed.read(&words("s/a\\/b/c/ x")).is_ok());
        let jq = list(&["-r"], &["jq-filter", "path..."]);
        assert!(jq.read(&words("-r .name package.json")).is_ok());
        assert!(jq.read(&words("-n env")).is_err());
        assert!(jq.read(&words("-r $ENV.HOME")).is_err());
        // jq reads `$ ENV` as `$ENV`.
        assert!(jq.read(&[Word::literal("$ ENV.FOO")]).is_err());
        let date = list(&["-u"], &["date-format"]);
        assert!(date.read(&words("-u +%s")).is_ok());
        assert!(date.read(&words("0101000070")).is_err());
    }

    #[test]
    fn a_glob_that_starts_with_a_wildcard_can_become_an_option() {
        let wc = list(&["-l"], &["path..."]);
        let mut glob = Word::literal("*.rs");
        glob.glob = true;
        assert!(wc.read(&[glob]).is_err());
        let mut glob = Word::literal("src/*.rs");
        glob.glob = true;
        assert!(wc.read(&[glob]).is_ok());
    }

    #[test]
    fn find_reads_one_option_a_word() {
        let f: Vec<String> = ["-name <pattern>", "-type <text>", "-o", "-maxdepth <count>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let find = Allowlist::compile(&f, &["path...".into()], &[], Some("find")).unwrap();
        assert!(find
            .read(&words("src -maxdepth 2 ( -name x -o -type f )"))
            .is_ok());
        assert!(find.read(&words(". -name x -delete")).is_err());
        assert!(find.read(&words(". -name x -fprintf out %p")).is_err());
        // `--` ends find's options, not its expression.
        assert!(find.read(&words("-- . -delete")).is_err());
        assert!(find.read(&words("-- . -fprintf .git/config x")).is_err());
    }
}
