//! One module per subcommand, plus the connection helper they share.

pub mod audit;
pub mod completions;
pub mod decide;
pub mod demo;
pub mod doctor;

pub mod exec;
pub mod export;
pub mod filter;
pub mod grants;
pub mod history;
pub mod hook;
pub mod mcp;
pub mod pending;
pub mod request;
pub mod show;
pub mod status;
pub mod tui;

use agentd_proto::{Client, ClientError, Role};

use crate::Globals;

/// Connects as an operator, with an error that says how to fix an unreachable agentd.
pub async fn connect_operator(globals: &Globals) -> anyhow::Result<Client> {
    Client::connect(&globals.socket, Role::Operator, &login_name())
        .await
        .map_err(explain)
}

/// Adds how to fix it to an error that means agentd is not there; leaves agentd's own
/// refusals as they are.
pub fn explain(e: ClientError) -> anyhow::Error {
    if e.is_connection_lost() {
        anyhow::Error::new(e)
            .context("is agentd running? start it with `agentd` (or pass --socket)")
    } else {
        e.into()
    }
}

/// The login name of whoever runs ash: `$USER`, `$LOGNAME`, else `uid-N`.
pub fn login_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| format!("uid-{}", agentd_proto::paths::current_uid()))
}

/// Checks a typed request ID before it goes anywhere; a malformed one is a usage error.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    agentd_proto::request_id::IdPrefix::parse(id)
        .map(|_| ())
        .map_err(|e| crate::outcome::UsageError(e.to_string()).into())
}
