//! Where the socket lives: `--socket` / `AGENTD_SOCKET`, else
//! `$XDG_RUNTIME_DIR/agentd/agentd.sock`, else `/tmp/agentd-$UID/agentd.sock`.
//!
//! `directories` returns no runtime dir when `XDG_RUNTIME_DIR` is unset (cron, sudo, some ssh
//! sessions), hence the per-user fallback under /tmp.

use std::path::{Path, PathBuf};

/// The environment variable that names the socket.
pub const SOCKET_ENV: &str = "AGENTD_SOCKET";

/// The default socket path for this user.
pub fn default_socket_path() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    socket_path_for(runtime.as_deref().map(Path::new), current_uid())
}

/// The default socket path given a runtime dir (or none) and a uid; pure, for tests.
pub fn socket_path_for(runtime_dir: Option<&Path>, uid: u32) -> PathBuf {
    match runtime_dir {
        Some(dir) => dir.join("agentd").join("agentd.sock"),
        None => PathBuf::from(format!("/tmp/agentd-{uid}")).join("agentd.sock"),
    }
}

/// The default config file: `agentd.toml` in the platform's config folder
/// (`~/.config/agentd/agentd.toml` on Linux); `None` without a home folder.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "agentd").map(|d| d.config_dir().join("agentd.toml"))
}

/// The environment variable that names agentd's state dir.
pub const STATE_DIR_ENV: &str = "AGENTD_STATE_DIR";

/// agentd's default state dir: the platform's state folder for agentd
/// (`~/.local/state/agentd` on Linux); `None` without a home folder.
pub fn default_state_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "agentd")
        .map(|d| d.state_dir().unwrap_or(d.data_dir()).to_path_buf())
}

/// The log agentd writes in its state dir (besides stderr), which `ash logs` shows.
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("agentd.log")
}

/// The real uid of this process (getuid never fails).
pub fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_the_runtime_dir_when_set() {
        assert_eq!(
            socket_path_for(Some(Path::new("/run/user/1000")), 1000),
            PathBuf::from("/run/user/1000/agentd/agentd.sock")
        );
    }

    #[test]
    fn falls_back_to_a_per_user_tmp_folder() {
        assert_eq!(
            socket_path_for(None, 1234),
            PathBuf::from("/tmp/agentd-1234/agentd.sock")
        );
    }

    #[test]
    fn reads_our_own_uid() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempfile().unwrap();
        assert_eq!(current_uid(), tmp.metadata().unwrap().uid());
    }
}
