//! What the benches that run agentd as its own process share: building and starting the
//! release binary, reading its memory, connecting through bursts, and medians.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use agentd_proto::{Client, Role};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The agentd binary of this build, next to ash's. Always (re)built: cargo builds only ash's
/// own binaries for its benches, and a stale agentd would measure old code.
pub fn agentd_binary() -> Result<PathBuf, Error> {
    let dir = Path::new(env!("CARGO_BIN_EXE_ash"))
        .parent()
        .ok_or("no target folder")?;
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "-q", "-p", "agentd", "--bin", "agentd"]);
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    if !cmd.status()?.success() {
        return Err("cannot build agentd".into());
    }
    Ok(dir.join("agentd"))
}

/// A field of `/proc/PID/status` in KiB, e.g. `VmRSS:`.
pub fn kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Connects, trying again for a while when a burst of connects finds the listen backlog full
/// or agentd not up yet.
pub async fn connect(socket: &Path, role: Role, name: &str) -> Result<Client, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Client::connect(socket, role, name).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() < deadline && e.is_connection_lost() => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// An agentd process with its socket and store in a folder of its own.
pub struct Agentd {
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub child: Option<tokio::process::Child>,
}

impl Agentd {
    /// Prepares a folder with `config` as agentd.toml; nothing runs yet.
    pub fn new(dir: &Path, config: &str) -> Result<Agentd, Error> {
        let path = dir.join("agentd.toml");
        std::fs::write(&path, config)?;
        Ok(Agentd {
            binary: agentd_binary()?,
            dir: dir.to_path_buf(),
            socket: dir.join("agentd.sock"),
            config: path,
            child: None,
        })
    }

    /// Starts agentd; returns at once, before it is ready.
    pub fn spawn(&mut self) -> Result<u32, Error> {
        let child = tokio::process::Command::new(&self.binary)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .arg("--config")
            .arg(&self.config)
            .env("AGENTD_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("agentd exited at once")?;
        self.child = Some(child);
        Ok(pid)
    }

    /// Starts agentd and returns how long it took to answer a hello and a ping: ready to
    /// serve, not only bound (it binds before it opens the store).
    pub async fn start(&mut self) -> Result<Duration, Error> {
        let started = Instant::now();
        self.spawn()?;
        let deadline = started + Duration::from_secs(60);
        loop {
            if let Ok(mut c) = Client::connect(&self.socket, Role::Operator, "bench").await {
                if c.ping().await.is_ok() {
                    return Ok(started.elapsed());
                }
            }
            if Instant::now() > deadline {
                return Err("agentd did not answer within 60 s".into());
            }
            // Polling, not sleeping for a guess: a short pause so the poller leaves agentd
            // the CPU it is starting on.
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Stops agentd with SIGTERM and waits for it to exit.
    pub async fn stop(&mut self) -> Result<(), Error> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .status()?;
            }
            child.wait().await?;
        }
        Ok(())
    }

    /// `ash ARGS` against this agentd, as a whole process; returns its stdout and wall time.
    pub async fn ash(&self, args: &[&str]) -> Result<(Vec<u8>, Duration), Error> {
        let start = Instant::now();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ash"))
            .args(args)
            .env("AGENTD_SOCKET", &self.socket)
            .stdin(Stdio::null())
            .output()
            .await?;
        let took = start.elapsed();
        if !out.status.success() {
            return Err(format!(
                "ash {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok((out.stdout, took))
    }
}

/// The median of `runs` (sorted in place).
pub fn median(runs: &mut [Duration]) -> Duration {
    runs.sort_unstable();
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

/// `runs` as "median X (min Y, max Z, N runs)".
pub fn summary(runs: &mut [Duration]) -> String {
    let mid = median(runs);
    format!(
        "median {mid:.2?} (min {:.2?}, max {:.2?}, {} runs)",
        runs.first().copied().unwrap_or_default(),
        runs.last().copied().unwrap_or_default(),
        runs.len()
    )
}

/// "met" or "NOT met" for a figure against its target.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
