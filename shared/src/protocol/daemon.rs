//! What agentd tells an operator about itself (the configuration it loaded, its store), and
//! applying retention on demand.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The answer to `Info`: what this agentd runs with, so `ash doctor` checks the configuration
/// actually loaded rather than the file at the default path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// `agentd X.Y.Z`.
    pub server: String,
    pub pid: u32,
    /// The configuration file it loaded; `None` when it runs on its defaults.
    pub config: Option<String>,
    /// How many tools and rules that file defines.
    pub config_tools: u32,
    pub config_rules: u32,
    /// The built-in presets in force, by name.
    pub presets: Vec<String>,
    /// Tools registered at run time, for everyone or for one agent.
    pub registered_tools: u32,
    /// The store; `None` when agentd keeps nothing (no state dir).
    pub store: Option<StoreInfo>,
}

/// The store's size and reach, and how it is kept bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    /// The state dir.
    pub dir: String,
    /// The database, its WAL and the journal, in bytes.
    pub bytes: u64,
    pub requests: u64,
    /// The oldest request kept.
    pub oldest: Option<DateTime<Utc>>,
    /// Days calls answered at once (by a rule, a preset or a grant) are kept; 0 is forever.
    pub answered_days: u32,
    /// Days other finished requests and ended grants are kept; 0 is forever.
    pub decided_days: u32,
    /// The audit trail's checkpoint, when it was ever pruned.
    pub checkpoint: Option<Checkpoint>,
}

/// Where the kept audit trail starts after pruning: entries before `first_seq` were removed,
/// and `prev_hash` is the hash of the last of them, which entry `first_seq` links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub first_seq: u64,
    pub prev_hash: String,
    /// Everything recorded before this time was eligible to go.
    pub before: DateTime<Utc>,
    /// When the cut was made.
    pub at: DateTime<Utc>,
}

/// Apply retention now (`ash prune`). Answered with `Pruned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneRequest {
    /// Cut at this time instead of what the retention settings give (it never cuts what
    /// waits, or a grant in force, or later than now).
    pub before: Option<DateTime<Utc>>,
    /// Count what would go, and change nothing.
    pub dry_run: bool,
}

/// What a prune removed (or, dry, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// Calls answered at once that went.
    pub answered: u64,
    /// Other finished requests that went.
    pub decided: u64,
    /// Ended grants that went.
    pub grants: u64,
    /// Audit entries that went; the checkpoint records the hash where the trail now starts.
    pub audit_entries: u64,
    /// The checkpoint the trail starts from afterwards, if it was ever cut.
    pub checkpoint: Option<Checkpoint>,
}
