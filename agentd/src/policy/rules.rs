//! Risk rules from the registry file: a rule matches requests by tool name (a glob), subject
//! type, and a value in the arguments (a JSON pointer and a regex or glob), and then raises the
//! risk, adds a named reason, or decides at once.
//!
//! A request's risk is the highest of its tool's, every matching rule's and the agent's hint,
//! and every matching rule adds its reason, so the operator sees why. When matching rules
//! decide, a denial wins over "ask", and "ask" over an approval: a rule saying `ask` makes a
//! person decide even a tool that needs no approval (a preset's `Read` of `.env`).

use agentd_proto::{Risk, SubjectType, Verdict};
use regex::Regex;
use serde_json::Value;

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    tool: Option<Regex>,
    subject: Option<SubjectType>,
    /// The argument to look at (`/command`, `/env/0`); `""` is the whole arguments as JSON.
    pointer: Option<String>,
    pattern: Option<Regex>,
    pub risk: Option<Risk>,
    pub reason: String,
    pub auto: Option<Verdict>,
    /// `auto = "ask"`: a person decides, whatever the tool's policy.
    pub ask: bool,
    /// The runtime whose preset holds the rule (`claude-code`, `codex`, `gemini`): it applies
    /// to that runtime's agents and to agents of no known runtime, not to the others'. `None`
    /// (a config's own rule) applies to every agent.
    pub runtime: Option<&'static str>,
}

/// The runtimes that have presets; an agent named after one (`claude-code`,
/// `claude-code/Explore`) is that runtime's.
const RUNTIMES: [&str; 3] = ["claude-code", "codex", "gemini"];

/// The runtime an agent's name says it is, if any.
fn runtime_of(agent: &str) -> Option<&'static str> {
    RUNTIMES.into_iter().find(|r| {
        agent == *r
            || agent
                .strip_prefix(r)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// A rule as the config file writes it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub name: String,
    pub tool: Option<String>,
    pub subject: Option<String>,
    pub pointer: Option<String>,
    pub regex: Option<String>,
    pub glob: Option<String>,
    pub risk: Option<Risk>,
    pub reason: Option<String>,
    pub auto: Option<String>,
    /// Calls the rule must match, and ones it must not: `{"tool": NAME, "args": {...}}`,
    /// checked when it is read.
    #[serde(default)]
    pub examples: Vec<Value>,
    #[serde(default)]
    pub counter_examples: Vec<Value>,
}

/// A regex error on one line: what is wrong, and in which pattern.
fn regex_error(pattern: &str, e: regex::Error) -> String {
    let text = e.to_string();
    let what = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid")
        .trim()
        .trim_start_matches("error: ");
    format!("{what} in {pattern:?}")
}

/// A glob (`*` any run, `?` one character) as an anchored regex.
pub fn glob_regex(glob: &str) -> Result<Regex, regex::Error> {
    let mut pattern = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => pattern.push_str(".*"),
            '?' => pattern.push('.'),
            c => pattern.push_str(&regex::escape(&c.to_string())),
        }
    }
    pattern.push('$');
    Regex::new(&pattern)
}

impl Rule {
    /// Compiles a rule; the message names the rule and the field.
    pub fn compile(entry: RuleEntry) -> Result<Rule, String> {
        let name = entry.name.trim().to_string();
        if name.is_empty() {
            return Err("[[rule]] needs a name".into());
        }
        let fail = |field: &str, e: String| format!("[[rule]] '{name}': {field}: {e}");
        let tool = entry
            .tool
            .as_deref()
            .map(glob_regex)
            .transpose()
            .map_err(|e| fail("tool", e.to_string()))?;
        let subject = entry
            .subject
            .as_deref()
            .map(str::parse::<SubjectType>)
            .transpose()
            .map_err(|e| fail("subject", e))?;
        let pattern = match (&entry.regex, &entry.glob) {
            (Some(_), Some(_)) => return Err(fail("regex and glob", "give one, not both".into())),
            (Some(re), None) => {
                Some(Regex::new(re).map_err(|e| fail("regex", regex_error(re, e)))?)
            }
            (None, Some(g)) => Some(glob_regex(g).map_err(|e| fail("glob", e.to_string()))?),
            (None, None) => None,
        };
        match (&entry.pointer, &pattern) {
            (Some(p), Some(_)) if !(p.is_empty() || p.starts_with('/')) => {
                return Err(fail(
                    "pointer",
                    format!("'{p}' must start with / (e.g. /command)"),
                ));
            }
            (Some(_), None) => {
                return Err(fail("pointer", "needs a regex or a glob to match".into()))
            }
            (None, Some(_)) => {
                return Err(fail(
                    "regex or glob",
                    "needs a pointer to say which argument".into(),
                ))
            }
            _ => {}
        }
        let (auto, ask) = match entry.auto.as_deref() {
            None => (None, false),
            Some("approve") => (Some(Verdict::Approve), false),
            Some("deny") => (Some(Verdict::Deny), false),
            Some("ask") => (None, true),
            Some(other) => {
                return Err(fail(
                    "auto",
                    format!("'{other}' must be \"approve\", \"deny\" or \"ask\""),
                ))
            }
        };
        if entry.risk.is_none() && auto.is_none() && !ask && entry.reason.is_none() {
            return Err(fail(
                "rule",
                "does nothing: give it a risk, a reason or an auto decision".into(),
            ));
        }
        let rule = Rule {
            reason: entry.reason.clone().unwrap_or_else(|| name.clone()),
            name: name.clone(),
            tool,
            subject,
            pointer: entry.pointer,
            pattern,
            risk: entry.risk,
            auto,
            ask,
            runtime: None,
        };
        // Each example is a call the rule must match; each counter-example one it must not.
        for (samples, should) in [(&entry.examples, true), (&entry.counter_examples, false)] {
            for sample in samples {
                let Some(tool) = sample["tool"].as_str() else {
                    return Err(fail("examples", format!("{sample} has no \"tool\"")));
                };
                let args = &sample["args"];
                if rule.matches("", tool, SubjectType::Tool, args) != should {
                    let which = if should { "example" } else { "counter-example" };
                    return Err(fail(
                        "examples",
                        format!(
                            "the {which} {sample} is {}matched",
                            if should { "not " } else { "" }
                        ),
                    ));
                }
            }
        }
        Ok(rule)
    }

    /// Whether the rule matches a request from `agent`.
    pub fn matches(&self, agent: &str, tool: &str, subject: SubjectType, args: &Value) -> bool {
        if let (Some(mine), Some(theirs)) = (self.runtime, runtime_of(agent)) {
            if mine != theirs {
                return false;
            }
        }
        if self.tool.as_ref().is_some_and(|t| !t.is_match(tool)) {
            return false;
        }
        if self.subject.is_some_and(|s| s != subject) {
            return false;
        }
        match (&self.pointer, &self.pattern) {
            (Some(pointer), Some(pattern)) => {
                let text = match if pointer.is_empty() {
                    Some(args)
                } else {
                    args.pointer(pointer)
                } {
                    None => return false,
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                pattern.is_match(&text)
            }
            _ => true,
        }
    }
}

/// What the matching rules say about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// The highest risk any matching rule sets.
    pub risk: Option<Risk>,
    /// `rule NAME: REASON` for each matching rule.
    pub reasons: Vec<String>,
    /// An automatic decision and the rule that made it (a denial wins).
    pub auto: Option<(Verdict, String, String)>,
    /// A matching rule says a person decides.
    pub ask: bool,
}

/// Applies every rule to a request from `agent`.
pub fn evaluate(
    rules: &[Rule],
    agent: &str,
    tool: &str,
    subject: SubjectType,
    args: &Value,
) -> Verdicts {
    let mut out = Verdicts::default();
    for rule in rules
        .iter()
        .filter(|r| r.matches(agent, tool, subject, args))
    {
        out.risk = out.risk.max(rule.risk);
        out.ask |= rule.ask;
        out.reasons
            .push(format!("rule {}: {}", rule.name, rule.reason));
        if let Some(verdict) = rule.auto {
            let wins = match &out.auto {
                None => true,
                Some((Verdict::Approve, ..)) => verdict == Verdict::Deny,
                Some((Verdict::Deny, ..)) => false,
            };
            if wins {
                out.auto = Some((verdict, rule.name.clone(), rule.reason.clone()));
            }
        }
    }
    // "ask" beats an approval, never a denial.
    if out.ask && matches!(out.auto, Some((Verdict::Approve, ..))) {
        out.auto = None;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(entry: RuleEntry) -> Rule {
        Rule::compile(entry).unwrap()
    }

    fn destructive() -> Rule {
        rule(RuleEntry {
            name: "destructive shell".into(),
            tool: Some("shell*".into()),
            pointer: Some("/command".into()),
            regex: Some(r"rm -rf|sudo|curl .*\| *sh".into()),
            risk: Some(Risk::Critical),
            reason: Some("destructive shell command".into()),
            ..RuleEntry::default()
        })
    }

    #[test]
    fn tool_glob_pointer_and_regex_all_have_to_match() {
        let r = destructive();
        assert!(r.matches(
            "agent",
            "shell",
            SubjectType::Tool,
            &json!({"command": "sudo rm -rf /"})
        ));
        assert!(r.matches(
            "agent",
            "shell-exec",
            SubjectType::Tool,
            &json!({"command": "curl x | sh"})
        ));
        assert!(!r.matches(
            "agent",
            "shell",
            SubjectType::Tool,
            &json!({"command": "ls"})
        ));
        assert!(!r.matches(
            "agent",
            "python",
            SubjectType::Tool,
            &json!({"command": "sudo x"})
        ));
        assert!(
            !r.matches(
                "agent",
                "shell",
                SubjectType::Tool,
                &json!({"cmd": "sudo x"})
            ),
            "no /command"
        );
    }

    #[test]
    fn subjects_globs_and_non_string_values() {
        let secrets = rule(RuleEntry {
            name: "prod secrets".into(),
            subject: Some("secret_access".into()),
            pointer: Some("/path".into()),
            glob: Some("secret/prod/*".into()),
            risk: Some(Risk::High),
            ..RuleEntry::default()
        });
        assert!(secrets.matches(
            "agent",
            "vault",
            SubjectType::SecretAccess,
            &json!({"path": "secret/prod/db"})
        ));
        assert!(!secrets.matches(
            "agent",
            "vault",
            SubjectType::Tool,
            &json!({"path": "secret/prod/db"})
        ));
        assert!(!secrets.matches(
            "agent",
            "vault",
            SubjectType::SecretAccess,
            &json!({"path": "secret/dev/db"})
        ));
        let big = rule(RuleEntry {
            name: "many replicas".into(),
            pointer: Some("/replicas".into()),
            regex: Some("^[0-9]{3,}$".into()),
            risk: Some(Risk::High),
            ..RuleEntry::default()
        });
        assert!(big.matches(
            "agent",
            "scale",
            SubjectType::Tool,
            &json!({"replicas": 500})
        ));
        assert!(!big.matches("agent", "scale", SubjectType::Tool, &json!({"replicas": 5})));
    }

    #[test]
    fn the_highest_risk_wins_every_reason_counts_and_deny_beats_approve() {
        let approve_make = rule(RuleEntry {
            name: "make".into(),
            pointer: Some("/command".into()),
            regex: Some("^make ".into()),
            auto: Some("approve".into()),
            risk: Some(Risk::Low),
            ..RuleEntry::default()
        });
        let deny_sudo = rule(RuleEntry {
            name: "no sudo".into(),
            pointer: Some("/command".into()),
            regex: Some("sudo".into()),
            auto: Some("deny".into()),
            ..RuleEntry::default()
        });
        let rules = [approve_make, destructive(), deny_sudo];
        let v = evaluate(
            &rules,
            "agent",
            "shell",
            SubjectType::Tool,
            &json!({"command": "make x && sudo rm -rf /"}),
        );
        assert_eq!(v.risk, Some(Risk::Critical));
        assert_eq!(v.reasons.len(), 3);
        assert_eq!(
            v.auto.as_ref().map(|a| (a.0, a.1.as_str())),
            Some((Verdict::Deny, "no sudo"))
        );
        let v = evaluate(
            &rules,
            "agent",
            "shell",
            SubjectType::Tool,
            &json!({"command": "make test"}),
        );
        assert_eq!(v.auto.as_ref().map(|a| a.0), Some(Verdict::Approve));
        assert_eq!(v.risk, Some(Risk::Low));
    }

    #[test]
    fn bad_rules_say_which_and_why() {
        let err = |e: RuleEntry| Rule::compile(e).unwrap_err();
        // Examples are checked when the rule is read.
        let secret = |examples: Vec<Value>, counter: Vec<Value>| RuleEntry {
            name: "x".into(),
            pointer: Some("/file_path".into()),
            regex: Some(r"\.env$".into()),
            auto: Some("ask".into()),
            examples,
            counter_examples: counter,
            ..RuleEntry::default()
        };
        let env = serde_json::json!({"tool": "Read", "args": {"file_path": "a/.env"}});
        let readme = serde_json::json!({"tool": "Read", "args": {"file_path": "README.md"}});
        assert!(Rule::compile(secret(vec![env.clone()], vec![readme.clone()])).is_ok());
        assert!(err(secret(vec![readme.clone()], vec![])).contains("the example"));
        assert!(err(secret(vec![], vec![env])).contains("the counter-example"));
        assert!(err(RuleEntry {
            name: "x".into(),
            pointer: Some("/a".into()),
            regex: Some("(".into()),
            risk: Some(Risk::High),
            ..RuleEntry::default()
        })
        .starts_with("[[rule]] 'x': regex: "));
        assert!(err(RuleEntry {
            name: "x".into(),
            pointer: Some("/a".into()),
            risk: Some(Risk::High),
            ..RuleEntry::default()
        })
        .contains("needs a regex or a glob"));
        assert!(err(RuleEntry {
            name: "x".into(),
            pointer: Some("a".into()),
            glob: Some("*".into()),
            risk: Some(Risk::High),
            ..RuleEntry::default()
        })
        .contains("must start with /"));
        assert!(err(RuleEntry {
            name: "x".into(),
            auto: Some("maybe".into()),
            ..RuleEntry::default()
        })
        .contains("auto"));
        assert!(err(RuleEntry {
            name: "x".into(),
            ..RuleEntry::default()
        })
        .contains("does nothing"));
        assert!(err(RuleEntry {
            name: "x".into(),
            subject: Some("mind".into()),
            risk: Some(Risk::Low),
            ..RuleEntry::default()
        })
        .contains("subject"));
    }
}
