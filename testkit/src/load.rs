//! The load test behind `cargo run --release -p agentd --example loadtest`: N simulated agents
//! against a real agentd for a bounded time, a simulated operator approving what is queued,
//! and a report of throughput, latency percentiles, agentd's memory and any answer that was
//! lost, duplicated or meant for another request (there must be none).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentd_proto::{
    ApprovalRequest, Client, ClientError, DecideRequest, Event, Risk, Role, Scope, Submitted,
    ToolSpec, Verdict,
};

/// The tool the agents call that needs no approval; registered by the load test itself.
pub const FREE_TOOL: &str = "loadtest-read";
/// The tool that needs a person (the simulated operator).
pub const HUMAN_TOOL: &str = "loadtest-write";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub socket: PathBuf,
    pub agents: usize,
    pub duration: Duration,
    /// One request in this many asks for approval; 0 means none do.
    pub human_every: usize,
}

/// Latency percentiles of one path.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    fn of(mut times: Vec<Duration>) -> Latency {
        times.sort_unstable();
        let at = |q: usize| {
            times
                .get((times.len() * q / 100).min(times.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Latency {
            count: times.len(),
            p50: at(50),
            p90: at(90),
            p99: at(99),
            max: times.last().copied().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub elapsed: Duration,
    pub no_human: Latency,
    pub human: Latency,
    /// Requests sent that got no answer (an error, or the connection lost).
    pub lost: usize,
    /// Answers for a request that had already been answered.
    pub duplicated: usize,
    /// Answers that named another request than the one asked.
    pub mismatched: usize,
    /// agentd's peak resident memory (VmHWM) after the run, when its pid could be read.
    pub agentd_peak_kib: Option<u64>,
    pub first_error: Option<String>,
}

impl LoadReport {
    pub fn answered(&self) -> usize {
        self.no_human.count + self.human.count
    }

    pub fn per_second(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

#[derive(Default)]
struct Tally {
    no_human: Vec<Duration>,
    human: Vec<Duration>,
    answered: HashSet<uuid::Uuid>,
    lost: usize,
    duplicated: usize,
    mismatched: usize,
    first_error: Option<String>,
}

impl Tally {
    fn answer(&mut self, asked: Option<uuid::Uuid>, got: uuid::Uuid, human: bool, took: Duration) {
        if asked.is_some_and(|asked| asked != got) {
            self.mismatched += 1;
        }
        if !self.answered.insert(got) {
            self.duplicated += 1;
        }
        if human {
            self.human.push(took);
        } else {
            self.no_human.push(took);
        }
    }

    fn lose(&mut self, e: &ClientError) {
        self.lost += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }
}

/// Runs the load test; agentd must be answering on `options.socket`, and this process must
/// be allowed to decide (an operator, and not barred from deciding its own requests).
pub async fn run(options: &LoadOptions) -> Result<LoadReport, ClientError> {
    // An operator's registration applies to every agent; an agent's would apply to itself
    // and could not open a tool.
    let mut setup = Client::connect(&options.socket, Role::Operator, "loadtest").await?;
    for (name, requires_approval) in [(FREE_TOOL, false), (HUMAN_TOOL, true)] {
        setup
            .register_tool(&ToolSpec {
                name: name.into(),
                requires_approval,
                approval_timeout_secs: 300,
                risk: Risk::Low,
            })
            .await?;
    }
    let operator = operator(&options.socket).await?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + options.duration;
    let started = Instant::now();
    let mut agents = Vec::with_capacity(options.agents);
    for a in 0..options.agents {
        let socket = options.socket.clone();
        let tally = Arc::clone(&tally);
        let human_every = options.human_every;
        agents.push(tokio::spawn(async move {
            agent(&socket, a, human_every, deadline, &tally).await;
        }));
    }
    for a in agents {
        // A panicking agent task is a bug in this file, not a lost answer; report it as one.
        if let Err(e) = a.await {
            lock(&tally)
                .first_error
                .get_or_insert_with(|| e.to_string());
        }
    }
    let elapsed = started.elapsed();
    operator.abort();
    let agentd_peak_kib = agentd_peak_kib(&options.socket).await;
    let t = std::mem::take(&mut *lock(&tally));
    Ok(LoadReport {
        elapsed,
        no_human: Latency::of(t.no_human),
        human: Latency::of(t.human),
        lost: t.lost,
        duplicated: t.duplicated,
        mismatched: t.mismatched,
        agentd_peak_kib,
        first_error: t.first_error,
    })
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    // A poisoned tally still holds every figure counted before the panic.
    tally.lock().unwrap_or_else(|e| e.into_inner())
}

async fn agent(
    socket: &Path,
    a: usize,
    human_every: usize,
    deadline: Instant,
    tally: &Mutex<Tally>,
) {
    let mut client = match Client::connect(socket, Role::Agent, &format!("load-{a}")).await {
        Ok(c) => c,
        Err(e) => return lock(tally).lose(&e),
    };
    let mut i = 0usize;
    while Instant::now() < deadline {
        let human = human_every > 0 && i % human_every == human_every - 1;
        let req = ApprovalRequest {
            tool: if human { HUMAN_TOOL } else { FREE_TOOL }.into(),
            args_json: format!(r#"{{"agent":{a},"i":{i}}}"#),
            ..ApprovalRequest::default()
        };
        i += 1;
        let start = Instant::now();
        let answer = match client.submit(&req).await {
            Ok(Submitted::Decided(o)) => Ok((None, o)),
            Ok(Submitted::Queued(t)) => client.wait().await.map(|o| (Some(t.id), o)),
            Err(e) => Err(e),
        };
        match answer {
            Ok((asked, outcome)) => lock(tally).answer(asked, outcome.id, human, start.elapsed()),
            Err(e) => {
                lock(tally).lose(&e);
                return;
            }
        }
    }
}

/// An operator that approves every queued request, from the event stream.
async fn operator(socket: &Path) -> Result<tokio::task::JoinHandle<()>, ClientError> {
    let mut events = Client::connect(socket, Role::Operator, "loadtest-watch").await?;
    events.subscribe().await?;
    let mut decider = Client::connect(socket, Role::Operator, "loadtest-op").await?;
    Ok(tokio::spawn(async move {
        while let Ok(event) = events.next_event().await {
            let Event::Queued(view) = event else { continue };
            let req = DecideRequest {
                id: view.id.to_string(),
                verdict: Verdict::Approve,
                operator: "loadtest".into(),
                reason: None,
                scope: Scope::Once,
                grant: None,
                args_json: None,
            };
            if decider.decide(&req).await.is_err() {
                return;
            }
        }
    }))
}

/// agentd's peak resident memory, from the kernel's view of whoever holds the socket.
async fn agentd_peak_kib(socket: &Path) -> Option<u64> {
    let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
    let pid = stream.peer_cred().ok()?.pid()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
