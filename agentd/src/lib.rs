//! agentd: the approval daemon. Agents ask it to approve tool calls over a Unix socket; it
//! answers at once when no approval is needed, and otherwise queues the request and holds the
//! agent's call open until an operator decides or the deadline denies it.
//!
//! `run` serves a bound listener until shutdown; `Daemon` runs one on a background task for
//! embedding (tests, demos). `main.rs` only parses flags, binds and waits for a signal.

pub mod config;
pub mod intake;
pub mod queue;
pub mod registry;
pub mod server;
pub mod socket;
pub mod testkit;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Settings;
pub use socket::{bind, BindError, Listener};

/// Serves `listener` until `shutdown` resolves. Dropping the listener at the end removes the
/// socket file.
pub async fn run(settings: Settings, listener: Listener, shutdown: impl Future<Output = ()>) {
    let ctx = Arc::new(server::Context {
        queue: queue::Queue::new(settings.grace_period, settings.finished_capacity),
        registry: registry::Registry::new(&settings),
        hello_timeout: settings.hello_timeout,
    });
    server::serve(listener, ctx, shutdown).await;
}

/// An agentd running on a background task of the current tokio runtime.
pub struct Daemon {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Daemon {
    /// Binds `socket` and starts serving. The socket accepts connections when this returns.
    pub fn start(settings: Settings, socket: &Path) -> Result<Daemon, BindError> {
        let listener = bind(socket)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(settings, listener, async {
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

    /// Shuts down and waits until the socket is closed and removed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
