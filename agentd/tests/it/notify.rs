//! Notifications: the `[notify]` command runs for each request that reaches the operators, with
//! its fields in the environment and not its arguments; requests below `min_risk` are skipped;
//! and a command that hangs or fails never holds up the queue.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use agentd::notify::NotifySettings;
use agentd::Settings;
use agentd_proto::{
    ApprovalRequest, Client, DecideRequest, Risk, Scope, State, Submitted, ToolSpec, Verdict,
};
use agentd_testkit::{Poller, TempDaemon};

const LIMIT: Duration = Duration::from_secs(20);

fn settings(command: String, min_risk: Risk, max_running: usize) -> Settings {
    Settings {
        tools: vec![ToolSpec {
            name: "lint".into(),
            requires_approval: true,
            approval_timeout_secs: 300,
            risk: Risk::Low,
        }],
        notify: Some(NotifySettings {
            command,
            min_risk,
            timeout: Duration::from_secs(300),
            max_running,
        }),
        ..Settings::default()
    }
}

fn request(tool: &str, args: &str) -> ApprovalRequest {
    ApprovalRequest {
        tool: tool.into(),
        args_json: args.into(),
        summary: Some("rotate the key".into()),
        session: Some("s-1".into()),
        ..ApprovalRequest::default()
    }
}

async fn queued(agent: &mut Client, req: &ApprovalRequest) -> uuid::Uuid {
    match agent.submit(req).await.unwrap() {
        Submitted::Queued(t) => t.id,
        Submitted::Decided(o) => panic!("expected a queued request, got {o:?}"),
    }
}

async fn file_with(path: &Path, needle: &str) -> String {
    let mut poller = Poller::new(LIMIT, format!("{needle} in {}", path.display()));
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.contains(needle) {
                return text;
            }
        }
        poller.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_runs_the_command_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("notified");
    let command = format!(
        r#"printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$AGENTD_ID" "$AGENTD_TOOL" "$AGENTD_RISK" "$AGENTD_AGENT" "$AGENTD_SESSION" "$AGENTD_SUMMARY" "$AGENTD_MESSAGE" "${{AGENTD_ARGS-unset}}" >> '{}'"#,
        out.display()
    );
    // min_risk = medium with one slot: a wrongly notified low-risk request either shows up
    // in the file or holds the only slot so that the high one is never notified.
    let d = TempDaemon::start(settings(command, Risk::Medium, 1)).unwrap();
    let mut agent = d.agent("deployer").await.unwrap();
    let low = queued(&mut agent, &request("lint", "{}")).await;
    let mut agent2 = d.agent("deployer").await.unwrap();
    let high = queued(
        &mut agent2,
        &request("sensitive-op", r#"{"token":"hunter2"}"#),
    )
    .await;
    let text = file_with(&out, &high.to_string()).await;
    assert!(!text.contains(&low.to_string()), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains(&high.to_string()))
        .unwrap();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields[1], "sensitive-op");
    assert_eq!(fields[3], "deployer");
    assert_eq!(fields[4], "s-1");
    assert_eq!(fields[5], "rotate the key");
    assert!(
        fields[6].starts_with("sensitive-op (")
            && fields[6].contains("from deployer: rotate the key"),
        "{line}"
    );
    assert_eq!(fields[7], "unset", "arguments must not be passed: {line}");
    assert!(!text.contains("hunter2"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_command_never_holds_up_the_queue() {
    // The command would hang for 10 minutes; every request must still be served and decided
    // well within the test's limit.
    let d = TempDaemon::start(settings("sleep 600".into(), Risk::Low, 1)).unwrap();
    let mut op = d.operator("alice").await.unwrap();
    for n in 0..3 {
        let mut agent = d.agent(&format!("agent-{n}")).await.unwrap();
        let id = queued(&mut agent, &request("lint", "{}")).await;
        op.decide(&DecideRequest {
            id: id.to_string(),
            verdict: Verdict::Approve,
            operator: "alice".into(),
            reason: None,
            scope: Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap();
        let outcome = tokio::time::timeout(LIMIT, agent.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.decision.state, State::Approved);
    }
    d.stop().await.unwrap();

    let d = TempDaemon::start(settings("exit 3".into(), Risk::Low, 1)).unwrap();
    let mut agent = d.agent("a").await.unwrap();
    queued(&mut agent, &request("lint", "{}")).await;
    let mut op = d.operator("alice").await.unwrap();
    assert_eq!(op.list(Some(State::Pending)).await.unwrap().len(), 1);
    d.stop().await.unwrap();
}
