//! Binding the Unix socket: folder created 0700, socket 0600 set before bind, a live agentd
//! on the path refused, a stale socket file left by a crash replaced.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

pub type Listener = interprocess::local_socket::tokio::Listener;

/// How the socket file is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// Permissions of the socket file (0600 by default).
    pub mode: u32,
    /// The group to give the socket file, for `0660`-style sharing with a group's agents.
    pub group: Option<u32>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            mode: 0o600,
            group: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("the socket folder {} belongs to uid {owner}, not to us (uid {us}); refusing to use it", path.display())]
    FolderNotOurs { path: PathBuf, owner: u32, us: u32 },
    #[error("the socket folder {} is writable by everyone; refusing to use it", .0.display())]
    FolderOpen(PathBuf),
    #[error("cannot give the socket {} to group {group}: {error}", path.display())]
    Group {
        path: PathBuf,
        group: u32,
        error: io::Error,
    },
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
pub fn bind(path: &Path, options: &SocketOptions) -> Result<Listener, BindError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Those the socket is shared with must be able to reach it: give them the folder's
        // search bit, never its read or write bits.
        let group = if options.mode & 0o060 != 0 { 0o010 } else { 0 };
        let others = if options.mode & 0o006 != 0 { 0o001 } else { 0 };
        let search = group | others;
        let created = !dir.exists();
        if created {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700 | search)
                .create(dir)
                .map_err(|error| BindError::Folder {
                    path: dir.to_path_buf(),
                    error,
                })?;
        }
        check_folder(dir)?;
        // Only a folder agentd keeps for itself (made now, or holding nothing but the socket)
        // is changed; any other folder is the person's, and is left as it is.
        if search != 0 && (created || holds_only(dir, path)) {
            share_folder(dir, 0o700 | search, options.group.filter(|_| group != 0))?;
        }
    }
    remove_if_stale(path)?;
    let listen_err = |error| BindError::Listen {
        path: path.to_path_buf(),
        error,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(listen_err)?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(options.mode)
        .create_tokio()
        .map_err(|e| match e.kind() {
            // Another agentd bound the path between our check and our bind.
            io::ErrorKind::AddrInUse => BindError::AlreadyRunning(path.to_path_buf()),
            _ => listen_err(e),
        })?;
    // The mode set before bind is filtered by the umask; set exactly what was asked for.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(options.mode)).map_err(
        |error| BindError::Listen {
            path: path.to_path_buf(),
            error,
        },
    )?;
    if let Some(group) = options.group {
        std::os::unix::fs::chown(path, None, Some(group)).map_err(|error| BindError::Group {
            path: path.to_path_buf(),
            group,
            error,
        })?;
    }
    Ok(listener)
}

/// The socket's folder must be ours, and not writable by everyone unless it is sticky (like
/// /tmp, where nobody can remove or replace another's files).
fn check_folder(dir: &Path) -> Result<(), BindError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).map_err(|error| BindError::Folder {
        path: dir.to_path_buf(),
        error,
    })?;
    let us = nix::unistd::Uid::effective().as_raw();
    let sticky = meta.mode() & 0o1000 != 0;
    if meta.mode() & 0o002 != 0 && !sticky {
        return Err(BindError::FolderOpen(dir.to_path_buf()));
    }
    if meta.uid() != us && !sticky {
        return Err(BindError::FolderNotOurs {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            us,
        });
    }
    Ok(())
}

/// Whether `dir` holds nothing but (at most) the file at `socket`.
fn holds_only(dir: &Path, socket: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .all(|e| Some(e.file_name().as_os_str()) == socket.file_name()),
        Err(_) => false,
    }
}

/// Lets those the socket is shared with through the folder agentd owns: exactly `mode` (the
/// umask may have taken the search bits when it was made) and, for a group, that group, or
/// the group's members could not pass a folder that belongs to agentd's own group. A sticky
/// folder such as /tmp is shared already and left alone.
fn share_folder(dir: &Path, mode: u32, group: Option<u32>) -> Result<(), BindError> {
    use std::os::unix::fs::MetadataExt;
    let folder = |error| BindError::Folder {
        path: dir.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(dir).map_err(folder)?;
    if meta.mode() & 0o1000 != 0 {
        return Ok(());
    }
    if let Some(group) = group {
        std::os::unix::fs::chown(dir, None, Some(group)).map_err(|error| BindError::Group {
            path: dir.to_path_buf(),
            group,
            error,
        })?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(folder)
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
