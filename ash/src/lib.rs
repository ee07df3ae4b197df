//! ash: the operator's side of agentd. One-shot commands for people and scripts (one file each
//! under `cmd/`) and the full-screen queue (`tui/`). `main.rs` only parses the command line.

pub mod cmd;
pub mod display;
pub mod json;
pub mod mask;
pub mod outcome;
pub mod runtimes;
pub mod table;
pub mod tui;
pub mod web;
pub mod when;

use std::path::PathBuf;

use agentd_proto::Endpoint;

/// Everything a command needs from the global flags.
#[derive(Clone, Debug)]
pub struct Globals {
    pub socket: PathBuf,
    pub json: bool,
    /// The machines `--host` (or `AGENTD_HOST`) named; the local socket alone when empty.
    pub hosts: Vec<Endpoint>,
}

/// How a host is named where hosts are listed together (the queue's HOST column,
/// `AGENTD_HOST`): `local` for this machine's socket, else its ssh:// URL.
pub fn host_label(host: &Endpoint) -> String {
    match host {
        Endpoint::Socket(_) => "local".to_string(),
        remote => remote.to_string(),
    }
}

impl Globals {
    /// Where commands go: every `--host`, else the local socket.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        match self.hosts.is_empty() {
            true => vec![Endpoint::Socket(self.socket.clone())],
            false => self.hosts.clone(),
        }
    }

    /// Whether output names the host of each request (`--host` was given).
    pub fn names_hosts(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// The one place a single-host command talks to; several hosts are a usage error for it.
    pub fn endpoint(&self) -> Result<Endpoint, outcome::UsageError> {
        match self.endpoints().as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(outcome::UsageError(
                "this command works on one host at a time; pass a single --host".into(),
            )),
        }
    }
}

/// `--host` as typed: an ssh URL, or `local` for this machine's socket.
pub fn parse_host(text: &str) -> Result<HostArg, String> {
    match text.trim() {
        "local" => Ok(HostArg::Local),
        other => Endpoint::parse_host(other)
            .map(HostArg::Remote)
            .map_err(|e| format!("{e}, or local for this machine")),
    }
}

/// One `--host`.
#[derive(Clone, Debug)]
pub enum HostArg {
    Local,
    Remote(Endpoint),
}
