//! A request for approval: what an agent sends, what agentd knows of it, its state and risk,
//! and the tools it names.

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
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Default,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
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
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum State {
    Pending,
    Approved,
    Denied,
    Expired,
    Withdrawn,
}

/// Risk levels, ordered from least to most dangerous.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Risk {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

/// A tool's approval policy, as the registry holds it and agents register it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub requires_approval: bool,
    pub approval_timeout_secs: u64,
    pub risk: Risk,
}

/// `ALL`, `as_str` and `FromStr` for an enum whose names strum derives (`Display`,
/// `IntoStaticStr`, `VariantArray`), parsed by `parse_name`; `$what` names it in errors.
macro_rules! named {
    ($name:ident, $what:literal) => {
        impl $name {
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::protocol::request::parse_name(s, $what)
            }
        }
    };
}
pub(crate) use named;

named!(SubjectType, "subject type");
named!(State, "state");
named!(Risk, "risk level");

/// Parses one of an enum's names the same way for every enum on the wire and the command
/// line: any case, `-` for `_`; the error lists what it may be.
pub(crate) fn parse_name<T>(s: &str, what: &str) -> Result<T, String>
where
    T: strum::VariantArray + Copy + Into<&'static str>,
{
    let wanted = s.to_ascii_lowercase().replace('-', "_");
    if let Some(found) = T::VARIANTS.iter().copied().find(|v| (*v).into() == wanted) {
        return Ok(found);
    }
    let names: Vec<&str> = T::VARIANTS.iter().map(|v| (*v).into()).collect();
    let expected = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(format!("unknown {what} '{s}' (expected {expected})"))
}
