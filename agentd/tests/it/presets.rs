//! The built-in presets, through a real agentd: on with no config at all, a Claude Code `Read`
//! of a project file needs no person while a `Read` of a secret-bearing file and anything that
//! changes things ask; `presets = []` turns them off and the config's own tools override them.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use agentd::Settings;
use agentd_proto::{ApprovalRequest, DecisionSource, Risk, Submitted, ToolSpec};
use agentd_testkit::TempDaemon;

fn call(tool: &str, args: serde_json::Value) -> ApprovalRequest {
    ApprovalRequest {
        tool: tool.into(),
        args_json: args.to_string(),
        session: Some("s".into()),
        // The project the agent works in: reads there pass.
        cwd: Some("/home/dev/app".into()),
        ..ApprovalRequest::default()
    }
}

async fn answer(d: &TempDaemon, req: &ApprovalRequest) -> Submitted {
    d.agent("claude-code")
        .await
        .unwrap()
        .submit(req)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_config_looking_tools_pass_and_secrets_and_changes_ask() {
    let d = TempDaemon::start_exact(Settings::default()).unwrap();
    let read = call(
        "Read",
        serde_json::json!({ "file_path": "/home/dev/app/src/main.rs" }),
    );
    match answer(&d, &read).await {
        Submitted::Decided(o) => {
            assert!(o.approved());
            assert_eq!(o.decision.source, DecisionSource::Policy);
        }
        other => panic!("a Read of a project file asked: {other:?}"),
    }
    for (tool, args) in [
        ("TodoWrite", serde_json::json!({ "todos": [] })),
        ("Glob", serde_json::json!({ "pattern": "**/*.rs" })),
        ("update_plan", serde_json::json!({ "plan": [] })),
        (
            "read_file",
            serde_json::json!({ "absolute_path": "/home/dev/app/README.md" }),
        ),
    ] {
        assert!(
            matches!(answer(&d, &call(tool, args)).await, Submitted::Decided(o) if o.approved()),
            "{tool}"
        );
    }
    // Shell tools pass when every command they run only reads.
    for (tool, args) in [
        ("Bash", serde_json::json!({ "command": "git status" })),
        (
            "shell",
            serde_json::json!({ "command": ["bash", "-lc", "ls -la && git log --oneline -3"] }),
        ),
        (
            "exec_command",
            serde_json::json!({ "cmd": "rg -n TODO src | head" }),
        ),
        (
            "run_shell_command",
            serde_json::json!({ "command": "cat README.md" }),
        ),
    ] {
        match answer(&d, &call(tool, args)).await {
            Submitted::Decided(o) => {
                assert!(o.approved(), "{tool}");
                assert_eq!(o.decision.source, DecisionSource::Rule);
                assert!(
                    o.decision
                        .reason
                        .as_deref()
                        .unwrap_or("")
                        .contains("every command is covered by a rule"),
                    "{:?}",
                    o.decision
                );
            }
            other => panic!("{tool} asked: {other:?}"),
        }
    }
    let secret = call(
        "Read",
        serde_json::json!({ "file_path": "/home/dev/app/.env" }),
    );
    match answer(&d, &secret).await {
        Submitted::Queued(t) => assert_eq!(t.risk, Risk::High),
        other => panic!("a Read of .env did not ask: {other:?}"),
    }
    for (tool, args) in [
        (
            "Bash",
            serde_json::json!({ "command": "rm -rf build && make" }),
        ),
        (
            "Edit",
            serde_json::json!({ "file_path": "/home/dev/app/a.rs", "old_string": "a", "new_string": "b" }),
        ),
        (
            "shell",
            serde_json::json!({ "command": ["bash", "-lc", "rm -rf build"] }),
        ),
        (
            "run_shell_command",
            serde_json::json!({ "command": "make && ls" }),
        ),
        ("exec_command", serde_json::json!({ "cmd": "git push" })),
    ] {
        assert!(
            matches!(answer(&d, &call(tool, args)).await, Submitted::Queued(_)),
            "{tool} did not ask"
        );
    }
    for path in [
        "/home/dev/.bashrc",
        "/home/dev/app/.git/hooks/pre-commit",
        "/home/dev/app/.git/config",
        "/home/dev/.ssh/authorized_keys",
    ] {
        let edit = call(
            "Edit",
            serde_json::json!({ "file_path": path, "old_string": "a", "new_string": "b" }),
        );
        match answer(&d, &edit).await {
            Submitted::Queued(t) => assert_eq!(t.risk, Risk::Critical, "{path}"),
            other => panic!("an edit of {path} did not ask: {other:?}"),
        }
    }
    let mut op = d.operator("alice").await.unwrap();
    let shown = op.list(Some(agentd_proto::State::Pending)).await.unwrap();
    let secret_view = shown.iter().find(|v| v.args_json.contains(".env")).unwrap();
    assert!(
        secret_view
            .risk_reasons
            .iter()
            .any(|r| r.contains("it names a file that holds secrets")),
        "{:?}",
        secret_view.risk_reasons
    );
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_can_be_turned_off_and_the_config_overrides_them() {
    let read = call("Read", serde_json::json!({ "file_path": "/srv/a.rs" }));
    let off = TempDaemon::start_exact(Settings {
        presets: Vec::new(),
        ..Settings::default()
    })
    .unwrap();
    assert!(matches!(answer(&off, &read).await, Submitted::Queued(_)));
    off.stop().await.unwrap();

    let strict = TempDaemon::start_exact(Settings {
        tools: vec![ToolSpec {
            name: "Read".into(),
            requires_approval: true,
            approval_timeout_secs: 60,
            risk: Risk::Medium,
        }],
        ..Settings::default()
    })
    .unwrap();
    match answer(&strict, &read).await {
        Submitted::Queued(t) => assert_eq!((t.expires_at - t.created_at).num_seconds(), 60),
        other => panic!("the config's Read did not override the preset's: {other:?}"),
    }
    strict.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configs_own_command_rules_add_to_the_presets() {
    let settings = Settings::parse(
        "[[command]]\nname = \"tests\"\nprefixes = [\"cargo test\"]\nflags = [\"--workspace\"]\nauto = \"approve\"\nexamples = [\"cargo test --workspace\"]\n\n[[command]]\nname = \"never publish\"\nprefixes = [\"cargo publish\"]\nauto = \"deny\"\n",
        std::path::Path::new("agentd.toml"),
    )
    .unwrap();
    let d = TempDaemon::start_exact(settings).unwrap();
    let bash = |c: &str| call("Bash", serde_json::json!({ "command": c }));
    assert!(
        matches!(answer(&d, &bash("cargo test && git status")).await, Submitted::Decided(o) if o.approved())
    );
    match answer(&d, &bash("cargo publish --dry-run")).await {
        Submitted::Decided(o) => {
            assert!(!o.approved());
            assert!(o
                .decision
                .reason
                .unwrap()
                .contains("denied by command rule never publish"));
        }
        other => panic!("cargo publish was not denied: {other:?}"),
    }
    assert!(matches!(
        answer(&d, &bash("cargo test; rm -rf target")).await,
        Submitted::Queued(_)
    ));
    d.stop().await.unwrap();
}

#[test]
fn check_config_refuses_command_rules_whose_examples_fail() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agentd.toml");
    std::fs::write(
        &file,
        "[[command]]\nname = \"tests\"\nprefixes = [\"cargo test\"]\nauto = \"approve\"\nexamples = [\"cargo build\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("the example \"cargo build\" is not approved"),
        "{err}"
    );
}
