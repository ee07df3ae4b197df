//! Protocol types: the hello, every client and server message, and the typed error codes.
//!
//! The payload codec is bincode (see `codec`), which cannot carry `serde_json::Value`, so tool
//! arguments travel as JSON text (`args_json`) and are parsed and canonicalised by agentd.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The protocol version, defined once. The first frame of every connection carries it.
pub const PROTOCOL_VERSION: u32 = 2;

/// The largest frame payload either side accepts (1 MiB). Checked before allocating.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// The largest tool arguments accepted, as JSON text (256 KiB), so that any one request fits
/// in a frame with room to spare.
pub const MAX_ARGS_LEN: usize = 256 * 1024;

/// The first frame of every connection. `version` must stay the first field: agentd decodes it
/// on its own first, so it can name both versions even when the rest of the hello changed shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub role: Role,
    /// The self-declared name of the agent or operator.
    pub name: String,
    /// An agent's parent agent, which reviews its requests first when it is connected as a
    /// reviewer (same uid).
    pub parent: Option<String>,
}

/// What a connection is for. Only operators may list and decide requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Agent,
    Operator,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Agent => "agent",
            Role::Operator => "operator",
        })
    }
}

/// Messages from a client to agentd, after the hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Ask for approval of a tool call. Answered with `Queued` then `Outcome`, or at once with
    /// `Outcome` when the tool needs no approval.
    Submit(ApprovalRequest),
    /// Wait on an existing request by ID (after a reconnect). Answered like `Submit`.
    Attach { id: Uuid },
    /// Withdraw a pending request. Answered with `Outcome`.
    Cancel { id: Uuid },
    /// Register (or tighten) a tool at run time. Answered with `ToolRegistered`.
    RegisterTool(ToolSpec),
    /// List requests, optionally only those in one state. Answered with `Requests`.
    List { state: Option<State> },
    /// One request by ID or unique ID prefix. Answered with `Request`.
    Get { id: String },
    /// Approve or deny a request by ID or unique ID prefix. Answered with `Request`.
    Decide(DecideRequest),
    /// Receive every queue event from now on as `Event` messages.
    Subscribe,
    /// Answered with `Pong`.
    Ping,
    /// Finished and pending requests from the store, newest first. Answered with `Requests`.
    History(HistoryQuery),
    /// Every matching request with its audit entries, oldest first, streamed as `Exported`.
    Export(HistoryQuery),
    /// Recompute the audit chain. Answered with `AuditReport`.
    VerifyAudit,
    /// The grants in force. Answered with `Grants`.
    ListGrants,
    /// Revoke one grant (ID or unique prefix) or, with `all`, every grant. Answered with
    /// `Revoked`.
    Revoke { id: Option<String>, all: bool },
    /// Become the reviewer for this agent's children: answered with `Pong`, then `ToReview`
    /// frames; answer each with `ReviewDecide`.
    Review,
    /// A reviewer's answer to a request it was sent. Answered with `Request`.
    ReviewDecide(ReviewDecision),
}

/// Messages from agentd to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The answer to a good hello.
    Welcome {
        version: u32,
        server: String,
    },
    /// The request is pending: the call stays open until `Outcome`.
    Queued(Ticket),
    /// The final answer to a request.
    Outcome(Outcome),
    /// A list answer, in as many frames as it takes: every frame but the last has `more`.
    Requests {
        items: Vec<RequestView>,
        more: bool,
    },
    Request(RequestView),
    ToolRegistered(ToolSpec),
    Event(Event),
    Pong,
    Error(WireError),
    /// An export answer, in as many frames as it takes: every frame but the last has `more`.
    Exported {
        items: Vec<ExportRecord>,
        more: bool,
    },
    AuditReport(AuditReport),
    Grants(Vec<GrantView>),
    Revoked {
        count: u64,
    },
    /// A child's request for a reviewer to answer.
    ToReview(RequestView),
}

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
}

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBreak {
    pub seq: u64,
    pub problem: String,
}

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

/// The acknowledgement of a queued request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Uuid,
    pub tool: String,
    pub risk: Risk,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The final answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: Uuid,
    pub decision: Decision,
}

impl Outcome {
    pub fn approved(&self) -> bool {
        self.decision.state == State::Approved
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl DecisionSource {
    pub const ALL: [DecisionSource; 7] = [
        DecisionSource::Operator,
        DecisionSource::Timeout,
        DecisionSource::Policy,
        DecisionSource::Agent,
        DecisionSource::Grant,
        DecisionSource::Rule,
        DecisionSource::Parent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Operator => "operator",
            DecisionSource::Timeout => "timeout",
            DecisionSource::Policy => "policy",
            DecisionSource::Agent => "agent",
            DecisionSource::Grant => "grant",
            DecisionSource::Rule => "rule",
            DecisionSource::Parent => "parent",
        }
    }
}

impl fmt::Display for DecisionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DecisionSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DecisionSource::ALL
            .into_iter()
            .find(|src| src.as_str() == s)
            .ok_or_else(|| format!("unknown decision source '{s}'"))
    }
}

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

/// A change in the queue, pushed to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A request entered the queue.
    Queued(RequestView),
    /// A request left the queue: decided, expired or withdrawn.
    Finished(RequestView),
    /// The subscriber fell behind and missed this many events; it should list again.
    Lagged(u64),
}

/// An error as it crosses the wire: a typed code plus a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How a rate limit's refusal ends its message, before the wait in milliseconds.
const RETRY_MARK: &str = "; try again in ";

impl WireError {
    /// A rate limit's refusal: `message`, then when it clears (which [`WireError::retry_after`]
    /// reads back), so clients can wait rather than give up.
    pub fn rate_limited(message: String, wait: std::time::Duration) -> WireError {
        WireError {
            code: ErrorCode::LimitReached,
            message: format!("{message}{RETRY_MARK}{} ms", wait.as_millis().max(1)),
        }
    }

    /// For a rate limit's refusal, how long until it clears; `None` for any other error
    /// (including a cap on pending requests, which waiting alone does not clear).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        if self.code != ErrorCode::LimitReached {
            return None;
        }
        let (_, tail) = self.message.rsplit_once(RETRY_MARK)?;
        let ms: u64 = tail.strip_suffix(" ms")?.parse().ok()?;
        Some(std::time::Duration::from_millis(ms))
    }
}

/// What went wrong, for programs; the message says it for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A frame or payload that could not be decoded.
    BadFrame,
    /// A frame whose declared length is over `MAX_FRAME_LEN`.
    FrameTooLarge,
    /// The hello carried another protocol version.
    VersionMismatch,
    /// The first frame was not a valid hello, or it came too late.
    BadHello,
    /// No request matches the ID or prefix.
    NotFound,
    /// More than one request matches the prefix; the message lists them.
    Ambiguous,
    /// The request is no longer pending; the message names its state and who decided.
    AlreadyFinished,
    /// The tool arguments are not valid JSON.
    InvalidArgs,
    /// A field is out of range or malformed (tool name, timeout, ID syntax ...).
    InvalidRequest,
    /// The connection's role may not do this (e.g. an agent deciding).
    Forbidden,
    /// The message is valid but not now (e.g. a second request while one is being waited on).
    Busy,
    Internal,
    /// agentd runs without a store (in memory), so it has no history, export or audit trail.
    Unavailable,
    /// A limit was reached: too many pending requests or requests per second for this agent,
    /// or too many connections. The message says which and when to try again.
    LimitReached,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T13:48:58.123456Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn view() -> RequestView {
        RequestView {
            id: Uuid::new_v4(),
            tool: "sensitive-op".into(),
            args_json: r#"{"target":"prod"}"#.into(),
            agent: AgentIdentity {
                name: "claude".into(),
                pid: Some(42),
                uid: Some(1000),
            },
            session: Some("s-1".into()),
            summary: Some("deploy".into()),
            risk: Risk::High,
            risk_reasons: vec!["tool sensitive-op is rated high".into()],
            created_at: now(),
            expires_at: now(),
            state: State::Denied,
            attached: true,
            decision: Some(decision()),
            subject: SubjectType::Tool,
            path: Vec::new(),
            reviewer: None,
            cwd: Some("/srv/app".into()),
            grant_options: vec![crate::GrantOption::exact()],
        }
    }

    fn decision() -> Decision {
        Decision {
            state: State::Denied,
            source: DecisionSource::Operator,
            by: "alice".into(),
            reason: Some("not on a Friday".into()),
            at: now(),
            by_uid: Some(1000),
            by_pid: Some(4242),
            grant: None,
            approved_args: None,
        }
    }

    fn round_trip<T>(msg: T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = codec::encode(&msg).unwrap();
        let back: T = codec::decode(&bytes).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn every_client_message_round_trips() {
        let id = Uuid::new_v4();
        let msgs = vec![
            ClientMsg::Submit(ApprovalRequest {
                tool: "t".into(),
                args_json: r#"{"a":[1,2,{"b":null}]}"#.into(),
                session: Some("s".into()),
                summary: None,
                timeout_ms: Some(1500),
                risk_hint: Some(Risk::Critical),
                subject: SubjectType::SecretAccess,
                cwd: Some("/home/dev/app".into()),
            }),
            ClientMsg::Submit(ApprovalRequest::default()),
            ClientMsg::Attach { id },
            ClientMsg::Cancel { id },
            ClientMsg::RegisterTool(ToolSpec {
                name: "deploy".into(),
                requires_approval: true,
                approval_timeout_secs: 60,
                risk: Risk::Critical,
            }),
            ClientMsg::List { state: None },
            ClientMsg::List {
                state: Some(State::Pending),
            },
            ClientMsg::Get { id: "7f3a".into() },
            ClientMsg::Decide(DecideRequest {
                id: id.to_string(),
                verdict: Verdict::Deny,
                operator: "alice".into(),
                reason: Some("no".into()),
                scope: Scope::Session,
                grant: Some("commands".into()),
                args_json: None,
            }),
            ClientMsg::Subscribe,
            ClientMsg::Ping,
            ClientMsg::History(HistoryQuery::default()),
            ClientMsg::Export(HistoryQuery {
                agent: Some("claude".into()),
                tool: Some("sensitive-op".into()),
                state: Some(State::Denied),
                operator: Some("alice".into()),
                since: Some(now()),
                until: Some(now()),
                limit: Some(50),
                subject: Some(SubjectType::ChannelSend),
            }),
            ClientMsg::VerifyAudit,
        ];
        for msg in msgs {
            round_trip(msg);
        }
    }

    #[test]
    fn every_server_message_round_trips() {
        let msgs = vec![
            ServerMsg::Welcome {
                version: PROTOCOL_VERSION,
                server: "agentd 0.1.0".into(),
            },
            ServerMsg::Queued(Ticket {
                id: Uuid::new_v4(),
                tool: "t".into(),
                risk: Risk::Low,
                created_at: now(),
                expires_at: now(),
            }),
            ServerMsg::Outcome(Outcome {
                id: Uuid::new_v4(),
                decision: decision(),
            }),
            ServerMsg::Requests {
                items: vec![view(), view()],
                more: true,
            },
            ServerMsg::Requests {
                items: vec![],
                more: false,
            },
            ServerMsg::Request(view()),
            ServerMsg::ToolRegistered(ToolSpec {
                name: "x".into(),
                requires_approval: false,
                approval_timeout_secs: 1,
                risk: Risk::Medium,
            }),
            ServerMsg::Event(Event::Queued(view())),
            ServerMsg::Event(Event::Finished(view())),
            ServerMsg::Event(Event::Lagged(7)),
            ServerMsg::Pong,
            ServerMsg::Error(WireError {
                code: ErrorCode::AlreadyFinished,
                message: "request 7f3a2c1e was already denied by bob".into(),
            }),
            ServerMsg::Exported {
                items: vec![ExportRecord {
                    request: view(),
                    audit: vec![AuditRef {
                        seq: 3,
                        kind: "denied".into(),
                        at: now(),
                        hash: "ab".repeat(32),
                    }],
                }],
                more: false,
            },
            ServerMsg::AuditReport(AuditReport {
                entries: 9,
                broken: Some(AuditBreak {
                    seq: 4,
                    problem: "edited".into(),
                }),
            }),
            ServerMsg::AuditReport(AuditReport {
                entries: 0,
                broken: None,
            }),
        ];
        for msg in msgs {
            round_trip(msg);
        }
    }

    #[test]
    fn the_hello_round_trips_and_its_version_reads_alone() {
        let hello = Hello {
            version: PROTOCOL_VERSION,
            role: Role::Operator,
            name: "alice".into(),
            parent: None,
        };
        round_trip(hello.clone());
        let bytes = codec::encode(&Hello {
            version: 99,
            ..hello
        })
        .unwrap();
        assert_eq!(codec::decode_version(&bytes).unwrap(), 99);
    }

    /// The exact bytes PROTOCOL.md documents for writers of non-Rust clients.
    #[test]
    fn a_rate_limits_refusal_says_when_it_clears_and_nothing_else_does() {
        let e = WireError::rate_limited(
            "agent a (uid 1) is over its limit".into(),
            std::time::Duration::from_millis(340),
        );
        assert_eq!(
            e.message,
            "agent a (uid 1) is over its limit; try again in 340 ms"
        );
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_millis(340)));
        let cap = WireError {
            code: ErrorCode::LimitReached,
            message: "agent a already has 64 requests pending".into(),
        };
        assert_eq!(cap.retry_after(), None);
        let other = WireError {
            code: ErrorCode::InvalidRequest,
            message: "x; try again in 5 ms".into(),
        };
        assert_eq!(other.retry_after(), None);
    }

    #[test]
    fn wire_layout_matches_protocol_md() {
        let hello = Hello {
            version: 2,
            role: Role::Operator,
            name: "al".into(),
            parent: None,
        };
        assert_eq!(codec::encode(&hello).unwrap(), [2, 1, 2, b'a', b'l', 0]);
        assert_eq!(codec::encode(&ClientMsg::Ping).unwrap(), [8]);
        let id = Uuid::from_bytes([7; 16]);
        let mut attach = vec![1, 16];
        attach.extend_from_slice(&[7; 16]);
        assert_eq!(codec::encode(&ClientMsg::Attach { id }).unwrap(), attach);
        // Integers are varints: below 251 one byte; 251 + u16, 252 + u32, 253 + u64 (LE).
        let list = ClientMsg::Submit(ApprovalRequest {
            tool: "t".into(),
            args_json: "{}".into(),
            session: None,
            summary: Some("s".into()),
            timeout_ms: Some(1000),
            risk_hint: Some(Risk::High),
            subject: SubjectType::Tool,
            cwd: None,
        });
        assert_eq!(
            codec::encode(&list).unwrap(),
            [0, 1, b't', 2, b'{', b'}', 0, 1, 1, b's', 1, 251, 0xe8, 0x03, 1, 2, 0, 0]
        );
        let time = codec::encode(&now()).unwrap();
        assert_eq!(time[0] as usize, time.len() - 1);
        assert_eq!(&time[1..], b"2026-11-21T13:48:58.123456Z");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = codec::encode(&ClientMsg::Ping).unwrap();
        bytes.push(0);
        assert!(matches!(
            codec::decode::<ClientMsg>(&bytes),
            Err(codec::CodecError::Trailing(1))
        ));
    }

    #[test]
    fn a_payload_claiming_a_huge_string_is_refused_without_allocating_it() {
        // Variant 0 (Submit), then a string length of u64::MAX - 1 in bincode's varint form.
        let mut bytes = vec![0u8, 253];
        bytes.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        assert!(codec::decode::<ClientMsg>(&bytes).is_err());
    }

    #[test]
    fn states_and_sources_parse_back_from_their_names() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
        }
        assert_eq!("DENIED".parse::<State>().unwrap(), State::Denied);
        assert!("maybe".parse::<State>().is_err());
        for s in DecisionSource::ALL {
            assert_eq!(s.to_string().parse::<DecisionSource>().unwrap(), s);
        }
        assert!("magic".parse::<DecisionSource>().is_err());
    }

    #[test]
    fn risk_orders_and_parses() {
        assert!(Risk::Low < Risk::Medium && Risk::High < Risk::Critical);
        assert_eq!("HIGH".parse::<Risk>().unwrap(), Risk::High);
        assert!("severe".parse::<Risk>().is_err());
    }

    #[test]
    fn decisions_read_as_sentences() {
        assert_eq!(
            decision().to_string(),
            "denied by operator alice: not on a Friday"
        );
        let expired = Decision {
            state: State::Expired,
            source: DecisionSource::Timeout,
            by: "agentd".into(),
            reason: None,
            at: now(),
            by_uid: None,
            by_pid: None,
            grant: None,
            approved_args: None,
        };
        assert_eq!(
            expired.to_string(),
            "expired: no decision before the deadline"
        );
    }
}
