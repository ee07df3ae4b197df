//! `cargo bench -p ash --bench human`: the path through a person, and ash's start-up, against
//! the release agentd binary running as its own process with its store at the default
//! durability. Against the targets:
//!
//! - `ash approve` started as a process → the waiting agent's call returns: median under 5 ms
//!   (process start and the durable commit of the decision included);
//! - a decision sent to agentd → the waiting agent's call returns: median under 1 ms (the
//!   commit included; measured from the operator client's send, so it also holds the decision's
//!   trip over the socket);
//! - `ash pending` on an empty queue as a whole process: median under 5 ms;
//!
//! with `ash --version` (the same binary, no socket) as the floor of starting a process here.
//! `RUNS=N` changes the number of runs. A plain binary (no harness) printing figures to paste.

mod common;

use std::time::{Duration, Instant};

use agentd_proto::{ApprovalRequest, Client, DecideRequest, Role, Scope, Submitted, Verdict};
use common::{connect, summary, verdict, Agentd, Error};

fn main() -> Result<(), Error> {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(51);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(runs))
}

/// Submits a request that needs a person and leaves the agent waiting on it in a task, which
/// returns the agent (for the next run) and when its call returned.
async fn waiting_agent(
    mut agent: Client,
    n: usize,
) -> Result<
    (
        String,
        tokio::task::JoinHandle<Result<(Client, Instant), Error>>,
    ),
    Error,
> {
    let req = ApprovalRequest {
        tool: "sensitive-op".into(),
        args_json: format!(r#"{{"run":{n},"path":"/srv/app/config.toml"}}"#),
        summary: Some(format!("rewrite the config, run {n}")),
        ..ApprovalRequest::default()
    };
    let Submitted::Queued(ticket) = agent.submit(&req).await? else {
        return Err("expected the request to be queued".into());
    };
    let id = ticket.id;
    let waiting = tokio::spawn(async move {
        let outcome = agent.wait().await?;
        let returned = Instant::now();
        if outcome.id != id || !outcome.approved() {
            return Err::<_, Error>(format!("agent got {outcome:?} for {id}").into());
        }
        Ok((agent, returned))
    });
    Ok((id.to_string(), waiting))
}

async fn run(runs: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let mut d = Agentd::new(
        dir.path(),
        "[operators]\nallow_own_requests = true\n[limits]\nrequests_per_sec = 1000000\nburst = 1000000\nrequests_per_sec_per_uid = 1000000\nburst_per_uid = 1000000\n",
    )?;
    let ready = d.start().await?;

    // Starting a process here at all: the same binary, no socket.
    let mut floor = Vec::with_capacity(runs);
    for _ in 0..runs {
        floor.push(d.ash(&["--version"]).await?.1);
    }
    let mut pending = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (out, took) = d.ash(&["pending"]).await?;
        if !out.is_empty() {
            return Err("the queue was expected to be empty".into());
        }
        pending.push(took);
    }

    // `ash approve` as a process, until the agent's call returns.
    let mut agent = connect(&d.socket, Role::Agent, "bench-agent").await?;
    let mut by_ash = Vec::with_capacity(runs);
    let mut ash_exit = Vec::with_capacity(runs);
    for n in 0..runs {
        let (id, waiting) = waiting_agent(agent, n).await?;
        let start = Instant::now();
        let (_, took) = d.ash(&["approve", &id, "--operator", "bench"]).await?;
        let (back, returned) = waiting.await??;
        agent = back;
        by_ash.push(returned.duration_since(start));
        ash_exit.push(took);
    }

    // A decision sent by an operator client that is already connected.
    let mut op = connect(&d.socket, Role::Operator, "bench").await?;
    let mut by_client = Vec::with_capacity(runs);
    let mut op_reply = Vec::with_capacity(runs);
    for n in 0..runs {
        let (id, waiting) = waiting_agent(agent, runs + n).await?;
        // Let the agent's task reach its read, as an agent blocked for a person would be.
        tokio::task::yield_now().await;
        let start = Instant::now();
        op.decide(&DecideRequest {
            id,
            verdict: Verdict::Approve,
            operator: "bench".into(),
            reason: None,
            scope: Scope::Once,
            grant: None,
            args_json: None,
        })
        .await?;
        let replied = start.elapsed();
        let (back, returned) = waiting.await??;
        agent = back;
        by_client.push(returned.duration_since(start));
        op_reply.push(replied);
    }
    d.stop().await?;

    let ms = Duration::from_millis;
    let mid = |v: &mut Vec<Duration>| common::median(v);
    println!("The human path and ash's start-up (release agentd as its own process, store at the default durability, {runs} runs each):");
    println!("  agentd ready (hello + ping answered) {ready:.2?} after start, empty store");
    let (f, p) = (mid(&mut floor), mid(&mut pending));
    println!(
        "  floor: `ash --version` as a process: {}",
        summary(&mut floor)
    );
    println!(
        "  `ash pending`, empty queue, as a process: {}; {:.1}x the floor; target under 5 ms: {}",
        summary(&mut pending),
        p.as_secs_f64() / f.as_secs_f64(),
        verdict(p < ms(5))
    );
    let a = mid(&mut by_ash);
    println!(
        "  `ash approve` started → agent's call returns: {}; target under 5 ms: {}",
        summary(&mut by_ash),
        verdict(a < ms(5))
    );
    println!(
        "    (`ash approve` as a process, start to exit: {})",
        summary(&mut ash_exit)
    );
    let c = mid(&mut by_client);
    println!(
        "  decision sent by a connected operator → agent's call returns: {}; target under 1 ms: {}",
        summary(&mut by_client),
        verdict(c < ms(1))
    );
    println!(
        "    (the operator's own reply, after the commit: {})",
        summary(&mut op_reply)
    );
    Ok(())
}
