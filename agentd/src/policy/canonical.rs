//! Canonical JSON for tool arguments: object keys sorted, no insignificant white space, strings
//! escaped one way, so that equal arguments are equal text (grants and rules compare text).
//!
//! Written here rather than taken from `serde_json::Value` because two things must not be lost
//! on the way: integers beyond 64 bits keep their digits (a `Value` turns
//! `100000000000000000001` into `1e20`, which would then match a grant made for `1e20`), and an
//! object that repeats a key is refused (a `Value` silently keeps the last one, while the tool
//! that runs the call may take the first: the operator would approve one thing and the tool do
//! another). Everything else reads exactly as serde_json writes it.

/// The deepest nesting accepted, as serde_json's own limit.
const MAX_DEPTH: usize = 128;

/// Why text is not canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonError {
    /// Not JSON at all; serde_json's message says where.
    Syntax(String),
    /// An object repeats a key; the message names it and where.
    Duplicate(String),
}

/// The canonical form of the JSON `text`.
pub fn canonical(text: &str) -> Result<String, CanonError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let mut out = String::with_capacity(text.len());
    let parsed = p.value(&mut out, &mut Vec::new(), 0).and_then(|()| {
        p.ws();
        match p.i == p.s.len() {
            true => Ok(()),
            false => Err(Fail::Syntax),
        }
    });
    match parsed {
        Ok(()) => Ok(out),
        Err(Fail::Duplicate(message)) => Err(CanonError::Duplicate(message)),
        Err(Fail::Syntax) => Err(CanonError::Syntax(syntax_message(text))),
    }
}

/// serde_json's description of what is wrong with `text`, with its line and column.
fn syntax_message(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => e.to_string(),
        // Both parsers follow RFC 8259; should they ever disagree, still refuse.
        Ok(_) => "the JSON is not in a form agentd accepts".into(),
    }
}

enum Fail {
    Syntax,
    Duplicate(String),
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(
        &mut self,
        out: &mut String,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), Fail> {
        if depth >= MAX_DEPTH {
            return Err(Fail::Syntax);
        }
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => self.object(out, path, depth),
            Some(b'[') => self.array(out, path, depth),
            Some(b'"') => {
                let s = self.string()?;
                push_string(out, &s);
                Ok(())
            }
            Some(b't') => self.literal(out, "true"),
            Some(b'f') => self.literal(out, "false"),
            Some(b'n') => self.literal(out, "null"),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            _ => Err(Fail::Syntax),
        }
    }

    fn literal(&mut self, out: &mut String, word: &str) -> Result<(), Fail> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            out.push_str(word);
            Ok(())
        } else {
            Err(Fail::Syntax)
        }
    }

    /// A string token, unescaped and checked by serde_json.
    fn string(&mut self) -> Result<String, Fail> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.s.get(self.i) {
                None => return Err(Fail::Syntax),
                Some(b'"') => break,
                Some(b'\\') => self.i += 2,
                Some(_) => self.i += 1,
            }
        }
        self.i += 1;
        let raw = self.text.get(start..self.i).ok_or(Fail::Syntax)?;
        serde_json::from_str::<String>(raw).map_err(|_| Fail::Syntax)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self, out: &mut String) -> Result<(), Fail> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let first = self.s.get(self.i).copied();
        let int_digits = self.digits();
        if int_digits == 0 || (first == Some(b'0') && int_digits > 1) {
            return Err(Fail::Syntax);
        }
        let mut integer = true;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            integer = false;
            if self.digits() == 0 {
                return Err(Fail::Syntax);
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            integer = false;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Fail::Syntax);
            }
        }
        let token = &self.text[start..self.i];
        if integer {
            // As serde_json writes a 64-bit integer; a longer one keeps every digit.
            match (token.parse::<i64>(), token.parse::<u64>()) {
                (Ok(n), _) => out.push_str(&n.to_string()),
                (_, Ok(n)) => out.push_str(&n.to_string()),
                _ => out.push_str(token),
            }
            return Ok(());
        }
        let value: f64 = token.parse().map_err(|_| Fail::Syntax)?;
        if !value.is_finite() {
            return Err(Fail::Syntax);
        }
        let number = serde_json::Number::from_f64(value).ok_or(Fail::Syntax)?;
        out.push_str(&number.to_string());
        Ok(())
    }

    fn array(
        &mut self,
        out: &mut String,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), Fail> {
        self.i += 1;
        out.push('[');
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            out.push(']');
            return Ok(());
        }
        let mut n = 0usize;
        loop {
            if n > 0 {
                out.push(',');
            }
            path.push(n.to_string());
            self.value(out, path, depth + 1)?;
            path.pop();
            n += 1;
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    out.push(']');
                    return Ok(());
                }
                _ => return Err(Fail::Syntax),
            }
        }
    }

    fn object(
        &mut self,
        out: &mut String,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), Fail> {
        self.i += 1;
        let mut members: Vec<(String, String)> = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            out.push_str("{}");
            return Ok(());
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(Fail::Syntax);
            }
            let key = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(Fail::Syntax);
            }
            self.i += 1;
            let mut value = String::new();
            path.push(key.clone());
            self.value(&mut value, path, depth + 1)?;
            path.pop();
            members.push((key, value));
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => return Err(Fail::Syntax),
            }
        }
        members.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = members.windows(2).find(|w| w[0].0 == w[1].0) {
            let at = match path.is_empty() {
                true => "the top level".to_string(),
                false => format!("/{}", path.join("/")),
            };
            return Err(Fail::Duplicate(format!(
                "tool arguments repeat the key {} in one object (at {at}); programs disagree on which one counts, so such arguments are refused",
                serde_json::Value::String(pair[0].0.clone())
            )));
        }
        out.push('{');
        for (n, (key, value)) in members.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_string(out, key);
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        Ok(())
    }
}

fn push_string(out: &mut String, s: &str) {
    // serde_json's escaping, so canonical text reads as it always has.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What canonicalising through serde_json's `Value` gives, for comparison.
    fn via_value(text: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(text).unwrap()).unwrap()
    }

    #[test]
    fn reads_as_serde_json_writes_for_ordinary_arguments() {
        for text in [
            r#"{ "b": 1,  "a": {"d": [1, 2.5, -3e2, 0.1], "c": null} }"#,
            r#"{"command":"git status","cwd":"/srv/app","flag":true,"n":-42,"big":18446744073709551615}"#,
            r#""just a string""#,
            r#"[]"#,
            r#"{}"#,
            r#"{"esc":"tab\t quote\" slash\/ uni\u00e9 \ud83d\ude00 ctl\u0001"}"#,
            r#"{"é":1,"a":2,"Z":3,"aa":4}"#,
            "1.0",
            "-0.0",
        ] {
            assert_eq!(canonical(text).unwrap(), via_value(text), "{text}");
        }
    }

    #[test]
    fn integers_beyond_64_bits_keep_their_digits() {
        assert_eq!(
            canonical(r#"{"n": 100000000000000000001}"#).unwrap(),
            r#"{"n":100000000000000000001}"#
        );
        assert_ne!(
            canonical("100000000000000000001").unwrap(),
            canonical("1e20").unwrap()
        );
        assert_eq!(
            canonical("-99999999999999999999999").unwrap(),
            "-99999999999999999999999"
        );
    }

    #[test]
    fn a_repeated_key_is_refused_with_where() {
        let err = canonical(r#"{"a":{"cmd":"ls","cmd":"rm -rf ~"}}"#).unwrap_err();
        let CanonError::Duplicate(message) = err else {
            panic!("{err:?}");
        };
        assert!(
            message.contains(r#"the key "cmd""#) && message.contains("at /a"),
            "{message}"
        );
        // The same key written two ways is the same key.
        assert!(matches!(
            canonical(r#"{"a":1,"\u0061":2}"#),
            Err(CanonError::Duplicate(_))
        ));
        assert!(
            canonical(r#"[{"a":1},{"a":2}]"#).is_ok(),
            "separate objects"
        );
    }

    #[test]
    fn bad_json_gets_serde_jsons_message() {
        for (text, needle) in [
            (r#"{"a": }"#, "line 1 column 7"),
            (r#"{"a":1} x"#, "trailing characters"),
            ("01", "line 1"),
            ("1e400", "number out of range"),
            ("\"\\x\"", "escape"),
            ("[1,]", "line 1"),
        ] {
            match canonical(text) {
                Err(CanonError::Syntax(message)) => {
                    assert!(message.contains(needle), "{text}: {message}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(canonical(&deep), Err(CanonError::Syntax(_))));
    }
}
