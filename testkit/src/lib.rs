//! Test support for agentd and ash, kept out of the product: a private agentd in a temporary
//! folder, a poller that waits for a condition with a deadline, and the load-test harness.
//! Only tests, benchmarks and the load-test example depend on this crate.

pub mod clock;
pub mod load;

pub use clock::TokioWallClock;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentd_proto::{Client, Role};
use tokio::time::{interval, Instant, MissedTickBehavior};

use agentd::{Daemon, Settings};

/// An agentd on a socket in its own temporary folder; the folder goes when this is dropped.
pub struct TempDaemon {
    daemon: Option<Daemon>,
    socket: PathBuf,
    dir: tempfile::TempDir,
    in_memory: bool,
}

impl TempDaemon {
    /// Starts agentd with `settings`, with its store in the temporary folder unless
    /// `settings.state_dir` names one. It accepts connections when this returns.
    ///
    /// An embedded daemon serves agents and operators that live in one process (a test, a
    /// demo), so it lets a process decide requests it raised; `start_exact` keeps the
    /// settings' choice.
    pub fn start(settings: Settings) -> std::io::Result<TempDaemon> {
        TempDaemon::start_exact(Settings {
            allow_own_requests: true,
            ..settings
        })
    }

    /// Like `start`, with every setting as given.
    pub fn start_exact(settings: Settings) -> std::io::Result<TempDaemon> {
        let dir = tempfile::tempdir()?;
        let settings = Settings {
            state_dir: Some(
                settings
                    .state_dir
                    .unwrap_or_else(|| dir.path().join("state")),
            ),
            ..settings
        };
        TempDaemon::start_in(dir, settings)
    }

    /// Starts agentd with no store at all (everything in memory).
    pub fn memory(settings: Settings) -> std::io::Result<TempDaemon> {
        let settings = Settings {
            state_dir: None,
            allow_own_requests: true,
            ..settings
        };
        TempDaemon::start_in(tempfile::tempdir()?, settings)
    }

    fn start_in(dir: tempfile::TempDir, settings: Settings) -> std::io::Result<TempDaemon> {
        let socket = dir.path().join("run").join("agentd.sock");
        let in_memory = settings.state_dir.is_none();
        let daemon = Daemon::start(settings, &socket).map_err(std::io::Error::other)?;
        Ok(TempDaemon {
            daemon: Some(daemon),
            socket,
            dir,
            in_memory,
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
    pub async fn operator(&self, name: &str) -> Result<Client, agentd_proto::ClientError> {
        Client::connect(&self.socket, Role::Operator, name).await
    }

    /// An agent connection named `name`.
    pub async fn agent(&self, name: &str) -> Result<Client, agentd_proto::ClientError> {
        Client::connect(&self.socket, Role::Agent, name).await
    }

    /// The state dir the store of `TempDaemon::start` lives in.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Stops the daemon and starts a new one with `settings` on the same socket and (unless
    /// `settings` names another) the same state dir, as a restart would.
    pub async fn restart(&mut self, settings: Settings) -> std::io::Result<()> {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await.map_err(std::io::Error::other)?;
        }
        let state_dir = match self.in_memory {
            true => None,
            false => Some(settings.state_dir.unwrap_or_else(|| self.state_dir())),
        };
        let settings = Settings {
            state_dir,
            allow_own_requests: true,
            ..settings
        };
        let daemon = Daemon::start(settings, &self.socket).map_err(std::io::Error::other)?;
        self.daemon = Some(daemon);
        Ok(())
    }

    /// Shuts the daemon down and waits until it has; an error if its store had failed.
    pub async fn stop(mut self) -> Result<(), agentd::StoreError> {
        match self.daemon.take() {
            Some(daemon) => daemon.stop().await,
            None => Ok(()),
        }
    }
}

/// Limits high enough that a test or benchmark sending as fast as it can is never refused.
pub fn unlimited() -> agentd::config::Limits {
    agentd::config::Limits {
        requests_per_sec: 1e9,
        burst: 1e9,
        pending_per_agent: usize::MAX,
        requests_per_sec_per_uid: 1e9,
        burst_per_uid: 1e9,
        pending_per_uid: usize::MAX,
        connections_per_uid: usize::MAX,
        ..agentd::config::Limits::default()
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

    /// Polls every `period` instead of every 5 ms: for a check that is itself costly (a
    /// process started per look), so the polling does not starve what it waits for.
    pub fn every(mut self, period: Duration) -> Poller {
        self.tick = interval(period);
        self.tick
            .set_missed_tick_behavior(MissedTickBehavior::Delay);
        self
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
