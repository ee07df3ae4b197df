//! ash: the operator's side of agentd. One-shot commands for people and scripts (one file each
//! under `cmd/`) and the full-screen queue (`tui/`). `main.rs` only parses the command line.

pub mod cmd;
pub mod display;
pub mod json;
pub mod mask;
pub mod outcome;
pub mod table;
pub mod tui;
pub mod when;

use std::path::PathBuf;

/// Everything a command needs from the global flags.
#[derive(Clone, Debug)]
pub struct Globals {
    pub socket: PathBuf,
    pub json: bool,
}
