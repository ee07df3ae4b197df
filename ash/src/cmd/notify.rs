//! `ash notify COMMAND`: runs COMMAND on this machine for each request that reaches the
//! operators on any host ash follows (this machine's agentd and every `--host`), with the
//! request's fields in its environment exactly as agentd's own `[notify]` gives them, plus
//! `AGENTD_HOST`. agentd's `[notify]` runs where agentd runs; a person approving from one
//! desk for several machines wants the desktop notification, the phone push or the tmux
//! message here, for all of them.
//!
//! Each host is followed on a task of its own, which reconnects with backoff; requests that
//! arrived while a host was out of reach are notified when it comes back, and nothing is
//! notified twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use agentd_proto::notify::{Notifier, NotifySettings, Skipped};
use agentd_proto::{Client, ClientError, Endpoint, Event, RequestView, Risk, Role, State};
use uuid::Uuid;

use crate::when::parse_timeout;
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The command to run, by /bin/sh -c, for each new request. Its fields are in the
    /// environment as agentd's [notify] gives them (AGENTD_MESSAGE, AGENTD_TOOL, AGENTD_RISK,
    /// AGENTD_ID ...), cleaned of what programs interpret, and AGENTD_HOST names the host
    /// (`local`, or its ssh:// URL); the arguments are never passed
    #[arg(value_name = "COMMAND")]
    command: String,
    /// Leave out requests below this risk (low, medium, high, critical)
    #[arg(long, value_name = "LEVEL", default_value = "low")]
    min_risk: Risk,
    /// Kill a command still running after this long (seconds, or a length such as 30s)
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    timeout: u64,
    /// Run at most this many commands at once; a request arriving while all are busy is not
    /// notified (and said so on stderr)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    max_running: u16,
    /// With --host, leave this machine's own agentd out
    #[arg(long)]
    no_local: bool,
}

/// How often a host that keeps failing is said to be failing.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// The first wait before trying a host again.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest wait between tries to reach a host that is out of reach.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    if args.command.trim().is_empty() {
        return Err(crate::outcome::UsageError("the command is empty".into()).into());
    }
    let settings = NotifySettings {
        command: args.command,
        min_risk: args.min_risk,
        timeout: Duration::from_millis(args.timeout),
        max_running: usize::from(args.max_running),
    };
    let notifier = Notifier::new(
        settings,
        Arc::new(|id, result| {
            if let Err(e) = result {
                eprintln!("ash notify: {id}: {e}");
            }
        }),
    );
    let operator = super::login_name();
    let hosts = super::followed_hosts(globals, args.no_local);
    let mut tasks = tokio::task::JoinSet::new();
    for host in hosts {
        let (notifier, operator) = (notifier.clone(), operator.clone());
        tasks.spawn(follow(host, notifier, operator));
    }
    // The tasks never end by themselves: ash notify runs until it is stopped.
    tokio::select! {
        _ = tasks.join_next() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(crate::outcome::SUCCESS)
}

/// Follows one host for good: connects, notifies, and reconnects whenever it goes away.
async fn follow(host: Endpoint, notifier: Notifier, operator: String) {
    let label = crate::host_label(&host);
    let mut seen: Option<HashSet<Uuid>> = None;
    let mut backoff = FIRST_BACKOFF;
    // A host that keeps failing (agentd stopped there for the night) is said once, then at
    // most once a minute, rather than at every try.
    let mut last_said: Option<tokio::time::Instant> = None;
    loop {
        let mut connected = false;
        let Err(e) = watch(
            &host,
            &label,
            &notifier,
            &operator,
            &mut seen,
            &mut connected,
        )
        .await;
        if connected {
            backoff = FIRST_BACKOFF;
            last_said = None;
        }
        if last_said.is_none_or(|at| at.elapsed() >= REMIND_EVERY) {
            eprintln!("ash notify: {label}: {e}; trying again");
            last_said = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connected stretch. The first snapshot only marks what is already waiting (it is not
/// news); after a reconnect, whatever arrived meanwhile is notified.
async fn watch(
    host: &Endpoint,
    label: &str,
    notifier: &Notifier,
    operator: &str,
    seen: &mut Option<HashSet<Uuid>>,
    connected: &mut bool,
) -> Result<std::convert::Infallible, ClientError> {
    let mut events = Client::connect(host, Role::Operator, operator).await?;
    let mut ops = Client::connect(host, Role::Operator, operator).await?;
    // Subscribe before the snapshot, so nothing falls between the two.
    events.subscribe().await?;
    catch_up(&mut ops, label, notifier, seen).await?;
    *connected = true;
    eprintln!("ash notify: following {label}");
    loop {
        match events.next_event().await? {
            Event::Queued(view) => {
                let known = seen.get_or_insert_with(HashSet::new);
                if known.insert(view.id) {
                    tell(notifier, &view, label);
                }
            }
            Event::Finished(view) => {
                if let Some(known) = seen.as_mut() {
                    known.remove(&view.id);
                }
            }
            Event::Lagged(_) => catch_up(&mut ops, label, notifier, seen).await?,
        }
    }
}

/// Lists what is pending and notifies what has not been seen (nothing, the first time).
async fn catch_up(
    ops: &mut Client,
    label: &str,
    notifier: &Notifier,
    seen: &mut Option<HashSet<Uuid>>,
) -> Result<(), ClientError> {
    let pending = ops.list(Some(State::Pending)).await?;
    let now: HashSet<Uuid> = pending.iter().map(|v| v.id).collect();
    if let Some(known) = seen.as_ref() {
        for view in pending.iter().filter(|v| !known.contains(&v.id)) {
            tell(notifier, view, label);
        }
    }
    // What is no longer pending is forgotten, so the set stays the size of the queue.
    *seen = Some(now);
    Ok(())
}

fn tell(notifier: &Notifier, view: &RequestView, label: &str) {
    let host = vec![("AGENTD_HOST", label.to_string())];
    if let Err(Skipped::Busy) = notifier.notify(view, host) {
        eprintln!(
            "ash notify: {label}: not notifying {}: every command slot is busy ({} running)",
            view.id,
            notifier.settings().max_running
        );
    }
}
