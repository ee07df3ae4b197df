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
        hosts: super::followed_hosts(globals, args.no_local),
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
