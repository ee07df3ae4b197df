//! Who an agent is to limits, grants, registrations and review: the key every per-agent map
//! uses, and the parent agents the config lets approve.

use agentd_proto::AgentIdentity;

/// An agent as limits see it: the uid the kernel reported and the name it gave. The same name
/// from another uid is another agent; the pid is left out, since one agent may run as many
/// short processes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentKey {
    pub uid: Option<u32>,
    pub name: String,
}

impl AgentKey {
    pub fn new(uid: Option<u32>, name: impl Into<String>) -> AgentKey {
        AgentKey {
            uid,
            name: name.into(),
        }
    }

    /// The key of an agent as it identified itself.
    pub fn of(agent: &AgentIdentity) -> AgentKey {
        AgentKey::new(agent.uid, agent.name.as_str())
    }
}

/// A parent agent the config allows to approve its children's requests (by default a
/// parent may only deny or escalate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// The parent's kernel uid.
    pub uid: u32,
    /// The name the parent gives in its hello.
    pub agent: String,
    /// The highest risk it may approve.
    pub max_risk: agentd_proto::Risk,
    /// The tools it may approve; every tool when `None`.
    pub tools: Option<Vec<String>>,
}

/// Whether process `pid` has ended (or is a zombie waiting to be reaped): nobody in it can
/// come back for an answer. Read from /proc; where there is none, nothing is known to be gone.
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold any
        // character, so it is read after the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'Z' | 'X')),
        Err(_) => std::path::Path::new("/proc/self/stat").exists(),
    }
}

#[cfg(test)]
mod process_tests {
    #![allow(clippy::unwrap_used)]
    use super::process_gone;

    #[test]
    fn a_live_process_is_not_gone_and_a_reaped_one_is() {
        assert!(!process_gone(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(process_gone(pid));
    }
}
