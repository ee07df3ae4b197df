//! Masking secrets in what people see: argument keys named like secrets, and values shaped
//! like common credentials, are replaced in displays. `--json` output stays exact, and
//! `ash show --reveal` shows everything to an operator who asks.
//!
//! Only the secret-looking part is ever replaced, never the text around it: a credential is a
//! run of the characters credentials are made of, so `sk-$(rm -rf ~)` is not one, and a private
//! key is its base64 body, not whatever follows its header. Otherwise an agent could hide a
//! command from the operator behind something that looks like a secret.

use serde_json::Value;

/// What a masked value reads as.
pub const MASK: &str = "••••••";

/// Parts of key names that mark their value as a secret (compared lower-case, `-` as `_`).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "authorization",
    "cookie",
    "session_key",
];
/// Whole key names that mark a secret.
const SECRET_NAMES: &[&str] = &["auth", "pwd", "pass", "key"];

/// Prefixes of common API keys and tokens; a word starting with one is masked.
const KEY_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "AKIA",
    "ASIA",
    "AIza",
    "npm_",
    "pypi-",
    "hf_",
];

/// The arguments' JSON text with secrets masked, and whether anything was.
pub fn mask_args(args_json: &str) -> (String, bool) {
    let Ok(mut value) = serde_json::from_str::<Value>(args_json) else {
        return (args_json.to_string(), false);
    };
    let masked = mask_value(&mut value, None);
    (
        serde_json::to_string(&value).unwrap_or_else(|_| args_json.to_string()),
        masked,
    )
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    SECRET_NAMES.contains(&k.as_str()) || SECRET_KEYS.iter().any(|s| k.contains(s))
}

fn mask_value(value: &mut Value, key: Option<&str>) -> bool {
    match value {
        Value::Object(map) => {
            let mut masked = false;
            for (k, v) in map.iter_mut() {
                masked |= mask_value(v, Some(k));
            }
            masked
        }
        Value::Array(items) => {
            // Every item, not just up to the first secret.
            let mut masked = false;
            for item in items {
                masked |= mask_value(item, key);
            }
            masked
        }
        Value::Number(_) if key.is_some_and(is_secret_key) => {
            *value = Value::String(MASK.into());
            true
        }
        // A value under a secret's name is masked whole only if it is one token of credential
        // characters; anything else (a command, a sentence) keeps all but its key-shaped words.
        Value::String(s) if key.is_some_and(is_secret_key) && is_token(s) => {
            *s = MASK.into();
            true
        }
        Value::String(s) => match mask_words(s) {
            Some(masked) => {
                *s = masked;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Masks credential-shaped words inside a string (a command line, a header), or `None` if
/// there are none. Only the key-shaped part of a word is replaced.
pub fn mask_words(text: &str) -> Option<String> {
    let (text, mut masked) = mask_private_keys(text);
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    for piece in text.split_inclusive(|c: char| c.is_whitespace() || "'\",=".contains(c)) {
        let word = piece.trim_end_matches(|c: char| c.is_whitespace() || "'\",=".contains(c));
        let tail = &piece[word.len()..];
        let key_len = word.len() - word.trim_start_matches(is_key_char).len();
        let (key, rest) = word.split_at(key_len);
        if !key.is_empty() && (after_bearer || looks_like_key(key)) {
            out.push_str(MASK);
            out.push_str(rest);
            out.push_str(tail);
            masked = true;
        } else {
            out.push_str(piece);
        }
        if !word.is_empty() {
            after_bearer =
                word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("token");
        }
    }
    masked.then_some(out)
}

/// The characters API keys, tokens and JWTs are made of.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./+".contains(c)
}

/// One token of credential characters (base64 padding allowed), nothing else.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.trim_end_matches('=').chars().all(is_key_char)
}

/// Replaces each PEM private key (its BEGIN line, base64 body and END line) with the mask.
/// Text after the key is kept, and a BEGIN line with no body hides nothing, so is kept too.
fn mask_private_keys(text: &str) -> (String, bool) {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut masked = false;
    while let Some(at) = rest.find(BEGIN) {
        let Some(header_len) = rest[at..]
            .find("PRIVATE KEY-----")
            .map(|i| i + "PRIVATE KEY-----".len())
            .filter(|&end| !rest[at..at + end].contains('\n'))
        else {
            out.push_str(&rest[..at + BEGIN.len()]);
            rest = &rest[at + BEGIN.len()..];
            continue;
        };
        let body_start = at + header_len;
        let after = &rest[body_start..];
        let body_len = after.len()
            - after
                .trim_start_matches(|c: char| {
                    c.is_ascii_alphanumeric() || "+/=".contains(c) || c.is_whitespace()
                })
                .len();
        let mut end = body_len;
        if after[body_len..].starts_with("-----END ") {
            if let Some(close) = after[body_len..].find("KEY-----") {
                end = body_len + close + "KEY-----".len();
            }
        }
        if after[..body_len].trim().is_empty() {
            // A header alone hides nothing.
            out.push_str(&rest[..body_start]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        out.push_str(MASK);
        masked = true;
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, masked)
}

fn looks_like_key(word: &str) -> bool {
    let long_enough = word.len() >= 16;
    let jwt = word.starts_with("eyJ") && word.matches('.').count() == 2 && long_enough;
    jwt || (long_enough && KEY_PREFIXES.iter().any(|p| word.starts_with(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_named_like_secrets_are_masked_at_any_depth() {
        let (out, masked) = mask_args(
            r#"{"user":"bob","password":"hunter2","db":{"API-Key":"abc","port":5432},"tokens":["t1","t2"]}"#,
        );
        assert!(masked);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["user"], "bob");
        assert_eq!(v["password"], MASK);
        assert_eq!(v["db"]["API-Key"], MASK);
        assert_eq!(v["db"]["port"], 5432);
        assert_eq!(v["tokens"], serde_json::json!([MASK, MASK]));
    }

    #[test]
    fn credential_shaped_values_are_masked_inside_strings() {
        let (out, masked) = mask_args(
            r#"{"command":"curl -H 'Authorization: Bearer abcdef0123456789' https://api.example.com","env":"OPENAI=sk-proj-0123456789abcdefXYZ GH=ghp_0123456789abcdefghij"}"#,
        );
        assert!(masked);
        assert!(!out.contains("abcdef0123456789"), "{out}");
        assert!(!out.contains("sk-proj-0123456789abcdefXYZ"), "{out}");
        assert!(!out.contains("ghp_0123456789abcdefghij"), "{out}");
        assert!(out.contains("https://api.example.com"), "{out}");
        assert!(out.contains("OPENAI="), "{out}");
    }

    #[test]
    fn aws_keys_jwts_and_private_keys_are_masked() {
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----",
        ] {
            let (out, masked) = mask_args(&serde_json::json!({ "x": secret }).to_string());
            assert!(masked, "{secret}");
            assert!(!out.contains(&secret[4..12]), "{out}");
        }
    }

    #[test]
    fn masking_never_hides_the_command_around_a_secret() {
        for (command, must_show) in [
            ("rm -rf ~/ # -----BEGIN PRIVATE KEY-----", "rm -rf ~/"),
            ("echo sk-$(rm${IFS}-rf${IFS}~/project)", "rm${IFS}-rf${IFS}~/project"),
            (
                "printf '-----BEGIN RSA PRIVATE KEY-----\nMIIB0123\n-----END RSA PRIVATE KEY-----'; rm -rf ~",
                "; rm -rf ~",
            ),
            ("curl -H 'token sk-proj-0123456789abcdef$(id)' x; reboot", "$(id)' x; reboot"),
        ] {
            let (out, _) = mask_args(&serde_json::json!({ "command": command }).to_string());
            let shown: Value = serde_json::from_str(&out).unwrap();
            let shown = shown["command"].as_str().unwrap();
            assert!(shown.contains(must_show), "{command:?} shown as {shown:?}");
        }
        // The key itself is masked.
        let (out, masked) = mask_args(
            &serde_json::json!({"x": "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34\n-----END RSA PRIVATE KEY-----"}).to_string(),
        );
        assert!(masked);
        assert!(!out.contains("MIIBOgIB"), "{out}");
        // A value under a secret's name that is a command keeps the command.
        let (out, _) = mask_args(r#"{"password":"x; rm -rf ~","token":"abc123"}"#);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["password"], "x; rm -rf ~");
        assert_eq!(v["token"], MASK);
    }

    #[test]
    fn ordinary_arguments_are_left_alone() {
        let text = r#"{"author":"ada","command":"cargo test --workspace","path":"/srv/token-docs/readme.md","skip":"sk-1"}"#;
        let (out, masked) = mask_args(text);
        assert!(!masked, "{out}");
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
}
