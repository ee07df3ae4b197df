//! Errors as they cross the wire: a typed code and a message for people.

use std::fmt;

use serde::{Deserialize, Serialize};

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
