//! `cargo run --release -p agentd --example loadtest -- [--agents 16] [--secs 10]
//! [--human-every 10] [--durability normal|full] [--socket PATH]`
//!
//! N simulated agents against a real agentd for a bounded time; one request in
//! `--human-every` asks for approval and a simulated operator approves it. Without `--socket`
//! it starts its own agentd with a store in a temporary folder (memory figures are then of
//! agentd and the load generator together); with `--socket` it drives that agentd, which must
//! let this process decide its own requests (`[operators] allow_own_requests = true`) unless
//! `--human-every 0`. Exit 1 if any answer was lost, duplicated or mismatched.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agentd::{Durability, Settings};
use agentd_testkit::load::{self, LoadOptions, LoadReport};
use agentd_testkit::{unlimited, TempDaemon};
use anyhow::Context;
use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// Simulated agents, each on its own connection, sending requests back to back
    #[arg(long, default_value_t = 16)]
    agents: usize,
    /// How long to run
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// One request in this many needs the (simulated) operator; 0 for none
    #[arg(long, default_value_t = 10)]
    human_every: usize,
    /// The embedded agentd's store durability
    #[arg(long, default_value = "normal", value_parser = ["normal", "full"])]
    durability: String,
    /// Drive the agentd on this socket instead of starting one
    #[arg(long)]
    socket: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(report) if report.lost + report.duplicated + report.mismatched == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<LoadReport> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let duration = Duration::try_from_secs_f64(args.secs).context("--secs")?;
        let (daemon, socket) = match args.socket {
            Some(socket) => (None, socket),
            None => {
                let d = TempDaemon::start(Settings {
                    limits: unlimited(),
                    durability: if args.durability == "full" {
                        Durability::Full
                    } else {
                        Durability::Normal
                    },
                    ..Settings::default()
                })
                .context("cannot start agentd")?;
                let socket = d.socket().to_path_buf();
                (Some(d), socket)
            }
        };
        let options = LoadOptions {
            socket,
            agents: args.agents,
            duration,
            human_every: args.human_every,
        };
        let report = load::run(&options).await.context("load test")?;
        print(&options, &report);
        if let Some(d) = daemon {
            d.stop().await.context("stopping agentd")?;
        }
        Ok(report)
    })
}

fn print(options: &LoadOptions, r: &LoadReport) {
    println!(
        "{} agents for {:.1?}: {} answers, {:.0} per second",
        options.agents,
        r.elapsed,
        r.answered(),
        r.per_second()
    );
    for (name, l) in [("no human", &r.no_human), ("operator", &r.human)] {
        println!(
            "  {name:<9} {:>8} answers   p50 {:>9.1?}   p90 {:>9.1?}   p99 {:>9.1?}   max {:>9.1?}",
            l.count, l.p50, l.p90, l.p99, l.max
        );
    }
    match r.agentd_peak_kib {
        Some(kib) => println!(
            "  agentd peak memory (VmHWM) {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  agentd peak memory: could not be read"),
    }
    println!(
        "  lost {}   duplicated {}   mismatched {}",
        r.lost, r.duplicated, r.mismatched
    );
    if let Some(e) = &r.first_error {
        println!("  first error: {e}");
    }
}
