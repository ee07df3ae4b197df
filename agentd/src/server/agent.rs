//! What an agent's connection may ask besides its own requests: registering a tool (for
//! itself only, or for everyone from an operator), and waiting on or withdrawing a request
//! only if it raised it; with the rate limits both draw on.

use std::sync::Arc;

use agentd_proto::{ErrorCode, Role, ServerMsg, WireError};
use tokio::time::Instant;

use super::internal;
use super::session::Session;
use crate::agent::AgentKey;
use crate::registry::RegisterError;
use crate::store;

impl Session {
    /// A registration: from an operator's connection it applies to everyone as given; from
    /// an agent it applies to that agent's own requests and only ever tightens. Rate-limited
    /// like requests, and audited.
    pub(super) async fn register_tool(&self, spec: agentd_proto::ToolSpec) -> ServerMsg {
        let ctx = Arc::clone(&self.ctx);
        let key = self.key();
        let by_operator = self.peer.role == Role::Operator && self.peer.is_operator;
        if !by_operator {
            if let Err(refusal) = self.take_rate(&key) {
                return ServerMsg::Error(refusal);
            }
        }
        let registered = match by_operator {
            true => ctx.registry.register_for_everyone(spec),
            false => ctx.registry.register_for_agent(&key, spec),
        };
        let spec = match registered {
            Ok(spec) => spec,
            Err(RegisterError::Invalid(message)) => {
                return ServerMsg::Error(WireError {
                    code: ErrorCode::InvalidRequest,
                    message,
                })
            }
            Err(RegisterError::Limit(message)) => {
                self.audit_refusal("registration_limit", &message);
                return ServerMsg::Error(WireError {
                    code: ErrorCode::LimitReached,
                    message,
                });
            }
        };
        let applies_to = if by_operator {
            "everyone"
        } else {
            "this agent"
        };
        tracing::info!(tool = %spec.name, requires_approval = spec.requires_approval,
            timeout_secs = spec.approval_timeout_secs, risk = %spec.risk,
            by = %self.peer.name, applies_to, "tool registered");
        let event = store::daemon_event(
            "tool_registered",
            &self.peer.name,
            serde_json::json!({
                "tool": spec.name,
                "requires_approval": spec.requires_approval,
                "approval_timeout_secs": spec.approval_timeout_secs,
                "risk": spec.risk.as_str(),
                "applies_to": applies_to,
                "by_operator": by_operator,
                "agent_pid": self.peer.pid,
                "agent_uid": self.peer.uid,
            }),
        );
        let seq = ctx.queue.store().write(crate::store::Write::audit(event));
        match ctx.queue.store().durable(seq).await {
            Ok(()) => ServerMsg::ToolRegistered(spec),
            Err(e) => ServerMsg::Error(internal(e.to_string())),
        }
    }

    /// Takes a token from the agent's rate limit, or the refusal to send (audited).
    pub(super) fn take_rate(&self, key: &AgentKey) -> Result<(), WireError> {
        let now = Instant::now();
        let uid = self.peer.uid.map_or("unknown".into(), |u| u.to_string());
        // The user's bucket first: a new name per connection does not get a fresh allowance.
        let (who, (rate, burst), wait) =
            match self.ctx.uid_rate.take(&AgentKey::new(key.uid, ""), now) {
                Err(wait) => (
                    format!("the agents of uid {uid} together are over their"),
                    self.ctx.uid_rate.limits(),
                    wait,
                ),
                Ok(()) => match self.ctx.rate.take(key, now) {
                    Ok(()) => return Ok(()),
                    Err(wait) => (
                        format!("agent {} (uid {uid}) is over its", self.peer.name),
                        self.ctx.rate_description(),
                        wait,
                    ),
                },
            };
        let limits = format!("{rate} requests a second, bursts of {burst}");
        self.audit_refusal("rate_limited", &limits);
        Err(WireError::rate_limited(
            format!("{who} limit of {limits}"),
            wait,
        ))
    }

    /// Only the agent that raised a request (its uid and name) may wait on it or withdraw it:
    /// another agent must not learn its outcome or end it.
    pub(super) async fn own(&self, id: uuid::Uuid) -> Result<(), WireError> {
        let me = self.key();
        match self.ctx.queue.owner(id).await {
            Ok(Some(owner)) if owner == me => Ok(()),
            Ok(Some(_)) => Err(WireError {
                code: ErrorCode::Forbidden,
                message: format!(
                    "request {id} was raised by another agent; only the agent that raised it (its uid and name) may wait on it or withdraw it"
                ),
            }),
            // Let the queue say it does not exist, as it always has.
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
