//! What a notification says, as ntfy's JSON publish body (checked against ntfy's docs/publish.md
//! for server v2.16 and later, where a message's `sequence_id` lets a later message replace
//! it): one for a request that waits, one that replaces it once it is decided, one for a
//! backlog found at start.

use agentd_proto::{RequestView, Risk, State};
use serde_json::{json, Value};

use crate::display::{ellipsize, one_line, tool_cell};

/// What a notification carries beyond the agent, tool and summary.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Requests below this risk are not pushed.
    pub min_risk: Risk,
    /// Whether the (masked) arguments go in the message too.
    pub args: bool,
    /// Whether requests below high risk get approve and deny buttons.
    pub buttons: bool,
}

/// The notification's sequence ID: every message about one request carries it, so a later one
/// replaces the first on the phone. ntfy accepts `[-_A-Za-z0-9]{1,64}`.
pub fn sequence_id(v: &RequestView) -> String {
    format!("agentd-{}", v.id.simple())
}

fn priority(risk: Risk) -> u8 {
    match risk {
        Risk::Low | Risk::Medium => 3,
        Risk::High => 4,
        Risk::Critical => 5,
    }
}

fn tags(risk: Risk) -> Vec<&'static str> {
    // A tag that names an emoji shows as the emoji; the risk word shows as a tag.
    match risk {
        Risk::Low | Risk::Medium => vec![risk.as_str()],
        Risk::High => vec!["warning", "high"],
        Risk::Critical => vec!["rotating_light", "critical"],
    }
}

/// `claude-code wants Bash` (with the host when more than one is followed).
fn headline(host: Option<&str>, v: &RequestView) -> String {
    let who = ellipsize(&one_line(&v.agent.name), 40);
    let what = ellipsize(&tool_cell(v), 60);
    match host {
        Some(host) => format!("{who} wants {what} on {}", ellipsize(&one_line(host), 40)),
        None => format!("{who} wants {what}"),
    }
}

/// Approve and deny buttons: ntfy's app sends the POST itself and clears the notification once
/// it succeeds.
pub struct Buttons {
    pub approve: String,
    pub deny: String,
}

/// The notification for a request that waits.
pub fn waiting(
    topic: &str,
    base: &str,
    host: Option<&str>,
    v: &RequestView,
    opts: Options,
    buttons: Option<Buttons>,
) -> Value {
    let short = &v.id.to_string()[..8];
    // ash's own words first; the summary is the agent's claim and is labelled so.
    let mut message = format!(
        "{} risk · {short} · answer by {} UTC",
        v.risk,
        v.expires_at.format("%H:%M:%S")
    );
    match &v.summary {
        Some(s) if !s.trim().is_empty() => message.push_str(&format!(
            "\n{} says: {}",
            ellipsize(&one_line(&v.agent.name), 40),
            ellipsize(&one_line(s), 200)
        )),
        _ => message.push_str("\nno summary given"),
    }
    // A button decides on what the notification shows, so with buttons the arguments are shown
    // too.
    if opts.args || buttons.is_some() {
        let (masked, _) = crate::mask::mask_args(&v.args_json);
        message.push('\n');
        message.push_str(&ellipsize(&one_line(&masked), 500));
    }
    let mut body = json!({
        "topic": topic,
        "sequence_id": sequence_id(v),
        "title": headline(host, v),
        "message": message,
        "priority": priority(v.risk),
        "tags": tags(v.risk),
        "click": format!("{base}/r/{}", v.id),
    });
    if let Some(b) = buttons {
        body["actions"] = json!([
            { "action": "http", "label": "Approve", "url": b.approve, "method": "POST", "clear": true },
            { "action": "http", "label": "Deny", "url": b.deny, "method": "POST", "clear": true },
        ]);
    }
    body
}

/// The message that replaces a request's notification once it is no longer waiting: quiet
/// (priority 1), saying who decided.
pub fn finished(topic: &str, base: &str, host: Option<&str>, v: &RequestView) -> Value {
    let tag = match v.state {
        State::Approved => "white_check_mark",
        State::Denied => "no_entry",
        _ => "hourglass",
    };
    json!({
        "topic": topic,
        "sequence_id": sequence_id(v),
        "title": headline(host, v),
        "message": ellipsize(&one_line(&super::super::hub::outcome_words(v)), 200),
        "priority": 1,
        "tags": [tag],
        "click": format!("{base}/r/{}", v.id),
    })
}

/// The message that replaces a request's notification when it stopped waiting while `ash web`
/// could not see how (agentd restarted, the connection dropped).
pub fn gone(topic: &str, base: &str, seq: &str) -> Value {
    json!({
        "topic": topic,
        "sequence_id": seq,
        "title": "no longer waiting",
        "message": "it was answered while ash web was reconnecting to agentd; the history page says how",
        "priority": 1,
        "tags": ["hourglass"],
        "click": format!("{base}/history"),
    })
}

/// One notification for what already waits when `ash web` starts, rather than one each.
pub fn backlog(topic: &str, base: &str, host: Option<&str>, count: usize, top: Risk) -> Value {
    let title = match host {
        Some(host) => format!("{count} requests wait on {}", one_line(host)),
        None => format!("{count} requests wait"),
    };
    json!({
        "topic": topic,
        "title": title,
        "message": format!("the riskiest is {top}; open the queue to answer them"),
        "priority": priority(top),
        "tags": tags(top),
        "click": format!("{base}/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_proto::{AgentIdentity, Decision, DecisionSource, SubjectType};
    use chrono::TimeZone;

    fn view(risk: Risk) -> RequestView {
        RequestView {
            id: uuid::Uuid::parse_str("0b5e6a1c-9f2d-4c3b-8a7e-1d2c3b4a5f60").unwrap(),
            tool: "Bash".into(),
            args_json: r#"{"command":"deploy --to staging","token":"hunter2hunter2hunter2"}"#
                .into(),
            agent: AgentIdentity {
                name: "claude-code".into(),
                pid: None,
                uid: None,
            },
            session: None,
            summary: Some("deploy to staging\u{202e}".into()),
            risk,
            risk_reasons: vec![],
            created_at: chrono::Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap(),
            expires_at: chrono::Utc.with_ymd_and_hms(2026, 12, 6, 9, 5, 0).unwrap(),
            state: State::Pending,
            attached: true,
            decision: None,
            subject: SubjectType::Tool,
            path: vec![],
            reviewer: None,
            cwd: None,
            grant_options: vec![],
        }
    }

    const OPTS: Options = Options {
        min_risk: Risk::Low,
        args: false,
        buttons: false,
    };

    #[test]
    fn a_waiting_request_names_agent_tool_and_summary_without_arguments() {
        let body = waiting(
            "q",
            "https://box.ts.net",
            None,
            &view(Risk::Medium),
            OPTS,
            None,
        );
        assert_eq!(body["topic"], "q");
        assert_eq!(body["title"], "claude-code wants Bash");
        assert_eq!(
            body["sequence_id"],
            "agentd-0b5e6a1c9f2d4c3b8a7e1d2c3b4a5f60"
        );
        assert_eq!(
            body["click"],
            "https://box.ts.net/r/0b5e6a1c-9f2d-4c3b-8a7e-1d2c3b4a5f60"
        );
        assert_eq!(
            body["message"],
            // Hidden characters are shown escaped, as in the terminal; no arguments.
            "medium risk · 0b5e6a1c · answer by 09:05:00 UTC\nclaude-code says: deploy to staging\\u{202e}"
        );
        assert!(body.get("actions").is_none());
        assert_eq!(body["priority"], 3);
    }

    #[test]
    fn arguments_go_in_masked_only_when_asked_for() {
        let opts = Options { args: true, ..OPTS };
        let body = waiting(
            "q",
            "https://b",
            Some("build-box"),
            &view(Risk::Critical),
            opts,
            None,
        );
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("deploy --to staging"), "{message}");
        assert!(!message.contains("hunter2hunter2"), "{message}");
        assert_eq!(body["title"], "claude-code wants Bash on build-box");
        assert_eq!(body["priority"], 5);
        assert_eq!(body["tags"], json!(["rotating_light", "critical"]));
    }

    #[test]
    fn buttons_post_to_their_one_time_addresses_and_clear() {
        let buttons = Buttons {
            approve: "https://b/push/aaa".into(),
            deny: "https://b/push/ddd".into(),
        };
        let body = waiting(
            "q",
            "https://b",
            None,
            &view(Risk::Low),
            OPTS,
            Some(buttons),
        );
        assert_eq!(
            body["actions"],
            json!([
                { "action": "http", "label": "Approve", "url": "https://b/push/aaa", "method": "POST", "clear": true },
                { "action": "http", "label": "Deny", "url": "https://b/push/ddd", "method": "POST", "clear": true },
            ])
        );
    }

    #[test]
    fn a_decided_request_replaces_its_notification_quietly() {
        let mut v = view(Risk::High);
        v.state = State::Denied;
        v.decision = Some(Decision::new(
            State::Denied,
            DecisionSource::Operator,
            "bob",
            v.created_at,
        ));
        let body = finished("q", "https://b", None, &v);
        assert_eq!(body["sequence_id"], sequence_id(&v));
        assert_eq!(body["message"], "denied by bob");
        assert_eq!(body["priority"], 1);
        assert!(body.get("actions").is_none());
    }
}
