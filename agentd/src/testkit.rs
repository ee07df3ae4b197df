//! Running a private agentd in a temporary folder, and waiting for a condition with a deadline:
//! what integration tests (and demos) that embed agentd need.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::{Client, Role};
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::{Daemon, Settings};

/// An agentd on a socket in its own temporary folder; the folder goes when this is dropped.
pub struct TempDaemon {
    daemon: Option<Daemon>,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl TempDaemon {
    /// Starts agentd with `settings`. It accepts connections when this returns.
    pub fn start(settings: Settings) -> std::io::Result<TempDaemon> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("run").join("agentd.sock");
        let daemon = Daemon::start(settings, &socket).map_err(std::io::Error::other)?;
        Ok(TempDaemon {
            daemon: Some(daemon),
            socket,
            dir,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The temporary folder, for anything else a test wants to keep beside the socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An operator connection named `name`.
    pub async fn operator(&self, name: &str) -> Result<Client, shared::ClientError> {
        Client::connect(&self.socket, Role::Operator, name).await
    }

    /// An agent connection named `name`.
    pub async fn agent(&self, name: &str) -> Result<Client, shared::ClientError> {
        Client::connect(&self.socket, Role::Agent, name).await
    }

    /// Stops the daemon and starts a new one with `settings` on the same socket, as a restart
    /// would.
    pub async fn restart(&mut self, settings: Settings) -> std::io::Result<()> {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
        let daemon = Daemon::start(settings, &self.socket).map_err(std::io::Error::other)?;
        self.daemon = Some(daemon);
        Ok(())
    }

    /// Shuts the daemon down and waits until it has.
    pub async fn stop(mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await;
        }
    }
}

/// Paces a polling loop and fails it at a deadline:
/// `loop { if let Some(x) = check().await { break x } poller.tick().await }`.
pub struct Poller {
    what: String,
    limit: Duration,
    deadline: Instant,
    tick: tokio::time::Interval,
}

impl Poller {
    pub fn new(limit: Duration, what: impl Into<String>) -> Poller {
        let mut tick = interval(Duration::from_millis(5));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Poller {
            what: what.into(),
            limit,
            deadline: Instant::now() + limit,
            tick,
        }
    }

    /// Waits for the next poll; panics once the deadline has passed.
    pub async fn tick(&mut self) {
        assert!(
            Instant::now() < self.deadline,
            "gave up after {:?} waiting for {}",
            self.limit,
            self.what
        );
        self.tick.tick().await;
    }
}
