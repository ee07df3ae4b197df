//! Opens the far `ash dial-stdio` straight on the user's ssh ControlMaster, speaking OpenSSH's
//! multiplexing protocol (PROTOCOL.mux) through `openssh-mux-client` instead of starting an
//! `ssh` client for it: starting ssh costs several milliseconds (it links and initialises
//! OpenSSL, reads its configuration), more than the rest of a command together. The master
//! does everything an `ssh` passenger would have it do; we hand it the ends of three pipes as
//! the session's stdin, stdout and stderr, as `ssh -S` does.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use openssh_mux_client::{Connection, NonZeroByteSlice, Session, SessionStatus};
use tokio::net::unix::pipe;

use super::stream::SshStream;
use super::SshHost;

/// Why a session could not be opened on the master; the caller then starts ssh instead, which
/// says in its own words what is wrong.
#[derive(Debug, thiserror::Error)]
pub(super) enum MuxError {
    #[error("{0} is not a socket of this user's")]
    NotOurs(String),
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Mux(#[from] openssh_mux_client::Error),
    #[error("the far command has a NUL byte")]
    Nul,
}

/// Connects to the master listening at `control`. ssh trusts whatever listens at its
/// ControlPath; we also insist that it is ours, so a socket another user planted there never
/// sees our sessions.
pub(super) async fn connect(control: &Path) -> Result<Connection, MuxError> {
    let meta = std::fs::symlink_metadata(control)?;
    if !meta.file_type().is_socket() || meta.uid() != crate::paths::current_uid() {
        return Err(MuxError::NotOurs(control.display().to_string()));
    }
    Ok(Connection::connect(control).await?)
}

/// Runs `far` (a line for the far side's shell, such as `ash dial-stdio`) in a new session on
/// the master listening at `control`.
pub(super) async fn open(host: &SshHost, control: &Path, far: &str) -> Result<SshStream, MuxError> {
    let conn = connect(control).await?;
    let cmd = NonZeroByteSlice::new(far.as_bytes()).ok_or(MuxError::Nul)?;
    let term = NonZeroByteSlice::new(b"").ok_or(MuxError::Nul)?;
    let session = Session::builder()
        .term(Cow::Borrowed(term))
        .cmd(Cow::Borrowed(cmd))
        .build();
    // The master gets the far ends (blocking, as it expects); we keep the near ends.
    let (stdin_far, stdin_near) = std::io::pipe()?;
    let (stdout_near, stdout_far) = std::io::pipe()?;
    let (stderr_near, stderr_far) = std::io::pipe()?;
    let fds = [
        stdin_far.as_raw_fd(),
        stdout_far.as_raw_fd(),
        stderr_far.as_raw_fd(),
    ];
    let established = conn.open_new_session(&session, &fds).await?;
    // The master holds its own copies now; ours must go, or no end would ever see EOF.
    drop((stdin_far, stdout_far, stderr_far));
    let to_far = pipe::Sender::from_owned_fd(OwnedFd::from(stdin_near))?;
    let from_far = pipe::Receiver::from_owned_fd(OwnedFd::from(stdout_near))?;
    let stderr = pipe::Receiver::from_owned_fd(OwnedFd::from(stderr_near))?;
    let exit = tokio::spawn(async move {
        match established.wait().await {
            Ok(SessionStatus::Exited { exit_value }) => exit_value,
            // Never asked for: no terminal was requested.
            Ok(SessionStatus::TtyAllocFail(_)) | Err(_) => None,
        }
    });
    Ok(SshStream::mux(host, to_far, from_far, stderr, exit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_control_socket_that_is_not_ours_is_never_used() {
        let dir = tempfile::tempdir().unwrap();
        // Not a socket at all.
        let file = dir.path().join("cm-file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(connect(&file).await, Err(MuxError::NotOurs(_))));
        // A socket another user owns: whatever listens there never hears from us.
        let planted = dir.path().join("cm-planted");
        let listener = std::os::unix::net::UnixListener::bind(&planted).unwrap();
        listener.set_nonblocking(true).unwrap();
        let other = if crate::paths::current_uid() == 65534 {
            0
        } else {
            65534
        };
        std::os::unix::fs::chown(&planted, Some(other), Some(other))
            .expect("the tests run as root, who may give a file away");
        assert!(matches!(connect(&planted).await, Err(MuxError::NotOurs(_))));
        assert!(listener.accept().is_err(), "no connection was made");
    }
}
