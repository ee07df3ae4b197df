//! `cargo bench -p ash --bench growth`: what a growing store costs. The release agentd binary,
//! as its own process, is filled through the client in stages (10,000, then 100,000, then
//! 1,000,000 requests stored by default; `STAGES=a,b,c` for others) and at each stage:
//!
//! - agentd is restarted and timed until it answers a hello and a ping (target: within 100 ms
//!   with 100,000 requests stored);
//! - `ash pending`, `ash history` (newest 50, and filtered by agent and tool), `ash show` of the
//!   oldest request and `ash export` of the newest 1,000 run as whole processes (target: their
//!   cost follows what they return, not the store's size, so the columns should match).
//!
//! A plain binary (no harness) printing figures to paste.

mod common;

use std::path::Path;
use std::time::Duration;

use agentd_proto::{ApprovalRequest, Role, Submitted};
use common::{connect, median, verdict, Agentd, Error};

/// Agents filling the store at once, and the tools they use (all answered at once).
const AGENTS: usize = 16;
const TOOLS: [&str; 4] = ["read-file", "list-dir", "grep", "stat"];
/// Each figure is the median of this many runs.
const RUNS: usize = 11;
/// The newest requests `ash export --since` asks for.
const NEWEST: usize = 1_000;

fn main() -> Result<(), Error> {
    let stages: Vec<usize> = match std::env::var("STAGES") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()?,
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&stages))
}

/// Adds `count` requests through `AGENTS` agents at once.
async fn fill(socket: &Path, from: usize, count: usize) -> Result<(), Error> {
    let mut tasks = Vec::with_capacity(AGENTS);
    for a in 0..AGENTS {
        let socket = socket.to_path_buf();
        let share = count / AGENTS + usize::from(a < count % AGENTS);
        tasks.push(tokio::spawn(async move {
            let mut agent = connect(&socket, Role::Agent, &format!("agent-{a}")).await?;
            for i in 0..share {
                let n = from + i * AGENTS + a;
                let req = ApprovalRequest {
                    tool: TOOLS[(n / AGENTS) % TOOLS.len()].into(),
                    args_json: format!(r#"{{"path":"/srv/app/src/module_{n}.rs"}}"#),
                    ..ApprovalRequest::default()
                };
                if !matches!(agent.submit(&req).await?, Submitted::Decided(_)) {
                    return Err::<(), Error>("expected an answer at once".into());
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// One stage's figures.
struct Stage {
    stored: usize,
    store_mib: f64,
    ready: Duration,
    queries: Vec<(&'static str, Duration)>,
}

async fn timed(
    d: &Agentd,
    args: &[&str],
    check: impl Fn(&[u8]) -> bool,
) -> Result<Duration, Error> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (out, took) = d.ash(args).await?;
        if !check(&out) {
            return Err(format!("ash {} printed something unexpected", args.join(" ")).into());
        }
        runs.push(took);
    }
    Ok(median(&mut runs))
}

fn json_len(out: &[u8]) -> usize {
    serde_json::from_slice::<Vec<serde_json::Value>>(out).map_or(usize::MAX, |v| v.len())
}

async fn run(stages: &[usize]) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let mut config = String::from(
        "[operators]\nallow_own_requests = true\n[limits]\nrequests_per_sec = 1000000\nburst = 1000000\nrequests_per_sec_per_uid = 1000000\nburst_per_uid = 1000000\n",
    );
    for tool in TOOLS {
        config.push_str(&format!(
            "[[tool]]\nname = \"{tool}\"\nrequires_approval = false\nrisk = \"low\"\n"
        ));
    }
    let mut d = Agentd::new(dir.path(), &config)?;
    d.start().await?;
    let mut stored = 0;
    let mut oldest = None;
    let mut results = Vec::new();
    for &target in stages {
        let bulk = target.saturating_sub(stored + NEWEST);
        let filling = std::time::Instant::now();
        fill(&d.socket, stored, bulk).await?;
        // The newest requests come after a known instant, for the export by time: every
        // request so far was answered, so created, before it.
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        fill(&d.socket, stored + bulk, target - stored - bulk).await?;
        let fill_time = filling.elapsed();
        stored = target;
        eprintln!(
            "stored {stored} requests ({:.0} added per second)",
            (bulk + NEWEST) as f64 / fill_time.as_secs_f64()
        );
        if oldest.is_none() {
            let (out, _) = d.ash(&["export", "--limit", "1"]).await?;
            let first: serde_json::Value =
                serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap_or_default())?;
            oldest = first["id"].as_str().map(str::to_owned);
        }
        let oldest = oldest.clone().ok_or("no oldest request")?;

        d.stop().await?;
        let mut ready = Vec::with_capacity(RUNS);
        for run in 0..RUNS {
            if run > 0 {
                d.stop().await?;
            }
            ready.push(d.start().await?);
        }
        let ready = median(&mut ready);
        let store_mib = std::fs::read_dir(dir.path().join("state"))?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum::<u64>() as f64
            / (1024.0 * 1024.0);

        let queries = vec![
            (
                "ash pending (nothing pending)",
                timed(&d, &["pending", "--json"], |o| json_len(o) == 0).await?,
            ),
            (
                "ash history (newest 50)",
                timed(&d, &["history", "--json"], |o| json_len(o) == 50).await?,
            ),
            (
                "ash history --agent agent-3 --tool grep (newest 50)",
                timed(
                    &d,
                    &["history", "--agent", "agent-3", "--tool", "grep", "--json"],
                    |o| (1..=50).contains(&json_len(o)),
                )
                .await?,
            ),
            (
                "ash show (the oldest request)",
                timed(&d, &["show", &oldest], |o| !o.is_empty()).await?,
            ),
            (
                "ash export --since (the newest 1,000)",
                timed(&d, &["export", "--since", &since], |o| {
                    o.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() == NEWEST
                })
                .await?,
            ),
        ];
        results.push(Stage {
            stored,
            store_mib,
            ready,
            queries,
        });
    }
    d.stop().await?;

    println!("What a growing store costs (release agentd as its own process, store at the default durability, medians of {RUNS} runs):");
    let mut header = format!("  {:<52}", "stored requests");
    for s in &results {
        header.push_str(&format!("{:>12}", s.stored));
    }
    println!("{header}");
    let row = |name: &str, cells: Vec<String>| {
        let mut line = format!("  {name:<52}");
        for c in cells {
            line.push_str(&format!("{c:>12}"));
        }
        println!("{line}");
    };
    row(
        "store on disk",
        results
            .iter()
            .map(|s| format!("{:.0} MiB", s.store_mib))
            .collect(),
    );
    row(
        "agentd ready after start",
        results.iter().map(|s| format!("{:.1?}", s.ready)).collect(),
    );
    let queries = results.first().map_or(0, |s| s.queries.len());
    for q in 0..queries {
        row(
            results[0].queries[q].0,
            results
                .iter()
                .map(|s| format!("{:.1?}", s.queries[q].1))
                .collect(),
        );
    }
    if let Some(s) = results.iter().find(|s| s.stored == 100_000) {
        println!(
            "  target: agentd ready within 100 ms with 100,000 stored: {:.1?}, {}",
            s.ready,
            verdict(s.ready < Duration::from_millis(100))
        );
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        println!(
            "  target: cost follows what is returned, not the store ({} vs {} stored):",
            first.stored, last.stored
        );
        for q in 0..queries {
            let ratio = last.queries[q].1.as_secs_f64() / first.queries[q].1.as_secs_f64();
            println!("    {:<52} {ratio:.2}x", first.queries[q].0);
        }
    }
    Ok(())
}
