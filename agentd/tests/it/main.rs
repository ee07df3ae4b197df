//! agentd's integration tests, built as one binary: each module is one theme, and
//! `common` holds the helpers they share.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

mod approvals;
mod bad_input;
mod clock;
mod common;
mod crash;
mod destructive;
mod doc_snippets;
mod escalation;
mod hostile;
mod hostile_limits;
mod hostile_store;
mod load;
mod notify;
mod notify_hostile;
mod presets;
mod process;
mod proof;
mod queue_props;
mod replay;
mod rules;
mod security;
mod shell_differential;
mod store;
