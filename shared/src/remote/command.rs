//! The ssh command line that reaches a host: `$AGENTD_SSH_COMMAND` (or `ssh`) with its options,
//! the port and destination, then the far side's `ash [--socket PATH] dial-stdio`, every far
//! word quoted for the far shell.

use std::io;

use super::{SshHost, REMOTE_ASH_VAR, SSH_COMMAND_VAR};

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// `$AGENTD_SSH_COMMAND` split as a shell would, or `ssh`. A word starting with `~/` has the
/// home folder put in, as the shell does for `GIT_SSH_COMMAND` (ssh itself expands `-i ~/x`,
/// but not `-F ~/x`).
pub(super) fn ssh_words() -> Result<Vec<String>, io::Error> {
    match std::env::var(SSH_COMMAND_VAR) {
        Ok(command) if !command.trim().is_empty() => shlex::split(&command)
            .filter(|words| !words.is_empty())
            .map(|words| expand_home(words, std::env::var("HOME").ok().as_deref()))
            .ok_or_else(|| {
                invalid(format!(
                    "{SSH_COMMAND_VAR} is not a command line: {command}"
                ))
            }),
        _ => Ok(vec!["ssh".to_string()]),
    }
}

fn expand_home(words: Vec<String>, home: Option<&str>) -> Vec<String> {
    let Some(home) = home.filter(|h| !h.is_empty()) else {
        return words;
    };
    words
        .into_iter()
        .map(|w| match w.strip_prefix("~/") {
            Some(rest) => format!("{}/{rest}", home.trim_end_matches('/')),
            None if w == "~" => home.to_string(),
            None => w,
        })
        .collect()
}

/// What ash adds after the user's ssh words: no terminal, never a password prompt that would
/// hang a script (keys or an agent), the port, and `--` so a host can never be read as an
/// option.
fn destination(host: &SshHost) -> Vec<String> {
    let mut words: Vec<String> = ["-T", "-o", "BatchMode=yes"].map(String::from).into();
    if let Some(port) = host.port {
        words.extend(["-p".to_string(), port.to_string()]);
    }
    words.push("--".into());
    words.push(match &host.user {
        Some(user) => format!("{user}@{}", host.host),
        None => host.host.clone(),
    });
    words
}

/// The far side's command, as one line its shell reads: `ash [--socket PATH] dial-stdio`, with
/// `ash` replaced by `$AGENTD_REMOTE_ASH` when set.
pub fn far_command(host: &SshHost) -> Result<String, io::Error> {
    far_line(host, &["dial-stdio"])
}

/// The far command that prints the socket the far `ash dial-stdio` would relay to.
pub(super) fn far_socket_query(host: &SshHost) -> Result<String, io::Error> {
    far_line(host, &["dial-stdio", "--print-socket"])
}

fn far_line(host: &SshHost, command: &[&str]) -> Result<String, io::Error> {
    let ash = std::env::var(REMOTE_ASH_VAR)
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "ash".into());
    let mut remote = vec![ash];
    if let Some(socket) = &host.socket {
        remote.extend(["--socket".to_string(), socket.clone()]);
    }
    remote.extend(command.iter().map(|w| w.to_string()));
    let quoted: Vec<String> = remote
        .iter()
        .map(|w| {
            shlex::try_quote(w)
                .map(|q| q.into_owned())
                .map_err(|_| invalid(format!("cannot quote {w:?} for the far side's shell")))
        })
        .collect::<Result<_, _>>()?;
    Ok(quoted.join(" "))
}

/// The command line that reaches `host` and runs the far `ash dial-stdio` there.
pub fn ssh_command_line(host: &SshHost) -> Result<Vec<String>, io::Error> {
    let mut line = ssh_words()?;
    line.extend(destination(host));
    line.push(far_command(host)?);
    Ok(line)
}

/// The same command with `-G` and no far command: ssh prints the configuration it would use
/// for `host` (its `controlpath` among it) and exits without connecting.
pub(super) fn config_query_line(host: &SshHost) -> Result<Vec<String>, io::Error> {
    let mut line = ssh_words()?;
    line.push("-G".into());
    line.extend(destination(host));
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_far_command_is_quoted_and_the_host_never_read_as_an_option() {
        let host = SshHost {
            user: Some("dev".into()),
            host: "vm".into(),
            port: Some(2200),
            socket: Some("/tmp/a b/agentd.sock".into()),
        };
        let line = ssh_command_line(&host).unwrap();
        let dash = line.iter().position(|w| w == "--").unwrap();
        assert_eq!(line[dash + 1], "dev@vm");
        assert_eq!(
            line[dash + 2],
            "ash --socket '/tmp/a b/agentd.sock' dial-stdio"
        );
        assert!(line.contains(&"BatchMode=yes".to_string()));
    }

    #[test]
    fn a_home_folder_tilde_is_expanded_as_the_shell_would() {
        let words = ["ssh", "-F", "~/.ssh/agents.conf", "-oUser=~x", "~"].map(String::from);
        assert_eq!(
            expand_home(words.to_vec(), Some("/home/dev")),
            [
                "ssh",
                "-F",
                "/home/dev/.ssh/agents.conf",
                "-oUser=~x",
                "/home/dev"
            ]
        );
        assert_eq!(expand_home(words.to_vec(), None), words);
    }
}
