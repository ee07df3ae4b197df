//! Looking requests up: by ID or prefix, in memory or in the store; lists; who raised one.

use super::*;

impl Queue {
    /// Which agent (uid and name) raised request `id`, from memory or the store; `None` if no
    /// request has that ID.
    pub async fn owner(&self, id: Uuid) -> Result<Option<AgentKey>, QueueError> {
        let in_memory = self
            .lock()
            .entries
            .get(&id)
            .map(|e| AgentKey::of(&e.view.agent));
        match in_memory {
            Some(key) => Ok(Some(key)),
            None => Ok(self.stored_by_id(id).await?.map(|v| AgentKey::of(&v.agent))),
        }
    }

    /// A finished request by exact ID, from memory or the store, once its decision is durable.
    pub(super) async fn find_finished(&self, id: Uuid) -> Result<RequestView, QueueError> {
        let in_memory = self.lock().entries.get(&id).map(|e| e.view.clone());
        let view = match in_memory {
            Some(view) => Some(view),
            None => self.stored_by_id(id).await?,
        };
        self.settle().await?;
        view.ok_or(QueueError::NotFound {
            kind: NotFound::Request,
            prefix: id.to_string(),
        })
    }

    pub(super) async fn stored_by_id(&self, id: Uuid) -> Result<Option<RequestView>, QueueError> {
        let found = self.store.query(move |reader| reader.by_id(id)).await?;
        Ok(found.flatten())
    }

    pub(super) async fn stored_by_prefix(
        &self,
        prefix: &IdPrefix,
    ) -> Result<Vec<RequestView>, QueueError> {
        let hyphenated = prefix.hyphenated();
        let found = self
            .store
            .query(move |reader| reader.by_prefix(&hyphenated, STORE_CANDIDATES))
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// Every request, in memory or in the store, whose ID starts with `prefix`.
    pub(super) async fn matching(&self, prefix: &IdPrefix) -> Result<Vec<RequestView>, QueueError> {
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
                kind: NotFound::Request,
                prefix: prefix.as_str().to_string(),
            }),
            1 => found.into_iter().next().ok_or(QueueError::NotFound {
                kind: NotFound::Request,
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
}
