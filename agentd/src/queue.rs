//! The approval queue: the one owner of every request, its deadline, its waiters and its
//! decision.
//!
//! All state sits behind one mutex, and every way a request can end (decision, deadline,
//! cancel, abandonment) goes through `finish`, which only acts on a pending request. So a
//! decision racing the deadline resolves to exactly one outcome, and the agent, the decider and
//! every subscriber see that same one. Durable storage will sit under this boundary.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::request_id::{short, IdPrefix};
use shared::{
    AgentIdentity, DecideRequest, Decision, DecisionSource, ErrorCode, Event, Outcome, RequestView,
    State, Ticket, Verdict, WireError,
};
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::intake::Admitted;

/// How many events a slow subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 4096;

/// The name decisions made by agentd itself carry.
const AGENTD: &str = "agentd";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("{0}")]
    BadId(String),
    #[error("no {scope}request matches '{prefix}'")]
    NotFound { scope: &'static str, prefix: String },
    #[error("'{prefix}' matches {} requests: {}; type more of the ID", candidates.len(), candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("{0}")]
    AlreadyFinished(String),
}

impl From<QueueError> for WireError {
    fn from(e: QueueError) -> WireError {
        let code = match e {
            QueueError::BadId(_) => ErrorCode::InvalidRequest,
            QueueError::NotFound { .. } => ErrorCode::NotFound,
            QueueError::Ambiguous { .. } => ErrorCode::Ambiguous,
            QueueError::AlreadyFinished(_) => ErrorCode::AlreadyFinished,
        };
        WireError {
            code,
            message: e.to_string(),
        }
    }
}

/// What a submit or attach gives the connection: an answer now, or a ticket and a waiter.
pub enum Submission {
    Decided(Outcome),
    Queued { ticket: Ticket, waiter: Waiter },
}

/// One agent connection waiting on one request. Dropping it (the agent went away) detaches it;
/// the last detach starts the grace period.
pub struct Waiter {
    queue: Arc<Queue>,
    id: Uuid,
    rx: watch::Receiver<Option<Outcome>>,
}

impl Waiter {
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Resolves when the request is finished. Cancel-safe.
    pub async fn outcome(&mut self) -> Option<Outcome> {
        let result = self.rx.wait_for(Option::is_some).await.map(|o| o.clone());
        // On error the request was dropped from memory, only possible once it finished.
        result.unwrap_or_else(|_| self.rx.borrow().clone())
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.queue.detach(self.id);
    }
}

struct Entry {
    view: RequestView,
    outcome: watch::Sender<Option<Outcome>>,
    /// Connections waiting on this request right now.
    waiters: usize,
    /// Bumped on every attach and detach, so a stale grace timer knows it is stale.
    generation: u64,
    timer: Option<AbortHandle>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, Entry>,
    /// Finished requests, oldest first, kept for `show` and for late deciders.
    finished: VecDeque<Uuid>,
}

pub struct Queue {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Event>,
    grace: Duration,
    finished_capacity: usize,
}

impl Queue {
    pub fn new(grace: Duration, finished_capacity: usize) -> Arc<Queue> {
        Arc::new(Queue {
            inner: Mutex::new(Inner::default()),
            events: broadcast::channel(EVENT_BUFFER).0,
            grace,
            finished_capacity,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every change is a few field
        // writes), so carrying on is better than refusing every agent from then on.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Takes an admitted request from `agent`: answered at once if its tool needs no approval,
    /// otherwise queued with a deadline and a waiter for the submitting connection.
    pub fn submit(self: &Arc<Self>, agent: AgentIdentity, req: Admitted) -> Submission {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let expires_at = now + req.timeout;
        let mut view = RequestView {
            id,
            tool: req.tool,
            args_json: req.args_json,
            agent,
            session: req.session,
            summary: req.summary,
            risk: req.risk,
            risk_reasons: req.risk_reasons,
            created_at: now,
            expires_at,
            state: State::Pending,
            attached: true,
            decision: None,
        };
        let mut inner = self.lock();
        if !req.requires_approval {
            let decision = Decision {
                state: State::Approved,
                source: DecisionSource::Policy,
                by: AGENTD.into(),
                reason: None,
                at: now,
            };
            view.state = State::Approved;
            view.attached = false;
            view.decision = Some(decision.clone());
            log_decision(&view, &decision);
            let outcome = Outcome { id, decision };
            inner.entries.insert(
                id,
                Entry {
                    view,
                    outcome: watch::channel(Some(outcome.clone())).0,
                    waiters: 0,
                    generation: 0,
                    timer: None,
                },
            );
            self.retire(&mut inner, id);
            return Submission::Decided(outcome);
        }

        let (tx, rx) = watch::channel(None);
        let queue = Arc::clone(self);
        let deadline = Instant::now() + req.timeout;
        let timer = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            queue.expire(id);
        })
        .abort_handle();
        let ticket = ticket(&view);
        tracing::info!(
            request = %id, tool = %view.tool, agent = %view.agent.name,
            pid = ?view.agent.pid, risk = %view.risk, expires_at = %view.expires_at,
            "request queued"
        );
        let _ = self.events.send(Event::Queued(view.clone()));
        inner.entries.insert(
            id,
            Entry {
                view,
                outcome: tx,
                waiters: 1,
                generation: 0,
                timer: Some(timer),
            },
        );
        Submission::Queued {
            ticket,
            waiter: Waiter {
                queue: Arc::clone(self),
                id,
                rx,
            },
        }
    }

    /// A connection waits on an existing request, e.g. after its agent reconnected.
    pub fn attach(self: &Arc<Self>, id: Uuid) -> Result<Submission, QueueError> {
        let mut inner = self.lock();
        let entry = inner
            .entries
            .get_mut(&id)
            .ok_or_else(|| QueueError::NotFound {
                scope: "",
                prefix: id.to_string(),
            })?;
        if let Some(decision) = &entry.view.decision {
            return Ok(Submission::Decided(Outcome {
                id,
                decision: decision.clone(),
            }));
        }
        entry.waiters += 1;
        entry.generation += 1;
        entry.view.attached = true;
        tracing::info!(request = %id, waiters = entry.waiters, "agent attached");
        Ok(Submission::Queued {
            ticket: ticket(&entry.view),
            waiter: Waiter {
                queue: Arc::clone(self),
                id,
                rx: entry.outcome.subscribe(),
            },
        })
    }

    /// A waiting connection went away. When the last one goes, the request waits one grace
    /// period for its agent to re-attach, then is withdrawn.
    fn detach(self: &Arc<Self>, id: Uuid) {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get_mut(&id) else {
            return;
        };
        entry.waiters = entry.waiters.saturating_sub(1);
        if entry.waiters > 0 || entry.view.state != State::Pending {
            return;
        }
        entry.generation += 1;
        entry.view.attached = false;
        let generation = entry.generation;
        tracing::info!(request = %id, grace = ?self.grace, "agent went away; waiting for it to re-attach");
        let queue = Arc::clone(self);
        let grace = self.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            queue.withdraw_if_abandoned(id, generation);
        });
    }

    fn withdraw_if_abandoned(&self, id: Uuid, generation: u64) {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get(&id) else {
            return;
        };
        if entry.waiters > 0 || entry.generation != generation {
            return;
        }
        let decision = Decision {
            state: State::Withdrawn,
            source: DecisionSource::Agent,
            by: entry.view.agent.name.clone(),
            reason: Some(format!(
                "the agent went away and did not come back within {}s",
                self.grace.as_secs_f64()
            )),
            at: Utc::now(),
        };
        self.finish(&mut inner, id, decision);
    }

    /// The deadline passed: deny automatically.
    pub fn expire(&self, id: Uuid) {
        let mut inner = self.lock();
        self.finish(&mut inner, id, expiry());
    }

    /// The agent withdraws its request. Returns the outcome (the earlier one if it had already
    /// finished, so a cancel racing a decision reports what really happened).
    pub fn cancel(&self, id: Uuid) -> Result<Outcome, QueueError> {
        let mut inner = self.lock();
        let entry = inner.entries.get(&id).ok_or_else(|| QueueError::NotFound {
            scope: "",
            prefix: id.to_string(),
        })?;
        if let Some(earlier) = &entry.view.decision {
            return Ok(Outcome {
                id,
                decision: earlier.clone(),
            });
        }
        let decision = Decision {
            state: State::Withdrawn,
            source: DecisionSource::Agent,
            by: entry.view.agent.name.clone(),
            reason: Some("cancelled by the agent".into()),
            at: Utc::now(),
        };
        self.finish(&mut inner, id, decision.clone());
        Ok(Outcome { id, decision })
    }

    /// An operator approves or denies. The first decision wins; any later one, and any
    /// decision after the deadline, gets an error naming the final state and who decided.
    pub fn decide(&self, req: &DecideRequest) -> Result<RequestView, QueueError> {
        let prefix = IdPrefix::parse(&req.id).map_err(|e| QueueError::BadId(e.to_string()))?;
        let mut inner = self.lock();
        let id = resolve(&inner, &prefix, "pending ")?;
        let pending_past_deadline = inner
            .entries
            .get(&id)
            .is_some_and(|e| e.view.state == State::Pending && e.view.expires_at <= Utc::now());
        if pending_past_deadline {
            // The timer has not fired yet, but the deadline people were shown has passed.
            self.finish(&mut inner, id, expiry());
        }
        let decision = Decision {
            state: match req.verdict {
                Verdict::Approve => State::Approved,
                Verdict::Deny => State::Denied,
            },
            source: DecisionSource::Operator,
            by: req.operator.clone(),
            reason: req.reason.clone().filter(|r| !r.is_empty()),
            at: Utc::now(),
        };
        if let Some(view) = self.finish(&mut inner, id, decision) {
            return Ok(view);
        }
        let view = inner.entries.get(&id).map(|e| e.view.clone());
        let message = view.map_or_else(
            || format!("request {} is gone", short(&id)),
            |v| already_finished(&v),
        );
        tracing::warn!(request = %id, operator = %req.operator, verdict = ?req.verdict, "late decision refused: {message}");
        Err(QueueError::AlreadyFinished(message))
    }

    /// One request by ID or unique prefix.
    pub fn get(&self, id: &str) -> Result<RequestView, QueueError> {
        let prefix = IdPrefix::parse(id).map_err(|e| QueueError::BadId(e.to_string()))?;
        let inner = self.lock();
        let id = resolve(&inner, &prefix, "")?;
        inner
            .entries
            .get(&id)
            .map(|e| e.view.clone())
            .ok_or_else(|| QueueError::NotFound {
                scope: "",
                prefix: prefix.as_str().to_string(),
            })
    }

    /// Requests in `state` (all when `None`), oldest first.
    pub fn list(&self, state: Option<State>) -> Vec<RequestView> {
        let inner = self.lock();
        let mut views: Vec<RequestView> = inner
            .entries
            .values()
            .filter(|e| state.is_none_or(|s| e.view.state == s))
            .map(|e| e.view.clone())
            .collect();
        views.sort_by_key(|v| (v.created_at, v.id));
        views
    }

    /// Ends a pending request with `decision`; does nothing (returns `None`) if it has already
    /// ended. This is the only place a request leaves `Pending`.
    fn finish(&self, inner: &mut Inner, id: Uuid, decision: Decision) -> Option<RequestView> {
        let entry = inner.entries.get_mut(&id)?;
        if entry.view.state != State::Pending {
            return None;
        }
        entry.view.state = decision.state;
        entry.view.decision = Some(decision.clone());
        entry.view.attached = false;
        if let Some(timer) = entry.timer.take() {
            timer.abort();
        }
        log_decision(&entry.view, &decision);
        entry.outcome.send_replace(Some(Outcome {
            id,
            decision: decision.clone(),
        }));
        let view = entry.view.clone();
        let _ = self.events.send(Event::Finished(view.clone()));
        self.retire(inner, id);
        Some(view)
    }

    /// Moves a finished request to the bounded list of recent ones, dropping the oldest.
    fn retire(&self, inner: &mut Inner, id: Uuid) {
        inner.finished.push_back(id);
        while inner.finished.len() > self.finished_capacity {
            if let Some(old) = inner.finished.pop_front() {
                inner.entries.remove(&old);
            }
        }
    }
}

fn expiry() -> Decision {
    Decision {
        state: State::Expired,
        source: DecisionSource::Timeout,
        by: AGENTD.into(),
        reason: None,
        at: Utc::now(),
    }
}

fn ticket(view: &RequestView) -> Ticket {
    Ticket {
        id: view.id,
        tool: view.tool.clone(),
        risk: view.risk,
        created_at: view.created_at,
        expires_at: view.expires_at,
    }
}

/// Finds the one request `prefix` names. `scope` words the not-found message.
fn resolve(inner: &Inner, prefix: &IdPrefix, scope: &'static str) -> Result<Uuid, QueueError> {
    let mut matches: Vec<&Entry> = inner
        .entries
        .iter()
        .filter(|(id, _)| prefix.matches(id))
        .map(|(_, e)| e)
        .collect();
    match matches.len() {
        0 => Err(QueueError::NotFound {
            scope,
            prefix: prefix.as_str().to_string(),
        }),
        1 => Ok(matches[0].view.id),
        _ => {
            matches.sort_by_key(|e| e.view.created_at);
            Err(QueueError::Ambiguous {
                prefix: prefix.as_str().to_string(),
                candidates: matches
                    .iter()
                    .map(|e| format!("{} ({}, {})", e.view.id, e.view.state, e.view.tool))
                    .collect(),
            })
        }
    }
}

/// The error a late decider reads, naming the final state and who decided.
fn already_finished(view: &RequestView) -> String {
    let id = short(&view.id);
    match &view.decision {
        Some(d) => match d.state {
            State::Approved if d.source == DecisionSource::Policy => {
                format!("request {id} was already approved by policy (its tool needs no approval)")
            }
            State::Approved | State::Denied => {
                format!("request {id} was already {} by {}", d.state, d.by)
            }
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

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn log_decision(view: &RequestView, d: &Decision) {
    tracing::info!(
        request = %view.id, tool = %view.tool, agent = %view.agent.name,
        state = %d.state, source = %d.source, by = %d.by,
        reason = d.reason.as_deref().unwrap_or(""),
        "request {}", d.state
    );
}
