//! Where agentd is: `ssh://[user@]host[:port][/socket]` read and written back, or a local
//! socket.

use std::fmt;
use std::path::{Path, PathBuf};

/// A machine reached over ssh: `ssh://[user@]host[:port][/path/of/the/socket]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshHost {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The agentd socket on that machine; its default socket when `None`.
    pub socket: Option<String>,
}

/// Where to reach agentd.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Socket(PathBuf),
    Ssh(SshHost),
}

impl Endpoint {
    /// Reads `ssh://[user@]host[:port][/socket]`; anything else is refused with why.
    pub fn parse_host(text: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| {
            format!("'{text}' is not a host: {why} (expected ssh://[user@]host[:port])")
        };
        let rest = text
            .strip_prefix("ssh://")
            .ok_or_else(|| bad("only ssh:// is supported"))?;
        let (authority, socket) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i..].to_string())),
            None => (rest, None),
        };
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, hp)) => (Some(user.to_string()), hp),
            None => (None, authority),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?;
                (
                    host.trim_start_matches('[').trim_end_matches(']'),
                    Some(port),
                )
            }
            _ => (host_port, None),
        };
        let printable =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_control() || c.is_whitespace());
        if !printable(host) || host.starts_with('-') {
            return Err(bad("the host name is empty or not a name"));
        }
        if user
            .as_deref()
            .is_some_and(|u| !printable(u) || u.starts_with('-'))
        {
            return Err(bad("the user name is empty or not a name"));
        }
        if socket.as_deref().is_some_and(|s| !printable(s)) {
            return Err(bad("the socket path is not printable"));
        }
        Ok(Endpoint::Ssh(SshHost {
            user,
            host: host.to_string(),
            port,
            socket: socket.filter(|s| s != "/"),
        }))
    }
}

impl From<&Path> for Endpoint {
    fn from(path: &Path) -> Endpoint {
        Endpoint::Socket(path.to_path_buf())
    }
}

impl From<&PathBuf> for Endpoint {
    fn from(path: &PathBuf) -> Endpoint {
        Endpoint::Socket(path.clone())
    }
}

impl From<PathBuf> for Endpoint {
    fn from(path: PathBuf) -> Endpoint {
        Endpoint::Socket(path)
    }
}

impl From<&Endpoint> for Endpoint {
    fn from(endpoint: &Endpoint) -> Endpoint {
        endpoint.clone()
    }
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(socket) = &self.socket {
            f.write_str(socket)?;
        }
        Ok(())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Socket(path) => write!(f, "{}", path.display()),
            Endpoint::Ssh(host) => host.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ssh_hosts() {
        let e = Endpoint::parse_host("ssh://dev@build-01:2222/run/agentd.sock").unwrap();
        assert_eq!(
            e,
            Endpoint::Ssh(SshHost {
                user: Some("dev".into()),
                host: "build-01".into(),
                port: Some(2222),
                socket: Some("/run/agentd.sock".into()),
            })
        );
        assert_eq!(e.to_string(), "ssh://dev@build-01:2222/run/agentd.sock");
        let plain = Endpoint::parse_host("ssh://vm").unwrap();
        assert_eq!(plain.to_string(), "ssh://vm");
        let v6 = Endpoint::parse_host("ssh://[::1]:22").unwrap();
        assert!(
            matches!(v6, Endpoint::Ssh(SshHost { ref host, port: Some(22), .. }) if host == "::1")
        );
    }

    #[test]
    fn refuses_what_is_not_a_host() {
        for bad in [
            "vm",
            "http://vm",
            "ssh://",
            "ssh://-oProxyCommand=touch /tmp/x",
            "ssh://vm:port",
            "ssh://-l@vm",
            "ssh://vm /x",
        ] {
            assert!(Endpoint::parse_host(bad).is_err(), "{bad}");
        }
    }
}
