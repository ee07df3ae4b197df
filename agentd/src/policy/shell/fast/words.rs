//! Words of a plain line: plain runs, quotes, escapes, `$NAME`, `${NAME}`, `$(...)`, and the
//! quoted delimiter of a here-document.

use super::{plain, NotPlain, Pending, Reader};
use crate::policy::shell::Word;

impl Reader<'_> {
    /// One word: plain runs, quotes and expansions, up to a blank or an operator.
    pub(super) fn word(&mut self) -> Result<Word, NotPlain> {
        let mut text = String::new();
        let mut literal = true;
        let start = self.pos;
        let mut parts = 0;
        let mut empty_quotes = false;
        let mut quoted = false;
        let mut glob = false;
        let mut split = false;
        loop {
            parts += 1;
            match self.peek() {
                Some(b) if plain(b) => {
                    let from = self.pos;
                    while self.peek().is_some_and(plain) {
                        self.pos += 1;
                    }
                    glob |= self.src[from..self.pos].contains(&b'*');
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
                    // Inside single quotes every byte is itself, newlines too.
                    let inner = std::str::from_utf8(inner).map_err(|_| NotPlain)?;
                    text.push_str(inner);
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
                            // A `$` before what cannot start an expansion is itself (`"a$|b"`).
                            Some(b'$')
                                if matches!(
                                    self.src.get(self.pos + 1),
                                    Some(
                                        b'"' | b' '
                                            | b'|'
                                            | b'/'
                                            | b'.'
                                            | b','
                                            | b':'
                                            | b';'
                                            | b')'
                                            | b']'
                                            | b'='
                                            | b'+'
                                            | b'%'
                                    )
                                ) =>
                            {
                                text.push('$');
                                self.pos += 1;
                            }
                            Some(b'$') => {
                                let (raw, _) = self.expansion()?;
                                literal = false;
                                text.push_str(&raw);
                            }
                            Some(b'\\') => {
                                // Inside double quotes a backslash quotes only `$`, `` ` ``,
                                // `"` and itself; before anything else printable it stays.
                                match self.src.get(self.pos + 1) {
                                    Some(&c @ (b'$' | b'`' | b'"' | b'\\')) => {
                                        text.push(char::from(c));
                                    }
                                    Some(&c) if (0x20..0x7f).contains(&c) => {
                                        text.push('\\');
                                        text.push(char::from(c));
                                    }
                                    _ => return Err(NotPlain),
                                }
                                self.pos += 2;
                            }
                            Some(b'`' | b'!') => return Err(NotPlain),
                            Some(b) if (0x20..0x7f).contains(&b) || b == b'\t' => {
                                text.push(char::from(b));
                                self.pos += 1;
                            }
                            Some(_) => return Err(NotPlain),
                        }
                    }
                }
                Some(b'\\') => {
                    // Unquoted, a backslash quotes the next character; only printable ones
                    // here (a backslash before a newline or CR is left to a person).
                    match self.src.get(self.pos + 1) {
                        Some(&c) if (0x20..0x7f).contains(&c) => text.push(char::from(c)),
                        _ => return Err(NotPlain),
                    }
                    quoted = true;
                    self.pos += 2;
                }
                Some(b'$') => {
                    // Anywhere but first in a word (`"a"b$X`, `x$HOME`), the full parse can
                    // lose the `$`: left to it.
                    if quoted || self.pos != start {
                        return Err(NotPlain);
                    }
                    let (raw, _) = self.expansion()?;
                    literal = false;
                    split = true;
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
        // After `=` or `:` bash may expand `~` (in words that look like assignments), so
        // there it is left to a person; elsewhere past the start (`HEAD~1`) it is a letter.
        if raw
            .windows(2)
            .any(|w| w[1] == b'~' && matches!(w[0], b'=' | b':'))
        {
            return Err(NotPlain);
        }
        // `~` alone or `~/...` is the home folder; `~user`, `~+`, `~-`, `~.` are other folders.
        if raw.first() == Some(&b'~') && raw.len() > 1 && raw[1] != b'/' {
            return Err(NotPlain);
        }
        // The full parse reads `==` and `=~` as test operators, not words.
        if raw.starts_with(b"==") || raw.starts_with(b"=~") {
            return Err(NotPlain);
        }
        Ok(Word {
            text,
            literal,
            glob,
            split,
        })
    }

    /// `<<'WORD'` or `<<"WORD"` (the operator's end at `at`): a here-document whose body is
    /// literal, read when its line ends. Any other delimiter (unquoted, partly quoted, `<<-`)
    /// is not plain.
    pub(super) fn heredoc(&mut self, at: usize) -> Result<(), NotPlain> {
        self.pos = at;
        self.blanks();
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(NotPlain),
        };
        let from = self.pos + 1;
        let len = self.src[from..]
            .iter()
            .position(|b| *b == quote)
            .ok_or(NotPlain)?;
        let delimiter = self.src[from..from + len].to_vec();
        if delimiter.is_empty()
            || !delimiter
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            return Err(NotPlain);
        }
        self.pos = from + len + 1;
        // The delimiter must end the word (`'EOF'x` is `EOFx`).
        if !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b')')
        ) {
            return Err(NotPlain);
        }
        self.heredocs.push(Pending {
            // Filled in by the command once its words are read: see `command`.
            command: usize::MAX,
            end: usize::MAX,
            delimiter,
        });
        Ok(())
    }

    /// `$NAME`, `${NAME}` or `$(...)` (whose commands are read into the output): the text as
    /// written, and whether it ran commands.
    pub(super) fn expansion(&mut self) -> Result<(String, bool), NotPlain> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'(') => {
                if self.at(b"((") {
                    return Err(NotPlain);
                }
                self.pos += 1;
                let before = self.out.len();
                let open = self.heredocs.len();
                self.list(true)?;
                // A here-document opened inside must end inside.
                if self.heredocs.len() != open {
                    return Err(NotPlain);
                }
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
