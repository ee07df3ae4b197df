//! Parent agents' review: reviewers connect, a child's request goes to its parent before the
//! operators, and a review approves, denies or escalates it; silence escalates it too.

use super::*;

impl Queue {
    /// Registers a parent agent (uid and name) as the reviewer of its children's requests; the
    /// newest connection for a name wins. Requests to review arrive on the receiver.
    pub fn add_reviewer(
        &self,
        key: AgentKey,
        parent: Option<String>,
        chain: Vec<Proc>,
    ) -> (ReviewerHandle, mpsc::UnboundedReceiver<RequestView>) {
        let (tx, rx) = mpsc::unbounded_channel();
        tracing::info!(reviewer = %key.name, uid = ?key.uid, "parent agent reviewing");
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
        let AgentKey { uid, name } = handle.key.clone();
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
    pub(super) fn send_for_review(
        self: &Arc<Self>,
        inner: &mut Inner,
        id: Uuid,
        parent: String,
        why: String,
    ) -> u64 {
        let Some(entry) = inner.entries.get(&id) else {
            return self.store.last_seq();
        };
        let key = AgentKey::new(entry.view.agent.uid, parent.as_str());
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
        // Counted from now, not from when the task first runs.
        let ends = Instant::now() + self.settings.escalation_window;
        tokio::spawn(async move {
            tokio::time::sleep_until(ends).await;
            queue.review_timed_out(id, turn);
        });
        let event = review_event(self.now(), &view, "sent_for_review", &parent, &why, depth);
        self.write(
            Write::row(RowWrite::Path(id, path_json(&view))).and_audit(event),
            vec![Delivery::Review(tx, view)],
        )
    }

    /// Puts a request in the operators' queue.
    pub(super) fn to_operators(&self, inner: &mut Inner, id: Uuid, why: String) -> u64 {
        let Some(entry) = inner.entries.get_mut(&id) else {
            return self.store.last_seq();
        };
        entry.view.reviewer = None;
        entry
            .view
            .path
            .push(format!("{why}; sent to the operators"));
        let view = entry.view.clone();
        let event = review_event(
            self.now(),
            &view,
            "escalated",
            AGENTD,
            &why,
            entry.review_depth,
        );
        self.write(
            Write::row(RowWrite::Path(id, path_json(&view))).and_audit(event),
            vec![Delivery::Event(Event::Queued(view))],
        )
    }

    /// Moves a request up from reviewer `from`: to that reviewer's own parent if it is
    /// reviewing and the depth allows, else to the operators.
    pub(super) fn escalate(
        self: &Arc<Self>,
        inner: &mut Inner,
        id: Uuid,
        from: &str,
        why: String,
    ) -> u64 {
        let Some(entry) = inner.entries.get(&id) else {
            return self.store.last_seq();
        };
        let uid = entry.view.agent.uid;
        let depth = entry.review_depth;
        let next = inner
            .reviewers
            .get(&AgentKey::new(uid, from))
            .and_then(|r| r.parent.clone())
            .filter(|p| {
                depth < self.settings.max_review_depth
                    && inner
                        .reviewers
                        .contains_key(&AgentKey::new(uid, p.as_str()))
            });
        match next {
            Some(parent) => self.send_for_review(inner, id, parent, why),
            None => self.to_operators(inner, id, why),
        }
    }

    pub(super) fn review_timed_out(self: &Arc<Self>, id: Uuid, turn: u64) {
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
                    kind: NotFound::Request,
                    prefix: id.to_string(),
                })?;
            if entry.view.state != State::Pending {
                return Err(QueueError::AlreadyFinished(already_finished(&entry.view)));
            }
            let with_it = entry.view.reviewer.as_deref() == Some(reviewer.name.as_str())
                && entry.view.agent.uid == reviewer.uid;
            if !with_it {
                return Err(QueueError::Forbidden(format!(
                    "request {} is not with {} for review",
                    short(&id),
                    reviewer.name
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
                    reviewer.name,
                    reviewer.uid.map_or("unknown".into(), |u| u.to_string()),
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
                    let why = format!("escalated by parent agent {}{said}", reviewer.name);
                    let seq = self.escalate(&mut inner, id, &reviewer.name, why);
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
                        .push(format!("{word} by parent agent {}{said}", reviewer.name));
                    self.store
                        .write(Write::row(RowWrite::Path(id, path_json(&entry.view))));
                    let decision = Decision::new(
                        state,
                        DecisionSource::Parent,
                        reviewer.name.as_str(),
                        self.now(),
                    )
                    .reason(note)
                    .by_process(caller.uid, caller.pid);
                    match self.finish(&mut inner, id, decision) {
                        Some((view, seq)) => (Some(view), seq),
                        None => (None, self.store.last_seq()),
                    }
                }
            }
        };
        self.store.durable(seq).await?;
        view.ok_or(QueueError::NotFound {
            kind: NotFound::Request,
            prefix: id.to_string(),
        })
    }
}

/// Identifies one reviewer registration, so a replaced one is not removed by its old
/// connection.
pub struct ReviewerHandle {
    key: AgentKey,
    tx: mpsc::UnboundedSender<RequestView>,
}

pub(super) fn path_json(view: &RequestView) -> String {
    serde_json::to_string(&view.path).unwrap_or_else(|_| "[]".into())
}

/// An audit entry for a step through reviewers.
pub(super) fn review_event(
    at: DateTime<Utc>,
    view: &RequestView,
    kind: &'static str,
    actor: &str,
    why: &str,
    depth: usize,
) -> store::AuditEvent {
    store::AuditEvent {
        at,
        kind: kind.into(),
        request_id: Some(view.id),
        actor: actor.to_string(),
        detail: serde_json::json!({ "why": why, "depth": depth, "reviewer": view.reviewer }),
    }
}
