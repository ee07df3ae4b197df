//! Turns what an agent sent into a request agentd can queue: checks every field, canonicalises
//! the arguments, and works out the deadline and the risk with the reasons for it.

use std::time::Duration;

use agentd_proto::{
    ApprovalRequest, DecideRequest, ErrorCode, Risk, SubjectType, Verdict, WireError,
};

use agentd_proto::GrantOption;

use crate::agent::AgentKey;
use crate::policy::canonical::CanonError;
use crate::policy::reach::Reach;
use crate::policy::reads::Read;
use crate::registry::{Policy, Registry};
use crate::tool_spec::validate_tool_name;

/// Limits on the free-text fields, so one request cannot fill an operator's screen.
pub const MAX_SESSION: usize = 256;
pub const MAX_SUMMARY: usize = 1024;
pub const MAX_CWD: usize = 4096;

/// A checked request, ready for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub tool: String,
    /// Canonical JSON: object keys sorted, no insignificant white space.
    pub args_json: String,
    pub session: Option<String>,
    pub summary: Option<String>,
    pub requires_approval: bool,
    pub timeout: Duration,
    pub risk: Risk,
    pub risk_reasons: Vec<String>,
    pub subject: SubjectType,
    /// A rule's automatic decision: the verdict, the rule's name and its reason.
    pub auto: Option<(agentd_proto::Verdict, String, String)>,
    /// The agent's working folder, as it said.
    pub cwd: Option<String>,
    /// What the call reaches, for wider grants.
    pub reach: Reach,
    /// The grants a person may make from it, narrowest first.
    pub grant_options: Vec<GrantOption>,
}

fn invalid(code: ErrorCode, message: String) -> WireError {
    WireError { code, message }
}

/// Checks `req` against the registry. Errors are ready to send back to the agent.
pub fn admit(
    req: &ApprovalRequest,
    registry: &Registry,
    agent: &AgentKey,
    max_args: usize,
) -> Result<Admitted, WireError> {
    validate_tool_name(&req.tool).map_err(|m| invalid(ErrorCode::InvalidRequest, m))?;
    let args_json = canonical_args(&req.args_json, max_args)?;
    let session = bounded("session", &req.session, MAX_SESSION)?;
    let summary = bounded("summary", &req.summary, MAX_SUMMARY)?;
    let cwd = bounded("cwd", &req.cwd, MAX_CWD)?;
    if let Some(dir) = &cwd {
        if !dir.starts_with('/') || dir.chars().any(char::is_control) {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                "cwd must be an absolute path with no control characters".into(),
            ));
        }
    }
    let Policy {
        spec,
        origin,
        tightened,
    } = registry.lookup(&req.tool, agent);

    let tool_timeout = Duration::from_secs(spec.approval_timeout_secs);
    let timeout = match req.timeout_ms {
        Some(0) => {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                "timeout must be at least 1 ms".into(),
            ))
        }
        // Shorter than the tool's is the agent's right; longer is cut to the tool's.
        Some(ms) => Duration::from_millis(ms).min(tool_timeout),
        None => tool_timeout,
    };

    let mut risk = spec.risk;
    let mut risk_reasons = vec![format!(
        "tool {} is rated {} ({})",
        spec.name,
        spec.risk,
        origin.describe()
    )];
    if tightened {
        risk_reasons.push("made stricter by this agent's own registration".into());
    }
    match req.risk_hint {
        Some(hint) if hint > risk => {
            risk = hint;
            risk_reasons.push(format!("raised to {hint} by the agent's hint"));
        }
        Some(hint) if hint < risk => {
            risk_reasons.push(format!("the agent's hint ({hint}) cannot lower it"))
        }
        _ => {}
    }
    // Rules look at the canonical arguments; they only ever raise the risk.
    let args: serde_json::Value = serde_json::from_str(&args_json).unwrap_or_default();
    let ruled =
        crate::policy::rules::evaluate(&registry.rules, &agent.name, &req.tool, req.subject, &args);
    if let Some(rule_risk) = ruled.risk.filter(|r| *r > risk) {
        risk = rule_risk;
    }
    risk_reasons.extend(ruled.reasons);
    let mut auto = ruled.auto;
    // A shell tool's call is decided on the commands it runs, not on its text: the parse is
    // authoritative, so it can take away a text rule's approval but never a denial or an ask.
    let is_shell = registry.shell_tools.iter().any(|t| t.name == req.tool);
    let place = (is_shell || registry.shapes.read_tool(&req.tool).is_some())
        .then(|| crate::policy::Place::of(cwd.as_deref(), agent.uid));
    let commands = registry.secrets.as_ref().and_then(|secrets| {
        crate::policy::commands::decide(
            &registry.shell_tools,
            &registry.command_rules,
            secrets,
            &req.tool,
            &args,
            place.as_ref()?,
        )
    });
    if let Some(found) = &commands {
        risk_reasons.push(format!("commands: {}", found.reason));
        let denied = matches!(auto, Some((Verdict::Deny, ..)));
        let rule_approved = matches!(auto, Some((Verdict::Approve, ..)));
        auto = match (denied, found.verdict) {
            (true, _) => auto,
            // A text rule approved and the parse agrees: the rule keeps the credit.
            (false, Some(Verdict::Approve)) if rule_approved && !ruled.ask => auto,
            (false, Some(Verdict::Deny)) => {
                Some((Verdict::Deny, "commands".to_string(), found.reason.clone()))
            }
            (false, Some(Verdict::Approve)) if !ruled.ask => Some((
                Verdict::Approve,
                "commands".to_string(),
                found.reason.clone(),
            )),
            (false, _) => None,
        };
    }

    // A tool that reads passes at once only where reads are harmless.
    let read = match (
        registry.shapes.read_tool(&req.tool),
        &registry.secrets,
        &place,
    ) {
        (Some(reader), Some(secrets), Some(place)) => {
            crate::policy::read_tools::read_tool(reader, &args, place, secrets)
        }
        (Some(_), _, _) => Read::Refused("the secret-file pattern is not available".into()),
        _ => Read::Harmless,
    };
    let read_asks = read.why();
    if let Some(why) = &read_asks {
        risk_reasons.push(format!("reads: {why}"));
        if risk < Risk::Medium {
            risk = Risk::Medium;
        }
        if matches!(auto, Some((Verdict::Approve, ..))) {
            auto = None;
        }
    }
    // What the call reaches matters only to a call that may wait for a person (grants, grant
    // options) and to file tools (risk by folder); a call answered at once skips it.
    let requires_approval = spec.requires_approval || ruled.ask || read_asks.is_some();
    let may_wait = requires_approval && auto.is_none();
    let is_file_tool = registry.shapes.file_tool(&req.tool).is_some();
    let mut reach = match &registry.secrets {
        _ if !may_wait && !is_file_tool => Reach::ExactOnly("answered at once".into()),
        Some(secrets) => crate::policy::reach::of_call(
            &registry.shapes,
            secrets,
            &req.tool,
            &args,
            cwd.as_deref(),
            commands.as_ref(),
        ),
        None => Reach::ExactOnly("the secret-file pattern is not available".into()),
    };
    if is_file_tool {
        let outside = match (&reach, cwd.as_deref()) {
            (Reach::Files(files), Some(dir)) => !files
                .iter()
                .all(|f| f.starts_with(dir) && f.as_os_str() != dir),
            _ => true,
        };
        if let Reach::ExactOnly(why) = &reach {
            risk_reasons.push(format!("files: {why}"));
        }
        if outside && risk < Risk::High {
            risk = Risk::High;
            risk_reasons.push(
                "raised to high: it changes a file outside the working folder, or where no working folder was given, or that always asks".into(),
            );
        }
    }
    // A call a rule sent to a person, or a critical one, is answered one call at a time.
    match read {
        Read::Harmless => {}
        Read::Outside(paths) => reach = Reach::Reads(paths),
        Read::Refused(why) => reach = Reach::ExactOnly(why),
    }
    if ruled.ask || risk == Risk::Critical {
        reach = Reach::ExactOnly("a rule asks for every such call, or it is critical".into());
    }
    let grant_options = match may_wait {
        true => crate::policy::reach::options::for_call(&req.tool, &reach, cwd.as_deref()),
        false => Vec::new(),
    };

    Ok(Admitted {
        tool: req.tool.clone(),
        args_json,
        session,
        summary,
        cwd,
        reach,
        grant_options,
        requires_approval,
        timeout,
        risk,
        risk_reasons,
        subject: req.subject,
        auto,
    })
}

/// Parses the argument text and writes it back canonically. Empty text means no arguments.
pub fn canonical_args(text: &str, max: usize) -> Result<String, WireError> {
    if text.len() > max {
        return Err(invalid(
            ErrorCode::InvalidArgs,
            format!(
                "tool arguments are {} bytes of JSON; the limit is {max}",
                text.len()
            ),
        ));
    }
    if text.trim().is_empty() {
        return Ok("{}".into());
    }
    // Keys sorted, integers beyond 64 bits kept whole, a repeated key refused.
    match crate::policy::canonical::canonical(text) {
        Ok(canonical) => Ok(canonical),
        Err(CanonError::Syntax(message)) => Err(invalid(
            ErrorCode::InvalidArgs,
            format!("tool arguments are not valid JSON: {message}"),
        )),
        Err(CanonError::Duplicate(message)) => Err(invalid(ErrorCode::InvalidArgs, message)),
    }
}

fn bounded(field: &str, value: &Option<String>, max: usize) -> Result<Option<String>, WireError> {
    match value {
        Some(v) if v.len() > max => Err(invalid(
            ErrorCode::InvalidRequest,
            format!("{field} is {} bytes long; the limit is {max}", v.len()),
        )),
        Some(v) if v.is_empty() => Ok(None),
        other => Ok(other.clone()),
    }
}

/// The longest operator name and decision reason accepted.
pub const MAX_OPERATOR: usize = 128;
pub const MAX_REASON: usize = 1024;

/// Checks the free-text fields of an operator's decision.
pub fn check_decision(req: &DecideRequest) -> Result<(), WireError> {
    let name = req.operator.trim();
    if name.is_empty() || name.len() > MAX_OPERATOR || name.chars().any(char::is_control) {
        return Err(invalid(
            ErrorCode::InvalidRequest,
            format!(
                "the operator name must be 1 to {MAX_OPERATOR} bytes with no control characters"
            ),
        ));
    }
    bounded("reason", &req.reason, MAX_REASON).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::registry::SENSITIVE_OP;
    use agentd_proto::MAX_ARGS_LEN;

    fn req(tool: &str) -> ApprovalRequest {
        ApprovalRequest {
            tool: tool.into(),
            args_json: "{}".into(),
            ..ApprovalRequest::default()
        }
    }

    fn me() -> AgentKey {
        AgentKey::new(Some(1000), "claude")
    }

    fn registry() -> Registry {
        Registry::new(&Settings::default())
    }

    #[test]
    fn arguments_are_canonicalised() {
        let got = canonical_args(
            "{ \"b\": 1,\n \"a\": {\"d\": [1, 2], \"c\": null} }",
            MAX_ARGS_LEN,
        )
        .unwrap();
        assert_eq!(got, r#"{"a":{"c":null,"d":[1,2]},"b":1}"#);
        assert_eq!(canonical_args("  ", MAX_ARGS_LEN).unwrap(), "{}");
        assert_eq!(
            canonical_args("\"just a string\"", MAX_ARGS_LEN).unwrap(),
            "\"just a string\""
        );
    }

    #[test]
    fn oversized_arguments_are_refused() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_ARGS_LEN));
        let err = canonical_args(&big, MAX_ARGS_LEN).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgs);
        assert!(
            err.message.contains("the limit is 262144"),
            "{}",
            err.message
        );
    }

    #[test]
    fn invalid_json_is_refused_with_where() {
        let err = canonical_args("{\"a\": }", MAX_ARGS_LEN).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgs);
        assert!(err.message.contains("line 1 column 7"), "{}", err.message);
    }

    #[test]
    fn an_agent_may_shorten_the_deadline_but_not_lengthen_it() {
        let reg = registry();
        let short = admit(
            &ApprovalRequest {
                timeout_ms: Some(1500),
                ..req(SENSITIVE_OP)
            },
            &reg,
            &me(),
            MAX_ARGS_LEN,
        )
        .unwrap();
        assert_eq!(short.timeout, Duration::from_millis(1500));
        let long = admit(
            &ApprovalRequest {
                timeout_ms: Some(10_000_000),
                ..req(SENSITIVE_OP)
            },
            &reg,
            &me(),
            MAX_ARGS_LEN,
        )
        .unwrap();
        assert_eq!(long.timeout, Duration::from_secs(300));
        let zero = admit(
            &ApprovalRequest {
                timeout_ms: Some(0),
                ..req(SENSITIVE_OP)
            },
            &reg,
            &me(),
            MAX_ARGS_LEN,
        );
        assert_eq!(zero.unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_risk_hint_raises_but_never_lowers() {
        let reg = registry();
        let raised = admit(
            &ApprovalRequest {
                risk_hint: Some(Risk::Critical),
                ..req(SENSITIVE_OP)
            },
            &reg,
            &me(),
            MAX_ARGS_LEN,
        )
        .unwrap();
        assert_eq!(raised.risk, Risk::Critical);
        assert!(raised.risk_reasons[1].contains("raised to critical"));
        let lowered = admit(
            &ApprovalRequest {
                risk_hint: Some(Risk::Low),
                ..req(SENSITIVE_OP)
            },
            &reg,
            &me(),
            MAX_ARGS_LEN,
        )
        .unwrap();
        assert_eq!(lowered.risk, Risk::High);
        assert!(lowered.risk_reasons[1].contains("cannot lower"));
    }

    #[test]
    fn unknown_tools_need_approval_and_say_why() {
        let got = admit(&req("rm"), &registry(), &me(), MAX_ARGS_LEN).unwrap();
        assert!(got.requires_approval);
        assert_eq!(got.risk, Risk::Medium);
        assert!(got.risk_reasons[0].contains("not in the registry"));
    }

    #[test]
    fn decisions_need_a_sane_operator_name_and_reason() {
        let ok = DecideRequest {
            id: "7f".into(),
            verdict: agentd_proto::Verdict::Deny,
            operator: "alice".into(),
            reason: Some("no".into()),
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        };
        assert!(check_decision(&ok).is_ok());
        for operator in ["", "  ", "a\u{1b}[31m", &"x".repeat(129)] {
            let bad = DecideRequest {
                operator: operator.into(),
                ..ok.clone()
            };
            assert_eq!(
                check_decision(&bad).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
        let long_reason = DecideRequest {
            reason: Some("r".repeat(MAX_REASON + 1)),
            ..ok
        };
        assert!(check_decision(&long_reason).is_err());
    }

    #[test]
    fn oversized_free_text_is_refused() {
        let err = admit(
            &ApprovalRequest {
                summary: Some("x".repeat(MAX_SUMMARY + 1)),
                ..req("t")
            },
            &registry(),
            &me(),
            MAX_ARGS_LEN,
        )
        .unwrap_err();
        assert!(err.message.starts_with("summary is 1025 bytes"));
    }
}
