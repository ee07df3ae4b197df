//! The scenarios every set-up goes through, written once: a call queued and approved runs,
//! denied with a reason does not run and the model hears the reason, approved with edited
//! arguments runs only the edited call, a read-only call is answered at once, agentd absent
//! fails closed, agentd restarted while a call waits still decides it, and two calls of one
//! model turn are both gated.

use super::{finished, said, touch, Rig, Setup};

/// A call queued and approved runs; the request carries the runtime's agent name.
pub async fn approved_runs(setup: Setup) {
    let rig = Rig::start(vec![vec![setup.shell(&touch("approved"))]]).await;
    setup.configure(&rig);
    let mut run = setup.run(&rig, "make the marker");
    let pending = rig.pending(1, &mut run).await;
    assert_eq!(pending[0]["agent"], setup.agent(), "{pending:?}");
    assert!(
        pending[0]["args"].to_string().contains("touch approved"),
        "{pending:?}"
    );
    let id = pending[0]["id"].as_str().unwrap();
    rig.decide("approve", id, &["--operator", "alice"]).await;
    let out = finished(run).await;
    assert!(
        rig.made("approved"),
        "the approved call ran: {}",
        said(&out)
    );
    assert!(out.status.success(), "{}", said(&out));
}

/// Denied with a reason: nothing runs, and the model is told the reason.
pub async fn denied_with_reason(setup: Setup) {
    let rig = Rig::start(vec![vec![setup.shell(&touch("denied"))]]).await;
    setup.configure(&rig);
    let mut run = setup.run(&rig, "make the marker");
    let pending = rig.pending(1, &mut run).await;
    let id = pending[0]["id"].as_str().unwrap();
    rig.decide(
        "deny",
        id,
        &["--operator", "alice", "--reason", "not on a Sunday"],
    )
    .await;
    let out = finished(run).await;
    assert!(
        !rig.made("denied"),
        "the denied call did not run: {}",
        said(&out)
    );
    let told = rig.told(0, 0);
    assert!(
        told.contains("not on a Sunday"),
        "the model hears why: {told}"
    );
}

/// Approved with edited arguments: the edited call runs, the call as asked does not.
pub async fn edited_runs_instead(setup: Setup) {
    let rig = Rig::start(vec![vec![setup.shell(&touch("as-asked"))]]).await;
    setup.configure(&rig);
    let mut run = setup.run(&rig, "make the marker");
    let pending = rig.pending(1, &mut run).await;
    let id = pending[0]["id"].as_str().unwrap();
    let mut edited = pending[0]["args"].clone();
    // Every runtime's shell call reaches agentd with its command under `command` (Codex's
    // `exec_command` with `cmd` on the wire is `Bash` with `command` to its hooks).
    edited["command"] = serde_json::json!(touch("as-edited"));
    rig.decide(
        "approve",
        id,
        &["--operator", "alice", "--args", &edited.to_string()],
    )
    .await;
    let out = finished(run).await;
    assert!(rig.made("as-edited"), "the edited call ran: {}", said(&out));
    assert!(
        !rig.made("as-asked"),
        "the call as asked did not: {}",
        said(&out)
    );
}

/// A read-only call is answered at once: it runs, the model gets its output, and agentd
/// recorded it decided by policy with no person.
pub async fn read_only_at_once(setup: Setup) {
    let rig = Rig::start(vec![vec![setup.shell("ls")]]).await;
    setup.configure(&rig);
    let run = setup.run(&rig, "list the files");
    let out = finished(run).await;
    let told = rig.told(0, 0);
    assert!(
        told.contains("README.md"),
        "the model saw ls's output: {told}\n{}",
        said(&out)
    );
    let pending = rig.ash(&["pending", "--json"]).await;
    assert_eq!(String::from_utf8_lossy(&pending.stdout).trim(), "[]");
    let history = rig.history().await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["state"], "approved", "{history:?}");
    let source = &history[0]["decision"]["source"];
    assert!(
        source == "rule" || source == "policy",
        "no person decided: {history:?}"
    );
}

/// agentd not running: the hook denies, the call does not run, and the model is told that
/// agentd could not be asked.
pub async fn agentd_absent_fails_closed(setup: Setup) {
    let rig = Rig::without_agentd(vec![vec![setup.shell(&touch("ungated"))]]).await;
    setup.configure(&rig);
    let out = finished(setup.run(&rig, "make the marker")).await;
    assert!(
        !rig.made("ungated"),
        "nothing runs without agentd: {}",
        said(&out)
    );
    let told = rig.told(0, 0);
    assert!(
        told.contains("agentd"),
        "the model hears agentd is missing: {told}"
    );
}

/// agentd killed and started again while a call waits: the call is still decided.
pub async fn restart_while_waiting(setup: Setup) {
    let mut rig = Rig::start(vec![vec![setup.shell(&touch("survived"))]]).await;
    setup.configure(&rig);
    let mut run = setup.run(&rig, "make the marker");
    let before = rig.pending(1, &mut run).await;
    // Killed once the request is in the store (history reads the store): before that, agentd
    // has not acknowledged it, and losing agentd is an error the hook reports, by design.
    let id = before[0]["id"].clone();
    let mut poller = agentd_testkit::Poller::new(super::RUN_LIMIT, "the request to be stored");
    while !rig.history().await.iter().any(|r| r["id"] == id) {
        poller.tick().await;
    }
    rig.kill_agentd().await;
    rig.start_agentd().await;
    let after = rig.pending(1, &mut run).await;
    assert_eq!(
        after[0]["id"], before[0]["id"],
        "the same request waits again"
    );
    let id = after[0]["id"].as_str().unwrap();
    rig.decide("approve", id, &["--operator", "alice"]).await;
    let out = finished(run).await;
    assert!(
        rig.made("survived"),
        "the call ran after the restart: {}",
        said(&out)
    );
}

/// Two calls in one model turn: both reach the queue, each runs only once approved.
pub async fn two_calls_both_gated(setup: Setup) {
    let rig = Rig::start(vec![vec![
        setup.shell(&touch("first")),
        setup.shell(&touch("second")),
    ]])
    .await;
    setup.configure(&rig);
    let mut run = setup.run(&rig, "make both markers");
    // Runtimes may ask one after the other: approve each as it comes.
    let mut approved = Vec::new();
    while approved.len() < 2 {
        let pending = rig.pending(1, &mut run).await;
        for request in pending {
            let id = request["id"].as_str().unwrap().to_string();
            if !approved.contains(&id) {
                rig.decide("approve", &id, &["--operator", "alice"]).await;
                approved.push(id);
            }
        }
    }
    let out = finished(run).await;
    assert!(rig.made("first") && rig.made("second"), "{}", said(&out));
    let history = rig.history().await;
    let by_alice = history
        .iter()
        .filter(|r| r["decision"]["by"] == "alice")
        .count();
    assert_eq!(by_alice, 2, "both calls were a person's: {history:?}");
}

/// A sub-agent's call reaches the queue under the sub-agent's name, and runs once approved.
pub async fn subagent_call_is_named(setup: Setup) {
    let (call, name) = setup
        .subagent("SUBTASK-agentd: make the marker")
        .expect("a runtime with sub-agents");
    let rig = Rig::start(vec![vec![call]]).await;
    rig.model.script_for(
        "SUBTASK-agentd",
        vec![vec![setup.shell(&touch("from-subagent"))]],
    );
    setup.configure(&rig);
    let mut run = setup.run(&rig, "delegate the marker");
    let pending = rig.pending(1, &mut run).await;
    assert_eq!(pending[0]["agent"], name, "{pending:?}");
    let id = pending[0]["id"].as_str().unwrap();
    rig.decide("approve", id, &["--operator", "alice"]).await;
    let out = finished(run).await;
    assert!(rig.made("from-subagent"), "{}", said(&out));
}

/// An MCP tool's call (a small stdio MCP server of the test's own) reaches the queue under
/// the runtime's own name for it, and runs only once approved.
pub async fn mcp_tool_is_gated(setup: Setup) {
    let rig = Rig::start(Vec::new()).await;
    let marker = rig.project().join("from-mcp");
    let name = setup.mcp_tool_name();
    let call = agentd_e2e::model::Call::new(&name, serde_json::json!({"path": marker}));
    // Codex offers MCP tools only once the model has found them with its tool search.
    let turns = match setup.runtime() {
        super::Runtime::Codex => vec![
            vec![agentd_e2e::model::Call::new(
                "tool_search",
                serde_json::json!({"query": "probe touch"}),
            )],
            vec![call],
        ],
        _ => vec![vec![call]],
    };
    rig.model.set_turns(turns);
    setup.configure(&rig);
    setup.add_mcp_server(&rig);
    let mut run = setup.run(&rig, "use the probe");
    let pending = rig.pending(1, &mut run).await;
    assert_eq!(pending[0]["tool"], name, "{pending:?}");
    assert!(!marker.exists(), "nothing ran before the decision");
    let id = pending[0]["id"].as_str().unwrap();
    rig.decide("approve", id, &["--operator", "alice"]).await;
    let out = finished(run).await;
    assert!(
        marker.exists(),
        "{}\nthe model was told {:?}",
        said(&out),
        rig.model.results()
    );
}
