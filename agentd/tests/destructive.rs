//! No destructive or exfiltrating call is ever approved without a person: every call of the
//! corpus (`tests/fixtures/destructive.jsonl`: chaining, substitution, redirection into
//! start-up files and hooks, every spelling of rm, git that writes, curl into a shell, sudo,
//! setting the clock, interpreters, secret files, edits anywhere, homoglyph tool names) asks or
//! is denied, with the built-in presets, after a harmless call was granted for the session, and
//! under docs/examples/agentd.toml, whose old regex rule let several of them through.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use agentd::testkit::{unlimited, TempDaemon};
use agentd::Settings;
use shared::{ApprovalRequest, Client, DecideRequest, Scope, Submitted, Verdict};

fn corpus() -> Vec<(String, serde_json::Value)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/destructive.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["tool_name"].as_str().unwrap().to_string(),
                v["tool_input"].clone(),
            )
        })
        .collect()
}

fn call(tool: &str, args: &serde_json::Value) -> ApprovalRequest {
    ApprovalRequest {
        tool: tool.into(),
        args_json: args.to_string(),
        session: Some("s-1".into()),
        ..ApprovalRequest::default()
    }
}

/// Every corpus call against `d`: none may be approved at once.
async fn none_approved(d: &TempDaemon, what: &str) {
    let corpus = corpus();
    assert!(corpus.len() >= 100, "the corpus has {} calls", corpus.len());
    let mut waved = Vec::new();
    for (tool, args) in &corpus {
        let mut agent = d.agent("claude-code").await.unwrap();
        match agent.submit(&call(tool, args)).await {
            Ok(Submitted::Decided(o)) if o.approved() => waved.push(format!("{tool} {args}")),
            Ok(_) => {}
            // Every corpus call is well formed: a refusal here would hide what agentd decides.
            Err(e) => panic!("{what}: {tool} {args} was refused: {e}"),
        }
    }
    assert!(
        waved.is_empty(),
        "{what}: approved without a person: {waved:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_destructive_call_passes_with_the_presets() {
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        ..Settings::default()
    })
    .unwrap();
    // Harmless calls do pass, so the presets are on.
    let mut agent = d.agent("claude-code").await.unwrap();
    let harmless = call(
        "Bash",
        &serde_json::json!({ "command": "git status && ls -la" }),
    );
    assert!(
        matches!(agent.submit(&harmless).await.unwrap(), Submitted::Decided(o) if o.approved())
    );
    none_approved(&d, "presets").await;
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_destructive_call_passes_after_a_harmless_one_was_granted_for_the_session() {
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        ..Settings::default()
    })
    .unwrap();
    let mut op = d.operator("alice").await.unwrap();
    for harmless in ["make test", "npm run build"] {
        let mut agent = d.agent("claude-code").await.unwrap();
        let req = call("Bash", &serde_json::json!({ "command": harmless }));
        let Submitted::Queued(t) = agent.submit(&req).await.unwrap() else {
            panic!("{harmless} needs a person");
        };
        op.decide(&DecideRequest {
            id: t.id.to_string(),
            verdict: Verdict::Approve,
            operator: "alice".into(),
            reason: None,
            scope: Scope::Session,
            grant: None,
        })
        .await
        .unwrap();
        assert!(agent.wait().await.unwrap().approved());
    }
    none_approved(&d, "after session grants").await;
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_configs_old_regex_rule_no_longer_lets_them_through() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/agentd.toml");
    let settings = Settings::load(&example).unwrap();
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        ..settings
    })
    .unwrap();
    // The bypasses the old rule had, on the tool it was written for.
    let mut agent: Client = d.agent("codex").await.unwrap();
    for line in [
        "ls x\nrm -f precious.txt",
        "git diff --output=FILE",
        "git log --format=%s --output=~/.bashrc",
        "date -s 2001-01-01",
    ] {
        let req = call("shell", &serde_json::json!({ "command": line }));
        match agent.submit(&req).await.unwrap() {
            Submitted::Decided(o) => assert!(!o.approved(), "{line:?} was approved"),
            Submitted::Queued(_) => agent = d.agent("codex").await.unwrap(),
        }
    }
    none_approved(&d, "docs/examples/agentd.toml").await;
    d.stop().await.unwrap();
}
