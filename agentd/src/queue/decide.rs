//! Operators' decisions: resolving an ID prefix, deciding under the lock, and the grants a
//! scoped decision makes (which grant option, edited arguments, answering the pending requests
//! a new grant covers); listing, restoring and revoking grants.

use super::*;

impl Queue {
    /// Puts back the grants still in force when agentd last stopped.
    pub fn restore_grants(&self, grants: Vec<GrantView>) {
        let mut inner = self.lock();
        for grant in grants {
            for gone in inner.grants.insert(grant, self.clock.now()) {
                self.store
                    .write(Write::row(RowWrite::GrantEnded(gone.id, "evicted".into())));
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
                        kind: NotFound::GrantOrRequest,
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
                seq = self.store.write(
                    Write::row(RowWrite::GrantEnded(grant.id, "revoked".into())).and_audit(event),
                );
            }
            tracing::info!(count = ended.len(), by, "grants revoked");
            (seq, ended.len() as u64)
        };
        self.store.durable(seq.0).await?;
        Ok(seq.1)
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
                    kind: NotFound::Pending,
                    prefix: prefix.as_str().to_string(),
                })
            }
            None => {
                // Nothing pending matches: say what did happen to it, if anything did.
                let found = self.matching(&prefix).await?;
                match found.len() {
                    0 => {
                        return Err(QueueError::NotFound {
                            kind: NotFound::Pending,
                            prefix: prefix.as_str().to_string(),
                        })
                    }
                    1 => found.into_iter().next().ok_or(QueueError::NotFound {
                        kind: NotFound::Pending,
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
    pub(super) fn decide_locked(
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
            if let Some((expired, _)) = self.finish(inner, id, self.expiry()) {
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
            approved_args,
            ..Decision::new(
                req.verdict.into(),
                DecisionSource::Operator,
                req.operator.trim(),
                self.now(),
            )
            .reason(req.reason.clone().filter(|r| !r.is_empty()))
            .by_process(caller.uid, caller.pid)
            .grant(grant_id)
        };
        // Whether its agent waits for this answer, for the operator who gives it (the stored
        // view of a finished request is never attached).
        let waited = inner.entries.get(&id).is_some_and(|e| e.waiters > 0);
        // `id` was pending under this same lock, so the decision takes; were it ever not to,
        // the caller reports what the request is instead.
        match self.finish(inner, id, decision) {
            Some((mut view, seq)) => match (grant_id, ttl) {
                (Some(grant_id), Some(ttl)) => {
                    let seq = self
                        .make_grant(inner, &view, req, (grant_id, covers), ttl)
                        .unwrap_or(seq);
                    view.attached = waited;
                    Attempt::Decided(view, seq)
                }
                _ => {
                    view.attached = waited;
                    Attempt::Decided(view, seq)
                }
            },
            None => match inner.entries.get(&id) {
                Some(e) => Attempt::Late(e.view.clone()),
                None => Attempt::Vanished,
            },
        }
    }

    /// What the grant a decision makes covers: the request's grant option the decision names
    /// (`exact` when it names none), or why it cannot be made.
    pub(super) fn chosen_grant(
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
    pub(super) fn make_grant(
        &self,
        inner: &mut Inner,
        view: &RequestView,
        req: &DecideRequest,
        (grant_id, covers): (Uuid, GrantCover),
        ttl: Duration,
    ) -> Option<u64> {
        let at = self.now();
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
            reason: req.reason.clone().filter(|r| !r.trim().is_empty()),
        };
        for gone in inner.grants.insert(grant.clone(), self.clock.now()) {
            self.store
                .write(Write::row(RowWrite::GrantEnded(gone.id, "evicted".into())));
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
                "reason": grant.reason,
            }),
        );
        let mut seq = self
            .store
            .write(Write::row(RowWrite::GrantMade(grant.clone())).and_audit(event));
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
            seq = self.store.write(Write::row(RowWrite::GrantUsed(used.id)));
        }
        Some(seq)
    }
}

/// What an operator's decision did, under the lock.
pub(super) enum Attempt {
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
pub(super) fn edited_args(
    inner: &Inner,
    id: Uuid,
    req: &DecideRequest,
) -> Result<Option<String>, String> {
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
    let canonical = crate::policy::intake::canonical_args(text, agentd_proto::MAX_ARGS_LEN)
        .map_err(|e| format!("the edited arguments: {}", e.message))?;
    let asked = inner.entries.get(&id).map(|e| e.view.args_json.as_str());
    Ok((asked != Some(canonical.as_str())).then_some(canonical))
}

pub(super) fn resolve_pending(
    inner: &Inner,
    prefix: &IdPrefix,
) -> Result<Option<Uuid>, QueueError> {
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

/// The longest a grant may last: 30 days.
pub const MAX_GRANT_TTL_SECS: u64 = 30 * 86_400;

/// The decision a grant gives a request it answers.
pub(super) fn grant_decision(grant: &GrantView, at: DateTime<Utc>) -> Decision {
    let source = format!(
        "{} grant {} (from request {})",
        grant.scope,
        short(&grant.id),
        short(&grant.from_request)
    );
    // The operator's own words go first: they are what the agent needs to hear.
    let reason = match &grant.reason {
        Some(said) => format!("{said} ({source})"),
        None => source,
    };
    Decision::new(
        grant.verdict.into(),
        DecisionSource::Grant,
        grant.created_by.as_str(),
        at,
    )
    .reason(Some(reason))
    .grant(Some(grant.id))
}
