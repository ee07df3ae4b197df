//! Who may decide a request besides the operators, and who never may: the parent agents the
//! config empowers to approve, and the refusal for anyone inside the process tree that raised
//! the request.

use agentd_proto::request_id::short;
use agentd_proto::RequestView;

use super::{AgentKey, Caller, Entry};

pub use crate::agent::Approver;

impl Approver {
    pub(super) fn allows(&self, reviewer: &AgentKey, view: &RequestView) -> bool {
        reviewer.uid == Some(self.uid)
            && reviewer.name == self.agent
            && view.risk <= self.max_risk
            && self
                .tools
                .as_ref()
                .is_none_or(|tools| tools.contains(&view.tool))
    }
}

/// The refusal for a decider or reviewer inside the process tree that raised `entry`: the
/// requesting process itself, or a descendant of it or of its runtime.
pub(super) fn own_request(entry: &Entry, caller: &Caller) -> Option<String> {
    let id = short(&entry.view.id);
    let inside = if entry.lineage.roots.is_empty() {
        // Restored after a restart, or its process was already gone: compare pids.
        let agent_pid = entry.view.agent.pid?;
        caller.pid == Some(agent_pid) || caller.chain.iter().any(|p| p.pid == agent_pid)
    } else {
        entry.lineage.contains_descendant(&caller.chain)
    };
    if !inside {
        return None;
    }
    let raised_by = match entry.lineage.roots.get(1) {
        Some(runtime) => format!(
            "pid {} (started by pid {})",
            entry.view.agent.pid.map_or("?".into(), |p| p.to_string()),
            runtime.pid
        ),
        None => format!(
            "pid {}",
            entry.view.agent.pid.map_or("?".into(), |p| p.to_string())
        ),
    };
    Some(format!(
        "request {id} was raised by {raised_by}, and this process is or descends from one of them: a process may not decide its own request"
    ))
}
