//! `ash` and `ash tui`: the full-screen approval queue.

use crate::outcome::SUCCESS;
use crate::tui::{self, Options};
use crate::Globals;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Who decides, for the audit trail [default: your login name]
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Do not ring the terminal bell when a request arrives
    #[arg(long)]
    no_bell: bool,
    /// With --host, leave this machine's own agentd out of the queue
    #[arg(long)]
    no_local: bool,
}

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    if globals.json {
        return Err(crate::outcome::UsageError(
            "the queue is a screen for people; use `ash pending --json` for machine output".into(),
        )
        .into());
    }
    tui::run(Options {
        hosts: queue_hosts(globals, args.no_local),
        names_hosts: globals.names_hosts(),
        operator: args
            .operator
            .filter(|o| !o.trim().is_empty())
            .unwrap_or_else(super::login_name),
        bell: !args.no_bell,
    })
    .await?;
    Ok(SUCCESS)
}

/// The queue shows the `--host`s and, unless told otherwise, this machine's own agentd first.
fn queue_hosts(globals: &Globals, no_local: bool) -> Vec<agentd_proto::Endpoint> {
    let mut hosts = globals.endpoints();
    let local = agentd_proto::Endpoint::Socket(globals.socket.clone());
    if globals.names_hosts() && !no_local && !hosts.contains(&local) {
        hosts.insert(0, local);
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_adds_this_machine_unless_told_not_to() {
        let remote = agentd_proto::Endpoint::parse_host("ssh://vm").unwrap();
        let globals = Globals {
            socket: "/run/agentd.sock".into(),
            json: false,
            hosts: vec![remote.clone()],
        };
        let local = agentd_proto::Endpoint::Socket("/run/agentd.sock".into());
        assert_eq!(
            queue_hosts(&globals, false),
            vec![local.clone(), remote.clone()]
        );
        assert_eq!(queue_hosts(&globals, true), vec![remote]);
        let alone = Globals {
            hosts: vec![],
            ..globals
        };
        assert_eq!(queue_hosts(&alone, false), vec![local]);
    }
}
