//! agentd: the approval daemon. Agents ask it to approve tool calls over a Unix socket; it
//! answers at once when no approval is needed, and otherwise queues the request and holds the
//! agent's call open until an operator decides or the deadline denies it.
//!
//! `run` serves a bound listener until shutdown; `Daemon` runs one on a background task for
//! embedding (tests, benchmarks). `main.rs` only parses flags, binds and waits for a signal.

pub mod admission;
pub mod agent;
pub mod clock;
pub mod config;
pub mod grants;
pub mod limits;
pub mod lineage;
pub mod notify;
pub mod operators;
pub mod policy;
pub mod queue;
pub mod registry;
pub mod server;
pub mod socket;
pub mod store;
pub mod tool_spec;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Settings;
pub use socket::{bind, BindError, Listener, SocketOptions};

/// The socket's mode and group from the settings; an unknown group is an error.
pub fn socket_options(settings: &Settings) -> Result<SocketOptions, StartError> {
    let group = match &settings.socket_group {
        None => None,
        Some(name) => Some(
            nix::unistd::Group::from_name(name)
                .map_err(|e| {
                    StartError::Config(format!(
                        "[daemon] socket_group: cannot look up '{name}': {e}"
                    ))
                })?
                .ok_or_else(|| {
                    StartError::Config(format!("[daemon] socket_group: no group named '{name}'"))
                })?
                .gid
                .as_raw(),
        ),
    };
    Ok(SocketOptions {
        mode: settings.socket_mode,
        group,
    })
}
pub use store::{Durability, StoreError};

/// Why agentd could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
}

/// A daemon with its store open and its queue recovered, ready to serve.
pub struct Prepared {
    ctx: Arc<server::Context>,
    notify: Option<notify::NotifySettings>,
}

/// Opens the store (or a memory store when `settings.state_dir` is `None`) and puts back the
/// requests that were pending. Must be called inside a tokio runtime (it starts their timers).
pub fn prepare(settings: &Settings) -> Result<Prepared, StartError> {
    let (store, recovered) = match &settings.state_dir {
        Some(dir) => store::Store::open(
            dir,
            store::Options {
                durability: settings.durability,
                max_size_mib: settings.store_max_size_mib,
            },
        )?,
        None => (store::Store::memory(), store::Recovered::default()),
    };
    let store = Arc::new(store);
    let operators =
        operators::Operators::resolve(&settings.operator_users, &settings.operator_groups)
            .map_err(|e| StartError::Config(e.0))?;
    let queue = queue::Queue::new(
        Arc::clone(&store),
        queue::QueueSettings {
            grace: settings.grace_period,
            finished_capacity: settings.finished_capacity,
            max_pending_per_agent: settings.limits.pending_per_agent,
            max_pending_per_uid: settings.limits.pending_per_uid,
            forbid_own_requests: !settings.allow_own_requests,
            approvers: settings.review_approvers.clone(),
            grant_capacity: settings.grant_capacity,
            session_grant_ttl: settings.session_grant_ttl,
            escalation_window: settings.escalation_window,
            max_review_depth: settings.max_review_depth,
        },
    );
    let grants = recovered.grants.len();
    queue.restore_grants(recovered.grants);
    let (restored, expired) = queue.restore(recovered.pending);
    store.write(store::Write::audit(store::daemon_event(
        "daemon_started",
        queue::AGENTD,
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "restored": restored,
            "expired_while_down": expired,
        }),
    )));
    if let Some(path) = store.path() {
        tracing::info!(store = %path.display(), restored, expired, grants, "store open");
    }
    Ok(Prepared {
        ctx: Arc::new(server::Context {
            queue,
            registry: registry::Registry::new(settings),
            hello_timeout: settings.hello_timeout,
            operators,
            rate: limits::RateLimiter::new(settings.limits.requests_per_sec, settings.limits.burst),
            uid_rate: limits::RateLimiter::new(
                settings.limits.requests_per_sec_per_uid,
                settings.limits.burst_per_uid,
            ),
            refusals: limits::RefusalLog::default(),
            max_args: settings.limits.max_args_bytes,
            connections: admission::Connections::new(admission::ConnectionLimits {
                max: settings.limits.max_connections,
                per_uid: settings.limits.connections_per_uid,
                operator_reserve: settings.limits.operator_connections,
            }),
            frames: admission::FrameBytes::new(
                settings.limits.unfinished_frames_bytes,
                settings.limits.unfinished_frames_per_uid_bytes,
            ),
            frame_timeout: settings.limits.frame_timeout,
            about: server::About {
                config: settings
                    .config_path
                    .as_ref()
                    .map(|p| p.display().to_string()),
                config_tools: u32::try_from(settings.tools.len()).unwrap_or(u32::MAX),
                config_rules: u32::try_from(settings.rules.len()).unwrap_or(u32::MAX),
                presets: settings.presets.clone(),
            },
            retention: settings.retention,
        }),
        notify: settings.notify.clone(),
    })
}

/// Serves `listener` until `shutdown` resolves, then closes the store (recording the stop)
/// and removes the socket file. Ends early with the store's error if a commit ever fails:
/// nothing that was not committed has been acknowledged, and the next start recovers from
/// the store.
pub async fn serve(
    prepared: Prepared,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StoreError> {
    let queue = Arc::clone(&prepared.ctx.queue);
    let store = Arc::clone(queue.store());
    let notifier = prepared
        .notify
        .map(|settings| notify::spawn(settings, queue.subscribe()));
    let retention = store
        .reader()
        .map(|_| tokio::spawn(keep_bounded(Arc::clone(&store), prepared.ctx.retention)));
    let failure = {
        let store = Arc::clone(&store);
        async move { store.failure().await }
    };
    let failed = server::serve(listener, prepared.ctx, shutdown, failure)
        .await
        // A shutdown that raced a failed commit still reports the failure: whoever was
        // refused must find out why agentd stopped.
        .or_else(|| store.failed());
    if let Some(notifier) = notifier {
        notifier.abort();
    }
    if let Some(retention) = retention {
        retention.abort();
    }
    queue.shutdown();
    store
        .close(Some(store::daemon_event(
            "daemon_stopped",
            queue::AGENTD,
            serde_json::json!({ "pid": std::process::id() }),
        )))
        .await;
    match failed {
        Some(message) => Err(StoreError::Failed(message)),
        None => Ok(()),
    }
}

/// Applies retention at start and then every `retention.every`, as agentd runs.
async fn keep_bounded(store: Arc<store::Store>, retention: config::Retention) {
    if retention.answered.is_none() && retention.decided.is_none() {
        return;
    }
    let mut every = tokio::time::interval(retention.every);
    loop {
        every.tick().await;
        let plan = retention.plan(chrono::Utc::now(), queue::AGENTD);
        match store.prune(plan, false).await {
            Ok(r) if r.answered + r.decided + r.grants + r.audit_entries > 0 => tracing::info!(
                answered = r.answered,
                decided = r.decided,
                grants = r.grants,
                audit_entries = r.audit_entries,
                "retention: pruned"
            ),
            Ok(_) => {}
            // A failed commit stops agentd on its own; a failed query is said and tried again.
            Err(e) => tracing::warn!("retention: {e}"),
        }
    }
}

/// Prepares and serves in one call.
pub async fn run(
    settings: Settings,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let prepared = prepare(&settings)?;
    Ok(serve(prepared, listener, shutdown).await?)
}

/// An agentd running on a background task of the current tokio runtime.
pub struct Daemon {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), StoreError>>,
}

impl Daemon {
    /// Binds `socket`, opens the store and starts serving. The socket accepts connections
    /// when this returns.
    pub fn start(settings: Settings, socket: &Path) -> Result<Daemon, StartError> {
        let listener = bind(socket, &socket_options(&settings)?)?;
        let prepared = prepare(&settings)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(prepared, listener, async {
            let _ = stopped.await;
        }));
        Ok(Daemon {
            socket: socket.to_path_buf(),
            stop: Some(stop),
            task,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Shuts down and waits until the store is closed and the socket removed.
    pub async fn stop(mut self) -> Result<(), StoreError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(StoreError::Failed(format!("agentd's task failed: {e}"))))
    }
}
