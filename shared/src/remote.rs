//! Where agentd is: a local socket, or another machine reached over ssh. Over ssh, the client
//! runs `ssh [user@]host ash dial-stdio` (as `docker -H ssh://host` runs `docker system
//! dial-stdio`) and speaks the ordinary protocol over the child's stdin and stdout; the far
//! `ash` relays the bytes to that machine's own socket, so its agentd sees the ssh user's uid
//! as the peer and authorizes exactly as it would locally. Nothing listens on a network port.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::client::LocalStream;

/// The environment variable naming the ssh command (with options), as `GIT_SSH_COMMAND` does.
pub const SSH_COMMAND_VAR: &str = "AGENTD_SSH_COMMAND";
/// The environment variable naming `ash` on the far side, when it is not on the PATH there.
pub const REMOTE_ASH_VAR: &str = "AGENTD_REMOTE_ASH";

/// How much of ssh's own error output is kept to explain a failure.
const STDERR_KEPT: usize = 4096;

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

    /// Opens a byte stream to agentd: the socket, or an ssh child relaying to it.
    pub async fn open(&self) -> Result<Transport, io::Error> {
        match self {
            Endpoint::Socket(path) => {
                let name = path.as_path().to_fs_name::<GenericFilePath>()?;
                Ok(Transport::Local(LocalStream::connect(name).await?))
            }
            Endpoint::Ssh(host) => Ok(Transport::Ssh(Box::new(SshStream::spawn(host)?))),
        }
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

/// The command line that reaches `host`: `$AGENTD_SSH_COMMAND` (or `ssh`), the port and
/// destination, then the far side's `ash [--socket PATH] dial-stdio`.
pub fn ssh_command_line(host: &SshHost) -> Result<Vec<String>, io::Error> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let mut line = match std::env::var(SSH_COMMAND_VAR) {
        Ok(command) if !command.trim().is_empty() => shlex::split(&command)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "{SSH_COMMAND_VAR} is not a command line: {command}"
                ))
            })?,
        _ => vec!["ssh".to_string()],
    };
    // No terminal, and never a password prompt that would hang a script: keys or an agent.
    line.extend(["-T", "-o", "BatchMode=yes"].map(String::from));
    if let Some(port) = host.port {
        line.extend(["-p".to_string(), port.to_string()]);
    }
    // `--` ends ssh's options, so a host can never be read as one.
    line.push("--".into());
    line.push(match &host.user {
        Some(user) => format!("{user}@{}", host.host),
        None => host.host.clone(),
    });
    // The far side's shell reads this line: every word is quoted for it.
    let ash = std::env::var(REMOTE_ASH_VAR)
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "ash".into());
    let mut remote = vec![ash];
    if let Some(socket) = &host.socket {
        remote.extend(["--socket".to_string(), socket.clone()]);
    }
    remote.push("dial-stdio".into());
    let quoted: Vec<String> = remote
        .iter()
        .map(|w| {
            shlex::try_quote(w)
                .map(|q| q.into_owned())
                .map_err(|_| invalid(format!("cannot quote {w:?} for the far side's shell")))
        })
        .collect::<Result<_, _>>()?;
    line.push(quoted.join(" "));
    Ok(line)
}

/// ssh's stdin and stdout as one stream, with the last of its stderr kept to say why it
/// failed. The child is killed when this is dropped.
pub struct SshStream {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: Arc<Mutex<String>>,
    /// The task reading stderr; it ends when ssh's stderr closes.
    reader: Option<tokio::task::JoinHandle<()>>,
    host: SshHost,
}

impl SshStream {
    fn spawn(host: &SshHost) -> Result<SshStream, io::Error> {
        let line = ssh_command_line(host)?;
        let mut child = Command::new(&line[0])
            .args(&line[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", line[0])))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("ssh started without its pipes"));
        };
        // Drained as it comes, so a chatty ssh never blocks on a full pipe; the tail is kept.
        let kept = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&kept);
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut kept = sink.lock().unwrap_or_else(PoisonError::into_inner);
                kept.push_str(&line);
                kept.push('\n');
                if kept.len() > STDERR_KEPT {
                    let cut = kept.len() - STDERR_KEPT;
                    let cut = (cut..kept.len())
                        .find(|i| kept.is_char_boundary(*i))
                        .unwrap_or(0);
                    kept.drain(..cut);
                }
            }
        });
        Ok(SshStream {
            child,
            stdin,
            stdout,
            stderr: kept,
            reader: Some(reader),
            host: host.clone(),
        })
    }

    /// Why the connection ended, in ssh's (or the far side's) words, once it has: waits (up to
    /// two seconds each) for ssh to exit and for its last words to be read.
    pub async fn failure(&mut self) -> String {
        let patience = std::time::Duration::from_secs(2);
        let status = tokio::time::timeout(patience, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // ssh has exited: its stderr closes, and the reader ends once it has kept the last words.
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(patience, reader).await;
        }
        let said = self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::to_string);
        let said = said.map(|s| crate::text::escape_hidden(&s, false).0);
        match (status.and_then(|s| s.code()), said) {
            (Some(127), Some(said)) => format!("no ash on {} ({said})", self.host.host),
            (Some(127), None) => format!("no ash on {}", self.host.host),
            (_, Some(said)) => said,
            (Some(code), None) => format!("ssh exited with status {code}"),
            (None, None) => "the connection closed".into(),
        }
    }
}

/// A connection to agentd: a local socket, or ssh's pipes.
pub enum Transport {
    Local(LocalStream),
    // Boxed: a local connection, the common case, stays the size of its socket.
    Ssh(Box<SshStream>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Local(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Ssh(s) => Pin::new(&mut s.stdout).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Local(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Ssh(s) => Pin::new(&mut s.stdin).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Local(s) => Pin::new(s).poll_flush(cx),
            Transport::Ssh(s) => Pin::new(&mut s.stdin).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Local(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Ssh(s) => Pin::new(&mut s.stdin).poll_shutdown(cx),
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
}
