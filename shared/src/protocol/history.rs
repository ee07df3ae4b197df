//! Queries over finished requests, their export, and the audit trail's report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// Filters for `History` and `Export`; every field narrows the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HistoryQuery {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub state: Option<State>,
    /// Who decided (an operator's name, or `agentd` for timeouts and policy).
    pub operator: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (history only; export has no limit unless given).
    pub limit: Option<u32>,
    pub subject: Option<SubjectType>,
}

/// One exported request with the audit entries that concern it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub request: RequestView,
    pub audit: Vec<AuditRef>,
}

/// One audit entry as export shows it: its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRef {
    pub seq: u64,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub hash: String,
}

/// The result of recomputing the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// How many entries were checked.
    pub entries: u64,
    /// The first entry that does not verify, if any.
    pub broken: Option<AuditBreak>,
    /// Where the kept trail starts, when older entries were pruned.
    pub checkpoint: Option<super::Checkpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBreak {
    pub seq: u64,
    pub problem: String,
}
