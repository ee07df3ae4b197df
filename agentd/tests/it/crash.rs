//! agentd killed with SIGKILL at different moments (agents still submitting, decisions in
//! flight) and started again on the same store, many times over: every acknowledged request
//! and decision survives, every waiting agent gets its answer, and the audit chain verifies.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentd_proto::{
    request_approval, ApprovalRequest, Client, DecideRequest, Role, State, Verdict,
};
use agentd_testkit::Poller;
use uuid::Uuid;

const LIMIT: Duration = Duration::from_secs(60);
const AGENTS: usize = 40;
const ROUNDS: usize = 20;

struct Daemon {
    socket: PathBuf,
    state: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    async fn start(socket: &Path, state: &Path) -> Daemon {
        // This test is both the agents and the operators, in one process.
        let config = state.with_extension("toml");
        std::fs::write(&config, "[operators]\nallow_own_requests = true\n").unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_agentd"))
            .arg("--socket")
            .arg(socket)
            .arg("--state-dir")
            .arg(state)
            .arg("--config")
            .arg(&config)
            .env("XDG_CONFIG_HOME", state.join("no-config"))
            .env_remove("AGENTD_CONFIG")
            .env("AGENTD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon {
            socket: socket.to_path_buf(),
            state: state.to_path_buf(),
            child: Some(child),
        };
        let mut poller = Poller::new(LIMIT, "agentd to answer");
        while d.operator().await.is_none() {
            poller.tick().await;
        }
        d
    }

    async fn operator(&self) -> Option<Client> {
        Client::connect(&self.socket, Role::Operator, "crash-test")
            .await
            .ok()
    }

    /// SIGKILL: no chance to flush or clean up anything.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    async fn restart(&mut self) {
        self.kill();
        *self = Daemon::start(&self.socket.clone(), &self.state.clone()).await;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_agentd_at_any_moment_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let state = dir.path().join("state");
    let mut daemon = Daemon::start(&socket, &state).await;

    // Agents block through the shared client, which re-attaches across restarts by itself.
    let acked: Arc<Mutex<HashMap<Uuid, usize>>> = Arc::default();
    let mut agents = Vec::new();
    for n in 0..AGENTS {
        let socket = socket.clone();
        let acked = Arc::clone(&acked);
        agents.push(tokio::spawn(async move {
            let req = ApprovalRequest {
                tool: "sensitive-op".into(),
                args_json: format!(r#"{{"n":{n}}}"#),
                ..ApprovalRequest::default()
            };
            // Like a real agent, submit again when agentd went away before acknowledging;
            // once acknowledged, the client re-attaches by itself.
            let mut retry = tokio::time::interval(Duration::from_millis(20));
            loop {
                let mut ticket = None;
                let result = request_approval(&socket, &format!("agent-{n}"), &req, |t| {
                    ticket = Some(t.id);
                    acked.lock().unwrap().insert(t.id, n);
                })
                .await;
                match result {
                    Err(e) if ticket.is_none() && e.is_connection_lost() => retry.tick().await,
                    result => return result,
                };
            }
        }));
    }

    // Round 0 kills while agents are still submitting.
    let mut poller = Poller::new(LIMIT, "the first acknowledgements");
    while acked.lock().unwrap().len() < AGENTS / 4 {
        poller.tick().await;
    }
    daemon.restart().await;

    // Decisions whose `decide` returned Ok: they must survive every later kill.
    let decided: Arc<Mutex<HashMap<Uuid, (State, String)>>> = Arc::default();
    for round in 1..ROUNDS {
        // Every acknowledged request is still known after the kill.
        let mut op = daemon.operator().await.unwrap();
        let known: Vec<Uuid> = acked.lock().unwrap().keys().copied().collect();
        for id in &known {
            let view = op.get(&id.to_string()).await.unwrap_or_else(|e| {
                panic!("round {round}: acknowledged request {id} was lost: {e}")
            });
            if let Some((state, by)) = decided.lock().unwrap().get(id) {
                assert_eq!(
                    view.state, *state,
                    "round {round}: decision on {id} changed"
                );
                assert_eq!(&view.decision.unwrap().by, by);
            }
        }
        // Start a batch of decisions and kill after a varying number of them were answered.
        let pending = op.list(Some(State::Pending)).await.unwrap();
        let batch: Vec<Uuid> = pending.iter().take(2 + round).map(|v| v.id).collect();
        let answered = Arc::new(AtomicUsize::new(0));
        let mut deciders = Vec::new();
        for (i, id) in batch.iter().copied().enumerate() {
            let socket = socket.clone();
            let decided = Arc::clone(&decided);
            let answered = Arc::clone(&answered);
            deciders.push(tokio::spawn(async move {
                let Ok(mut op) = Client::connect(&socket, Role::Operator, "racer").await else {
                    return;
                };
                let (verdict, state) = if i % 2 == 0 {
                    (Verdict::Approve, State::Approved)
                } else {
                    (Verdict::Deny, State::Denied)
                };
                let who = format!("op-{i}");
                let req = DecideRequest {
                    id: id.to_string(),
                    verdict,
                    operator: who.clone(),
                    reason: None,
                    scope: agentd_proto::Scope::Once,
                    grant: None,
                    args_json: None,
                };
                if op.decide(&req).await.is_ok() {
                    decided.lock().unwrap().insert(id, (state, who));
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        let kill_after = round % 3;
        let mut poller = Poller::new(LIMIT, "decisions before the kill");
        while answered.load(Ordering::SeqCst) < kill_after.min(batch.len()) {
            poller.tick().await;
        }
        daemon.restart().await;
        for d in deciders {
            d.await.unwrap();
        }
    }

    // Decide whatever is still pending; every agent that was acknowledged gets its answer.
    let mut op = daemon.operator().await.unwrap();
    for view in op.list(Some(State::Pending)).await.unwrap() {
        op.decide(&DecideRequest {
            id: view.id.to_string(),
            verdict: Verdict::Approve,
            operator: "closer".into(),
            reason: None,
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let decided = decided.lock().unwrap().clone();
    let mut answered = 0;
    for agent in agents {
        let outcome = agent.await.unwrap().unwrap();
        answered += 1;
        assert!(
            acked.contains_key(&outcome.id),
            "answered a request it was never acknowledged"
        );
        let stored = op.get(&outcome.id.to_string()).await.unwrap();
        assert_eq!(
            stored.decision.as_ref(),
            Some(&outcome.decision),
            "agent and store agree"
        );
        if let Some((state, by)) = decided.get(&outcome.id) {
            assert_eq!(outcome.decision.state, *state);
            assert_eq!(&outcome.decision.by, by);
        }
    }
    assert_eq!(answered, AGENTS, "every agent got its answer");
    assert_eq!(acked.len(), AGENTS, "one acknowledged request per agent");
    let report = op.verify_audit().await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    eprintln!(
        "crash test: {ROUNDS} SIGKILLs, {} requests acknowledged, {} decisions acknowledged, {} audit entries verified",
        acked.len(),
        decided.len(),
        report.entries
    );
}
