//! No destructive or exfiltrating call is ever approved without a person: every call of the
//! corpus (`tests/fixtures/destructive.jsonl`: chaining, substitution, redirection into
//! start-up files and hooks, every spelling of rm, git that writes, curl into a shell, sudo,
//! setting the clock, interpreters, secret files, edits anywhere, homoglyph tool names) asks or
//! is denied, with the built-in presets, after a harmless call was granted for the session,
//! after the broadest grant option of each of a set of harmless calls was granted (commands by
//! prefix, file changes under the working folder, a host, a tool), and under
//! docs/examples/agentd.toml, whose old regex rule let several of them through.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use agentd::Settings;
use agentd_proto::{ApprovalRequest, Client, DecideRequest, Scope, Submitted, Verdict};
use agentd_testkit::{unlimited, TempDaemon};

/// The destructive corpus and the red-team classes (`tests/fixtures/red-team.jsonl`: wrappers
/// that take their command from data, lines bash reads otherwise, flags spelled another way,
/// secrets by another spelling, paths as the system resolves them, grants wider than they
/// read).
fn corpus() -> Vec<(String, serde_json::Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    ["destructive.jsonl", "red-team.jsonl"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(root.join(f))
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            (
                v["tool_name"].as_str().unwrap().to_string(),
                v["tool_input"].clone(),
            )
        })
        .collect()
}

/// The working folder every call of these tests is made in.
const APP: &str = "/home/dev/app";

fn call(tool: &str, args: &serde_json::Value) -> ApprovalRequest {
    ApprovalRequest {
        tool: tool.into(),
        args_json: args.to_string(),
        session: Some("s-1".into()),
        cwd: Some(APP.into()),
        ..ApprovalRequest::default()
    }
}

/// Asks `req` as claude-code, has alice approve it for the session with its widest grant
/// option, and returns that option's key.
async fn grant_broadest(d: &TempDaemon, op: &mut Client, req: &ApprovalRequest) -> String {
    let mut agent = d.agent("claude-code").await.unwrap();
    let Submitted::Queued(t) = agent.submit(req).await.unwrap() else {
        panic!("{} {} needs a person", req.tool, req.args_json);
    };
    let view = op.get(&t.id.to_string()).await.unwrap();
    assert_eq!(view.grant_options[0].key, "exact", "narrowest first");
    let widest = view.grant_options.last().unwrap().key.clone();
    op.decide(&DecideRequest {
        id: t.id.to_string(),
        verdict: Verdict::Approve,
        operator: "alice".into(),
        reason: None,
        scope: Scope::Session,
        grant: Some(widest.clone()),
        args_json: None,
    })
    .await
    .unwrap();
    assert!(agent.wait().await.unwrap().approved());
    widest
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
            args_json: None,
        })
        .await
        .unwrap();
        assert!(agent.wait().await.unwrap().approved());
    }
    none_approved(&d, "after session grants").await;
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_destructive_call_passes_after_the_broadest_grants_of_harmless_calls() {
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        ..Settings::default()
    })
    .unwrap();
    let mut op = d.operator("alice").await.unwrap();
    let harmless = [
        (
            "Bash",
            serde_json::json!({ "command": "make test" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "npm run build" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "git commit -m 'fix: typo'" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "mkdir -p build/out" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "python3 scripts/check.py --fast" }),
            "commands",
        ),
        (
            "Edit",
            serde_json::json!({ "file_path": "/home/dev/app/src/lib.rs", "old_string": "a", "new_string": "b" }),
            "folder",
        ),
        (
            "WebFetch",
            serde_json::json!({ "url": "https://docs.rs/serde", "prompt": "x" }),
            "domain",
        ),
        (
            "mcp__notes__append",
            serde_json::json!({ "text": "x" }),
            "tool",
        ),
        // The harmless calls whose grants the red team widened.
        (
            "Bash",
            serde_json::json!({ "command": "cargo test" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "npm test" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "git fetch origin" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "uv run pytest" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "poetry run pytest" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "npm run lint" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "kubectl get pods" }),
            "commands",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "gh pr merge 12" }),
            "exact",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "awk '{print $1}' x" }),
            "exact",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "tar -tzf x.tgz" }),
            "exact",
        ),
        (
            "Bash",
            serde_json::json!({ "command": "git stash" }),
            "exact",
        ),
        (
            "web_fetch",
            serde_json::json!({ "prompt": "Summarise https://docs.rs/serde" }),
            "domain",
        ),
        (
            "exec",
            serde_json::json!({ "argv": ["make", "test"], "cwd": APP }),
            "commands",
        ),
    ];
    for (tool, args, expected) in &harmless {
        let got = grant_broadest(&d, &mut op, &call(tool, args)).await;
        assert_eq!(&got, expected, "{tool} {args}");
    }
    // The grants do work: a later call each covers passes.
    let mut agent = d.agent("claude-code").await.unwrap();
    for (tool, args) in [
        (
            "Bash",
            serde_json::json!({ "command": "make test && npm run build && git commit -m 'fix: other' && mkdir -p build/other" }),
        ),
        (
            "Write",
            serde_json::json!({ "file_path": "/home/dev/app/src/new.rs", "content": "x" }),
        ),
        (
            "Bash",
            serde_json::json!({ "command": "cat > notes.md <<'EOF'\nhi\nEOF" }),
        ),
        (
            "WebFetch",
            serde_json::json!({ "url": "https://docs.rs/tokio", "prompt": "x" }),
        ),
        // Codex's apply_patch as a shell command is the file change it is: the folder grant
        // covers it.
        (
            "shell",
            serde_json::json!({ "command": ["bash", "-lc", "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: src/x.rs\n+fn x() {}\n*** End Patch\nEOF"] }),
        ),
        ("Bash", serde_json::json!({ "command": "uv run pytest" })),
    ] {
        let got = agent.submit(&call(tool, &args)).await.unwrap();
        assert!(
            matches!(got, Submitted::Decided(ref o) if o.approved()),
            "{tool} {args} should be covered"
        );
    }
    none_approved(&d, "after the broadest grants").await;
    // Another agent and another session get nothing from them.
    let mut other = d.agent("codex").await.unwrap();
    let make = call("Bash", &serde_json::json!({ "command": "make test" }));
    assert!(matches!(
        other.submit(&make).await.unwrap(),
        Submitted::Queued(_)
    ));
    let mut agent = d.agent("claude-code").await.unwrap();
    let elsewhere = ApprovalRequest {
        session: Some("s-2".into()),
        ..make
    };
    assert!(matches!(
        agent.submit(&elsewhere).await.unwrap(),
        Submitted::Queued(_)
    ));
    d.stop().await.unwrap();
}

/// A Write of `path` under the project `app`, made there.
fn write_in(app: &Path, path: &str) -> ApprovalRequest {
    ApprovalRequest {
        cwd: Some(app.to_str().unwrap().into()),
        ..call(
            "Write",
            &serde_json::json!({ "file_path": app.join(path), "content": "x" }),
        )
    }
}

/// An agentd where alice has granted file changes under `app` (the broadest option of a
/// Write of `app/src/a.rs`).
async fn folder_granted(app: &Path) -> TempDaemon {
    let d = TempDaemon::start(Settings {
        limits: unlimited(),
        ..Settings::default()
    })
    .unwrap();
    let mut op = d.operator("alice").await.unwrap();
    assert_eq!(
        grant_broadest(&d, &mut op, &write_in(app, "src/a.rs")).await,
        "folder"
    );
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_grant_never_reaches_through_a_link_out_of_the_folder() {
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    let outside = root.path().join("home");
    std::fs::create_dir_all(&outside).unwrap();
    // Planted in the project: a link to where start-up files live.
    std::os::unix::fs::symlink(&outside, app.join("docs")).unwrap();
    let d = folder_granted(&app).await;
    let in_app = |path: &str| write_in(&app, path);
    let mut agent = d.agent("claude-code").await.unwrap();
    let covered = agent.submit(&in_app("src/b.rs")).await.unwrap();
    assert!(matches!(covered, Submitted::Decided(ref o) if o.approved()));
    let through_link = agent.submit(&in_app("docs/notes.md")).await.unwrap();
    assert!(
        matches!(through_link, Submitted::Queued(_)),
        "a write through the link out of the folder must ask"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_grant_never_writes_through_a_link_into_the_projects_own_control_files() {
    let root = tempfile::tempdir().unwrap();
    let app = root.path().join("app");
    std::fs::create_dir_all(app.join(".git/hooks")).unwrap();
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(app.join(".git/config"), "[core]\n").unwrap();
    // As a cloned repository may carry them: links that stay inside the project but lead to
    // what runs code later.
    std::os::unix::fs::symlink(app.join(".git/config"), app.join("cfg-link")).unwrap();
    std::os::unix::fs::symlink(app.join(".git/hooks"), app.join("hooks-link")).unwrap();
    let d = folder_granted(&app).await;
    let in_app = |path: &str| write_in(&app, path);
    let mut agent = d.agent("claude-code").await.unwrap();
    assert!(matches!(
        agent.submit(&in_app("src/b.rs")).await.unwrap(),
        Submitted::Decided(ref o) if o.approved()
    ));
    for through in ["cfg-link", "hooks-link/pre-commit"] {
        let mut agent = d.agent("claude-code").await.unwrap();
        assert!(
            matches!(
                agent.submit(&in_app(through)).await.unwrap(),
                Submitted::Queued(_)
            ),
            "a write through {through} must ask"
        );
    }
    let mut agent = d.agent("claude-code").await.unwrap();
    // And a shell line appending through the link.
    let shell = ApprovalRequest {
        cwd: Some(app.to_str().unwrap().into()),
        ..call(
            "Bash",
            &serde_json::json!({ "command": "cat >> cfg-link <<'EOF'\n[core]\nfsmonitor = id\nEOF" }),
        )
    };
    assert!(matches!(
        agent.submit(&shell).await.unwrap(),
        Submitted::Queued(_)
    ));
    d.stop().await.unwrap();
}
