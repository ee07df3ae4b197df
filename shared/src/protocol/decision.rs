//! Decisions: operators' and reviewers' verdicts, their scope, the decision a request ends with,
//! and the standing decisions (grants) a scoped one makes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::*;

/// What a reviewing parent agent does with a child's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewAction {
    Approve,
    Deny,
    /// Pass it up: to this reviewer's own parent if one is reviewing, else to the operators.
    Escalate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewDecision {
    pub id: Uuid,
    pub action: ReviewAction,
    /// Why; for an escalation, what the next reviewer or the operator should know.
    pub note: Option<String>,
}

/// How far an operator's decision reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Scope {
    /// This request only.
    #[default]
    Once,
    /// Also every identical request (same tool, arguments and agent) in the same session.
    Session,
    /// Also every identical request from the same agent, for `ttl_secs`.
    Timeboxed { ttl_secs: u64 },
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Once => f.write_str("once"),
            Scope::Session => f.write_str("session"),
            Scope::Timeboxed { ttl_secs } => write!(f, "timeboxed {ttl_secs}s"),
        }
    }
}

/// A standing decision: identical requests are answered from it at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    pub id: Uuid,
    pub verdict: Verdict,
    pub scope: Scope,
    pub tool: String,
    /// Canonical JSON: only these exact arguments match.
    pub args_json: String,
    pub agent: String,
    pub agent_uid: Option<u32>,
    /// For session scope, the session it covers.
    pub session: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    /// The request whose decision made it.
    pub from_request: Uuid,
    /// How many requests it has answered.
    pub uses: u64,
    /// What it covers: `Exact` for the same arguments only, or a wider grant option.
    pub covers: crate::grant::GrantCover,
    /// The reason the operator gave with the decision that made it; requests it answers
    /// carry it.
    pub reason: Option<String>,
}

/// How a request ended: its final state, who or what decided, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub state: State,
    pub source: DecisionSource,
    /// The operator's name for `source = Operator`; the agent's for `Agent`; `agentd` otherwise.
    pub by: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The decider's uid and pid as the kernel reported them (operators and withdrawing
    /// agents; `None` for agentd's own decisions).
    pub by_uid: Option<u32>,
    pub by_pid: Option<u32>,
    /// For `source = Grant`, the grant that answered.
    pub grant: Option<Uuid>,
    /// The arguments the agent must use instead of those it asked with, when an operator
    /// approved the call with edited arguments (canonical JSON).
    #[serde(default)]
    pub approved_args: Option<String>,
}

impl Decision {
    /// A decision made `at` by `by`, with no reason, no decider process, no grant and no
    /// edited arguments; the methods below add those.
    pub fn new(
        state: State,
        source: DecisionSource,
        by: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Decision {
        Decision {
            state,
            source,
            by: by.into(),
            reason: None,
            at,
            by_uid: None,
            by_pid: None,
            grant: None,
            approved_args: None,
        }
    }

    /// With this reason (or none).
    pub fn reason(mut self, reason: Option<String>) -> Decision {
        self.reason = reason;
        self
    }

    /// Made by this process, as the kernel reported it.
    pub fn by_process(mut self, uid: Option<u32>, pid: Option<u32>) -> Decision {
        self.by_uid = uid;
        self.by_pid = pid;
        self
    }

    /// Made through (or making) this grant.
    pub fn grant(mut self, grant: Option<Uuid>) -> Decision {
        self.grant = grant;
        self
    }
}

impl fmt::Display for Decision {
    /// The sentence an agent or operator reads, e.g. `denied by operator alice: not on Friday`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.source) {
            (State::Approved, DecisionSource::Policy) => {
                write!(f, "approved by policy (tool needs no approval)")?
            }
            (State::Approved, DecisionSource::Grant) => {
                write!(f, "approved by a grant from {}", self.by)?
            }
            (State::Denied, DecisionSource::Grant) => {
                write!(f, "denied by a grant from {}", self.by)?
            }
            (State::Approved, DecisionSource::Rule) => write!(f, "approved by rule {}", self.by)?,
            (State::Denied, DecisionSource::Rule) => write!(f, "denied by rule {}", self.by)?,
            (State::Approved, DecisionSource::Parent) => {
                write!(f, "approved by parent agent {}", self.by)?
            }
            (State::Denied, DecisionSource::Parent) => {
                write!(f, "denied by parent agent {}", self.by)?
            }
            (State::Approved, _) => write!(f, "approved by {}", self.by)?,
            (State::Denied, _) => write!(f, "denied by operator {}", self.by)?,
            (State::Expired, _) => write!(f, "expired: no decision before the deadline")?,
            (State::Withdrawn, _) => write!(f, "withdrawn")?,
            (State::Pending, _) => write!(f, "pending")?,
        }
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        if self.approved_args.is_some() {
            write!(f, " (with arguments the operator edited)")?;
        }
        Ok(())
    }
}

/// Who or what produced a decision.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum DecisionSource {
    /// A person, through `ash` or any operator client.
    Operator,
    /// The deadline passed.
    Timeout,
    /// The registry says the tool needs no approval.
    Policy,
    /// The agent cancelled, or went away and did not come back within the grace period.
    Agent,
    /// A standing grant made by an operator's earlier decision.
    Grant,
    /// A rule in the registry decided automatically.
    Rule,
    /// A parent agent reviewing its child's request.
    Parent,
}

super::request::named!(DecisionSource, "decision source");

/// An operator's decision on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecideRequest {
    /// A full request ID or a unique prefix of one.
    pub id: String,
    pub verdict: Verdict,
    pub operator: String,
    pub reason: Option<String>,
    pub scope: Scope,
    /// With a session or timeboxed scope: the key of the request's grant option to make
    /// (`None` means `exact`).
    #[serde(default)]
    pub grant: Option<String>,
    /// Approve with these arguments (JSON text) instead of those asked with: for this call
    /// only, never with a grant.
    #[serde(default)]
    pub args_json: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Approve,
    Deny,
}

impl From<Verdict> for State {
    /// The state a verdict finishes a request in.
    fn from(verdict: Verdict) -> State {
        match verdict {
            Verdict::Approve => State::Approved,
            Verdict::Deny => State::Denied,
        }
    }
}
