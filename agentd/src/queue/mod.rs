//! The approval queue: the one owner of every pending request, its deadline, its waiters and
//! its decision.
//!
//! All state sits behind one mutex, and every way a request can end (decision, deadline,
//! cancel, abandonment) goes through `finish`, which only acts on a pending request. So a
//! decision racing the deadline resolves to exactly one outcome. Every change is handed to the
//! store in the same critical section, so the store sees changes in the order they happened;
//! the queue's outbox (`outbox.rs`) delivers the outcome to the agent and the event to
//! subscribers only once the store says the change is durable, and replies to operators wait
//! for that too.
//!
//! This file is the state machine (attach, detach, cancel, expire, finish, the timers); beside
//! it: `submit.rs` (a request comes in: answered at once, by a grant, or queued),
//! `decide.rs` (operators' decisions and the grants they make), `review.rs` (parent agents'
//! review and escalation), `lookup.rs` (finding requests in memory and the store),
//! `restore.rs` (pending requests put back after a restart), `who_decides.rs` (who may decide
//! what) and `error.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agentd_proto::request_id::{short, IdPrefix};
use agentd_proto::{
    AgentIdentity, DecideRequest, Decision, DecisionSource, ErrorCode, Event, GrantCover,
    GrantView, Outcome, RequestView, ReviewAction, ReviewDecision, Scope, State, Ticket, Verdict,
    WireError,
};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::clock::{SystemClock, WallClock};
use crate::grants::Grants;
use crate::lineage::{Lineage, Proc};
use crate::policy::intake::Admitted;
use crate::policy::reach::Reach;
use crate::store::{self, RowWrite, Store, StoreError, Write};

mod decide;
mod error;
mod lookup;
mod outbox;
mod restore;
mod review;
mod submit;
mod who_decides;

pub use decide::MAX_GRANT_TTL_SECS;
use decide::*;
pub use error::QueueError;
use error::*;
pub use review::ReviewerHandle;

use outbox::{Delivery, Outbox};
use who_decides::own_request;
pub use who_decides::Approver;

/// The name decisions made by agentd itself carry.
pub const AGENTD: &str = "agentd";

/// How many stored requests a prefix lookup considers before calling the prefix ambiguous.
const STORE_CANDIDATES: usize = 10;

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

/// How often a detached request's agent process is looked at during the grace period.
const GONE_LOOK: Duration = Duration::from_millis(100);

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

pub use crate::agent::AgentKey;

impl Inner {
    fn count_pending(&mut self, agent: &AgentIdentity, by: isize) {
        let count = self
            .pending_by_agent
            .entry(AgentKey::of(agent))
            .or_insert(0);
        *count = count.saturating_add_signed(by);
        if *count == 0 {
            self.pending_by_agent.remove(&AgentKey::of(agent));
        }
        let count = self.pending_by_uid.entry(agent.uid).or_insert(0);
        *count = count.saturating_add_signed(by);
        if *count == 0 {
            self.pending_by_uid.remove(&agent.uid);
        }
    }
}

pub struct Queue {
    /// The wall clock, for what is shown and stored; deadlines run on tokio's clock.
    clock: Arc<dyn WallClock>,
    /// Outcomes, events and reviews waiting for their writes to be durable.
    outbox: Arc<Outbox>,
    inner: Mutex<Inner>,
    store: Arc<Store>,
    settings: QueueSettings,
}

impl Queue {
    pub fn new(store: Arc<Store>, settings: QueueSettings) -> Arc<Queue> {
        Queue::with_clock(store, settings, Arc::new(SystemClock))
    }

    /// A queue that reads the wall-clock time from `clock` (its deadlines always run on
    /// tokio's monotonic clock).
    pub fn with_clock(
        store: Arc<Store>,
        settings: QueueSettings,
        clock: Arc<dyn WallClock>,
    ) -> Arc<Queue> {
        Arc::new(Queue {
            clock,
            outbox: Arc::new(Outbox::new()),
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every change is a few field
        // writes), so carrying on is better than refusing every agent from then on.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.outbox.subscribe()
    }

    /// Hands `write` to the store and holds `deliveries` in the outbox until it is durable.
    /// Called under the queue's lock, so writes and deliveries keep the order of the changes.
    fn write(&self, write: Write, deliveries: Vec<Delivery>) -> u64 {
        let seq = self.store.write(write);
        self.outbox.post(&self.store, seq, deliveries);
        seq
    }

    /// Waits until everything handed to the store so far is committed, so an answer never
    /// shows what is not yet durable.
    async fn settle(&self) -> Result<(), QueueError> {
        Ok(self.store.durable(self.store.last_seq()).await?)
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
        // Counted from now, not from when the task first runs.
        let ends = Instant::now() + self.settings.grace;
        tokio::spawn(async move {
            // The agent's process is looked at meanwhile: one that ended cannot come back, so
            // its request goes at once. (Its socket closes while it is still exiting, so one
            // look when the connection drops is too early.)
            let mut look = tokio::time::interval(GONE_LOOK);
            look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(ends) => break,
                    _ = look.tick() => {
                        if queue.withdraw_if_process_gone(id, generation) {
                            return;
                        }
                    }
                }
            }
            queue.withdraw_if_abandoned(id, generation);
        });
    }

    /// Withdraws `id` if it is still abandoned since `generation` and its agent's process has
    /// ended; true when the wait is over either way (withdrawn, re-attached or decided).
    fn withdraw_if_process_gone(&self, id: Uuid, generation: u64) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get(&id) else {
            return true;
        };
        if entry.waiters > 0 || entry.generation != generation {
            return true;
        }
        if !entry.view.agent.pid.is_some_and(crate::agent::process_gone) {
            return false;
        }
        tracing::info!(request = %id, "agent's process ended; withdrawing its request");
        self.withdraw(&mut inner, id, "the agent's process ended".to_string());
        true
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
            kind: NotFound::Request,
            prefix: id.to_string(),
        })?;
        Ok(Submission::Decided(Outcome { id, decision }))
    }

    /// A waiting connection went away. When the last one goes, the request waits one grace
    /// period for its agent to re-attach, then is withdrawn; if the agent's process has ended
    /// (a runtime killed its hook, or cancelled it because the person answered elsewhere),
    /// nobody can come back for the answer, so it is withdrawn at once.
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
        let why = format!(
            "the agent went away and did not come back within {}s",
            self.settings.grace.as_secs_f64()
        );
        self.withdraw(&mut inner, id, why);
    }

    /// Withdraws the pending request `id` on its agent's behalf, for `why`.
    fn withdraw(&self, inner: &mut Inner, id: Uuid, why: String) {
        let Some(entry) = inner.entries.get(&id) else {
            return;
        };
        let agent = &entry.view.agent;
        let decision = Decision::new(
            State::Withdrawn,
            DecisionSource::Agent,
            agent.name.as_str(),
            self.now(),
        )
        .reason(Some(why))
        .by_process(agent.uid, agent.pid);
        self.finish(inner, id, decision);
    }

    /// The deadline passed: deny automatically.
    pub fn expire(&self, id: Uuid) {
        let mut inner = self.lock();
        self.finish(&mut inner, id, self.expiry());
    }

    /// The agent withdraws its request. Returns the outcome (the earlier one if it had already
    /// finished, so a cancel racing a decision reports what really happened).
    pub async fn cancel(&self, id: Uuid, caller: Caller) -> Result<Outcome, QueueError> {
        let finished = {
            let mut inner = self.lock();
            match inner.entries.get(&id) {
                Some(entry) if entry.view.decision.is_none() => {
                    let decision = Decision::new(
                        State::Withdrawn,
                        DecisionSource::Agent,
                        entry.view.agent.name.as_str(),
                        self.now(),
                    )
                    .reason(Some("cancelled by the agent".into()))
                    .by_process(caller.uid, caller.pid);
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
            kind: NotFound::Request,
            prefix: id.to_string(),
        })?;
        Ok(Outcome { id, decision })
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
        let seq = self.write(
            Write::row(RowWrite::Decide(view.clone())).and_audit(store::finished_event(&view)),
            deliveries,
        );
        inner.count_pending(&agent, -1);
        self.retire(inner, id);
        Some((view, seq))
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

impl Queue {
    /// The wall-clock time, as the store keeps it.
    fn now(&self) -> DateTime<Utc> {
        crate::clock::stored(self.clock.now())
    }

    /// The deadline's decision, made now.
    fn expiry(&self) -> Decision {
        Decision::new(State::Expired, DecisionSource::Timeout, AGENTD, self.now())
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
