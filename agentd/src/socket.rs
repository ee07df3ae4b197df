//! Binding the Unix socket: folder created 0700, socket 0600 set before bind, a live agentd
//! on the path refused, a stale socket file left by a crash replaced.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};

use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

pub type Listener = interprocess::local_socket::tokio::Listener;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another agentd is already running on {}", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("{} exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
    // `error`, not `source`: the message already says it, and a source would be said twice.
    #[error("cannot create the socket folder {}: {error}", path.display())]
    Folder { path: PathBuf, error: io::Error },
    #[error("cannot listen on {}: {error}", path.display())]
    Listen { path: PathBuf, error: io::Error },
}

/// Binds the listening socket at `path`. Must be called inside a tokio runtime.
pub fn bind(path: &Path) -> Result<Listener, BindError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|error| BindError::Folder {
                    path: dir.to_path_buf(),
                    error,
                })?;
        }
    }
    remove_if_stale(path)?;
    let listen_err = |error| BindError::Listen {
        path: path.to_path_buf(),
        error,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(listen_err)?;
    ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .create_tokio()
        .map_err(|e| match e.kind() {
            // Another agentd bound the path between our check and our bind.
            io::ErrorKind::AddrInUse => BindError::AlreadyRunning(path.to_path_buf()),
            _ => listen_err(e),
        })
}

/// A socket file nobody answers on is left over from a crash: remove it. One that answers
/// belongs to a running agentd: refuse.
fn remove_if_stale(path: &Path) -> Result<(), BindError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(BindError::Listen {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket(path.to_path_buf()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(BindError::AlreadyRunning(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(
                "removing stale socket {} left by an earlier agentd",
                path.display()
            );
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(BindError::Listen {
                    path: path.to_path_buf(),
                    error,
                }),
            }
        }
        Err(error) => Err(BindError::Listen {
            path: path.to_path_buf(),
            error,
        }),
    }
}
