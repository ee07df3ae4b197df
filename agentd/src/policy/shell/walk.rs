//! The walk over tree-sitter's parse of a command line, collecting simple commands.

use std::cell::RefCell;

use tree_sitter::{Node, Parser};

use super::unwrap::unwrap;
use super::{Analysis, Command, Redirect, Unknown, Word};

/// The longest command line analysed; a longer one is unknown (and so asks).
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// How deep `bash -c`, `eval` and substitutions may nest before the line counts as unknown.
const MAX_NESTING: usize = 8;

thread_local! {
    // Making a parser and loading the grammar costs more than parsing a typical command.
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

pub fn analyze(line: &str, depth: usize) -> Analysis {
    if depth > MAX_NESTING {
        return Analysis::Unknown("commands nested too deeply inside one another".into());
    }
    if line.len() > MAX_COMMAND_BYTES {
        return Analysis::Unknown(format!(
            "the command line is {} bytes, over the {MAX_COMMAND_BYTES} analysed",
            line.len()
        ));
    }
    // The plainest lines are read without the full parse, which costs far more.
    if let Ok(commands) = super::fast::commands(line, depth) {
        return Analysis::Commands(commands);
    }
    full(line, depth)
}

/// The full parse with the same limits as [`analyze`], never the quick reading.
pub fn full_or_unknown(line: &str, depth: usize) -> Analysis {
    if line.len() > MAX_COMMAND_BYTES {
        return Analysis::Unknown(format!(
            "the command line is {} bytes, over the {MAX_COMMAND_BYTES} analysed",
            line.len()
        ));
    }
    full(line, depth)
}

/// The full parse: tree-sitter's, walked.
pub fn full(line: &str, depth: usize) -> Analysis {
    let tree = PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_bash::LANGUAGE.into())
                .ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(line, None)
    });
    let Some(tree) = tree else {
        return Analysis::Unknown("the shell grammar could not be loaded".into());
    };
    let root = tree.root_node();
    if root.has_error() {
        return Analysis::Unknown("the line does not parse as a shell command".into());
    }
    let mut walker = Walker {
        src: line,
        depth,
        commands: Vec::new(),
    };
    match walker.statement(root) {
        Ok(()) => Analysis::Commands(walker.commands),
        Err(Unknown(why)) => Analysis::Unknown(why),
    }
}

struct Walker<'a> {
    src: &'a str,
    depth: usize,
    commands: Vec<Command>,
}

impl<'a> Walker<'a> {
    fn text(&self, node: Node) -> &'a str {
        node.utf8_text(self.src.as_bytes()).unwrap_or_default()
    }

    fn named_children(node: Node<'_>) -> Vec<Node<'_>> {
        let mut cursor = node.walk();
        node.named_children(&mut cursor).collect()
    }

    /// Any statement: what it runs goes into `self.commands`.
    fn statement(&mut self, node: Node) -> Result<(), Unknown> {
        match node.kind() {
            "program" | "list" | "pipeline" | "subshell" | "compound_statement"
            | "negated_command" => {
                for child in Self::named_children(node) {
                    self.statement(child)?;
                }
                Ok(())
            }
            "comment" => Ok(()),
            "command" => self.command(node),
            "redirected_statement" => {
                let first = self.commands.len();
                if let Some(body) = node.child_by_field_name("body") {
                    self.statement(body)?;
                }
                let mut redirects = Vec::new();
                for child in Self::named_children(node) {
                    if Some(child) == node.child_by_field_name("body") {
                        continue;
                    }
                    self.redirect(child, &mut redirects)?;
                }
                if self.commands.len() == first {
                    // A redirection with nothing to run (`> file`) still opens the file.
                    self.commands.push(Command {
                        argv: Vec::new(),
                        redirects,
                        via: Vec::new(),
                        env: Vec::new(),
                    });
                } else {
                    for command in &mut self.commands[first..] {
                        command.redirects.extend(redirects.iter().cloned());
                    }
                }
                Ok(())
            }
            "variable_assignment" => {
                // `FOO=$(cmd)` runs cmd.
                self.word(node.child_by_field_name("value").unwrap_or(node))?;
                // And what it sets holds for the rest of the line (`PATH=/tmp/x; ls`): kept to
                // be judged unless harmless.
                let name = node
                    .child_by_field_name("name")
                    .map(|n| self.text(n).to_string())
                    .unwrap_or_default();
                if !super::harmless_variable(&name) {
                    self.commands.push(Command {
                        argv: Vec::new(),
                        redirects: Vec::new(),
                        via: Vec::new(),
                        env: vec![name],
                    });
                }
                Ok(())
            }
            kind => Err(Unknown(format!("the line holds a {} ", describe(kind)))),
        }
    }

    /// A redirection node, into `out`; statements inside it (a here-document followed by a
    /// pipe) are walked too.
    fn redirect(&mut self, node: Node, out: &mut Vec<Redirect>) -> Result<(), Unknown> {
        match node.kind() {
            "file_redirect" => {
                let mut op = String::new();
                let mut cursor = node.walk();
                for child in node.children(&mut cursor) {
                    // The operator's pieces, and a descriptor written before them (`2>`).
                    let descriptor = child.kind() == "file_descriptor" && op.is_empty();
                    if !child.is_named() || descriptor {
                        op.push_str(self.text(child));
                    }
                }
                let target = match node.child_by_field_name("destination") {
                    Some(dest) => self.word(dest)?,
                    None => Word::literal(""),
                };
                out.push(Redirect { op, target });
                Ok(())
            }
            "herestring_redirect" => {
                let mut target = Word::literal("");
                for child in Self::named_children(node) {
                    if child.kind() != "file_descriptor" {
                        target = self.word(child)?;
                    }
                }
                out.push(Redirect {
                    op: "<<<".into(),
                    target,
                });
                Ok(())
            }
            "heredoc_redirect" => {
                let mut body = Word::literal("");
                for child in Self::named_children(node) {
                    match child.kind() {
                        "heredoc_start" | "heredoc_end" | "file_descriptor" => {}
                        "heredoc_body" => {
                            // An unquoted delimiter lets the body run `$(...)`.
                            for part in Self::named_children(child) {
                                if part.kind() != "heredoc_content" {
                                    self.word(part)?;
                                }
                            }
                            let literal = Self::named_children(child)
                                .iter()
                                .all(|p| p.kind() == "heredoc_content");
                            body = Word {
                                text: self.text(child).to_string(),
                                literal,
                                glob: false,
                                split: !literal,
                            };
                        }
                        "file_redirect" | "herestring_redirect" => self.redirect(child, out)?,
                        _ => self.statement(child)?,
                    }
                }
                out.push(Redirect {
                    op: "<<".into(),
                    target: body,
                });
                Ok(())
            }
            kind => Err(Unknown(format!("the line holds a {}", describe(kind)))),
        }
    }

    fn command(&mut self, node: Node) -> Result<(), Unknown> {
        let mut argv = Vec::new();
        let mut redirects = Vec::new();
        let mut env = Vec::new();
        // A token the grammar leaves unnamed inside a command (a stray `$` before a word, a
        // test operator such as `==`) would be dropped from the words, and the word read
        // without it: such a line is unknown.
        let mut cursor = node.walk();
        if let Some(stray) = node.children(&mut cursor).find(|c| !c.is_named()) {
            return Err(Unknown(format!(
                "the line holds {:?} where a word was expected",
                self.text(stray)
            )));
        }
        for child in Self::named_children(node) {
            match child.kind() {
                "variable_assignment" => {
                    if let Some(name) = child.child_by_field_name("name") {
                        env.push(self.text(name).to_string());
                    }
                    if let Some(value) = child.child_by_field_name("value") {
                        self.word(value)?;
                    }
                }
                "command_name" => {
                    let inner = Self::named_children(child);
                    let word = match inner.first() {
                        Some(first) => self.word(*first)?,
                        None => Word::literal(self.text(child)),
                    };
                    if !word.literal {
                        return Err(Unknown(format!(
                            "the program to run ({}) is computed when it runs",
                            word.text
                        )));
                    }
                    argv.push(word);
                }
                "file_redirect" | "herestring_redirect" => self.redirect(child, &mut redirects)?,
                "subshell" => self.statement(child)?,
                _ => argv.push(self.word(child)?),
            }
        }
        if argv.is_empty() {
            // Only assignments (`FOO=bar`): nothing runs, but what they set holds for the rest
            // of the line (`PATH=/tmp/x; ls`), so any but a harmless one is kept to be judged.
            env.retain(|name| !super::harmless_variable(name));
            if !redirects.is_empty() || !env.is_empty() {
                self.commands.push(Command {
                    argv,
                    redirects,
                    via: Vec::new(),
                    env,
                });
            }
            return Ok(());
        }
        let command = Command {
            argv,
            redirects,
            via: Vec::new(),
            env,
        };
        for found in unwrap(command, self.depth, &analyze)? {
            self.commands.push(found);
        }
        Ok(())
    }

    /// A word's value: literal, or not (with the commands its substitutions run walked).
    fn word(&mut self, node: Node) -> Result<Word, Unknown> {
        let literal = |text: String| Ok(Word::literal(text));
        match node.kind() {
            "word" | "number" => literal(unescape(self.text(node))),
            "raw_string" => {
                let t = self.text(node);
                literal(
                    t.get(1..t.len().saturating_sub(1))
                        .unwrap_or("")
                        .to_string(),
                )
            }
            "string" => {
                // The text between the quotes, piece by piece: content, expansions, and the
                // white space the grammar leaves between them in no node at all (`" "`,
                // `" $X "`), which is part of the word all the same.
                let mut text = String::new();
                let mut is_literal = true;
                let inner_start = node.start_byte() + 1;
                let inner_end = node.end_byte().saturating_sub(1).max(inner_start);
                let mut at = inner_start;
                for part in Self::named_children(node) {
                    let gap = self.src.get(at..part.start_byte()).unwrap_or("");
                    text.push_str(&unescape_double(gap));
                    match part.kind() {
                        "string_content" => text.push_str(&unescape_double(self.text(part))),
                        _ => {
                            let inner = self.word(part)?;
                            is_literal &= inner.literal;
                            text.push_str(&inner.text);
                        }
                    }
                    at = part.end_byte();
                }
                let gap = self.src.get(at..inner_end).unwrap_or("");
                text.push_str(&unescape_double(gap));
                Ok(Word {
                    text,
                    literal: is_literal,
                    glob: false,
                    split: !is_literal,
                })
            }
            "concatenation" => {
                let mut cursor = node.walk();
                let unnamed = node.children(&mut cursor).any(|c| !c.is_named());
                if unnamed && !Self::named_children(node).is_empty() {
                    return Err(Unknown(format!(
                        "the word {:?} holds a piece the shell grammar leaves unnamed",
                        self.text(node)
                    )));
                }
                let mut text = String::new();
                let mut is_literal = true;
                for part in Self::named_children(node) {
                    let inner = self.word(part)?;
                    is_literal &= inner.literal;
                    text.push_str(&inner.text);
                }
                // Pieces the grammar leaves unnamed (a bare `=`, `:`) are text as written.
                if Self::named_children(node).is_empty() {
                    text = self.text(node).to_string();
                }
                Ok(Word {
                    text,
                    literal: is_literal,
                    glob: false,
                    split: !is_literal,
                })
            }
            "command_substitution" | "process_substitution" => {
                for child in Self::named_children(node) {
                    self.statement(child)?;
                }
                Ok(Word::computed(self.text(node)))
            }
            "simple_expansion"
            | "expansion"
            | "arithmetic_expansion"
            | "ansi_c_string"
            | "translated_string"
            | "array"
            | "brace_expression" => {
                // Substitutions inside (`${x:-$(cmd)}`) still run.
                self.substitutions_in(node)?;
                Ok(Word::computed(self.text(node)))
            }
            kind => Err(Unknown(format!("the line holds a {}", describe(kind)))),
        }
    }

    fn substitutions_in(&mut self, node: Node) -> Result<(), Unknown> {
        for child in Self::named_children(node) {
            match child.kind() {
                "command_substitution" | "process_substitution" => {
                    self.word(child)?;
                }
                _ => self.substitutions_in(child)?,
            }
        }
        Ok(())
    }
}

/// An unquoted word's value: a backslash quotes the next character.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // A backslash-newline joins lines and adds nothing.
                if let Some(next) = chars.next().filter(|n| *n != '\n') {
                    out.push(next);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Inside double quotes a backslash quotes only `$`, `` ` ``, `"`, `\` and a newline.
fn unescape_double(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    out.extend(chars.next());
                    continue;
                }
                Some('\n') => {
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// A grammar node kind, in words.
fn describe(kind: &str) -> String {
    match kind {
        "if_statement" => "conditional (if)".into(),
        "while_statement" => "loop (while/until)".into(),
        "for_statement" | "c_style_for_statement" => "loop (for)".into(),
        "case_statement" => "case statement".into(),
        "function_definition" => "function definition".into(),
        "test_command" => "test ([[ ]] or [ ])".into(),
        "declaration_command" => "declaration (export, local, declare)".into(),
        "unset_command" => "unset".into(),
        other => other.replace('_', " "),
    }
}
