//! The presets follow the runtimes: every tool a pinned runtime offers its model is one its
//! preset classifies (command rules, a read, file or fetch tool, needs no approval, or asks on
//! purpose). A new version that adds or renames a tool fails here with the tool's name.

use std::collections::BTreeSet;

use super::{finished, said, Rig, Setup};

/// Runs `setup` once with a model that only talks, and returns the tools it was offered.
async fn offered(setup: Setup) -> BTreeSet<String> {
    let rig = Rig::start(Vec::new()).await;
    setup.configure(&rig);
    let out = finished(setup.run(&rig, "say hello")).await;
    let tools = rig.model.tools();
    assert!(
        !tools.is_empty(),
        "the runtime offered no tools: {}",
        said(&out)
    );
    tools
}

/// Fails with every offered tool the preset does not know.
fn classified(preset: &str, tools: &BTreeSet<String>) {
    let preset = agentd::policy::presets::load(preset, 300).unwrap();
    let unknown: Vec<&String> = tools
        .iter()
        .filter(|tool| preset.kind_of(tool).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "the {} preset does not classify {unknown:?} (offered: {tools:?})",
        preset.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_preset_classifies_every_tool_offered() {
    let tools = offered(Setup::ClaudePreToolUse).await;
    // The deferred tools, offered by name for ToolSearch to load, count too.
    assert!(
        tools.contains("Agent") && tools.contains("WebFetch"),
        "{tools:?}"
    );
    classified("claude-code", &tools);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_preset_classifies_every_tool_offered() {
    let tools = offered(Setup::CodexPreToolUse).await;
    assert!(
        tools.contains("exec_command") && tools.contains("apply_patch"),
        "{tools:?}"
    );
    classified("codex", &tools);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_preset_classifies_every_tool_offered() {
    let tools = offered(Setup::GeminiBeforeTool).await;
    assert!(
        tools.contains("run_shell_command") && tools.contains("grep_search"),
        "{tools:?}"
    );
    classified("gemini", &tools);
}
