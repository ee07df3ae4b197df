//! `cargo bench -p agentd --bench approvals`: the in-memory queue's figures on this machine.
//!
//! - the round trip of a request whose tool needs no approval (one agent, one connection,
//!   sequential requests): median and 99th percentile;
//! - 200 agents waiting at once, decided by one operator through the shared client: the time
//!   from the first submit to the last answer, median of several runs;
//! - what reading a process's lineage from /proc costs: done once per queued request (the
//!   requester's) and once per decision (the decider's) when own requests are refused.
//!
//! A plain binary (no harness) so it needs no extra crate and prints figures people can paste.

use std::time::{Duration, Instant};

use agentd::Settings;
use agentd_proto::{
    request_approval, ApprovalRequest, DecideRequest, Risk, State, Submitted, ToolSpec, Verdict,
};
use agentd_testkit::TempDaemon;

const ROUND_TRIPS: usize = 5_000;
const AGENTS: usize = 200;
const RUNS: usize = 7;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let settings = Settings {
            limits: agentd_testkit::unlimited(),
            tools: vec![ToolSpec {
                name: "read-file".into(),
                requires_approval: false,
                approval_timeout_secs: 60,
                risk: Risk::Low,
            }],
            ..Settings::default()
        };
        let daemon = TempDaemon::start(settings)?;
        no_approval_round_trip(&daemon).await?;
        concurrent_approvals(&daemon).await?;
        daemon.stop().await?;
        lineage_cost();
        Ok(())
    })
}

/// Median time to read this process's lineage (the requester's side) and its ancestry (the
/// decider's side), over many reads.
fn lineage_cost() {
    const READS: usize = 2_000;
    let me = std::process::id();
    let median = |mut t: Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let depth = agentd::lineage::ancestry(me).len();
    let requester: Vec<Duration> = (0..READS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(agentd::lineage::Lineage::of(me));
            start.elapsed()
        })
        .collect();
    let decider: Vec<Duration> = (0..READS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(agentd::lineage::ancestry(me));
            start.elapsed()
        })
        .collect();
    println!(
        "lineage from /proc ({depth} processes deep): requester's {:.1?} median, decider's {:.1?} median",
        median(requester),
        median(decider)
    );
}

async fn no_approval_round_trip(d: &TempDaemon) -> Result<(), Box<dyn std::error::Error>> {
    let mut agent = d.agent("bench").await?;
    let req = ApprovalRequest {
        tool: "read-file".into(),
        args_json: r#"{"path":"/etc/hosts"}"#.into(),
        ..ApprovalRequest::default()
    };
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let start = Instant::now();
        match agent.submit(&req).await? {
            Submitted::Decided(o) if o.approved() => {}
            other => return Err(format!("expected an approval by policy, got {other:?}").into()),
        }
        times.push(start.elapsed());
    }
    times.sort_unstable();
    println!(
        "no-approval round trip ({ROUND_TRIPS} sequential): median {:?}, p99 {:?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    Ok(())
}

async fn concurrent_approvals(d: &TempDaemon) -> Result<(), Box<dyn std::error::Error>> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(one_run(d).await?);
    }
    runs.sort_unstable();
    println!(
        "{AGENTS} agents waiting at once, all decided ({RUNS} runs): median {:?}, min {:?}, max {:?}",
        runs[RUNS / 2],
        runs[0],
        runs[RUNS - 1]
    );
    Ok(())
}

async fn one_run(d: &TempDaemon) -> Result<Duration, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut agents = Vec::with_capacity(AGENTS);
    for n in 0..AGENTS {
        let socket = d.socket().to_path_buf();
        agents.push(tokio::spawn(async move {
            let req = ApprovalRequest {
                tool: "sensitive-op".into(),
                args_json: format!(r#"{{"n":{n}}}"#),
                ..ApprovalRequest::default()
            };
            request_approval(&socket, &format!("agent-{n}"), &req, |_| {}).await
        }));
    }
    let mut op = d.operator("bench").await?;
    let mut decided = 0;
    while decided < AGENTS {
        for view in op.list(Some(State::Pending)).await? {
            op.decide(&DecideRequest {
                id: view.id.to_string(),
                verdict: Verdict::Approve,
                operator: "bench".into(),
                reason: None,
                scope: agentd_proto::Scope::Once,
                grant: None,
                args_json: None,
            })
            .await?;
            decided += 1;
        }
    }
    for agent in agents {
        if !agent.await??.approved() {
            return Err("an agent was not approved".into());
        }
    }
    Ok(start.elapsed())
}
