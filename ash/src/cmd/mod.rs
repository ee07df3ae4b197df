//! One module per subcommand, plus the connection helper they share.

pub mod audit;
pub mod completions;
pub mod decide;
pub mod demo;
pub mod dial_stdio;
pub mod doctor;
pub mod exec;
pub mod export;
pub mod filter;
pub mod grants;
pub mod history;
pub mod hook;
pub mod logs;
pub mod mcp;
pub mod notify;
pub mod pending;
pub mod prune;
pub mod request;
pub mod setup;
pub mod show;
pub mod status;
pub mod tui;

use agentd_proto::{Client, ClientError, Endpoint, RequestView, Role};

use crate::outcome::UsageError;
use crate::Globals;

/// Connects as an operator to the one host this command works on, with an error that says
/// how to fix an unreachable agentd.
pub async fn connect_operator(globals: &Globals) -> anyhow::Result<Client> {
    connect_operator_to(globals, &globals.endpoint()?).await
}

/// Connects as an operator to `to`; errors name the host when `--host` was given.
pub async fn connect_operator_to(globals: &Globals, to: &Endpoint) -> anyhow::Result<Client> {
    Client::connect(to, Role::Operator, &login_name())
        .await
        .map_err(|e| match not_a_socket(to) {
            Some(why) => anyhow::anyhow!(why),
            None => on_host(globals, to, explain(e)),
        })
}

/// What is at a local socket path that is there but is no socket, said so (rather than
/// "is agentd running?", which sends people looking in the wrong place).
pub fn not_a_socket(to: &Endpoint) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let Endpoint::Socket(path) = to else {
        return None;
    };
    let meta = std::fs::metadata(path).ok()?;
    let kind = match meta.file_type() {
        t if t.is_socket() => return None,
        t if t.is_dir() => "a folder",
        t if t.is_file() => "a regular file",
        t if t.is_fifo() => "a named pipe",
        _ => "not a socket",
    };
    Some(format!(
        "{} is {kind}, not agentd's socket: point --socket or AGENTD_SOCKET at the socket agentd listens on",
        path.display()
    ))
}

/// Names the host an error came from, when the user named hosts.
pub fn on_host(globals: &Globals, to: &Endpoint, e: anyhow::Error) -> anyhow::Error {
    match globals.names_hosts() && !matches!(e.downcast_ref(), Some(ClientError::Remote { .. })) {
        true => e.context(format!("on {to}")),
        false => e,
    }
}

/// The request `id` (a prefix) and the connection to the host that holds it: the only host,
/// or the one of several whose agentd knows it.
pub async fn find_request(
    globals: &Globals,
    id: &str,
) -> anyhow::Result<(Client, Endpoint, RequestView)> {
    let endpoints = globals.endpoints();
    if let [only] = endpoints.as_slice() {
        let mut client = connect_operator_to(globals, only).await?;
        let view = client
            .get(id)
            .await
            .map_err(|e| on_host(globals, only, e.into()))?;
        return Ok((client, only.clone(), view));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for to in endpoints {
        let attempt = async {
            let mut client = connect_operator_to(globals, &to).await?;
            let view = client.get(id).await;
            anyhow::Ok((client, view))
        };
        match attempt.await {
            Ok((client, Ok(view))) => found.push((client, to, view)),
            Ok((_, Err(e))) if e.code() == Some(agentd_proto::ErrorCode::NotFound) => {}
            Ok((_, Err(e))) => failures.push(on_host(globals, &to, e.into())),
            Err(e) => failures.push(e),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => match failures.into_iter().next() {
            Some(e) => Err(e.context(format!("no reachable host has a request matching '{id}'"))),
            None => Err(anyhow::anyhow!("no request matches '{id}' on any host")),
        },
        _ => {
            let hosts: Vec<String> = found.iter().map(|(_, to, _)| to.to_string()).collect();
            Err(UsageError(format!(
                "'{id}' matches requests on several hosts ({}); type more of the ID or pass one --host",
                hosts.join(", ")
            ))
            .into())
        }
    }
}

/// The hosts a long-running view follows (the queue, `ash notify`): the `--host`s and, unless
/// told otherwise, this machine's own agentd first.
pub fn followed_hosts(globals: &Globals, no_local: bool) -> Vec<Endpoint> {
    let mut hosts = globals.endpoints();
    let local = Endpoint::Socket(globals.socket.clone());
    if globals.names_hosts() && !no_local && !hosts.contains(&local) {
        hosts.insert(0, local);
    }
    hosts
}

/// Adds how to fix it to an error that means agentd is not there; leaves agentd's own
/// refusals, and ssh's own words, as they are.
pub fn explain(e: ClientError) -> anyhow::Error {
    if e.is_connection_lost() && !matches!(e, ClientError::Remote { .. }) {
        anyhow::Error::new(e)
            .context("is agentd running? start it with `agentd` (or pass --socket)")
    } else {
        e.into()
    }
}

/// The login name of whoever runs ash: `$USER`, `$LOGNAME`, else the uid's name in the
/// user database, else `uid-N`.
pub fn login_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.is_empty())
        .or_else(|| {
            // Without either variable (cron, systemd, `env -i`), the system's user database
            // names the uid, as `id -un` does.
            nix::unistd::User::from_uid(nix::unistd::Uid::current())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| format!("uid-{}", agentd_proto::paths::current_uid()))
}

/// Checks a typed request ID before it goes anywhere; a malformed one is a usage error.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    agentd_proto::request_id::IdPrefix::parse(id)
        .map(|_| ())
        .map_err(|e| crate::outcome::UsageError(e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_followed_hosts_add_this_machine_unless_told_not_to() {
        let remote = agentd_proto::Endpoint::parse_host("ssh://vm").unwrap();
        let globals = Globals {
            socket: "/run/agentd.sock".into(),
            json: false,
            hosts: vec![remote.clone()],
        };
        let local = agentd_proto::Endpoint::Socket("/run/agentd.sock".into());
        assert_eq!(
            followed_hosts(&globals, false),
            vec![local.clone(), remote.clone()]
        );
        assert_eq!(followed_hosts(&globals, true), vec![remote]);
        let alone = Globals {
            hosts: vec![],
            ..globals
        };
        assert_eq!(followed_hosts(&alone, false), vec![local]);
    }
}
