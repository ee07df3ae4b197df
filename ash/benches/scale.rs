//! `cargo bench -p ash --bench scale`: 10,000 agents waiting at once on one real agentd (the
//! release binary, as its own process with its store), against the targets: agentd's memory
//! under 100 MiB, `ash pending --json` listing them in under 100 ms (the whole process), and
//! deciding all of them through the client with every agent getting its own answer.
//!
//! `AGENTS=N` changes the count. A plain binary (no harness) printing figures to paste.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentd_proto::{ApprovalRequest, DecideRequest, Role, Scope, State, Submitted, Verdict};
use common::{connect, kib, Agentd, Error};
use tokio::sync::Semaphore;

const PENDING_RUNS: usize = 11;

fn main() -> Result<(), Error> {
    let agents: usize = std::env::var("AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(agents))
}

async fn run(agents: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let mut d = Agentd::new(
        dir.path(),
        &format!(
            "[operators]\nallow_own_requests = true\n[limits]\nmax_connections = {n}\nconnections_per_uid = {n}\npending_per_uid = {n}\nrequests_per_sec = 1000000\nburst = 1000000\nrequests_per_sec_per_uid = 1000000\nburst_per_uid = 1000000\n",
            n = agents + 100
        ),
    )?;
    let pid = d.spawn()?;
    let socket = d.socket.clone();
    let mut op = connect(&socket, Role::Operator, "bench").await?;
    let idle_kib = kib(pid, "VmRSS:").unwrap_or(0);

    // Every agent on its own connection, waiting.
    let started = Instant::now();
    let connecting = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(agents);
    for n in 0..agents {
        let socket = socket.clone();
        let connecting = Arc::clone(&connecting);
        tasks.push(tokio::spawn(async move {
            let mut agent = {
                let _slot = connecting.acquire().await?;
                let mut agent = connect(&socket, Role::Agent, &format!("agent-{n}")).await?;
                let req = ApprovalRequest {
                    tool: "sensitive-op".into(),
                    args_json: format!(r#"{{"n":{n},"path":"/srv/app/{n}.conf"}}"#),
                    summary: Some(format!("change config {n}")),
                    ..ApprovalRequest::default()
                };
                let Submitted::Queued(ticket) = agent.submit(&req).await? else {
                    return Err::<bool, Error>("expected the request to be queued".into());
                };
                (agent, ticket.id)
            };
            let outcome = agent.0.wait().await?;
            Ok(outcome.id == agent.1 && outcome.approved())
        }));
    }
    let queued = loop {
        let pending = op.list(Some(State::Pending)).await?;
        if pending.len() == agents {
            break pending;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let queue_time = started.elapsed();
    let rss = kib(pid, "VmRSS:").unwrap_or(0);
    let hwm = kib(pid, "VmHWM:").unwrap_or(0);

    // `ash pending --json` as a whole process, as a script would run it.
    let mut runs = Vec::with_capacity(PENDING_RUNS);
    for _ in 0..PENDING_RUNS {
        let (out, took) = d.ash(&["pending", "--json"]).await?;
        runs.push(took);
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out)?;
        if list.len() != agents {
            return Err(format!("ash pending --json listed {} of {agents}", list.len()).into());
        }
    }
    runs.sort_unstable();

    // Decide every one through the client; each agent must get its own answer.
    let start = Instant::now();
    for view in &queued {
        op.decide(&DecideRequest {
            id: view.id.to_string(),
            verdict: Verdict::Approve,
            operator: "bench".into(),
            reason: None,
            scope: Scope::Once,
            grant: None,
            args_json: None,
        })
        .await?;
    }
    let mut own = 0;
    for t in tasks {
        if t.await?? {
            own += 1;
        }
    }
    let decide_time = start.elapsed();
    d.stop().await?;

    let mib = |k: u64| k as f64 / 1024.0;
    println!("{agents} agents waiting at once on one agentd (release binary, store at default durability):");
    println!("  all queued after {queue_time:.2?}");
    println!(
        "  agentd memory: {:.1} MiB resident with all waiting (peak {:.1} MiB, idle {:.1} MiB); target under 100 MiB",
        mib(rss),
        mib(hwm),
        mib(idle_kib)
    );
    println!(
        "  ash pending --json, whole process: median {:.1?} (min {:.1?}, max {:.1?}, {PENDING_RUNS} runs); target under 100 ms",
        runs[PENDING_RUNS / 2],
        runs[0],
        runs[PENDING_RUNS - 1]
    );
    println!(
        "  decided all through the client in {decide_time:.2?}; {own} of {agents} agents got their own approval"
    );
    if own != agents {
        return Err("an agent did not get its own answer".into());
    }
    Ok(())
}
