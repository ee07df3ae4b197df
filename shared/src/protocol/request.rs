//! A request for approval: what an agent sends, what agentd knows of it, its state and risk,
//! and the tools it names.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::*;

/// A request for approval of one tool call, as an agent sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApprovalRequest {
    pub tool: String,
    /// The tool's arguments as JSON text (any JSON value; `{}` when there are none).
    pub args_json: String,
    pub session: Option<String>,
    /// One line for the operator saying what the call is for.
    pub summary: Option<String>,
    /// A shorter deadline than the tool's, in milliseconds. A longer one is cut to the tool's.
    pub timeout_ms: Option<u64>,
    /// Raises the risk level; never lowers it.
    pub risk_hint: Option<Risk>,
    /// Missing in a JSON request means `Tool`.
    #[serde(default)]
    pub subject: SubjectType,
    /// The agent's working folder, as it says: file paths are judged (and folder grants offered)
    /// relative to it.
    #[serde(default)]
    pub cwd: Option<String>,
}

/// What kind of thing a request asks to do; rules and filters can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SubjectType {
    /// Calling a tool (the default).
    #[default]
    Tool,
    /// Reading a secret.
    SecretAccess,
    /// Sending a message out on a channel.
    ChannelSend,
    /// Acting in a browser.
    BrowserAction,
    /// Using a capability of the machine (camera, location, …).
    NodeCapability,
    /// Pairing a device.
    DevicePairing,
}

impl SubjectType {
    pub const ALL: [SubjectType; 6] = [
        SubjectType::Tool,
        SubjectType::SecretAccess,
        SubjectType::ChannelSend,
        SubjectType::BrowserAction,
        SubjectType::NodeCapability,
        SubjectType::DevicePairing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Tool => "tool",
            SubjectType::SecretAccess => "secret_access",
            SubjectType::ChannelSend => "channel_send",
            SubjectType::BrowserAction => "browser_action",
            SubjectType::NodeCapability => "node_capability",
            SubjectType::DevicePairing => "device_pairing",
        }
    }
}

impl fmt::Display for SubjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubjectType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubjectType::ALL
            .into_iter()
            .find(|t| t.as_str() == s.to_ascii_lowercase().replace('-', "_"))
            .ok_or_else(|| {
                format!("unknown subject type '{s}' (expected tool, secret_access, channel_send, browser_action, node_capability or device_pairing)")
            })
    }
}

/// Everything agentd knows about one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    pub id: Uuid,
    pub tool: String,
    /// The canonical JSON text of the arguments (object keys sorted, no insignificant space).
    pub args_json: String,
    pub agent: AgentIdentity,
    pub session: Option<String>,
    pub summary: Option<String>,
    pub risk: Risk,
    /// Why the risk is what it is, one reason a line.
    pub risk_reasons: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: State,
    /// Whether an agent connection is waiting on it right now.
    pub attached: bool,
    pub decision: Option<Decision>,
    pub subject: SubjectType,
    /// Where the request has been: reviews by parent agents and escalations, oldest first.
    pub path: Vec<String>,
    /// The parent agent reviewing it now, if it is not (yet) with the operators.
    pub reviewer: Option<String>,
    /// The agent's working folder, as it said.
    pub cwd: Option<String>,
    /// The grants an operator may make from it, narrowest first (`exact` first); empty for a
    /// request answered at once.
    pub grant_options: Vec<crate::grant::GrantOption>,
}

/// Who asked: the self-declared name plus what the kernel said about the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentIdentity {
    pub name: String,
    pub pid: Option<u32>,
    pub uid: Option<u32>,
}

/// A request's state. `Pending` is the only one that can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    Pending,
    Approved,
    Denied,
    Expired,
    Withdrawn,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Pending,
        State::Approved,
        State::Denied,
        State::Expired,
        State::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown state '{s}' (expected pending, approved, denied, expired or withdrawn)")
            })
    }
}

/// Risk levels, ordered from least to most dangerous.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Risk {
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Risk {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Risk::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown risk level '{s}' (expected low, medium, high or critical)")
            })
    }
}

/// A tool's approval policy, as the registry holds it and agents register it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub requires_approval: bool,
    pub approval_timeout_secs: u64,
    pub risk: Risk,
}
