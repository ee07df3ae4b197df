//! The hooks of every runtime, end to end against a real agentd from recorded-shape inputs:
//! Claude Code's PermissionRequest and sub-agents, Codex's PermissionRequest and PreToolUse,
//! Gemini CLI's BeforeTool. For each: allow, deny with the operator's reason reaching the
//! agent, the hook's own deadline, agentd unreachable, and malformed input, all in the
//! runtime's own answer shape, always exiting 0.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use agentd::Settings;
use agentd_testkit::TempDaemon;
use serde_json::{json, Value};
use tokio::process::Child;

const LIMIT: Duration = Duration::from_secs(20);

fn fixture(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

async fn hook(socket: &Path, runtime: &str, input: &str, extra: &[&str]) -> Child {
    common::hook(socket, runtime, input, extra).await
}

/// What the hook printed (`None` for nothing), having exited 0.
async fn printed(child: Child) -> Option<Value> {
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a hook always exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    (!text.trim().is_empty()).then(|| serde_json::from_str(&text).unwrap())
}

/// Runs the hook on `input`, decides its request with `decision` (ash arguments after the ID),
/// and returns the request as agentd saw it and what the hook printed.
async fn decided(
    d: &TempDaemon,
    runtime: &str,
    input: &str,
    decision: &[&str],
) -> (Value, Option<Value>) {
    let child = hook(d.socket(), runtime, input, &[]).await;
    let req = common::first_pending(d, "the hook's request").await;
    let id = req["id"].as_str().unwrap().to_string();
    let mut args = vec![decision[0], id.as_str()];
    args.extend(&decision[1..]);
    common::ash_ok(d.socket(), &args).await;
    (req, printed(child).await)
}

fn permission_request(decision: Value) -> Value {
    json!({ "hookSpecificOutput": { "hookEventName": "PermissionRequest", "decision": decision } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_permission_requests_are_answered_in_their_own_shape() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let input = fixture("claude-code/permission-request.json");
    let (req, out) = decided(
        &d,
        "claude-code",
        &input,
        &["approve", "--operator", "alice"],
    )
    .await;
    assert_eq!(req["agent"], "claude-code");
    assert_eq!(req["args"]["command"], "npm publish --access public");
    assert_eq!(
        out,
        Some(permission_request(json!({ "behavior": "allow" })))
    );
    let (_, out) = decided(
        &d,
        "claude-code",
        &input,
        &["deny", "--operator", "bob", "--reason", "not today"],
    )
    .await;
    assert_eq!(
        out,
        Some(permission_request(
            json!({ "behavior": "deny", "message": "denied by operator bob: not today" })
        ))
    );
    // The hook's own deadline: deny. (exit 2 is not honoured for this event, so it never
    // relies on it.)
    let out = printed(hook(d.socket(), "claude-code", &input, &["--deadline", "1"]).await).await;
    assert_eq!(
        out.unwrap()["hookSpecificOutput"]["decision"]["behavior"],
        "deny"
    );
    d.stop().await.unwrap();
    // agentd down: deny; with --on-error ask, nothing, so Claude Code shows its own prompt.
    let gone = tempfile::tempdir().unwrap();
    let socket = gone.path().join("nobody.sock");
    let out = printed(hook(&socket, "claude-code", &input, &[]).await)
        .await
        .unwrap();
    let message = out["hookSpecificOutput"]["decision"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("cannot reach agentd"), "{message}");
    assert_eq!(
        printed(hook(&socket, "claude-code", &input, &["--on-error", "ask"]).await).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_code_sub_agent_is_named_and_its_permission_mode_recorded() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    // As recorded, in plan mode.
    let mut input: Value = serde_json::from_str(&fixture("claude-code/subagent.json")).unwrap();
    input["permission_mode"] = json!("plan");
    let (req, out) = decided(&d, "claude-code", &input.to_string(), &["approve"]).await;
    assert_eq!(req["agent"], "claude-code/general-purpose");
    assert_eq!(
        req["summary"],
        "make lint (in /home/dev/app; permission mode plan)"
    );
    assert_eq!(
        out.unwrap()["hookSpecificOutput"]["permissionDecision"],
        "allow"
    );
    // A hostile sub-agent type cannot smuggle anything into the name.
    let mut input: Value = serde_json::from_str(&fixture("claude-code/subagent.json")).unwrap();
    input["agent_type"] = json!("x\u{1b}[2J/../../y z");
    let (req, _) = decided(&d, "claude-code", &input.to_string(), &["deny"]).await;
    assert_eq!(req["agent"], "claude-code/x2J....yz");
    // An event this hook does not serve is refused, closed.
    input["hook_event_name"] = json!("PostToolUse");
    let out = printed(hook(d.socket(), "claude-code", &input.to_string(), &[]).await)
        .await
        .unwrap();
    let h = &out["hookSpecificOutput"];
    assert_eq!(h["permissionDecision"], "deny");
    assert!(h["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .contains("serves PreToolUse and PermissionRequest"));
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_permission_requests_and_pre_tool_use() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let input = fixture("codex/permission-request.json");
    let recorded: Value = serde_json::from_str(&input).unwrap();
    let (req, out) = decided(&d, "codex", &input, &["approve"]).await;
    assert_eq!(req["agent"], "codex");
    assert_eq!(req["tool"], "Bash");
    assert_eq!(req["session"], recorded["session_id"]);
    assert_eq!(req["cwd"], "/home/dev/app");
    // Codex refuses updatedInput in a PermissionRequest answer: there is none.
    assert_eq!(
        out,
        Some(permission_request(json!({ "behavior": "allow" })))
    );
    let (_, out) = decided(
        &d,
        "codex",
        &input,
        &["deny", "--operator", "bob", "--reason", "not from here"],
    )
    .await;
    assert_eq!(
        out,
        Some(permission_request(
            json!({ "behavior": "deny", "message": "denied by operator bob: not from here" })
        ))
    );
    // PreToolUse: allow carries the arguments to run (Codex needs them); deny a reason.
    let pre = fixture("codex/pre-tool-use.json");
    let (_, out) = decided(&d, "codex", &pre, &["approve"]).await;
    assert_eq!(
        out,
        Some(json!({ "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "updatedInput": { "command": "make deploy" },
        }}))
    );
    let (_, out) = decided(&d, "codex", &pre, &["deny", "--operator", "bob"]).await;
    let h = &out.unwrap()["hookSpecificOutput"];
    assert_eq!(h["permissionDecision"], "deny");
    assert_eq!(h["permissionDecisionReason"], "denied by operator bob");
    let out = printed(hook(d.socket(), "codex", &input, &["--deadline", "1"]).await).await;
    assert_eq!(
        out.unwrap()["hookSpecificOutput"]["decision"]["behavior"],
        "deny"
    );
    // Malformed: no event name, or not JSON.
    for bad in ["{\"tool_name\":\"Bash\",\"tool_input\":{}}", "not json"] {
        let out = printed(hook(d.socket(), "codex", bad, &[]).await)
            .await
            .unwrap();
        assert_eq!(
            out["hookSpecificOutput"]["permissionDecision"], "deny",
            "{bad}"
        );
    }
    d.stop().await.unwrap();
    let gone = tempfile::tempdir().unwrap();
    let socket = gone.path().join("nobody.sock");
    let out = printed(hook(&socket, "codex", &input, &[]).await)
        .await
        .unwrap();
    assert_eq!(out["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert_eq!(
        printed(hook(&socket, "codex", &input, &["--on-error", "ask"]).await).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_before_tool() {
    let d = TempDaemon::start(Settings::default()).unwrap();
    let input = fixture("gemini/before-tool.json");
    let (req, out) = decided(&d, "gemini", &input, &["approve", "--operator", "alice"]).await;
    assert_eq!(req["agent"], "gemini");
    assert_eq!(req["tool"], "run_shell_command");
    assert_eq!(
        req["summary"],
        "rm -rf dist && npm run build (in /home/dev/app)"
    );
    assert_eq!(
        out,
        Some(json!({ "decision": "allow", "reason": "approved by alice" }))
    );
    let (req, out) = decided(
        &d,
        "gemini",
        &fixture("gemini/mcp.json"),
        &["deny", "--operator", "bob", "--reason", "file it by hand"],
    )
    .await;
    assert_eq!(req["tool"], "mcp_probe_touch");
    assert_eq!(
        out,
        Some(json!({ "decision": "deny", "reason": "denied by operator bob: file it by hand" }))
    );
    let out = printed(hook(d.socket(), "gemini", &input, &["--deadline", "1"]).await)
        .await
        .unwrap();
    assert_eq!(out["decision"], "deny");
    assert!(out["reason"].as_str().unwrap().contains("no decision"));
    let out = printed(hook(d.socket(), "gemini", "{\"tool_name\": 7}", &[]).await)
        .await
        .unwrap();
    assert_eq!(out["decision"], "deny");
    assert!(out["reason"]
        .as_str()
        .unwrap()
        .contains("malformed hook input"));
    d.stop().await.unwrap();
    let gone = tempfile::tempdir().unwrap();
    let socket = gone.path().join("nobody.sock");
    let out = printed(hook(&socket, "gemini", &input, &[]).await)
        .await
        .unwrap();
    assert_eq!(out["decision"], "deny");
    assert_eq!(
        printed(hook(&socket, "gemini", &input, &["--on-error", "ask"]).await).await,
        None
    );
}
