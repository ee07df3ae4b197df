//! Helpers shared by ash's integration tests that run the agentd binary itself.

use std::path::{Path, PathBuf};

/// The folder holding the agentd binary of this build (next to ash's), built if this test
/// runs alone and cargo has not built it yet.
pub fn agentd_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_ash"))
        .parent()
        .expect("ash's binary is in a folder")
        .to_path_buf();
    if !dir.join("agentd").exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "agentd", "--bin", "agentd"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build agentd");
    }
    dir
}
