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
use super::{Analysis, Command, Redirect, Word};

mod words;

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
    if depth > 8 {
        return Err(NotPlain);
    }
    let mut reader = Reader {
        src: line.as_bytes(),
        pos: 0,
        out: Vec::new(),
        chain: 0,
        depth,
        heredocs: Vec::new(),
    };
    reader.list(false)?;
    if reader.pos != reader.src.len() || !reader.heredocs.is_empty() {
        return Err(NotPlain);
    }
    Ok(reader.out)
}

/// A shell string a wrapper runs, read plainly too.
fn plainly(line: &str, depth: usize) -> Analysis {
    match commands(line, depth) {
        Ok(commands) => Analysis::Commands(commands),
        Err(NotPlain) => Analysis::Unknown("the command line is not plain".into()),
    }
}

/// A here-document whose body is still to come: the command it belongs to (an index into
/// `out`) and its delimiter.
struct Pending {
    command: usize,
    end: usize,
    delimiter: Vec<u8>,
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
    /// Here-documents opened on the current line; their bodies follow its newline.
    heredocs: Vec<Pending>,
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
                    self.bodies()?;
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
            // A here-document's body would start here: that reading is left to the full parse
            // (the caller sees the pending body and gives up).
            if self.peek() == Some(b'\n') && !self.heredocs.is_empty() {
                return;
            }
            self.pos += 1;
        }
    }

    /// The bodies of the here-documents opened on the line that just ended: each runs up to a
    /// line that is exactly its delimiter. A body with no such line is not plain.
    fn bodies(&mut self) -> Result<(), NotPlain> {
        for pending in std::mem::take(&mut self.heredocs) {
            let start = self.pos;
            let mut line_start = self.pos;
            let end = loop {
                let line_end = self.src[line_start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map(|n| line_start + n);
                let line = &self.src[line_start..line_end.unwrap_or(self.src.len())];
                if line == pending.delimiter.as_slice() {
                    break line_start;
                }
                match line_end {
                    Some(n) => line_start = n + 1,
                    None => return Err(NotPlain),
                }
            };
            let body = std::str::from_utf8(&self.src[start..end]).map_err(|_| NotPlain)?;
            if body.contains('\0') {
                return Err(NotPlain);
            }
            let after = end + pending.delimiter.len();
            self.pos = if self.src.get(after) == Some(&b'\n') {
                after + 1
            } else {
                after
            };
            let redirect = Redirect {
                op: "<<".into(),
                target: Word::literal(body),
            };
            // The command and what it runs through wrappers all read the body.
            let end = pending.end.min(self.out.len());
            for command in self.out.get_mut(pending.command..end).unwrap_or_default() {
                command.redirects.push(redirect.clone());
            }
        }
        Ok(())
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
        let mut heredocs = 0;
        loop {
            self.blanks();
            let Some(b) = self.peek() else { break };
            if matches!(b, b'\n' | b';' | b'|' | b')') || (b == b'&' && !self.at(b"&>")) {
                break;
            }
            if self.at(b"<<") && !self.at(b"<<<") {
                if argv.is_empty() {
                    return Err(NotPlain);
                }
                self.heredoc(self.pos + 2)?;
                heredocs += 1;
                continue;
            }
            if heredocs > 0 {
                // Anything after a here-document's delimiter but the end of the command.
                return Err(NotPlain);
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
            let found = unwrap(command, self.depth, &plainly).map_err(|_| NotPlain)?;
            self.out.extend(found);
        } else {
            self.out.push(command);
        }
        // The here-documents opened here belong to this command (and what it runs).
        let pending = self.heredocs.len() - heredocs;
        let end = self.out.len();
        for here in &mut self.heredocs[pending..] {
            here.command = first;
            here.end = end;
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
        } else if rest.starts_with(b"&>") {
            // `&>` and `&>>`: bash's own spelling, read as two redirections; asks.
            return Err(NotPlain);
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
                if !target.literal || target.glob {
                    return Err(NotPlain);
                }
                // `>&WORD` and `<&WORD` duplicate a descriptor only when WORD is a number;
                // otherwise bash opens WORD as a file (`>&file` writes it).
                if operator.ends_with(b"&") && !target.text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(NotPlain);
                }
                Ok(Some(Redirect { op, target }))
            }
        }
    }
}
