//! A request comes in: answered at once (no approval needed, or a rule), answered by a grant,
//! or queued with its deadline and a waiter for the agent's connection.

use super::*;

impl Queue {
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
        let now = self.now();
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
            (Some((verdict, rule, reason)), _) => Some(
                Decision::new((*verdict).into(), DecisionSource::Rule, rule.as_str(), now)
                    .reason(Some(reason.clone())),
            ),
            (None, false) => Some(Decision::new(
                State::Approved,
                DecisionSource::Policy,
                AGENTD,
                now,
            )),
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
            let key = AgentKey::of(&view.agent);
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
                    && inner
                        .reviewers
                        .contains_key(&AgentKey::new(view.agent.uid, p.as_str()))
            });
            let deliveries = match reviewer {
                Some(_) => Vec::new(),
                None => vec![Delivery::Event(Event::Queued(view.clone()))],
            };
            let mut seq = self.write(
                Write::row(RowWrite::Insert(view.clone())).and_audit(store::queued_event(&view)),
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
            let mut seq = self.store.write(
                Write::row(RowWrite::Insert(view.clone())).and_audit(store::finished_event(&view)),
            );
            if let Some(write) = also {
                seq = self.store.write(Write::row(write));
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
}
