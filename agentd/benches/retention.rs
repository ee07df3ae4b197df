//! `cargo bench -p agentd --bench retention`: what a call answered at once costs to keep, and
//! a million of them through the real agentd binary with retention keeping the store bounded.
//!
//! agentd runs as its own process (so its memory is its own), with the presets on and no
//! automatic retention; 16 agents send `Read` calls inside their project, which the Claude
//! Code preset answers at once, in rounds of `ROUND` calls. After each round an operator prunes
//! everything before the round before it (`ash prune --before`), so the store keeps two rounds
//! at most. Printed per round: the store's bytes (database, WAL and journal), what it keeps,
//! agentd's resident memory. The run fails if, after the first few rounds, the store grows past
//! its size when it first held two rounds by more than a quarter, or agentd's memory grows by
//! more than a quarter of its size then: that is the bound this benchmark proves.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentd_proto::{ApprovalRequest, Client, Endpoint, PruneRequest, Role, Submitted};

type Error = Box<dyn std::error::Error + Send + Sync>;

const AGENTS: usize = 16;
const TOTAL: usize = 1_000_000;
const ROUND: usize = 50_000;
/// Rounds before the bound is taken: the store then holds two rounds, as it will from then on.
const SETTLE: usize = 3;

const CONFIG: &str = r#"
[retention]
answered_days = 0
decided_days = 0

[limits]
requests_per_sec = 1000000.0
burst = 1000000.0
requests_per_sec_per_uid = 1000000.0
burst_per_uid = 1000000.0
"#;

/// agentd's resident memory now, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The bytes of the database's pages in use (its WAL read through), free pages left out.
fn db_bytes_in_use(db: &Path) -> Result<u64, Error> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let get = |pragma: &str| -> Result<u64, Error> {
        Ok(conn
            .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    };
    Ok((get("page_count")? - get("freelist_count")?) * get("page_size")?)
}

/// Sends `n` calls from each of `AGENTS` agents at once.
async fn round(socket: &Path, start: usize, n: usize) -> Result<(), Error> {
    let mut tasks = Vec::new();
    for a in 0..AGENTS {
        let endpoint = Endpoint::Socket(socket.to_path_buf());
        tasks.push(tokio::spawn(async move {
            let mut agent = Client::connect(&endpoint, Role::Agent, "claude-code").await?;
            for i in 0..n {
                let call = start + a * n + i;
                let request = ApprovalRequest {
                    tool: "Read".into(),
                    args_json: format!(
                        r#"{{"file_path":"/home/dev/app/src/module_{}/file_{call}.rs"}}"#,
                        call % 97
                    ),
                    session: Some(format!("session-{a}")),
                    cwd: Some("/home/dev/app".into()),
                    ..ApprovalRequest::default()
                };
                match agent.submit(&request).await? {
                    Submitted::Decided(o) if o.approved() => {}
                    other => return Err(format!("expected an answer at once: {other:?}").into()),
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("agentd.toml");
    std::fs::write(&config, CONFIG)?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--config")
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("agentd has no pid")?;
    let endpoint = Endpoint::Socket(PathBuf::from(&socket));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut op = loop {
        match Client::connect(&endpoint, Role::Operator, "bench").await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => return Err(e.into()),
        }
    };

    println!("{TOTAL} calls answered at once, in rounds of {ROUND}; after each, prune before the round before it");
    println!("round  calls-sent  store-MB  kept-requests  audit-from  agentd-RSS-MB  calls/s");
    let mut round_starts = Vec::new();
    let mut bound: Option<(u64, u64)> = None;
    let mut worst = (0u64, 0u64);
    let per_agent = ROUND / AGENTS;
    let rounds = TOTAL / ROUND;
    for r in 0..rounds {
        round_starts.push(chrono::Utc::now());
        let began = Instant::now();
        round(&socket, r * ROUND, per_agent).await?;
        let rate = ROUND as f64 / began.elapsed().as_secs_f64();
        if r >= 1 {
            op.prune(PruneRequest {
                before: Some(round_starts[r - 1]),
                dry_run: false,
            })
            .await?;
        }
        let info = op.info().await?;
        let store = info.store.ok_or("agentd runs without a store")?;
        let rss = rss_kib(pid);
        let first = store.checkpoint.as_ref().map_or(1, |c| c.first_seq);
        println!(
            "{:>5}  {:>10}  {:>8.1}  {:>13}  {:>10}  {:>13.1}  {:>7.0}",
            r + 1,
            (r + 1) * ROUND,
            store.bytes as f64 / 1e6,
            store.requests,
            first,
            rss as f64 / 1024.0,
            rate
        );
        if r == 0 {
            println!(
                "       one call answered at once costs {:.0} bytes of database pages (indexes included)",
                db_bytes_in_use(&dir.path().join("state/agentd.db"))? as f64 / ROUND as f64
            );
        }
        if r + 1 == SETTLE {
            bound = Some((store.bytes, rss));
        } else if r + 1 > SETTLE {
            worst = (worst.0.max(store.bytes), worst.1.max(rss));
        }
    }
    let (bytes, rss) = bound.ok_or("too few rounds")?;
    println!(
        "bound: store {:.1} MB at round {SETTLE}, at most {:.1} MB after (x{:.2}); agentd {:.1} MB at round {SETTLE}, at most {:.1} MB after (x{:.2})",
        bytes as f64 / 1e6,
        worst.0 as f64 / 1e6,
        worst.0 as f64 / bytes as f64,
        rss as f64 / 1024.0,
        worst.1 as f64 / 1024.0,
        worst.1 as f64 / rss as f64
    );
    let report = op.verify_audit().await?;
    println!(
        "audit trail: {} entries from entry {}, {}",
        report.entries,
        report.checkpoint.as_ref().map_or(1, |c| c.first_seq),
        match &report.broken {
            None => "intact".to_string(),
            Some(b) => format!("BROKEN at {}: {}", b.seq, b.problem),
        }
    );
    child.kill().await?;
    if report.broken.is_some() {
        return Err("the audit trail does not verify after pruning".into());
    }
    if worst.0 * 4 > bytes * 5 || worst.1 * 4 > rss * 5 {
        return Err("the store or agentd's memory grew past its bound".into());
    }
    Ok(())
}
