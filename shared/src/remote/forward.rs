//! The fastest way to a far agentd: the user's ControlMaster forwards a private local socket
//! to the far agentd socket (`ssh -O forward -L LOCAL:FAR`, OpenSSH's socket forwarding), so a
//! command connects to a local socket and the far sshd, already running as the ssh user,
//! connects to agentd there. No process starts on either side, and the far agentd still sees
//! the ssh user's uid as the peer (it is that user's sshd that connects).
//!
//! The forward is set up once per master and far socket and lives as long as the master; a
//! connection that fails through it is retried the ordinary way (a session running the far
//! `ash dial-stdio`), which also says in the far side's words what is wrong.

use std::borrow::Cow;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use openssh_mux_client::{ForwardType, Socket};
use sha2::{Digest, Sha256};

use super::mux::{self, MuxError};
use crate::client::LocalStream;

/// The private folder the forwarded sockets live in: `$XDG_RUNTIME_DIR/ash`, else
/// `/tmp/ash-$UID`; created 0700 when missing, and refused (no forwarding) when it is not ours
/// or others may enter it, since whoever can reach a forwarded socket acts as the ssh user on
/// the far machine.
fn folder() -> Option<PathBuf> {
    let uid = crate::paths::current_uid();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(runtime) => Path::new(&runtime).join("ash"),
        None => PathBuf::from(format!("/tmp/ash-{uid}")),
    };
    private(dir)
}

/// `dir`, made 0700 if missing, if it is a folder of ours that no one else may enter.
fn private(dir: PathBuf) -> Option<PathBuf> {
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // Not followed: a link planted in /tmp could point anywhere.
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let ours = meta.uid() == crate::paths::current_uid();
    (meta.is_dir() && ours && meta.permissions().mode() & 0o077 == 0).then_some(dir)
}

/// Where the forward of `far_socket` through the master at `control` listens: one name per
/// master and far socket, short enough for a socket address.
pub(super) fn local_path(control: &Path, far_socket: &str) -> Option<PathBuf> {
    folder().map(|dir| dir.join(socket_name(control, far_socket)))
}

fn socket_name(control: &Path, far_socket: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(control.as_os_str().as_encoded_bytes());
    hash.update([0]);
    hash.update(far_socket.as_bytes());
    format!("{}.sock", hex::encode(&hash.finalize()[..12]))
}

/// Connects to the forwarded socket, if the forward is there.
pub(super) async fn connect(local: &Path) -> io::Result<LocalStream> {
    let name = local.to_fs_name::<GenericFilePath>()?;
    LocalStream::connect(name).await
}

/// Asks the master at `control` to forward `local` to `far_socket` on the far machine,
/// replacing any forward of the same name (a stale socket from a master that has exited, or
/// one the master already holds).
pub(super) async fn set_up(control: &Path, local: &Path, far_socket: &str) -> Result<(), MuxError> {
    let listen = Socket::UnixSocket {
        path: Cow::Borrowed(local),
    };
    let far = Socket::UnixSocket {
        path: Cow::Borrowed(Path::new(far_socket)),
    };
    let mut conn = mux::connect(control).await?;
    // The master answers a forward it already holds with success without listening again, so
    // a socket file removed since would never come back: close it first.
    let _ = conn
        .close_port_forward(ForwardType::Local, &listen, &far)
        .await;
    let mut conn = mux::connect(control).await?;
    match std::fs::remove_file(local) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    conn.request_port_forward(ForwardType::Local, &listen, &far)
        .await?;
    Ok(())
}

/// Takes the forward down (after a connection through it failed), so the next command sets it
/// up afresh.
pub(super) async fn tear_down(control: &Path, local: &Path, far_socket: &str) {
    let listen = Socket::UnixSocket {
        path: Cow::Borrowed(local),
    };
    let far = Socket::UnixSocket {
        path: Cow::Borrowed(Path::new(far_socket)),
    };
    if let Ok(mut conn) = mux::connect(control).await {
        let _ = conn
            .close_port_forward(ForwardType::Local, &listen, &far)
            .await;
    }
    let _ = std::fs::remove_file(local);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_sockets_live_only_in_a_folder_no_one_else_may_enter() {
        let base = tempfile::tempdir().unwrap();
        let made = private(base.path().join("ash")).expect("a new folder is ours");
        assert_eq!(
            std::fs::metadata(&made).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(private(open), None);
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&made, &link).unwrap();
        assert_eq!(private(link), None, "a link is not followed");
    }

    #[test]
    fn each_master_and_far_socket_has_its_own_short_name() {
        let a = socket_name(Path::new("/tmp/cm-a"), "/run/user/1000/agentd/agentd.sock");
        let b = socket_name(Path::new("/tmp/cm-b"), "/run/user/1000/agentd/agentd.sock");
        let c = socket_name(Path::new("/tmp/cm-a"), "/srv/agentd.sock");
        assert!(a != b && a != c && b != c);
        assert_eq!(a.len(), 24 + ".sock".len());
    }
}
