//! Every message a client sends and agentd answers, and the events it streams.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::*;

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
    /// What agentd runs with: its configuration and its store. Answered with `Info`.
    Info,
    /// Apply retention now. Answered with `Pruned`.
    Prune(PruneRequest),
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
    Info(DaemonInfo),
    Pruned(PruneReport),
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
