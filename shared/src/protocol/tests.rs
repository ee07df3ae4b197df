//! The wire layout, round trips and the protocol's text forms.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::*;
use crate::codec;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T13:48:58.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn view() -> RequestView {
    RequestView {
        id: Uuid::new_v4(),
        tool: "sensitive-op".into(),
        args_json: r#"{"target":"prod"}"#.into(),
        agent: AgentIdentity {
            name: "claude".into(),
            pid: Some(42),
            uid: Some(1000),
        },
        session: Some("s-1".into()),
        summary: Some("deploy".into()),
        risk: Risk::High,
        risk_reasons: vec!["tool sensitive-op is rated high".into()],
        created_at: now(),
        expires_at: now(),
        state: State::Denied,
        attached: true,
        decision: Some(decision()),
        subject: SubjectType::Tool,
        path: Vec::new(),
        reviewer: None,
        cwd: Some("/srv/app".into()),
        grant_options: vec![crate::GrantOption::exact()],
    }
}

fn decision() -> Decision {
    Decision {
        state: State::Denied,
        source: DecisionSource::Operator,
        by: "alice".into(),
        reason: Some("not on a Friday".into()),
        at: now(),
        by_uid: Some(1000),
        by_pid: Some(4242),
        grant: None,
        approved_args: None,
    }
}

fn grant(covers: crate::grant::GrantCover) -> GrantView {
    GrantView {
        id: Uuid::new_v4(),
        verdict: Verdict::Approve,
        scope: Scope::Timeboxed { ttl_secs: 600 },
        tool: "shell".into(),
        args_json: r#"{"command":"cargo test"}"#.into(),
        agent: "claude-code".into(),
        agent_uid: Some(1000),
        session: Some("s1".into()),
        created_at: now(),
        expires_at: now(),
        created_by: "alice".into(),
        from_request: Uuid::new_v4(),
        uses: 2,
        covers,
        reason: None,
    }
}

fn round_trip<T>(msg: T)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = codec::encode(&msg).unwrap();
    let back: T = codec::decode(&bytes).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn every_client_message_round_trips() {
    let id = Uuid::new_v4();
    let msgs = vec![
        ClientMsg::Submit(ApprovalRequest {
            tool: "t".into(),
            args_json: r#"{"a":[1,2,{"b":null}]}"#.into(),
            session: Some("s".into()),
            summary: None,
            timeout_ms: Some(1500),
            risk_hint: Some(Risk::Critical),
            subject: SubjectType::SecretAccess,
            cwd: Some("/home/dev/app".into()),
        }),
        ClientMsg::Submit(ApprovalRequest::default()),
        ClientMsg::Attach { id },
        ClientMsg::Cancel { id },
        ClientMsg::RegisterTool(ToolSpec {
            name: "deploy".into(),
            requires_approval: true,
            approval_timeout_secs: 60,
            risk: Risk::Critical,
        }),
        ClientMsg::List { state: None },
        ClientMsg::List {
            state: Some(State::Pending),
        },
        ClientMsg::Get { id: "7f3a".into() },
        ClientMsg::Decide(DecideRequest {
            id: id.to_string(),
            verdict: Verdict::Deny,
            operator: "alice".into(),
            reason: Some("no".into()),
            scope: Scope::Session,
            grant: Some("commands".into()),
            args_json: None,
        }),
        ClientMsg::Subscribe,
        ClientMsg::Ping,
        ClientMsg::History(HistoryQuery::default()),
        ClientMsg::Export(HistoryQuery {
            agent: Some("claude".into()),
            tool: Some("sensitive-op".into()),
            state: Some(State::Denied),
            operator: Some("alice".into()),
            since: Some(now()),
            until: Some(now()),
            limit: Some(50),
            subject: Some(SubjectType::ChannelSend),
        }),
        ClientMsg::VerifyAudit,
        ClientMsg::ListGrants,
        ClientMsg::Revoke {
            id: Some("9c1d".into()),
            all: false,
        },
        ClientMsg::Revoke {
            id: None,
            all: true,
        },
        ClientMsg::Review,
        ClientMsg::ReviewDecide(ReviewDecision {
            id,
            action: ReviewAction::Escalate,
            note: Some("needs a person".into()),
        }),
        ClientMsg::ReviewDecide(ReviewDecision {
            id,
            action: ReviewAction::Approve,
            note: None,
        }),
        ClientMsg::Info,
        ClientMsg::Prune(PruneRequest {
            before: Some(now()),
            dry_run: true,
        }),
    ];
    // The match has no wildcard, so a new message does not compile until it is listed here,
    // and the set below fails until it is also round-tripped above.
    let variant = |m: &ClientMsg| match m {
        ClientMsg::Submit(_) => "Submit",
        ClientMsg::Attach { .. } => "Attach",
        ClientMsg::Cancel { .. } => "Cancel",
        ClientMsg::RegisterTool(_) => "RegisterTool",
        ClientMsg::List { .. } => "List",
        ClientMsg::Get { .. } => "Get",
        ClientMsg::Decide(_) => "Decide",
        ClientMsg::Subscribe => "Subscribe",
        ClientMsg::Ping => "Ping",
        ClientMsg::History(_) => "History",
        ClientMsg::Export(_) => "Export",
        ClientMsg::VerifyAudit => "VerifyAudit",
        ClientMsg::ListGrants => "ListGrants",
        ClientMsg::Revoke { .. } => "Revoke",
        ClientMsg::Review => "Review",
        ClientMsg::ReviewDecide(_) => "ReviewDecide",
        ClientMsg::Info => "Info",
        ClientMsg::Prune(_) => "Prune",
    };
    let covered: std::collections::BTreeSet<_> = msgs.iter().map(variant).collect();
    assert_eq!(
        covered.len(),
        18,
        "every client message is round-tripped: {covered:?}"
    );
    for msg in msgs {
        round_trip(msg);
    }
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        first_seq: 120,
        prev_hash: "cd".repeat(32),
        before: now(),
        at: now(),
    }
}

#[test]
fn every_server_message_round_trips() {
    let msgs = vec![
        ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            server: "agentd 0.1.0".into(),
        },
        ServerMsg::Queued(Ticket {
            id: Uuid::new_v4(),
            tool: "t".into(),
            risk: Risk::Low,
            created_at: now(),
            expires_at: now(),
        }),
        ServerMsg::Outcome(Outcome {
            id: Uuid::new_v4(),
            decision: decision(),
        }),
        ServerMsg::Requests {
            items: vec![view(), view()],
            more: true,
        },
        ServerMsg::Requests {
            items: vec![],
            more: false,
        },
        ServerMsg::Request(view()),
        ServerMsg::ToolRegistered(ToolSpec {
            name: "x".into(),
            requires_approval: false,
            approval_timeout_secs: 1,
            risk: Risk::Medium,
        }),
        ServerMsg::Event(Event::Queued(view())),
        ServerMsg::Event(Event::Finished(view())),
        ServerMsg::Event(Event::Lagged(7)),
        ServerMsg::Pong,
        ServerMsg::Error(WireError {
            code: ErrorCode::AlreadyFinished,
            message: "request 7f3a2c1e was already denied by bob".into(),
        }),
        ServerMsg::Exported {
            items: vec![ExportRecord {
                request: view(),
                audit: vec![AuditRef {
                    seq: 3,
                    kind: "denied".into(),
                    at: now(),
                    hash: "ab".repeat(32),
                }],
            }],
            more: false,
        },
        ServerMsg::AuditReport(AuditReport {
            entries: 9,
            broken: Some(AuditBreak {
                seq: 4,
                problem: "edited".into(),
            }),
            checkpoint: None,
        }),
        ServerMsg::AuditReport(AuditReport {
            entries: 0,
            broken: None,
            checkpoint: Some(checkpoint()),
        }),
        ServerMsg::Grants(vec![]),
        ServerMsg::Grants(vec![
            grant(crate::grant::GrantCover::Exact),
            grant(crate::grant::GrantCover::Commands {
                prefixes: vec![vec!["cargo".into(), "test".into()]],
            }),
            grant(crate::grant::GrantCover::Folder {
                dir: "/home/dev/app/src".into(),
            }),
            grant(crate::grant::GrantCover::Domain {
                host: "docs.rs".into(),
            }),
            grant(crate::grant::GrantCover::Tool),
            grant(crate::grant::GrantCover::Reads {
                dir: "/home/dev/.codex".into(),
            }),
        ]),
        ServerMsg::Revoked { count: 3 },
        ServerMsg::ToReview(view()),
        ServerMsg::Info(DaemonInfo {
            server: "agentd 0.1.0".into(),
            pid: 42,
            config: Some("/home/dev/.config/agentd/agentd.toml".into()),
            config_tools: 2,
            config_rules: 1,
            presets: vec!["claude-code".into()],
            registered_tools: 0,
            store: Some(StoreInfo {
                dir: "/home/dev/.local/state/agentd".into(),
                bytes: 1 << 20,
                requests: 12,
                oldest: Some(now()),
                answered_days: 30,
                decided_days: 0,
                checkpoint: Some(checkpoint()),
            }),
        }),
        ServerMsg::Pruned(PruneReport {
            dry_run: false,
            answered: 3,
            decided: 1,
            grants: 0,
            audit_entries: 9,
            checkpoint: None,
        }),
    ];
    let variant = |m: &ServerMsg| match m {
        ServerMsg::Welcome { .. } => "Welcome",
        ServerMsg::Queued(_) => "Queued",
        ServerMsg::Outcome(_) => "Outcome",
        ServerMsg::Requests { .. } => "Requests",
        ServerMsg::Request(_) => "Request",
        ServerMsg::ToolRegistered(_) => "ToolRegistered",
        ServerMsg::Event(_) => "Event",
        ServerMsg::Pong => "Pong",
        ServerMsg::Error(_) => "Error",
        ServerMsg::Exported { .. } => "Exported",
        ServerMsg::AuditReport(_) => "AuditReport",
        ServerMsg::Grants(_) => "Grants",
        ServerMsg::Revoked { .. } => "Revoked",
        ServerMsg::ToReview(_) => "ToReview",
        ServerMsg::Info(_) => "Info",
        ServerMsg::Pruned(_) => "Pruned",
    };
    let covered: std::collections::BTreeSet<_> = msgs.iter().map(variant).collect();
    assert_eq!(
        covered.len(),
        16,
        "every server message is round-tripped: {covered:?}"
    );
    for msg in msgs {
        round_trip(msg);
    }
}

#[test]
fn the_hello_round_trips_and_its_version_reads_alone() {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Operator,
        name: "alice".into(),
        parent: None,
    };
    round_trip(hello.clone());
    let bytes = codec::encode(&Hello {
        version: 99,
        ..hello
    })
    .unwrap();
    assert_eq!(codec::decode_version(&bytes).unwrap(), 99);
}

/// The exact bytes PROTOCOL.md documents for writers of non-Rust clients.
#[test]
fn a_rate_limits_refusal_says_when_it_clears_and_nothing_else_does() {
    let e = WireError::rate_limited(
        "agent a (uid 1) is over its limit".into(),
        std::time::Duration::from_millis(340),
    );
    assert_eq!(
        e.message,
        "agent a (uid 1) is over its limit; try again in 340 ms"
    );
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_millis(340)));
    let cap = WireError {
        code: ErrorCode::LimitReached,
        message: "agent a already has 64 requests pending".into(),
    };
    assert_eq!(cap.retry_after(), None);
    let other = WireError {
        code: ErrorCode::InvalidRequest,
        message: "x; try again in 5 ms".into(),
    };
    assert_eq!(other.retry_after(), None);
}

#[test]
fn wire_layout_matches_protocol_md() {
    let hello = Hello {
        version: 2,
        role: Role::Operator,
        name: "al".into(),
        parent: None,
    };
    assert_eq!(codec::encode(&hello).unwrap(), [2, 1, 2, b'a', b'l', 0]);
    assert_eq!(codec::encode(&ClientMsg::Ping).unwrap(), [8]);
    let id = Uuid::from_bytes([7; 16]);
    let mut attach = vec![1, 16];
    attach.extend_from_slice(&[7; 16]);
    assert_eq!(codec::encode(&ClientMsg::Attach { id }).unwrap(), attach);
    // Integers are varints: below 251 one byte; 251 + u16, 252 + u32, 253 + u64 (LE).
    let list = ClientMsg::Submit(ApprovalRequest {
        tool: "t".into(),
        args_json: "{}".into(),
        session: None,
        summary: Some("s".into()),
        timeout_ms: Some(1000),
        risk_hint: Some(Risk::High),
        subject: SubjectType::Tool,
        cwd: None,
    });
    assert_eq!(
        codec::encode(&list).unwrap(),
        [0, 1, b't', 2, b'{', b'}', 0, 1, 1, b's', 1, 251, 0xe8, 0x03, 1, 2, 0, 0]
    );
    let time = codec::encode(&now()).unwrap();
    assert_eq!(time[0] as usize, time.len() - 1);
    assert_eq!(&time[1..], b"2026-11-21T13:48:58.123456Z");
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = codec::encode(&ClientMsg::Ping).unwrap();
    bytes.push(0);
    assert!(matches!(
        codec::decode::<ClientMsg>(&bytes),
        Err(codec::CodecError::Trailing(1))
    ));
}

#[test]
fn a_payload_claiming_a_huge_string_is_refused_without_allocating_it() {
    // Variant 0 (Submit), then a string length of u64::MAX - 1 in bincode's varint form.
    let mut bytes = vec![0u8, 253];
    bytes.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
    assert!(codec::decode::<ClientMsg>(&bytes).is_err());
}

#[test]
fn states_and_sources_parse_back_from_their_names() {
    for &s in State::ALL {
        assert_eq!(s.as_str().parse::<State>().unwrap(), s);
    }
    assert_eq!("DENIED".parse::<State>().unwrap(), State::Denied);
    assert!("maybe".parse::<State>().is_err());
    for &s in DecisionSource::ALL {
        assert_eq!(s.to_string().parse::<DecisionSource>().unwrap(), s);
    }
    assert!("magic".parse::<DecisionSource>().is_err());
}

#[test]
fn risk_orders_and_parses() {
    assert!(Risk::Low < Risk::Medium && Risk::High < Risk::Critical);
    assert_eq!("HIGH".parse::<Risk>().unwrap(), Risk::High);
    assert!("severe".parse::<Risk>().is_err());
}

#[test]
fn decisions_read_as_sentences() {
    assert_eq!(
        decision().to_string(),
        "denied by operator alice: not on a Friday"
    );
    let expired = Decision {
        state: State::Expired,
        source: DecisionSource::Timeout,
        by: "agentd".into(),
        reason: None,
        at: now(),
        by_uid: None,
        by_pid: None,
        grant: None,
        approved_args: None,
    };
    assert_eq!(
        expired.to_string(),
        "expired: no decision before the deadline"
    );
}

#[test]
fn every_named_enum_parses_its_names_the_same_way() {
    // Any case, `-` for `_`, and an error that lists the names: for all four alike.
    assert_eq!(
        "Secret-Access".parse::<SubjectType>(),
        Ok(SubjectType::SecretAccess)
    );
    assert_eq!("CRITICAL".parse::<Risk>(), Ok(Risk::Critical));
    assert_eq!("Withdrawn".parse::<State>(), Ok(State::Withdrawn));
    assert_eq!(
        "Timeout".parse::<DecisionSource>(),
        Ok(DecisionSource::Timeout)
    );
    assert_eq!(
        "severe".parse::<Risk>(),
        Err("unknown risk level 'severe' (expected low, medium, high or critical)".into())
    );
    assert_eq!(
        "magic".parse::<DecisionSource>(),
        Err("unknown decision source 'magic' (expected operator, timeout, policy, agent, grant, rule or parent)".into())
    );
    // What is shown is what parses, and serde's names agree with the display names.
    for &subject in SubjectType::ALL {
        assert_eq!(subject.to_string(), subject.as_str());
        assert_eq!(subject.as_str().parse::<SubjectType>(), Ok(subject));
    }
    for &risk in Risk::ALL {
        let json = serde_json::to_string(&risk).unwrap();
        assert_eq!(json, format!("\"{risk}\""));
    }
}
