//! Exit codes, as the interface fixes them, and the usage error type that maps to 2.

use agentd_proto::State;

/// Success, or approved for commands that wait on a decision.
pub const SUCCESS: u8 = 0;
/// Any failure of a command that does not wait on a decision.
pub const FAILURE: u8 = 1;
/// Denied (or withdrawn), for commands that wait on a decision.
pub const DENIED: u8 = 1;
/// A usage error: bad flags, bad JSON, an ID that cannot be one.
pub const USAGE: u8 = 2;
/// Expired: nobody decided before the deadline.
pub const EXPIRED: u8 = 3;
/// agentd unreachable or any other error, for commands that wait on a decision.
pub const WAIT_ERROR: u8 = 4;

/// A mistake in how ash was called; exits 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for a command that waited and got `state`.
pub fn for_state(state: State) -> u8 {
    match state {
        State::Approved => SUCCESS,
        State::Denied | State::Withdrawn => DENIED,
        State::Expired => EXPIRED,
        State::Pending => WAIT_ERROR,
    }
}

/// The exit code for an error: 2 for usage errors (agentd refusing what was asked as
/// malformed counts: a bad tool name, arguments with a repeated key), else 4 for waiting
/// commands and 1 for the rest.
pub fn error_exit_code(e: &anyhow::Error, waits_on_a_decision: bool) -> u8 {
    let refused_as_malformed = e.chain().any(|cause| {
        cause
            .downcast_ref::<agentd_proto::ClientError>()
            .and_then(agentd_proto::ClientError::code)
            .is_some_and(|code| {
                matches!(
                    code,
                    agentd_proto::ErrorCode::InvalidArgs | agentd_proto::ErrorCode::InvalidRequest
                )
            })
    });
    if e.downcast_ref::<UsageError>().is_some() || refused_as_malformed {
        USAGE
    } else if waits_on_a_decision {
        WAIT_ERROR
    } else {
        FAILURE
    }
}
