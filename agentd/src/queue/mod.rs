//! The approval queue: the one owner of every pending request, its deadline, its waiters and
//! its decision.
//!
//! All state sits behind one mutex, and every way a request can end (decision, deadline,
//! cancel, abandonment) goes through `finish`, which only acts on a pending request. So a
//! decision racing the deadline resolves to exactly one outcome. Every change is handed to the
//! store in the same critical section, so the store sees changes in the order they happened;
//! the store's writer delivers the outcome to the agent and the event to subscribers only once
//! the change is committed, and replies to operators wait for that commit too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::request_id::{short, IdPrefix};
use shared::{
    AgentIdentity, DecideRequest, Decision, DecisionSource, ErrorCode, Event, GrantCover,
    GrantView, Outcome, RequestView, ReviewAction, ReviewDecision, Scope, State, Ticket, Verdict,
    WireError,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::grants::Grants;
use crate::intake::Admitted;
use crate::lineage::{Lineage, Proc};
use crate::reach::Reach;
use crate::store::{self, Delivery, RowWrite, Store, StoreError};

mod who_decides;

use who_decides::own_request;
pub use who_decides::Approver;

/// The name decisions made by agentd itself carry.
pub const AGENTD: &str = "agentd";

/// How many stored requests a prefix lookup considers before calling the prefix ambiguous.
const STORE_CANDIDATES: usize = 10;

#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// Who is asking, as the kernel reported it for the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub uid: Option<u32>,
    pub pid: Option<u32>,
    /// The caller's process and its ancestors, nearest first, read when it asked.
    pub chain: Vec<Proc>,
}

/// The queue's knobs.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How long a request whose agent went away waits for it to re-attach.
    pub grace: Duration,
    /// How many finished requests stay in memory.
    pub finished_capacity: usize,
    /// How many requests one agent (uid and name) may have pending at once.
    pub max_pending_per_agent: usize,
    /// How many requests all the agents of one uid may have pending at once.
    pub max_pending_per_uid: usize,
    /// Refuse a decision or review from inside the process tree that raised the request (the
    /// requesting process, or its runtime: its parent past `sh -c` wrappers).
    pub forbid_own_requests: bool,
    /// The parent agents that may approve (and what); others may only deny or escalate.
    pub approvers: Vec<Approver>,
    /// How many grants are kept (least recently used go first).
    pub grant_capacity: usize,
    /// How long a session-scoped grant lasts at most (agentd cannot see a session end).
    pub session_grant_ttl: Duration,
    /// How long a reviewing parent agent has before a request goes up a level.
    pub escalation_window: Duration,
    /// How many reviewing parents a request may pass through before it goes to the operators.
    pub max_review_depth: usize,
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

    /// Resolves when the request's outcome is committed. Cancel-safe.
    pub async fn outcome(&mut self) -> Option<Outcome> {
        let result = self.rx.wait_for(Option::is_some).await.map(|o| o.clone());
        // On error the sender is gone; whatever it last sent is still readable.
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
    /// Shared with the store's writer, which sends the outcome once it is committed.
    outcome: Arc<watch::Sender<Option<Outcome>>>,
    /// Connections waiting on this request right now.
    waiters: usize,
    /// Bumped on every attach and detach, so a stale grace timer knows it is stale.
    generation: u64,
    timer: Option<AbortHandle>,
    /// How many reviewers it has been sent to, and a counter that makes a stale escalation
    /// timer harmless.
    review_depth: usize,
    review_turn: u64,
    /// The requesting process's lineage, read when it asked (empty for requests restored
    /// after a restart, whose processes are compared by pid alone).
    lineage: Lineage,
    /// When it expires on the monotonic clock: what the timer and the late-decision check
    /// enforce, whatever the wall clock does meanwhile (`view.expires_at` is for showing and
    /// storing).
    deadline: Instant,
    /// What the call reaches, for wider grants made while it waits (exact only for requests
    /// restored after a restart).
    reach: Reach,
}

struct Inner {
    entries: HashMap<Uuid, Entry>,
    /// Finished requests, oldest first, kept for quick answers to late deciders and re-attaching
    /// agents; older ones are read from the store.
    finished: VecDeque<Uuid>,
    /// Pending requests per agent (verified uid and name), for the per-agent cap.
    pending_by_agent: HashMap<AgentKey, usize>,
    /// Pending requests per uid, however many names its agents give.
    pending_by_uid: HashMap<Option<u32>, usize>,
    grants: Grants,
    /// Parent agents connected as reviewers, by their uid and name.
    reviewers: HashMap<AgentKey, Reviewer>,
}

/// A parent agent's review connection.
struct Reviewer {
    tx: mpsc::UnboundedSender<RequestView>,
    /// The reviewer's own parent, where its escalations go next.
    parent: Option<String>,
    /// The reviewing process and its ancestors, nearest first.
    chain: Vec<Proc>,
}

/// An agent as limits see it: the uid the kernel reported and the name it gave. The same name
/// from another uid is another agent; the pid is left out, since one agent may run as many
/// short processes.
pub type AgentKey = (Option<u32>, String);

fn agent_key(agent: &AgentIdentity) -> AgentKey {
    (agent.uid, agent.name.clone())
}

impl Inner {
    fn count_pending(&mut self, agent: &AgentIdentity, by: isize) {
        let count = self.pending_by_agent.entry(agent_key(agent)).or_insert(0);
        *count = count.saturating_add_signed(by);
        if *count == 0 {
            self.pending_by_agent.remove(&agent_key(agent));
        }
        let count = self.pending_by_uid.entry(agent.uid).or_insert(0);
        *count = count.saturating_add_signed(by);
        if *count == 0 {
            self.pending_by_uid.remove(&agent.uid);
        }
    }
}

pub struct Queue {
    inner: Mutex<Inner>,
    store: Arc<Store>,
    settings: QueueSettings,
}

impl Queue {
    pub fn new(store: Arc<Store>, settings: QueueSettings) -> Arc<Queue> {
        Arc::new(Queue {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                finished: VecDeque::new(),
                pending_by_agent: HashMap::new(),
                pending_by_uid: HashMap::new(),
                grants: Grants::new(settings.grant_capacity),
                reviewers: HashMap::new(),
            }),
            store,
            settings,
        })
    }

    /// Puts back the grants still in force when agentd last stopped.
    pub fn restore_grants(&self, grants: Vec<GrantView>) {
        let mut inner = self.lock();
        for grant in grants {
            for gone in inner.grants.insert(grant) {
                self.store.enqueue(
                    Some(RowWrite::GrantEnded(gone.id, "evicted".into())),
                    None,
                    Vec::new(),
                );
            }
        }
    }

    /// The grants in force, oldest first.
    pub fn grants(&self) -> Vec<GrantView> {
        self.lock().grants.list(Instant::now())
    }

    /// Revokes the grant `id` names (full ID or unique prefix) or, with `None`, every grant;
    /// returns how many ended. Durable before it returns.
    pub async fn revoke(&self, id: Option<&str>, by: &str) -> Result<u64, QueueError> {
        let prefix = id
            .map(IdPrefix::parse)
            .transpose()
            .map_err(|e| QueueError::BadId(e.to_string()))?;
        let seq = {
            let mut inner = self.lock();
            let ended = match inner.grants.revoke(prefix.as_ref()) {
                Ok(ended) => ended,
                Err(candidates) if candidates.is_empty() => {
                    return Err(QueueError::NotFound {
                        scope: "grant or ",
                        prefix: prefix.map(|p| p.as_str().to_string()).unwrap_or_default(),
                    })
                }
                Err(candidates) => {
                    return Err(QueueError::Ambiguous {
                        prefix: prefix.map(|p| p.as_str().to_string()).unwrap_or_default(),
                        candidates: candidates.iter().map(|c| c.to_string()).collect(),
                    })
                }
            };
            let mut seq = self.store.last_seq();
            for grant in &ended {
                let event = store::daemon_event(
                    "grant_revoked",
                    by,
                    serde_json::json!({ "grant": grant.id, "tool": grant.tool, "agent": grant.agent }),
                );
                seq = self.store.enqueue(
                    Some(RowWrite::GrantEnded(grant.id, "revoked".into())),
                    Some(event),
                    Vec::new(),
                );
            }
            tracing::info!(count = ended.len(), by, "grants revoked");
            (seq, ended.len() as u64)
        };
        self.store.durable(seq.0).await?;
        Ok(seq.1)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every change is a few field
        // writes), so carrying on is better than refusing every agent from then on.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.store.subscribe()
    }

    /// Waits until everything handed to the store so far is committed, so an answer never
    /// shows what is not yet durable.
    async fn settle(&self) -> Result<(), QueueError> {
        Ok(self.store.durable(self.store.last_seq()).await?)
    }

    /// Puts back the requests that were pending when agentd last stopped: with their original
    /// deadlines, or expired if the deadline passed meanwhile. Their agents have one grace
    /// period from now to re-attach. Returns how many are pending again and how many expired.
    pub fn restore(self: &Arc<Self>, pending: Vec<RequestView>) -> (usize, usize) {
        let now = now();
        let (mut restored, mut expired) = (0, 0);
        let mut inner = self.lock();
        for mut view in pending {
            let id = view.id;
            view.attached = false;
            let expires_at = view.expires_at;
            // The stored deadline is wall-clock (it must survive the restart); from here on
            // what it leaves is kept on the monotonic clock.
            let left = (expires_at - now).to_std().unwrap_or_default();
            inner.count_pending(&view.agent, 1);
            inner.entries.insert(
                id,
                Entry {
                    view,
                    outcome: Arc::new(watch::channel(None).0),
                    waiters: 0,
                    generation: 1,
                    timer: None,
                    review_depth: 0,
                    review_turn: 0,
                    lineage: Lineage::default(),
                    deadline: Instant::now() + left,
                    reach: Reach::ExactOnly("restored after a restart".into()),
                },
            );
            if expires_at <= now {
                let decision = Decision {
                    reason: Some("the deadline passed while agentd was not running".into()),
                    ..expiry()
                };
                self.finish(&mut inner, id, decision);
                expired += 1;
                continue;
            }
            let timer = self.start_timer(id, Instant::now() + left);
            if let Some(entry) = inner.entries.get_mut(&id) {
                entry.timer = Some(timer);
            }
            self.start_grace(id, 1);
            restored += 1;
        }
        (restored, expired)
    }

    fn start_timer(self: &Arc<Self>, id: Uuid, deadline: Instant) -> AbortHandle {
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            queue.expire(id);
        })
        .abort_handle()
    }

    fn start_grace(self: &Arc<Self>, id: Uuid, generation: u64) {
        let queue = Arc::clone(self);
        let grace = self.settings.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            queue.withdraw_if_abandoned(id, generation);
        });
    }

    /// Takes an admitted request from `agent`: answered at once if its tool needs no approval,
    /// otherwise queued with a deadline and a waiter for the submitting connection. Returns
    /// once the request is committed.
    pub async fn submit(
        self: &Arc<Self>,
        agent: AgentIdentity,
        req: Admitted,
        parent: Option<String>,
    ) -> Result<Submission, QueueError> {
        let id = Uuid::new_v4();
        let now = now();
        let view = RequestView {
            id,
            tool: req.tool,
            args_json: req.args_json,
            agent,
            session: req.session,
            summary: req.summary,
            risk: req.risk,
            risk_reasons: req.risk_reasons,
            created_at: now,
            expires_at: now + req.timeout,
            state: State::Pending,
            attached: true,
            decision: None,
            subject: req.subject,
            path: Vec::new(),
            reviewer: None,
            cwd: req.cwd,
            grant_options: req.grant_options,
        };
        let automatic = match (&req.auto, req.requires_approval) {
            (Some((verdict, rule, reason)), _) => Some(Decision {
                state: match verdict {
                    Verdict::Approve => State::Approved,
                    Verdict::Deny => State::Denied,
                },
                source: DecisionSource::Rule,
                by: rule.clone(),
                reason: Some(reason.clone()),
                at: now,
                by_uid: None,
                by_pid: None,
                grant: None,
                approved_args: None,
            }),
            (None, false) => Some(Decision {
                state: State::Approved,
                source: DecisionSource::Policy,
                by: AGENTD.into(),
                reason: None,
                at: now,
                by_uid: None,
                by_pid: None,
                grant: None,
                approved_args: None,
            }),
            (None, true) => None,
        };
        if let Some(decision) = automatic {
            return self.answer_at_once(view, decision, None).await;
        }
        let granted = self.lock().grants.answer(
            &view.tool,
            &view.args_json,
            &view.agent,
            view.session.as_deref(),
            &req.reach,
            Instant::now(),
        );
        if let Some(grant) = granted {
            let used = RowWrite::GrantUsed(grant.id);
            return self
                .answer_at_once(view, grant_decision(&grant, now), Some(used))
                .await;
        }

        // Read before the lock: who raised it, so that nobody inside that process tree can
        // decide or review it. Only requests that wait for someone need it.
        let lineage = match (self.settings.forbid_own_requests, view.agent.pid) {
            (true, Some(pid)) => Lineage::of(pid),
            _ => Lineage::default(),
        };
        let outcome = Arc::new(watch::channel(None).0);
        let rx = outcome.subscribe();
        let ticket = ticket(&view);
        tracing::info!(
            request = %id, tool = %view.tool, agent = %view.agent.name,
            pid = ?view.agent.pid, risk = %view.risk, expires_at = %view.expires_at,
            "request queued"
        );
        let seq = {
            let mut inner = self.lock();
            let key = agent_key(&view.agent);
            let already = inner.pending_by_agent.get(&key).copied().unwrap_or(0);
            if already >= self.settings.max_pending_per_agent {
                return Err(QueueError::Limit(format!(
                    "agent {} (uid {}) already has {already} requests pending, the most allowed; wait for decisions or withdraw some",
                    view.agent.name,
                    view.agent.uid.map_or("unknown".into(), |u| u.to_string()),
                )));
            }
            let of_uid = inner
                .pending_by_uid
                .get(&view.agent.uid)
                .copied()
                .unwrap_or(0);
            if of_uid >= self.settings.max_pending_per_uid {
                return Err(QueueError::Limit(format!(
                    "the agents of uid {} already have {of_uid} requests pending, the most one user's agents may; wait for decisions or withdraw some",
                    view.agent.uid.map_or("unknown".into(), |u| u.to_string()),
                )));
            }
            inner.count_pending(&view.agent, 1);
            // A reviewing parent sees it before the operators do.
            let reviewer = parent.filter(|p| {
                self.settings.max_review_depth > 0
                    && inner.reviewers.contains_key(&(view.agent.uid, p.clone()))
            });
            let deliveries = match reviewer {
                Some(_) => Vec::new(),
                None => vec![Delivery::Event(Event::Queued(view.clone()))],
            };
            let mut seq = self.store.enqueue(
                Some(RowWrite::Insert(view.clone())),
                Some(store::queued_event(&view)),
                deliveries,
            );
            let asker = view.agent.name.clone();
            let deadline = Instant::now() + req.timeout;
            let timer = self.start_timer(id, deadline);
            inner.entries.insert(
                id,
                Entry {
                    view,
                    outcome,
                    waiters: 1,
                    generation: 0,
                    timer: Some(timer),
                    review_depth: 0,
                    review_turn: 0,
                    lineage,
                    deadline,
                    reach: req.reach.clone(),
                },
            );
            if let Some(parent) = reviewer {
                seq = self.send_for_review(&mut inner, id, parent, format!("asked by {asker}"));
            }
            seq
        };
        let waiter = Waiter {
            queue: Arc::clone(self),
            id,
            rx,
        };
        self.store.durable(seq).await?;
        Ok(Submission::Queued { ticket, waiter })
    }

    /// Records a request answered the moment it arrives (by a rule, by policy or by a grant,
    /// whose use `also` records), and returns the answer once it is committed.
    async fn answer_at_once(
        &self,
        mut view: RequestView,
        decision: Decision,
        also: Option<RowWrite>,
    ) -> Result<Submission, QueueError> {
        let id = view.id;
        view.state = decision.state;
        view.attached = false;
        // Nobody was asked, so nothing was offered.
        view.grant_options.clear();
        view.decision = Some(decision.clone());
        log_decision(&view, &decision);
        let outcome = Outcome { id, decision };
        let seq = {
            let mut inner = self.lock();
            let mut seq = self.store.enqueue(
                Some(RowWrite::Insert(view.clone())),
                Some(store::finished_event(&view)),
                Vec::new(),
            );
            if let Some(write) = also {
                seq = self.store.enqueue(Some(write), None, Vec::new());
            }
            inner.entries.insert(
                id,
                Entry {
                    view,
                    outcome: Arc::new(watch::channel(Some(outcome.clone())).0),
                    waiters: 0,
                    generation: 0,
                    timer: None,
                    review_depth: 0,
                    review_turn: 0,
                    lineage: Lineage::default(),
                    deadline: Instant::now(),
                    reach: Reach::ExactOnly("answered at once".into()),
                },
            );
            self.retire(&mut inner, id);
            seq
        };
        self.store.durable(seq).await?;
        Ok(Submission::Decided(outcome))
    }

    /// A connection waits on an existing request, e.g. after its agent reconnected.
    pub async fn attach(self: &Arc<Self>, id: Uuid) -> Result<Submission, QueueError> {
        {
            let mut inner = self.lock();
            if let Some(entry) = inner.entries.get_mut(&id) {
                if entry.view.decision.is_none() {
                    entry.waiters += 1;
                    entry.generation += 1;
                    entry.view.attached = true;
                    tracing::info!(request = %id, waiters = entry.waiters, "agent attached");
                    return Ok(Submission::Queued {
                        ticket: ticket(&entry.view),
                        waiter: Waiter {
                            queue: Arc::clone(self),
                            id,
                            rx: entry.outcome.subscribe(),
                        },
                    });
                }
            }
        }
        let view = self.find_finished(id).await?;
        let decision = view.decision.ok_or(QueueError::NotFound {
            scope: "",
            prefix: id.to_string(),
        })?;
        Ok(Submission::Decided(Outcome { id, decision }))
    }

    /// Which agent (uid and name) raised request `id`, from memory or the store; `None` if no
    /// request has that ID.
    pub async fn owner(&self, id: Uuid) -> Result<Option<AgentKey>, QueueError> {
        let in_memory = self
            .lock()
            .entries
            .get(&id)
            .map(|e| agent_key(&e.view.agent));
        match in_memory {
            Some(key) => Ok(Some(key)),
            None => Ok(self.stored_by_id(id).await?.map(|v| agent_key(&v.agent))),
        }
    }

    /// A finished request by exact ID, from memory or the store, once its decision is durable.
    async fn find_finished(&self, id: Uuid) -> Result<RequestView, QueueError> {
        let in_memory = self.lock().entries.get(&id).map(|e| e.view.clone());
        let view = match in_memory {
            Some(view) => Some(view),
            None => self.stored_by_id(id).await?,
        };
        self.settle().await?;
        view.ok_or(QueueError::NotFound {
            scope: "",
            prefix: id.to_string(),
        })
    }

    async fn stored_by_id(&self, id: Uuid) -> Result<Option<RequestView>, QueueError> {
        let Some(reader) = self.store.reader() else {
            return Ok(None);
        };
        self.store.caught_up().await?;
        let found = tokio::task::spawn_blocking(move || reader.by_id(id))
            .await
            .map_err(|e| StoreError::Query(e.to_string()))??;
        Ok(found)
    }

    async fn stored_by_prefix(&self, prefix: &IdPrefix) -> Result<Vec<RequestView>, QueueError> {
        let Some(reader) = self.store.reader() else {
            return Ok(Vec::new());
        };
        self.store.caught_up().await?;
        let hyphenated = prefix.hyphenated();
        let found =
            tokio::task::spawn_blocking(move || reader.by_prefix(&hyphenated, STORE_CANDIDATES))
                .await
                .map_err(|e| StoreError::Query(e.to_string()))??;
        Ok(found)
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
        tracing::info!(request = %id, grace = ?self.settings.grace, "agent went away; waiting for it to re-attach");
        self.start_grace(id, generation);
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
                self.settings.grace.as_secs_f64()
            )),
            at: now(),
            by_uid: entry.view.agent.uid,
            by_pid: entry.view.agent.pid,
            grant: None,
            approved_args: None,
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
    pub async fn cancel(&self, id: Uuid, caller: Caller) -> Result<Outcome, QueueError> {
        let finished = {
            let mut inner = self.lock();
            match inner.entries.get(&id) {
                Some(entry) if entry.view.decision.is_none() => {
                    let decision = Decision {
                        state: State::Withdrawn,
                        source: DecisionSource::Agent,
                        by: entry.view.agent.name.clone(),
                        reason: Some("cancelled by the agent".into()),
                        at: now(),
                        by_uid: caller.uid,
                        by_pid: caller.pid,
                        grant: None,
                        approved_args: None,
                    };
                    self.finish(&mut inner, id, decision)
                }
                _ => None,
            }
        };
        let view = match finished {
            Some((view, seq)) => {
                self.store.durable(seq).await?;
                view
            }
            None => self.find_finished(id).await?,
        };
        let decision = view.decision.ok_or(QueueError::NotFound {
            scope: "",
            prefix: id.to_string(),
        })?;
        Ok(Outcome { id, decision })
    }

    /// An operator approves or denies. The prefix is matched against pending requests first,
    /// since those are the ones that can be decided. The first decision wins; any later one,
    /// and any decision after the deadline, gets an error naming the final state and who
    /// decided. Returns once the decision is committed.
    pub async fn decide(
        &self,
        req: &DecideRequest,
        caller: Caller,
    ) -> Result<RequestView, QueueError> {
        let prefix = IdPrefix::parse(&req.id).map_err(|e| QueueError::BadId(e.to_string()))?;
        let attempt = {
            let mut inner = self.lock();
            resolve_pending(&inner, &prefix)?
                .map(|id| self.decide_locked(&mut inner, id, req, &caller))
        };
        let late = match attempt {
            Some(Attempt::Decided(view, seq)) => {
                self.store.durable(seq).await?;
                return Ok(view);
            }
            Some(Attempt::Late(view)) => view,
            Some(Attempt::Invalid(message)) => return Err(QueueError::Invalid(message)),
            Some(Attempt::Forbidden(message)) => {
                tracing::warn!(operator = %req.operator, pid = ?caller.pid, "decision refused: {message}");
                return Err(QueueError::Forbidden(message));
            }
            Some(Attempt::Vanished) => {
                return Err(QueueError::NotFound {
                    scope: "pending ",
                    prefix: prefix.as_str().to_string(),
                })
            }
            None => {
                // Nothing pending matches: say what did happen to it, if anything did.
                let found = self.matching(&prefix).await?;
                match found.len() {
                    0 => {
                        return Err(QueueError::NotFound {
                            scope: "pending ",
                            prefix: prefix.as_str().to_string(),
                        })
                    }
                    1 => found.into_iter().next().ok_or(QueueError::NotFound {
                        scope: "pending ",
                        prefix: prefix.as_str().to_string(),
                    })?,
                    _ => return Err(ambiguous(&prefix, found)),
                }
            }
        };
        self.settle().await?;
        let message = already_finished(&late);
        tracing::warn!(request = %late.id, operator = %req.operator, verdict = ?req.verdict, "late decision refused: {message}");
        Err(QueueError::AlreadyFinished(message))
    }

    /// Decides `id` under the lock: the decided view and its write, or the view as it already
    /// ended.
    fn decide_locked(
        &self,
        inner: &mut Inner,
        id: Uuid,
        req: &DecideRequest,
        caller: &Caller,
    ) -> Attempt {
        if self.settings.forbid_own_requests {
            if let Some(message) = inner.entries.get(&id).and_then(|e| own_request(e, caller)) {
                return Attempt::Forbidden(message);
            }
        }
        let past_deadline = inner
            .entries
            .get(&id)
            .is_some_and(|e| e.view.state == State::Pending && e.deadline <= Instant::now());
        if past_deadline {
            // The timer has not fired yet, but the deadline people were shown has passed.
            if let Some((expired, _)) = self.finish(inner, id, expiry()) {
                return Attempt::Late(expired);
            }
        }
        // A wider scope makes a grant; the request it came from names it too.
        let ttl = match req.scope {
            Scope::Once => None,
            Scope::Session => {
                let has_session = inner
                    .entries
                    .get(&id)
                    .is_some_and(|e| e.view.session.is_some());
                if !has_session {
                    return Attempt::Invalid(format!(
                        "request {} has no session, so it cannot be decided for the session; use --scope timeboxed",
                        short(&id)
                    ));
                }
                Some(self.settings.session_grant_ttl)
            }
            Scope::Timeboxed { ttl_secs } => {
                if !(1..=MAX_GRANT_TTL_SECS).contains(&ttl_secs) {
                    return Attempt::Invalid(format!(
                        "a grant's time must be 1 s to {} days",
                        MAX_GRANT_TTL_SECS / 86_400
                    ));
                }
                Some(Duration::from_secs(ttl_secs))
            }
        };
        let covers = match self.chosen_grant(inner, id, req) {
            Ok(covers) => covers,
            Err(message) => return Attempt::Invalid(message),
        };
        let approved_args = match edited_args(inner, id, req) {
            Ok(args) => args,
            Err(message) => return Attempt::Invalid(message),
        };
        let grant_id = ttl.map(|_| Uuid::new_v4());
        let decision = Decision {
            state: match req.verdict {
                Verdict::Approve => State::Approved,
                Verdict::Deny => State::Denied,
            },
            source: DecisionSource::Operator,
            by: req.operator.trim().to_string(),
            reason: req.reason.clone().filter(|r| !r.is_empty()),
            at: now(),
            by_uid: caller.uid,
            by_pid: caller.pid,
            grant: grant_id,
            approved_args,
        };
        // `id` was pending under this same lock, so the decision takes; were it ever not to,
        // the caller reports what the request is instead.
        match self.finish(inner, id, decision) {
            Some((view, seq)) => match (grant_id, ttl) {
                (Some(grant_id), Some(ttl)) => {
                    let seq = self
                        .make_grant(inner, &view, req, (grant_id, covers), ttl)
                        .unwrap_or(seq);
                    Attempt::Decided(view, seq)
                }
                _ => Attempt::Decided(view, seq),
            },
            None => match inner.entries.get(&id) {
                Some(e) => Attempt::Late(e.view.clone()),
                None => Attempt::Vanished,
            },
        }
    }

    /// What the grant a decision makes covers: the request's grant option the decision names
    /// (`exact` when it names none), or why it cannot be made.
    fn chosen_grant(
        &self,
        inner: &Inner,
        id: Uuid,
        req: &DecideRequest,
    ) -> Result<GrantCover, String> {
        let Some(key) = req.grant.as_deref().filter(|k| *k != "exact") else {
            return Ok(GrantCover::Exact);
        };
        if req.scope == Scope::Once {
            return Err(format!(
                "grant '{key}' goes with a session or timeboxed scope, not once"
            ));
        }
        if req.verdict == Verdict::Deny {
            return Err(
                "a denial covers the exact call only; deny with no grant, or grant exact".into(),
            );
        }
        let options = inner
            .entries
            .get(&id)
            .map(|e| e.view.grant_options.clone())
            .unwrap_or_default();
        match options.iter().find(|o| o.key == key) {
            Some(option) => Ok(option.covers.clone()),
            None => {
                let offered: Vec<&str> = std::iter::once("exact")
                    .chain(
                        options
                            .iter()
                            .map(|o| o.key.as_str())
                            .filter(|k| *k != "exact"),
                    )
                    .collect();
                Err(format!(
                    "request {} offers no grant '{key}'; it offers {}",
                    short(&id),
                    offered.join(", ")
                ))
            }
        }
    }

    /// Records the grant a scoped decision on `view` makes, and answers with it every other
    /// pending request it covers. Returns the number of the last write.
    fn make_grant(
        &self,
        inner: &mut Inner,
        view: &RequestView,
        req: &DecideRequest,
        (grant_id, covers): (Uuid, GrantCover),
        ttl: Duration,
    ) -> Option<u64> {
        let at = now();
        let grant = GrantView {
            id: grant_id,
            verdict: req.verdict,
            scope: req.scope,
            tool: view.tool.clone(),
            args_json: view.args_json.clone(),
            agent: view.agent.name.clone(),
            agent_uid: view.agent.uid,
            session: match req.scope {
                Scope::Session => view.session.clone(),
                _ => None,
            },
            created_at: at,
            expires_at: at + ttl,
            created_by: req.operator.trim().to_string(),
            from_request: view.id,
            uses: 0,
            covers,
        };
        for gone in inner.grants.insert(grant.clone()) {
            self.store.enqueue(
                Some(RowWrite::GrantEnded(gone.id, "evicted".into())),
                None,
                Vec::new(),
            );
        }
        let event = store::daemon_event(
            "grant_created",
            &grant.created_by,
            serde_json::json!({
                "grant": grant.id,
                "scope": grant.scope.to_string(),
                "verdict": format!("{:?}", grant.verdict).to_lowercase(),
                "tool": grant.tool,
                "args_sha256": store::args_hash(&grant.args_json),
                "agent": grant.agent,
                "agent_uid": grant.agent_uid,
                "session": grant.session,
                "expires_at": grant.expires_at.to_rfc3339(),
                "from_request": grant.from_request,
                "covers": grant.covers.to_json(),
            }),
        );
        let mut seq = self.store.enqueue(
            Some(RowWrite::GrantMade(grant.clone())),
            Some(event),
            Vec::new(),
        );
        tracing::info!(grant = %grant.id, scope = %grant.scope, tool = %grant.tool, agent = %grant.agent, "grant made");
        // The pending requests of the same agent it covers are answered now too (through the
        // same test a new request meets).
        let candidates: Vec<(Uuid, String, String, Option<String>, Reach)> = inner
            .entries
            .values()
            .filter(|e| {
                e.view.state == State::Pending
                    && e.view.agent.uid == grant.agent_uid
                    && e.view.agent.name == grant.agent
                    && (grant.session.is_none() || e.view.session == grant.session)
            })
            .map(|e| {
                (
                    e.view.id,
                    e.view.tool.clone(),
                    e.view.args_json.clone(),
                    e.view.session.clone(),
                    e.reach.clone(),
                )
            })
            .collect();
        for (other, tool, args_json, session, reach) in candidates {
            let answered = inner.grants.answer(
                &tool,
                &args_json,
                &view.agent,
                session.as_deref(),
                &reach,
                Instant::now(),
            );
            let Some(used) = answered else { continue };
            self.finish(inner, other, grant_decision(&used, at));
            seq = self
                .store
                .enqueue(Some(RowWrite::GrantUsed(used.id)), None, Vec::new());
        }
        Some(seq)
    }

    /// Every request, in memory or in the store, whose ID starts with `prefix`.
    async fn matching(&self, prefix: &IdPrefix) -> Result<Vec<RequestView>, QueueError> {
        let mut found: Vec<RequestView> = self
            .lock()
            .entries
            .values()
            .filter(|e| prefix.matches(&e.view.id))
            .map(|e| e.view.clone())
            .collect();
        for stored in self.stored_by_prefix(prefix).await? {
            if !found.iter().any(|v| v.id == stored.id) {
                found.push(stored);
            }
        }
        Ok(found)
    }

    /// One request, pending or finished, by ID or unique prefix.
    pub async fn get(&self, id: &str) -> Result<RequestView, QueueError> {
        let prefix = IdPrefix::parse(id).map_err(|e| QueueError::BadId(e.to_string()))?;
        let found = self.matching(&prefix).await?;
        self.settle().await?;
        match found.len() {
            0 => Err(QueueError::NotFound {
                scope: "",
                prefix: prefix.as_str().to_string(),
            }),
            1 => found.into_iter().next().ok_or(QueueError::NotFound {
                scope: "",
                prefix: prefix.as_str().to_string(),
            }),
            _ => Err(ambiguous(&prefix, found)),
        }
    }

    /// Requests in memory in `state` (all when `None`), oldest first: every pending request,
    /// and the most recently finished ones. `History` reads the rest from the store.
    pub async fn list(&self, state: Option<State>) -> Result<Vec<RequestView>, QueueError> {
        let mut views: Vec<RequestView> = self
            .lock()
            .entries
            .values()
            .filter(|e| state.is_none_or(|s| e.view.state == s))
            // Pending with a reviewing parent is not yet the operators' business.
            .filter(|e| !(state == Some(State::Pending) && e.view.reviewer.is_some()))
            .map(|e| e.view.clone())
            .collect();
        self.settle().await?;
        views.sort_by_key(|v| (v.created_at, v.id));
        Ok(views)
    }

    /// Ends a pending request with `decision` and hands the change to the store, whose writer
    /// tells the agent and subscribers once it is committed. Does nothing (returns `None`) if
    /// the request has already ended: this is the only place a request leaves `Pending`.
    fn finish(
        &self,
        inner: &mut Inner,
        id: Uuid,
        decision: Decision,
    ) -> Option<(RequestView, u64)> {
        let entry = inner.entries.get_mut(&id)?;
        if entry.view.state != State::Pending {
            return None;
        }
        let agent = entry.view.agent.clone();
        entry.view.state = decision.state;
        entry.view.decision = Some(decision.clone());
        entry.view.attached = false;
        if let Some(timer) = entry.timer.take() {
            timer.abort();
        }
        log_decision(&entry.view, &decision);
        let view = entry.view.clone();
        let deliveries = vec![
            Delivery::Outcome(Arc::clone(&entry.outcome), Outcome { id, decision }),
            Delivery::Event(Event::Finished(view.clone())),
        ];
        let seq = self.store.enqueue(
            Some(RowWrite::Decide(view.clone())),
            Some(store::finished_event(&view)),
            deliveries,
        );
        inner.count_pending(&agent, -1);
        self.retire(inner, id);
        Some((view, seq))
    }

    /// Registers a parent agent (uid and name) as the reviewer of its children's requests; the
    /// newest connection for a name wins. Requests to review arrive on the receiver.
    pub fn add_reviewer(
        &self,
        key: AgentKey,
        parent: Option<String>,
        chain: Vec<Proc>,
    ) -> (ReviewerHandle, mpsc::UnboundedReceiver<RequestView>) {
        let (tx, rx) = mpsc::unbounded_channel();
        tracing::info!(reviewer = %key.1, uid = ?key.0, "parent agent reviewing");
        self.lock().reviewers.insert(
            key.clone(),
            Reviewer {
                tx: tx.clone(),
                parent,
                chain,
            },
        );
        (ReviewerHandle { key, tx }, rx)
    }

    /// A reviewer's connection went: what it was reviewing goes up a level now.
    pub fn remove_reviewer(self: &Arc<Self>, handle: ReviewerHandle) {
        let mut inner = self.lock();
        let ours = inner
            .reviewers
            .get(&handle.key)
            .is_some_and(|r| r.tx.same_channel(&handle.tx));
        if !ours {
            return;
        }
        let (uid, name) = handle.key.clone();
        let stranded: Vec<Uuid> = inner
            .entries
            .values()
            .filter(|e| {
                e.view.state == State::Pending
                    && e.view.agent.uid == uid
                    && e.view.reviewer.as_deref() == Some(name.as_str())
            })
            .map(|e| e.view.id)
            .collect();
        let why = format!("parent agent {name} went away");
        for id in stranded {
            self.escalate(&mut inner, id, &name, why.clone());
        }
        inner.reviewers.remove(&handle.key);
    }

    /// Hands a request to `parent`'s reviewer (which must be connected) and starts its
    /// escalation window. Returns the number of the write.
    fn send_for_review(
        self: &Arc<Self>,
        inner: &mut Inner,
        id: Uuid,
        parent: String,
        why: String,
    ) -> u64 {
        let Some(entry) = inner.entries.get(&id) else {
            return self.store.last_seq();
        };
        let key = (entry.view.agent.uid, parent.clone());
        let Some(reviewer) = inner.reviewers.get(&key) else {
            return self.to_operators(inner, id, why);
        };
        // A reviewer inside the requesting process's own tree would be the agent reviewing
        // itself: the request goes past it.
        if self.settings.forbid_own_requests && entry.lineage.related(&reviewer.chain) {
            let why = format!(
                "{why}; parent agent {parent} is the requesting process, its ancestor or its descendant, so it may not review it"
            );
            return self.to_operators(inner, id, why);
        }
        let tx = reviewer.tx.clone();
        let Some(entry) = inner.entries.get_mut(&id) else {
            return self.store.last_seq();
        };
        entry.view.reviewer = Some(parent.clone());
        entry.review_depth += 1;
        entry.review_turn += 1;
        entry
            .view
            .path
            .push(format!("{why}; sent to parent agent {parent} for review"));
        let (view, turn, depth) = (entry.view.clone(), entry.review_turn, entry.review_depth);
        let queue = Arc::clone(self);
        let window = self.settings.escalation_window;
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            queue.review_timed_out(id, turn);
        });
        let event = review_event(&view, "sent_for_review", &parent, &why, depth);
        self.store.enqueue(
            Some(RowWrite::Path(id, path_json(&view))),
            Some(event),
            vec![Delivery::Review(tx, view)],
        )
    }

    /// Puts a request in the operators' queue.
    fn to_operators(&self, inner: &mut Inner, id: Uuid, why: String) -> u64 {
        let Some(entry) = inner.entries.get_mut(&id) else {
            return self.store.last_seq();
        };
        entry.view.reviewer = None;
        entry
            .view
            .path
            .push(format!("{why}; sent to the operators"));
        let view = entry.view.clone();
        let event = review_event(&view, "escalated", AGENTD, &why, entry.review_depth);
        self.store.enqueue(
            Some(RowWrite::Path(id, path_json(&view))),
            Some(event),
            vec![Delivery::Event(Event::Queued(view))],
        )
    }

    /// Moves a request up from reviewer `from`: to that reviewer's own parent if it is
    /// reviewing and the depth allows, else to the operators.
    fn escalate(self: &Arc<Self>, inner: &mut Inner, id: Uuid, from: &str, why: String) -> u64 {
        let Some(entry) = inner.entries.get(&id) else {
            return self.store.last_seq();
        };
        let uid = entry.view.agent.uid;
        let depth = entry.review_depth;
        let next = inner
            .reviewers
            .get(&(uid, from.to_string()))
            .and_then(|r| r.parent.clone())
            .filter(|p| {
                depth < self.settings.max_review_depth
                    && inner.reviewers.contains_key(&(uid, p.clone()))
            });
        match next {
            Some(parent) => self.send_for_review(inner, id, parent, why),
            None => self.to_operators(inner, id, why),
        }
    }

    fn review_timed_out(self: &Arc<Self>, id: Uuid, turn: u64) {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get(&id) else {
            return;
        };
        if entry.view.state != State::Pending || entry.review_turn != turn {
            return;
        }
        let Some(reviewer) = entry.view.reviewer.clone() else {
            return;
        };
        let why = format!(
            "parent agent {reviewer} did not answer within {}s",
            self.settings.escalation_window.as_secs_f64()
        );
        self.escalate(&mut inner, id, &reviewer, why);
    }

    /// A reviewing parent agent's answer to a request it was sent.
    pub async fn review(
        self: &Arc<Self>,
        reviewer: &AgentKey,
        decision: &ReviewDecision,
        caller: Caller,
    ) -> Result<RequestView, QueueError> {
        let id = decision.id;
        let note = decision.note.clone().filter(|n| !n.trim().is_empty());
        let (view, seq) = {
            let mut inner = self.lock();
            let entry = inner
                .entries
                .get_mut(&id)
                .ok_or_else(|| QueueError::NotFound {
                    scope: "",
                    prefix: id.to_string(),
                })?;
            if entry.view.state != State::Pending {
                return Err(QueueError::AlreadyFinished(already_finished(&entry.view)));
            }
            let with_it = entry.view.reviewer.as_deref() == Some(reviewer.1.as_str())
                && entry.view.agent.uid == reviewer.0;
            if !with_it {
                return Err(QueueError::Forbidden(format!(
                    "request {} is not with {} for review",
                    short(&id),
                    reviewer.1
                )));
            }
            if self.settings.forbid_own_requests {
                if let Some(message) = own_request(entry, &caller) {
                    return Err(QueueError::Forbidden(message));
                }
            }
            let may_approve = self
                .settings
                .approvers
                .iter()
                .any(|a| a.allows(reviewer, &entry.view));
            if decision.action == ReviewAction::Approve && !may_approve {
                return Err(QueueError::Forbidden(format!(
                    "parent agent {} (uid {}) may deny or escalate request {} but not approve it: no [[escalation.approver]] entry allows it {} requests of risk {}",
                    reviewer.1,
                    reviewer.0.map_or("unknown".into(), |u| u.to_string()),
                    short(&id),
                    entry.view.tool,
                    entry.view.risk
                )));
            }
            let said = note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            match decision.action {
                ReviewAction::Escalate => {
                    let why = format!("escalated by parent agent {}{said}", reviewer.1);
                    let seq = self.escalate(&mut inner, id, &reviewer.1, why);
                    let view = inner.entries.get(&id).map(|e| e.view.clone());
                    (view, seq)
                }
                action => {
                    let (state, word) = match action {
                        ReviewAction::Approve => (State::Approved, "approved"),
                        _ => (State::Denied, "denied"),
                    };
                    entry
                        .view
                        .path
                        .push(format!("{word} by parent agent {}{said}", reviewer.1));
                    self.store.enqueue(
                        Some(RowWrite::Path(id, path_json(&entry.view))),
                        None,
                        Vec::new(),
                    );
                    let decision = Decision {
                        state,
                        source: DecisionSource::Parent,
                        by: reviewer.1.clone(),
                        reason: note,
                        at: now(),
                        by_uid: caller.uid,
                        by_pid: caller.pid,
                        grant: None,
                        approved_args: None,
                    };
                    match self.finish(&mut inner, id, decision) {
                        Some((view, seq)) => (Some(view), seq),
                        None => (None, self.store.last_seq()),
                    }
                }
            }
        };
        self.store.durable(seq).await?;
        view.ok_or(QueueError::NotFound {
            scope: "",
            prefix: id.to_string(),
        })
    }

    /// Stops every deadline timer, at shutdown: the requests stay pending in the store, and
    /// the next agentd restarts their timers from their stored deadlines.
    pub fn shutdown(&self) {
        for entry in self.lock().entries.values_mut() {
            if let Some(timer) = entry.timer.take() {
                timer.abort();
            }
        }
    }

    /// Moves a finished request to the bounded list of recent ones, dropping the oldest.
    fn retire(&self, inner: &mut Inner, id: Uuid) {
        inner.finished.push_back(id);
        while inner.finished.len() > self.settings.finished_capacity {
            if let Some(old) = inner.finished.pop_front() {
                inner.entries.remove(&old);
            }
        }
    }
}

/// What an operator's decision did, under the lock.
enum Attempt {
    /// It took: the decided request and its write.
    Decided(RequestView, u64),
    /// The request had already ended (or just expired): how it ended.
    Late(RequestView),
    /// The request left memory between resolving and deciding; never expected.
    Vanished,
    /// The caller may not decide it (its own request).
    Forbidden(String),
    /// The decision asked for cannot be made (a session scope without a session).
    Invalid(String),
}

/// The pending request `prefix` names, if exactly one does; an error if several do.
/// The edited arguments a decision approves with, canonical, if it carries any that differ
/// from those asked with; or why they cannot be taken. They are for this one call: never with
/// a denial or a grant, which would then cover arguments nobody asked about.
fn edited_args(inner: &Inner, id: Uuid, req: &DecideRequest) -> Result<Option<String>, String> {
    let Some(text) = &req.args_json else {
        return Ok(None);
    };
    if req.verdict == Verdict::Deny {
        return Err("edited arguments go with an approval, not a denial".into());
    }
    if req.scope != Scope::Once {
        return Err(
            "an approval with edited arguments is for this call only: it makes no grant (leave out --scope and --grant)"
                .into(),
        );
    }
    let canonical = crate::intake::canonical_args(text, shared::MAX_ARGS_LEN)
        .map_err(|e| format!("the edited arguments: {}", e.message))?;
    let asked = inner.entries.get(&id).map(|e| e.view.args_json.as_str());
    Ok((asked != Some(canonical.as_str())).then_some(canonical))
}

fn resolve_pending(inner: &Inner, prefix: &IdPrefix) -> Result<Option<Uuid>, QueueError> {
    let matches: Vec<RequestView> = inner
        .entries
        .values()
        .filter(|e| e.view.state == State::Pending && prefix.matches(&e.view.id))
        .map(|e| e.view.clone())
        .collect();
    match matches.len() {
        0 => Ok(None),
        1 => Ok(matches.first().map(|v| v.id)),
        _ => Err(ambiguous(prefix, matches)),
    }
}

fn ambiguous(prefix: &IdPrefix, mut matches: Vec<RequestView>) -> QueueError {
    matches.sort_by_key(|v| v.created_at);
    QueueError::Ambiguous {
        prefix: prefix.as_str().to_string(),
        candidates: matches
            .iter()
            .map(|v| format!("{} ({}, {})", v.id, v.state, v.tool))
            .collect(),
    }
}

/// The time, at the microsecond precision the store keeps, so a request reads the same before
/// and after a restart.
fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Identifies one reviewer registration, so a replaced one is not removed by its old
/// connection.
pub struct ReviewerHandle {
    key: AgentKey,
    tx: mpsc::UnboundedSender<RequestView>,
}

fn path_json(view: &RequestView) -> String {
    serde_json::to_string(&view.path).unwrap_or_else(|_| "[]".into())
}

/// An audit entry for a step through reviewers.
fn review_event(
    view: &RequestView,
    kind: &'static str,
    actor: &str,
    why: &str,
    depth: usize,
) -> store::AuditEvent {
    store::AuditEvent {
        at: now(),
        kind: kind.into(),
        request_id: Some(view.id),
        actor: actor.to_string(),
        detail: serde_json::json!({ "why": why, "depth": depth, "reviewer": view.reviewer }),
    }
}

/// The longest a grant may last: 30 days.
pub const MAX_GRANT_TTL_SECS: u64 = 30 * 86_400;

/// The decision a grant gives a request it answers.
fn grant_decision(grant: &GrantView, at: DateTime<Utc>) -> Decision {
    Decision {
        state: match grant.verdict {
            Verdict::Approve => State::Approved,
            Verdict::Deny => State::Denied,
        },
        source: DecisionSource::Grant,
        by: grant.created_by.clone(),
        reason: Some(format!(
            "{} grant {} (from request {})",
            grant.scope,
            short(&grant.id),
            short(&grant.from_request)
        )),
        at,
        by_uid: None,
        by_pid: None,
        grant: Some(grant.id),
        approved_args: None,
    }
}

fn expiry() -> Decision {
    Decision {
        state: State::Expired,
        source: DecisionSource::Timeout,
        by: AGENTD.into(),
        reason: None,
        at: now(),
        by_uid: None,
        by_pid: None,
        grant: None,
        approved_args: None,
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
    // Tools that need no approval can be answered thousands of times a second: at `info`
    // they would drown the decisions people make (the audit trail keeps every one anyway).
    if d.source == DecisionSource::Policy {
        tracing::debug!(
            request = %view.id, tool = %view.tool, agent = %view.agent.name,
            state = %d.state, source = %d.source, by = %d.by,
            "request {}", d.state
        );
        return;
    }
    tracing::info!(
        request = %view.id, tool = %view.tool, agent = %view.agent.name,
        state = %d.state, source = %d.source, by = %d.by,
        reason = d.reason.as_deref().unwrap_or(""),
        "request {}", d.state
    );
}
