//! What can go wrong in the queue, and how it reaches the wire.

use super::*;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("{0}")]
    BadId(String),
    #[error("no {}request matches '{prefix}'", kind.words())]
    NotFound { kind: NotFound, prefix: String },
    #[error("'{prefix}' matches {} requests: {}; type more of the ID", candidates.len(), candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("{0}")]
    AlreadyFinished(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was looked for and not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// Any request, pending or finished.
    Request,
    /// A pending request (to decide).
    Pending,
    /// A grant, or a request (to revoke or decide).
    GrantOrRequest,
}

impl NotFound {
    /// The words before "request" in the message.
    fn words(self) -> &'static str {
        match self {
            NotFound::Request => "",
            NotFound::Pending => "pending ",
            NotFound::GrantOrRequest => "grant or ",
        }
    }
}

impl From<QueueError> for WireError {
    fn from(e: QueueError) -> WireError {
        let code = match e {
            QueueError::BadId(_) => ErrorCode::InvalidRequest,
            QueueError::NotFound { .. } => ErrorCode::NotFound,
            QueueError::Ambiguous { .. } => ErrorCode::Ambiguous,
            QueueError::AlreadyFinished(_) => ErrorCode::AlreadyFinished,
            QueueError::Forbidden(_) => ErrorCode::Forbidden,
            QueueError::Limit(_) => ErrorCode::LimitReached,
            QueueError::Invalid(_) => ErrorCode::InvalidRequest,
            QueueError::Store(_) => ErrorCode::Internal,
        };
        WireError {
            code,
            message: e.to_string(),
        }
    }
}

pub(super) fn ambiguous(prefix: &IdPrefix, mut matches: Vec<RequestView>) -> QueueError {
    matches.sort_by_key(|v| v.created_at);
    QueueError::Ambiguous {
        prefix: prefix.as_str().to_string(),
        candidates: matches
            .iter()
            .map(|v| format!("{} ({}, {})", v.id, v.state, v.tool))
            .collect(),
    }
}

/// The error a late decider reads, naming the final state and who decided.
pub(super) fn already_finished(view: &RequestView) -> String {
    let id = short(&view.id);
    match &view.decision {
        Some(d) => match d.state {
            State::Approved if d.source == DecisionSource::Policy => {
                format!("request {id} was already approved by policy (its tool needs no approval)")
            }
            // The decision as every client words it: `denied by operator bob: not now`,
            // `denied by rule no-prod`, `approved by a grant from alice`.
            State::Approved | State::Denied => format!("request {id} was already {d}"),
            State::Expired => format!(
                "request {id} already expired at {} (no decision before its deadline)",
                rfc3339(d.at)
            ),
            State::Withdrawn => format!(
                "request {id} was withdrawn by agent {}: {}",
                d.by,
                d.reason.as_deref().unwrap_or("cancelled")
            ),
            State::Pending => format!("request {id} is pending"),
        },
        None => format!("request {id} is {}", view.state),
    }
}
