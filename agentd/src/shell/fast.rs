//! A quick reading of the plainest command lines, before the full parse: words of plain
//! characters, single and double quotes, `$NAME`, `${NAME}` and `$(...)`, lists, pipelines,
//! and redirections to a word or a descriptor. Anything else (a backslash, a glob bracket, a
//! brace, a here-document, a subshell, a keyword, a comment, any character it does not know)
//! hands the line to tree-sitter's parse, which reads everything.
//!
//! It exists for speed: tree-sitter's bash grammar takes about 0.2 µs a byte, this a small
//! fraction of that. It must never read a line differently from the full parse, which the
//! differential tests check (`shell/tests.rs`) on every line of the trace fixture and the
//! destructive corpus and on generated lines: where this answers, the answer is the same.

use super::unwrap::{unwrap, wrapper};
use super::{Command, Redirect, Word};

/// Why the quick reading gave up: the full parse decides.
pub struct NotPlain;

/// Words the full parse reads as more than a command name, or that change how the rest reads.
fn keyword(word: &str) -> bool {
    matches!(
        word,
        "if" | "then"
            | "else"
            | "elif"
            | "fi"
            | "do"
            | "done"
            | "case"
            | "esac"
            | "while"
            | "until"
            | "for"
            | "in"
            | "function"
            | "select"
            | "time"
            | "coproc"
            | "["
            | "[["
            | "]]"
            | "!"
            | "{"
            | "}"
            | "export"
            | "declare"
            | "typeset"
            | "local"
            | "readonly"
            | "unset"
            | "unsetenv"
    )
}

/// The simple commands `line` runs, wrappers followed (at nesting `depth`); `Err(NotPlain)`
/// when the line is not plain enough to read here, or holds something unknown (the full parse
/// then says what).
pub fn commands(line: &str, depth: usize) -> Result<Vec<Command>, NotPlain> {
    let mut reader = Reader {
        src: line.as_bytes(),
        pos: 0,
        out: Vec::new(),
        chain: 0,
        depth,
    };
    reader.list(false)?;
    if reader.pos != reader.src.len() {
        return Err(NotPlain);
    }
    Ok(reader.out)
}

struct Reader<'a> {
    src: &'a [u8],
    pos: usize,
    out: Vec<Command>,
    /// Where the current `&&`/`||` chain's commands start in `out`: the full parse lets a
    /// redirection reach every command of the chain before it, so this reading does too (it
    /// only ever makes more of the line count as writing).
    chain: usize,
    depth: usize,
}

/// Bytes that are a word's own, unquoted.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-./:=@%+,^~*".contains(&b)
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, s: &[u8]) -> bool {
        self.src[self.pos..].starts_with(s)
    }

    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Pipelines joined by `;`, `&&`, `||`, `&` and newlines, up to the end (or, inside `$(`,
    /// up to its `)`).
    fn list(&mut self, inside: bool) -> Result<(), NotPlain> {
        let mut expect_command = true;
        let outer_chain = self.chain;
        self.chain = self.out.len();
        let result = self.list_items(inside, &mut expect_command);
        self.chain = outer_chain;
        result
    }

    fn list_items(&mut self, inside: bool, expect_command: &mut bool) -> Result<(), NotPlain> {
        // After `&&` or `||` a command must follow.
        let mut dangling = false;
        loop {
            self.blanks();
            match self.peek() {
                None if dangling || inside => return Err(NotPlain),
                None => return Ok(()),
                Some(b')') if inside && !dangling => return Ok(()),
                Some(b'\n') => {
                    self.pos += 1;
                    // A newline ends a command (or, after `&&`, waits for the next).
                    *expect_command = true;
                    if !dangling {
                        self.chain = self.out.len();
                    }
                }
                Some(b';') if !*expect_command && !self.at(b";;") => {
                    self.pos += 1;
                    *expect_command = true;
                    self.chain = self.out.len();
                }
                Some(b'&') if !*expect_command && self.at(b"&&") => {
                    self.pos += 2;
                    *expect_command = true;
                    dangling = true;
                    self.newlines();
                }
                Some(b'&') if !*expect_command && !self.at(b"&>") => {
                    self.pos += 1;
                    *expect_command = true;
                    self.chain = self.out.len();
                }
                Some(b'|') if !*expect_command && self.at(b"||") => {
                    self.pos += 2;
                    *expect_command = true;
                    dangling = true;
                    self.newlines();
                }
                _ if *expect_command => {
                    self.pipeline()?;
                    *expect_command = false;
                    dangling = false;
                }
                _ => return Err(NotPlain),
            }
        }
    }

    fn newlines(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n')) {
            self.pos += 1;
        }
    }

    fn pipeline(&mut self) -> Result<(), NotPlain> {
        loop {
            self.command()?;
            self.blanks();
            if self.peek() == Some(b'|') && !self.at(b"||") {
                if self.at(b"|&") {
                    return Err(NotPlain);
                }
                self.pos += 1;
                self.newlines();
                continue;
            }
            return Ok(());
        }
    }

    /// One simple command: assignments, words and redirections.
    fn command(&mut self) -> Result<(), NotPlain> {
        let first = self.out.len();
        let mut argv: Vec<Word> = Vec::with_capacity(8);
        let mut env = Vec::new();
        let mut redirects = Vec::new();
        loop {
            self.blanks();
            let Some(b) = self.peek() else { break };
            if matches!(b, b'\n' | b';' | b'|' | b')') || (b == b'&' && !self.at(b"&>")) {
                break;
            }
            if let Some(redirect) = self.redirect()? {
                // A redirection before the words is grouped differently by the full parse.
                if argv.is_empty() {
                    return Err(NotPlain);
                }
                redirects.push(redirect);
                continue;
            }
            if !redirects.is_empty() {
                // Words after a redirection: left to the full parse.
                return Err(NotPlain);
            }
            if argv.is_empty() {
                if let Some(name) = self.assignment()? {
                    env.push(name);
                    continue;
                }
            }
            let from = self.pos;
            let word = self.word()?;
            // The program: plain characters only, and no keyword.
            let program_plain = self.src[from..self.pos]
                .iter()
                .all(|b| plain(*b) && !b"%^*".contains(b));
            // A program with `=` in its name (`5a=b`) is read as an assignment by the full
            // parse, though the shell runs it: left to the full parse.
            if argv.is_empty() && (!program_plain || word.text.contains('=') || keyword(&word.text))
            {
                return Err(NotPlain);
            }
            argv.push(word);
        }
        if argv.is_empty() {
            // Assignments alone: what the full parse does with them is left to it.
            return Err(NotPlain);
        }
        // Wrappers are followed before the redirections are added, as the full parse does.
        let command = Command {
            argv,
            redirects: Vec::new(),
            via: Vec::new(),
            env,
        };
        if wrapper(command.program()) {
            let found = unwrap(command, self.depth).map_err(|_| NotPlain)?;
            self.out.extend(found);
        } else {
            self.out.push(command);
        }
        if !redirects.is_empty() {
            // As the full parse does: a redirection reaches what the command's substitutions
            // run, and the commands before it in its `&&`/`||` chain and its pipeline (only
            // ever making more of the line count as writing).
            let from = self.chain.min(first);
            for command in &mut self.out[from..] {
                command.redirects.extend(redirects.iter().cloned());
            }
        }
        Ok(())
    }

    /// `NAME=value` before the program: the name, with the value read (and its substitutions
    /// run); `None` if the next word is not an assignment.
    fn assignment(&mut self) -> Result<Option<String>, NotPlain> {
        let start = self.pos;
        let mut end = start;
        while self
            .src
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            end += 1;
        }
        let named = end > start && !self.src[start].is_ascii_digit();
        if !named || self.src.get(end) != Some(&b'=') {
            return Ok(None);
        }
        let name = String::from_utf8_lossy(&self.src[start..end]).into_owned();
        self.pos = end + 1;
        match self.peek() {
            // An empty value.
            None | Some(b' ' | b'\t' | b'\n' | b';' | b'&' | b'|') => {}
            Some(b'(') => return Err(NotPlain),
            Some(_) => {
                self.word()?;
            }
        }
        Ok(Some(name))
    }

    /// A redirection at this point, if one starts here.
    fn redirect(&mut self) -> Result<Option<Redirect>, NotPlain> {
        let start = self.pos;
        let mut op = String::new();
        let mut p = self.pos;
        while self.src.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        let digits = p > start;
        let rest = &self.src[p..];
        let operator: &[u8] = if rest.starts_with(b">>") {
            b">>"
        } else if rest.starts_with(b">&") {
            b">&"
        } else if rest.starts_with(b">|") || rest.starts_with(b"<<") || rest.starts_with(b"<>") {
            return Err(NotPlain);
        } else if rest.starts_with(b"<&") {
            b"<&"
        } else if rest.starts_with(b">") {
            b">"
        } else if rest.starts_with(b"<") {
            if rest.starts_with(b"<(") {
                return Err(NotPlain);
            }
            b"<"
        } else if !digits && rest.starts_with(b"&>>") {
            b"&>>"
        } else if !digits && rest.starts_with(b"&>") {
            b"&>"
        } else {
            return Ok(None);
        };
        // A descriptor before `<` is read as a word by the full parse: left to it.
        if digits && operator.starts_with(b"<") {
            return Err(NotPlain);
        }
        // Glued to the word before it (`x>f`, `-exec2>f`), the full parse may read the word
        // as part of the redirection: left to it.
        if start > 0
            && !matches!(
                self.src[start - 1],
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|'
            )
        {
            return Err(NotPlain);
        }
        if digits {
            op.push_str(&String::from_utf8_lossy(&self.src[start..p]));
        }
        op.push_str(&String::from_utf8_lossy(operator));
        self.pos = p + operator.len();
        // `>(...)`, and `>&-` (closing a descriptor), are left to the full parse.
        if self.at(b">(") || self.at(b"(") || (operator.ends_with(b"&") && self.at(b"-")) {
            return Err(NotPlain);
        }
        self.blanks();
        match self.peek() {
            None | Some(b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b')') => Err(NotPlain),
            Some(_) => {
                let target = self.word()?;
                // A computed target (and what its substitutions run, which the full parse
                // orders after the command) is left to the full parse.
                if !target.literal {
                    return Err(NotPlain);
                }
                Ok(Some(Redirect { op, target }))
            }
        }
    }

    /// One word: plain runs, quotes and expansions, up to a blank or an operator.
    fn word(&mut self) -> Result<Word, NotPlain> {
        let mut text = String::new();
        let mut literal = true;
        let start = self.pos;
        let mut parts = 0;
        let mut empty_quotes = false;
        let mut quoted = false;
        loop {
            parts += 1;
            match self.peek() {
                Some(b) if plain(b) => {
                    let from = self.pos;
                    while self.peek().is_some_and(plain) {
                        self.pos += 1;
                    }
                    text.push_str(&String::from_utf8_lossy(&self.src[from..self.pos]));
                }
                Some(b'\'') => {
                    let from = self.pos + 1;
                    let len = self.src[from..]
                        .iter()
                        .position(|b| *b == b'\'')
                        .ok_or(NotPlain)?;
                    let inner = &self.src[from..from + len];
                    empty_quotes |= inner.is_empty();
                    quoted = true;
                    if !inner
                        .iter()
                        .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
                    {
                        return Err(NotPlain);
                    }
                    text.push_str(&String::from_utf8_lossy(inner));
                    self.pos = from + len + 1;
                }
                Some(b'"') => {
                    self.pos += 1;
                    empty_quotes |= self.peek() == Some(b'"');
                    quoted = true;
                    loop {
                        match self.peek() {
                            None => return Err(NotPlain),
                            Some(b'"') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b'$') => {
                                let (raw, _) = self.expansion()?;
                                literal = false;
                                text.push_str(&raw);
                            }
                            Some(b'\\' | b'`' | b'!') => return Err(NotPlain),
                            Some(b) if (0x20..0x7f).contains(&b) || b == b'\t' => {
                                text.push(char::from(b));
                                self.pos += 1;
                            }
                            Some(_) => return Err(NotPlain),
                        }
                    }
                }
                Some(b'$') => {
                    // Anywhere but first in a word (`"a"b$X`, `x$HOME`), the full parse can
                    // lose the `$`: left to it.
                    if quoted || self.pos != start {
                        return Err(NotPlain);
                    }
                    let (raw, _) = self.expansion()?;
                    literal = false;
                    text.push_str(&raw);
                }
                _ => break,
            }
        }
        if self.pos == start {
            return Err(NotPlain);
        }
        // Empty quotes joined to more (`''""$HOME`) confuse the full parse: left to it.
        if empty_quotes && parts > 2 {
            return Err(NotPlain);
        }
        // A word of glob characters alone, or one that opens a comment, is left to the full
        // parse; so is `~` anywhere but first.
        let raw = &self.src[start..self.pos];
        if raw.iter().skip(1).any(|b| *b == b'~') {
            return Err(NotPlain);
        }
        // The full parse reads `==` and `=~` as test operators, not words.
        if raw.starts_with(b"==") || raw.starts_with(b"=~") {
            return Err(NotPlain);
        }
        Ok(Word { text, literal })
    }

    /// `$NAME`, `${NAME}` or `$(...)` (whose commands are read into the output): the text as
    /// written, and whether it ran commands.
    fn expansion(&mut self) -> Result<(String, bool), NotPlain> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'(') => {
                if self.at(b"((") {
                    return Err(NotPlain);
                }
                self.pos += 1;
                let before = self.out.len();
                self.list(true)?;
                // An empty substitution is left to the full parse.
                if self.peek() != Some(b')') || self.out.len() == before {
                    return Err(NotPlain);
                }
                self.pos += 1;
                let raw = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                Ok((raw, true))
            }
            Some(b'{') => {
                self.pos += 1;
                self.name()?;
                if self.peek() != Some(b'}') {
                    return Err(NotPlain);
                }
                self.pos += 1;
                Ok((
                    String::from_utf8_lossy(&self.src[start..self.pos]).into_owned(),
                    false,
                ))
            }
            _ => {
                self.name()?;
                Ok((
                    String::from_utf8_lossy(&self.src[start..self.pos]).into_owned(),
                    false,
                ))
            }
        }
    }

    /// A variable's name: a letter or `_`, then letters, digits and `_`.
    fn name(&mut self) -> Result<(), NotPlain> {
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
            _ => return Err(NotPlain),
        }
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.pos += 1;
        }
        Ok(())
    }
}
