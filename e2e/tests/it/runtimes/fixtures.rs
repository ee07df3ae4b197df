//! The hook inputs in `e2e/tests/fixtures/` are what the real runtimes send: each runtime is
//! run on the fixture's own call with a hook that records its input, and the recording must
//! match the fixture (the same fields, the same tool and arguments; ids, times and temporary
//! paths aside). `AGENTD_WRITE_FIXTURES=1` writes the recordings over the fixtures instead.

use serde_json::{json, Value};

use super::{finished, Rig, Setup};
use agentd_e2e::model::Call;

/// Fields whose values change from run to run; the fixture keeps them, with any value.
const VOLATILE: &[&str] = &[
    "session_id",
    "transcript_path",
    "tool_use_id",
    "turn_id",
    "agent_id",
    "timestamp",
    "cwd",
    "model",
    "prompt_id",
];

/// `input` with the rig's temporary folders written as `/home/dev` and `/home/dev/app` (Claude
/// Code's transcript folder names the project too), and the test's MCP server as
/// `/home/dev/bin/probe-mcp.py`.
fn anonymised(rig: &Rig, input: &Value) -> Value {
    let project = rig.project().to_string_lossy().to_string();
    let home = rig.home().to_string_lossy().to_string();
    let encoded = project.replace(['/', '.'], "-");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support/touch_mcp_server.py")
        .to_string_lossy()
        .to_string();
    let text = input
        .to_string()
        .replace(&project, "/home/dev/app")
        .replace(&home, "/home/dev")
        .replace(&encoded, "-home-dev-app")
        .replace(&script, "/home/dev/bin/probe-mcp.py");
    serde_json::from_str(&text).unwrap()
}

/// Runs `setup` (agentd absent: each hook denies at once) with `turns`, and returns the hook
/// inputs it recorded, with the rig's temporary folders written as `/home/dev` and
/// `/home/dev/app`.
async fn recorded(setup: Setup, turns: Vec<Vec<Call>>, mcp: bool) -> Vec<Value> {
    let rig = Rig::without_agentd(turns).await;
    setup.configure(&rig);
    if mcp {
        setup.add_mcp_server(&rig);
    }
    rig.capture_hook_inputs();
    finished(setup.run(&rig, "do it")).await;
    rig.hook_inputs()
        .iter()
        .map(|input| anonymised(&rig, input))
        .collect()
}

/// The fixture `name`, checked against `input` (or replaced by it when asked to).
fn matches_fixture(name: &str, input: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("AGENTD_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, format!("{input}\n")).unwrap();
        return;
    }
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        keys(&fixture),
        keys(input),
        "{name}: the fields differ from {input}"
    );
    for (key, value) in input.as_object().unwrap() {
        if !VOLATILE.contains(&key.as_str()) {
            assert_eq!(&fixture[key], value, "{name}: {key} differs from {input}");
        }
    }
}

/// The one input recorded for `tool` on `event`.
fn the_input<'a>(inputs: &'a [Value], event: &str, tool: &str) -> &'a Value {
    inputs
        .iter()
        .find(|i| i["hook_event_name"] == event && i["tool_name"] == tool)
        .unwrap_or_else(|| panic!("no {event} input for {tool} in {inputs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_sends_what_the_fixtures_hold() {
    let bash = Call::new(
        "Bash",
        json!({"command": "terraform apply -auto-approve", "description": "Apply the infrastructure change", "timeout": 120000}),
    );
    let inputs = recorded(Setup::ClaudePreToolUse, vec![vec![bash]], false).await;
    matches_fixture(
        "claude-code/bash.json",
        the_input(&inputs, "PreToolUse", "Bash"),
    );
    let write = Call::new(
        "Write",
        json!({"file_path": "/home/dev/app/.env", "content": "API_KEY=sk-live-0123456789abcdefghij\n"}),
    );
    let inputs = recorded(Setup::ClaudePreToolUse, vec![vec![write]], false).await;
    matches_fixture(
        "claude-code/write.json",
        the_input(&inputs, "PreToolUse", "Write"),
    );
    // Claude Code checks an Edit against the file (read first, the text there) before any
    // hook sees it, which a failing-closed hook never lets happen; edit.json is the recorded
    // Write with an Edit's tool and arguments.
    let mut edit = the_input(&inputs, "PreToolUse", "Write").clone();
    edit["tool_name"] = json!("Edit");
    edit["tool_input"] = json!({"file_path": "/home/dev/app/src/main.rs", "old_string": "let x = 1;", "new_string": "let x = 2;", "replace_all": false});
    matches_fixture("claude-code/edit.json", &edit);
    let publish = Call::new(
        "Bash",
        json!({"command": "npm publish --access public", "description": "Publish the package"}),
    );
    let inputs = recorded(Setup::ClaudePermissionRequest, vec![vec![publish]], false).await;
    matches_fixture(
        "claude-code/permission-request.json",
        the_input(&inputs, "PermissionRequest", "Bash"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_sub_agents_and_mcp_tools_send_what_the_fixtures_hold() {
    let setup = Setup::ClaudePreToolUse;
    let (agent, _) = setup.subagent("SUBTASK-agentd: lint").unwrap();
    let rig = Rig::without_agentd(vec![vec![agent]]).await;
    rig.model.script_for(
        "SUBTASK-agentd",
        vec![vec![Call::new(
            "Bash",
            json!({"command": "make lint", "description": "Lint"}),
        )]],
    );
    setup.configure(&rig);
    rig.capture_hook_inputs();
    finished(setup.run(&rig, "delegate")).await;
    let inputs: Vec<Value> = rig
        .hook_inputs()
        .iter()
        .map(|input| anonymised(&rig, input))
        .collect();
    let sub = inputs
        .iter()
        .find(|i| i["tool_name"] == "Bash" && i.get("agent_type").is_some())
        .unwrap_or_else(|| panic!("no sub-agent input in {inputs:?}"));
    matches_fixture("claude-code/subagent.json", sub);
    let mcp = Call::new(
        "mcp__probe__touch",
        json!({"path": "/home/dev/app/from-mcp"}),
    );
    let inputs = recorded(setup, vec![vec![mcp]], true).await;
    matches_fixture(
        "claude-code/mcp.json",
        the_input(&inputs, "PreToolUse", "mcp__probe__touch"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_sends_what_the_fixtures_hold() {
    let deploy = Setup::CodexPreToolUse.shell("make deploy");
    let inputs = recorded(Setup::CodexPreToolUse, vec![vec![deploy]], false).await;
    matches_fixture(
        "codex/pre-tool-use.json",
        the_input(&inputs, "PreToolUse", "Bash"),
    );
    let publish = Setup::CodexPermissionRequest.shell("cargo publish");
    let inputs = recorded(Setup::CodexPermissionRequest, vec![vec![publish]], false).await;
    matches_fixture(
        "codex/permission-request.json",
        the_input(&inputs, "PermissionRequest", "Bash"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_sends_what_the_fixtures_hold() {
    let setup = Setup::GeminiBeforeTool;
    let build = Call::new(
        "run_shell_command",
        json!({"command": "rm -rf dist && npm run build", "description": "Rebuild from scratch", "dir_path": "."}),
    );
    let inputs = recorded(setup, vec![vec![build]], false).await;
    matches_fixture(
        "gemini/before-tool.json",
        the_input(&inputs, "BeforeTool", "run_shell_command"),
    );
    let mcp = Call::new("mcp_probe_touch", json!({"path": "/home/dev/app/from-mcp"}));
    let inputs = recorded(setup, vec![vec![mcp]], true).await;
    matches_fixture(
        "gemini/mcp.json",
        the_input(&inputs, "BeforeTool", "mcp_probe_touch"),
    );
}
