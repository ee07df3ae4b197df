//! Attacks by a hostile agent on the same machine, each written as the attack it closes:
//! registrations that would open a tool or shorten other agents' deadlines, parent review
//! used to approve oneself, and registration floods. Each test fails without its fix.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use agentd::queue::Approver;
use agentd::registry::{MAX_TOOLS_PER_AGENT, MAX_TOOLS_PER_UID};
use agentd::Settings;
use agentd_proto::{
    ApprovalRequest, Client, ErrorCode, ReviewAction, ReviewDecision, Risk, State, Submitted,
    ToolSpec,
};
use agentd_testkit::{unlimited, TempDaemon};
use common::operators_see;

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

fn act(id: uuid::Uuid, action: ReviewAction) -> ReviewDecision {
    ReviewDecision {
        id,
        action,
        note: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cannot_approve_itself_through_parent_review() {
    // The attack: one process, agent role only, default config. It reviews as `lead`,
    // asks as `worker` with parent `lead`, and approves through ReviewDecide.
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let mut lead = d.agent("lead").await.unwrap();
    lead.review().await.unwrap();
    let mut worker = Client::connect_child(d.socket(), "worker", "lead")
        .await
        .unwrap();
    let Submitted::Queued(t) = worker.submit(&call("deploy")).await.unwrap() else {
        panic!("deploy needs approval");
    };
    // The reviewer is the requesting process: the request goes past it to the operators.
    let seen = operators_see(&d, 1).await;
    assert_eq!(seen[0].id, t.id);
    assert!(
        seen[0].path[0].contains("may not review it"),
        "{:?}",
        seen[0].path
    );
    let mut again = d.agent("lead").await.unwrap();
    let err = again
        .review_decide(&act(t.id, ReviewAction::Approve))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let mut op = d.operator("alice").await.unwrap();
    assert_eq!(
        op.get(&t.id.to_string()).await.unwrap().state,
        State::Pending,
        "nothing approved it"
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_may_deny_or_escalate_but_approves_only_what_the_config_allows() {
    // Reviewer and child in one process, as an embedding would have them, so that only the
    // approval rule is under test here.
    let me = nix::unistd::Uid::effective().as_raw();
    for (approvers, risk, allowed) in [
        (vec![], Risk::Medium, false),
        (
            vec![approver(me, "lead", Risk::Medium, None)],
            Risk::Medium,
            true,
        ),
        (
            vec![approver(me, "lead", Risk::Medium, None)],
            Risk::High,
            false,
        ),
        (
            vec![approver(me, "boss", Risk::Critical, None)],
            Risk::Low,
            false,
        ),
        (
            vec![approver(me.wrapping_add(1), "lead", Risk::Critical, None)],
            Risk::Low,
            false,
        ),
        (
            vec![approver(
                me,
                "lead",
                Risk::Critical,
                Some(vec!["other".into()]),
            )],
            Risk::Low,
            false,
        ),
    ] {
        let d = TempDaemon::start(Settings {
            review_approvers: approvers.clone(),
            ..Settings::default()
        })
        .unwrap();
        let mut lead = d.agent("lead").await.unwrap();
        lead.review().await.unwrap();
        let mut worker = Client::connect_child(d.socket(), "worker", "lead")
            .await
            .unwrap();
        let req = ApprovalRequest {
            risk_hint: Some(risk),
            ..call("deploy")
        };
        let Submitted::Queued(t) = worker.submit(&req).await.unwrap() else {
            panic!("deploy needs approval");
        };
        assert_eq!(lead.next_review().await.unwrap().id, t.id);
        let got = lead.review_decide(&act(t.id, ReviewAction::Approve)).await;
        match allowed {
            true => assert_eq!(got.unwrap().state, State::Approved, "{approvers:?}"),
            false => {
                let err = got.unwrap_err();
                assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{approvers:?}");
                assert!(err.to_string().contains("may deny or escalate"), "{err}");
                // Denying is always a parent's right.
                let denied = lead
                    .review_decide(&act(t.id, ReviewAction::Deny))
                    .await
                    .unwrap();
                assert_eq!(denied.state, State::Denied);
            }
        }
        d.stop().await.unwrap();
    }
}

fn approver(uid: u32, agent: &str, max_risk: Risk, tools: Option<Vec<String>>) -> Approver {
    Approver {
        uid,
        agent: agent.into(),
        max_risk,
        tools,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_named_in_a_hello_is_bounded_like_other_names() {
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let long = "p".repeat(10_000);
    let err = match Client::connect_child(d.socket(), "worker", &long).await {
        Err(e) => e,
        Ok(_) => panic!("a 10,000-byte parent name was accepted"),
    };
    assert_eq!(err.code(), Some(ErrorCode::BadHello), "{err}");
    assert!(err.to_string().contains("the limit is 128"), "{err}");
    let err = match Client::connect_child(d.socket(), "worker", "lead\u{1b}[2J").await {
        Err(e) => e,
        Ok(_) => panic!("a parent name with an escape sequence was accepted"),
    };
    assert_eq!(err.code(), Some(ErrorCode::BadHello), "{err}");
    d.operator("alice").await.unwrap().ping().await.unwrap();
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_agent_that_asked_may_attach_to_or_withdraw_its_request() {
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let mut owner = d.agent("owner").await.unwrap();
    let Submitted::Queued(t) = owner.submit(&call("deploy")).await.unwrap() else {
        panic!("deploy needs approval");
    };
    let mut other = d.agent("other").await.unwrap();
    for err in [
        other.attach(t.id).await.err().unwrap(),
        other.cancel(t.id).await.err().unwrap(),
    ] {
        assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
        assert!(err.to_string().contains("raised by another agent"), "{err}");
    }
    let mut op = d.operator("alice").await.unwrap();
    assert_eq!(
        op.get(&t.id.to_string()).await.unwrap().state,
        State::Pending
    );
    // The owner, on another connection, may.
    let mut again = d.agent("owner").await.unwrap();
    assert_eq!(
        again.cancel(t.id).await.unwrap().decision.state,
        State::Withdrawn
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_match_arguments_exactly_and_repeated_keys_are_refused() {
    // Agent and operator in this one process, as an embedding has them.
    let d = TempDaemon::start(Settings::default()).unwrap();
    let ask = |args: &str| ApprovalRequest {
        tool: "transfer".into(),
        args_json: args.into(),
        session: Some("s-1".into()),
        ..ApprovalRequest::default()
    };
    let mut agent = d.agent("payer").await.unwrap();
    let Submitted::Queued(t) = agent.submit(&ask(r#"{"amount":1e20}"#)).await.unwrap() else {
        panic!("transfer needs approval");
    };
    let mut op = d.operator("alice").await.unwrap();
    op.decide(&agentd_proto::DecideRequest {
        id: t.id.to_string(),
        verdict: agentd_proto::Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope: agentd_proto::Scope::Session,
        grant: None,
        args_json: None,
    })
    .await
    .unwrap();
    assert!(agent.wait().await.unwrap().approved());
    // The grant is for 1e20; 100000000000000000001 is another amount and asks again.
    let mut again = d.agent("payer").await.unwrap();
    match again
        .submit(&ask(r#"{"amount":100000000000000000001}"#))
        .await
        .unwrap()
    {
        Submitted::Queued(t) => {
            let shown = op.get(&t.id.to_string()).await.unwrap();
            assert_eq!(shown.args_json, r#"{"amount":100000000000000000001}"#);
        }
        other => panic!("a grant for 1e20 answered 100000000000000000001: {other:?}"),
    }
    // The same amount again is covered.
    let mut third = d.agent("payer").await.unwrap();
    assert!(matches!(
        third.submit(&ask(r#"{ "amount": 1e20 }"#)).await.unwrap(),
        Submitted::Decided(o) if o.approved()
    ));
    // A repeated key: the operator would see one command and the tool might run the other.
    let mut sneaky = d.agent("payer").await.unwrap();
    let err = sneaky
        .submit(&ask(r#"{"command":"ls","command":"rm -rf ~"}"#))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidArgs), "{err}");
    assert!(
        err.to_string().contains(r#"repeat the key "command""#),
        "{err}"
    );
    d.stop().await.unwrap();
}
