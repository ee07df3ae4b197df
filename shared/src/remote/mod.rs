//! Where agentd is: a local socket, or another machine reached over ssh. Over ssh, the client
//! runs `ssh [user@]host ash dial-stdio` (as `docker -H ssh://host` runs `docker system
//! dial-stdio`) and speaks the ordinary protocol over the child's stdin and stdout; the far
//! `ash` relays the bytes to that machine's own socket, so its agentd sees the ssh user's uid
//! as the peer and authorizes exactly as it would locally. Nothing listens on a network port.
//!
//! When the user's ssh configuration keeps a ControlMaster for the host and it is running, ash
//! starts no ssh at all: the master forwards a private local socket to the far agentd socket
//! (`forward`), or, failing that, opens the far `ash dial-stdio` session itself (`mux`).

mod command;
mod control;
mod forward;
mod host;
mod mux;
mod stream;

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::client::LocalStream;

pub use command::{far_command, ssh_command_line};
pub use host::{Endpoint, SshHost};
pub use stream::SshStream;

/// The environment variable naming the ssh command (with options), as `GIT_SSH_COMMAND` does.
pub const SSH_COMMAND_VAR: &str = "AGENTD_SSH_COMMAND";
/// The environment variable naming `ash` on the far side, when it is not on the PATH there.
pub const REMOTE_ASH_VAR: &str = "AGENTD_REMOTE_ASH";

/// How long the far `ash` may take to say where its socket is.
const ASK_FAR_FOR: Duration = Duration::from_secs(5);

/// The longest answer taken from the far side for where its socket is.
const FAR_SOCKET_MAX: u64 = 4096;

/// After a forward failed where a session worked, how long to go straight to sessions.
const FORWARD_PAUSE: Duration = Duration::from_secs(600);

impl Endpoint {
    /// Opens a byte stream to agentd: the socket; for an ssh host with a running ControlMaster,
    /// a socket it forwards to the far agentd (or a session on it); else an ssh child relaying
    /// to the far agentd.
    pub async fn open(&self) -> Result<Transport, io::Error> {
        self.open_via(true).await
    }

    /// As [`Endpoint::open`], but never through a forwarded socket.
    pub async fn open_unforwarded(&self) -> Result<Transport, io::Error> {
        self.open_via(false).await
    }

    async fn open_via(&self, may_forward: bool) -> Result<Transport, io::Error> {
        match self {
            Endpoint::Socket(path) => {
                let name = path.as_path().to_fs_name::<GenericFilePath>()?;
                Ok(Transport::Local(LocalStream::connect(name).await?))
            }
            Endpoint::Ssh(host) => {
                if let Some(route) = control::route(host).await {
                    if may_forward && route.may_forward {
                        if let Some(forwarded) = through_forward(host, &route).await {
                            return Ok(Transport::Forward(Box::new(forwarded)));
                        }
                    }
                    let far = far_command(host)?;
                    // No master there (yet), or one that will not open a session: ssh itself
                    // then connects (and starts the master, if so configured) and says what
                    // is wrong in its own words.
                    if let Ok(stream) = mux::open(host, &route.control, &far).await {
                        return Ok(Transport::Ssh(Box::new(stream)));
                    }
                }
                Ok(Transport::Ssh(Box::new(SshStream::spawn(host)?)))
            }
        }
    }
}

/// A connection through the master's forward of a local socket to the far agentd socket.
pub struct Forwarded {
    stream: LocalStream,
    route: control::Route,
    local: PathBuf,
    far_socket: String,
}

impl Forwarded {
    /// The connection through the forward failed: takes the forward down, so the next
    /// command sets it up afresh.
    pub async fn failed(&self) {
        forward::tear_down(&self.route.control, &self.local, &self.far_socket).await;
    }

    /// A session worked where the forward failed (the far sshd refuses socket forwarding,
    /// say): go straight to sessions for a while rather than try the forward every time.
    pub fn pause(&self) {
        self.route.pause_forwarding(FORWARD_PAUSE);
    }
}

/// Connects through the master's forward to the far socket, setting the forward up (and
/// learning the far socket) when needed; `None` when that cannot be done.
async fn through_forward(host: &SshHost, route: &control::Route) -> Option<Forwarded> {
    let far_socket = match &route.far_socket {
        Some(socket) => socket.clone(),
        None => learn_far_socket(host, route).await?,
    };
    let local = forward::local_path(&route.control, &far_socket)?;
    let stream = match forward::connect(&local).await {
        Ok(stream) => stream,
        Err(_) => {
            forward::set_up(&route.control, &local, &far_socket)
                .await
                .ok()?;
            forward::connect(&local).await.ok()?
        }
    };
    Some(Forwarded {
        stream,
        route: route.clone(),
        local,
        far_socket,
    })
}

/// Asks the far `ash` (in a session on the master) which socket it would relay to, and
/// remembers the answer. A far side that opens the session but gives no answer (an older ash,
/// a start-up file that prints) is not asked again for a while.
async fn learn_far_socket(host: &SshHost, route: &control::Route) -> Option<String> {
    let query = command::far_socket_query(host).ok()?;
    // No master yet: nothing learned, nothing to hold against the far side.
    let mut session = mux::open(host, &route.control, &query).await.ok()?;
    let mut said = String::new();
    // A path is short; a far login that streams without end is cut off, not buffered.
    let read = tokio::time::timeout(
        ASK_FAR_FOR,
        (&mut session)
            .take(FAR_SOCKET_MAX)
            .read_to_string(&mut said),
    )
    .await;
    let answered = matches!(read, Ok(Ok(_))) && session.exit_code().await == Some(0);
    let socket = said.trim();
    // One absolute path, as `ash dial-stdio --print-socket` prints it.
    if !answered || !socket.starts_with('/') || socket.contains(['\n', '\0']) {
        route.pause_forwarding(FORWARD_PAUSE);
        return None;
    }
    route.remember_far_socket(socket);
    Some(socket.to_string())
}

/// A connection to agentd: a local socket, a socket forwarded to a far agentd, or the far `ash
/// dial-stdio`'s stdin and stdout.
pub enum Transport {
    Local(LocalStream),
    Forward(Box<Forwarded>),
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
            Transport::Forward(f) => Pin::new(&mut f.stream).poll_read(cx, buf),
            Transport::Ssh(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
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
            Transport::Forward(f) => Pin::new(&mut f.stream).poll_write(cx, buf),
            Transport::Ssh(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Local(s) => Pin::new(s).poll_flush(cx),
            Transport::Forward(f) => Pin::new(&mut f.stream).poll_flush(cx),
            Transport::Ssh(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Local(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Forward(f) => Pin::new(&mut f.stream).poll_shutdown(cx),
            Transport::Ssh(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
