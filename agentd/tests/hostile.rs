//! Attacks by a hostile agent on the same machine, each written as the attack it closes:
//! registrations that would open a tool or shorten other agents' deadlines, parent review
//! used to approve oneself, and registration floods. Each test fails without its fix.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use agentd::registry::{MAX_TOOLS_PER_AGENT, MAX_TOOLS_PER_UID};
use agentd::testkit::{unlimited, TempDaemon};
use agentd::Settings;
use shared::{ApprovalRequest, ErrorCode, Risk, Submitted, ToolSpec};

fn call(tool: &str) -> ApprovalRequest {
    ApprovalRequest {
        tool: tool.into(),
        args_json: r#"{"command":"rm -rf ~"}"#.into(),
        ..ApprovalRequest::default()
    }
}

fn open_spec(name: &str, secs: u64) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        requires_approval: false,
        approval_timeout_secs: secs,
        risk: Risk::Low,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_tool_never_opens_it_for_anyone() {
    let d = TempDaemon::start_exact(Settings {
        tools: vec![ToolSpec {
            name: "deploy".into(),
            requires_approval: true,
            approval_timeout_secs: 300,
            risk: Risk::High,
        }],
        ..Settings::default()
    })
    .unwrap();
    let mut attacker = d.agent("attacker").await.unwrap();
    let got = attacker
        .register_tool(&open_spec("Bash", 300))
        .await
        .unwrap();
    assert!(got.requires_approval, "the registration opened Bash");
    // Not for the attacker itself, and not for anyone else.
    for name in ["attacker", "claude-code"] {
        let mut agent = d.agent(name).await.unwrap();
        match agent.submit(&call("Bash")).await.unwrap() {
            Submitted::Queued(t) => assert_eq!(t.risk, Risk::Medium),
            other => panic!("{name}'s Bash call was answered without a person: {other:?}"),
        }
    }
    // Shortening a configured tool's timeout applies to the attacker's requests only.
    attacker
        .register_tool(&open_spec("deploy", 1))
        .await
        .unwrap();
    let mut victim = d.agent("victim").await.unwrap();
    let Submitted::Queued(t) = victim.submit(&call("deploy")).await.unwrap() else {
        panic!("deploy needs approval");
    };
    assert_eq!((t.expires_at - t.created_at).num_seconds(), 300);
    let mut own = d.agent("attacker").await.unwrap();
    let Submitted::Queued(t) = own.submit(&call("deploy")).await.unwrap() else {
        panic!("deploy needs approval");
    };
    assert_eq!((t.expires_at - t.created_at).num_seconds(), 1);
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_rate_limited_and_bounded_per_user() {
    let limited = TempDaemon::start_exact(Settings::default()).unwrap();
    let mut flood = limited.agent("flood").await.unwrap();
    let mut refused = None;
    for i in 0..100 {
        if let Err(e) = flood.register_tool(&open_spec(&format!("t{i}"), 10)).await {
            refused = Some(e);
            break;
        }
    }
    let err = refused.expect("100 registrations in a burst were all let through");
    assert_eq!(err.code(), Some(ErrorCode::LimitReached), "{err}");
    assert!(err.to_string().contains("try again in"), "{err}");
    limited.stop().await.unwrap();

    // Without a rate limit, a new name per connection still cannot grow memory unbounded.
    let d = TempDaemon::start_exact(Settings {
        limits: unlimited(),
        ..Settings::default()
    })
    .unwrap();
    let names = MAX_TOOLS_PER_UID / MAX_TOOLS_PER_AGENT + 1;
    let mut first_refusal = None;
    'outer: for n in 0..names {
        let mut agent = d.agent(&format!("agent-{n}")).await.unwrap();
        for i in 0..MAX_TOOLS_PER_AGENT {
            if let Err(e) = agent.register_tool(&open_spec(&format!("t{i}"), 10)).await {
                first_refusal = Some((n * MAX_TOOLS_PER_AGENT + i, e));
                break 'outer;
            }
        }
    }
    let (accepted, err) = first_refusal.expect("registrations were never bounded");
    assert_eq!(accepted, MAX_TOOLS_PER_UID);
    assert_eq!(err.code(), Some(ErrorCode::LimitReached));
    assert!(
        err.to_string().contains("the most one user's agents may"),
        "{err}"
    );
    d.stop().await.unwrap();
}
