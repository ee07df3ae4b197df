//! The agent runtimes' own settings, as each runtime reads them: where they live, what turns a
//! hook off, and (for Codex) how a hook is trusted. `ash doctor` reads them to say whether a
//! hook will really run; `ash setup` writes them.

pub mod claude;
pub mod codex;
pub mod gemini;
pub mod settings_json;

use std::path::PathBuf;

/// The runtimes ash has hooks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    ClaudeCode,
    Codex,
    Gemini,
}

impl Runtime {
    /// The name `ash hook` takes and the agent name requests carry.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::ClaudeCode => "claude-code",
            Runtime::Codex => "codex",
            Runtime::Gemini => "gemini",
        }
    }

    /// The hook command as the docs write it.
    pub fn command(self) -> String {
        format!("ash hook {}", self.name())
    }
}

/// `$HOME`, where every runtime keeps its user settings.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}
