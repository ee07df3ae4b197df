//! Tools that read (`[[read_tool]]`: Read, Grep, Glob, LS, Gemini's read tools): what a call
//! reads, judged as any read, with the patterns of names it is given.

use regex::Regex;
use serde_json::Value;

use super::reads::{judge, may_match_secret, Place, Read};
use super::search::searches_secrets;

/// What a call of a read tool reads: harmless, outside (a person may grant reads there), or
/// refused (a secret, a search that may read one, a pattern that may match one).
pub fn read_tool(
    tool: &crate::policy::reach::ReadTool,
    args: &serde_json::Value,
    place: &Place,
    secrets: &Regex,
) -> Read {
    match read_tool_refused(tool, args, place, secrets) {
        Err(why) => Read::Refused(why),
        Ok(read) => read,
    }
}

fn read_tool_refused(
    tool: &crate::policy::reach::ReadTool,
    args: &serde_json::Value,
    place: &Place,
    secrets: &Regex,
) -> Result<Read, String> {
    let mut paths = Vec::new();
    for pointer in &tool.paths {
        match args.pointer(pointer) {
            None | Some(Value::Null) => {}
            Some(Value::String(p)) => paths.push(p.clone()),
            Some(Value::Array(items)) => {
                for item in items {
                    match item.as_str() {
                        Some(p) => paths.push(p.to_string()),
                        None => return Err(format!("{pointer} holds something not a path")),
                    }
                }
            }
            Some(_) => return Err(format!("{pointer} is not a path")),
        }
    }
    if paths.is_empty() {
        if !tool.here {
            return Err("no path is given".into());
        }
        paths.push(".".into());
    }
    let dirs = [place.project.clone()];
    let mut verdict = Read::Harmless;
    for path in &paths {
        // The tools take names as they are: no shell expands `~` for them, but a path that
        // starts with it is read as the home folder, which asks.
        verdict = verdict.and(judge(path, &dirs, place, secrets, tool.how()));
        if tool.recursive {
            // A pattern of names (Grep's `glob`, Gemini's `include`) matches hidden files too.
            let patterned = tool
                .patterns
                .iter()
                .any(|p| !matches!(args.pointer(p), None | Some(Value::Null)));
            if let Some(why) =
                searches_secrets(path, &dirs, place, secrets, tool.hidden || patterned)
            {
                return Err(why);
            }
        }
    }
    // A pattern of names matters where the tool shows what the files hold; one that leaves
    // the folder (`/`, `~`, `..`) is a path of its own.
    for pointer in &tool.patterns {
        let patterns: Vec<&str> = match args.pointer(pointer) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(p)) => vec![p.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(format!("{pointer} is not a pattern")),
        };
        for pattern in patterns {
            if pattern.starts_with(['/', '~']) || pattern.split('/').any(|p| p == "..") {
                verdict = verdict.and(judge(pattern, &dirs, place, secrets, tool.how()));
            }
            if tool.names {
                continue;
            }
            for alternative in braces(&pattern.to_lowercase())? {
                if let Some(why) = pattern_reaches_secrets(&alternative, secrets) {
                    return Err(why);
                }
            }
        }
    }
    Ok(verdict)
}

/// A pattern's alternatives, its one level of `{a,b}` expanded (`*.{ts,js}`); nested or
/// unclosed braces are not read.
fn braces(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|n| open + n)
        .ok_or_else(|| format!("the pattern {pattern} has an unclosed brace"))?;
    let inner = &pattern[open + 1..close];
    let rest = &pattern[close + 1..];
    if inner.contains('{') || rest.contains(['{', '}']) {
        return Err(format!("the pattern {pattern} nests braces"));
    }
    Ok(inner
        .split(',')
        .map(|alt| format!("{}{alt}{rest}", &pattern[..open]))
        .collect())
}

/// Why a pattern of file names (`*.env*`, `**/.ssh/**`, `{a,b}`) may name a file that holds
/// secrets: it names one, matches one's name, or uses a form this check does not read.
fn pattern_reaches_secrets(pattern: &str, secrets: &Regex) -> Option<String> {
    if pattern.contains(['[', '?', '{', '}', '\\']) {
        return Some(format!(
            "the pattern {pattern} uses a form not checked for secrets"
        ));
    }
    for part in pattern.split('/') {
        if part.starts_with('.') && part.contains('*') {
            return Some(format!("the pattern {pattern} can match hidden files"));
        }
        if secrets.is_match(part) || secrets.is_match(&format!("/{part}/")) {
            return Some(format!(
                "the pattern {pattern} names a file that holds secrets"
            ));
        }
        if part.contains('*') && part != "**" && may_match_secret(part) {
            return Some(format!(
                "the pattern {pattern} can match a file that holds secrets"
            ));
        }
    }
    None
}
