//! After a restart: the requests that were pending are put back with what is left of their
//! deadlines, or expired if it passed while agentd was not running.

use super::*;

impl Queue {
    /// Puts back the requests that were pending when agentd last stopped: with their original
    /// deadlines, or expired if the deadline passed meanwhile. Their agents have one grace
    /// period from now to re-attach. Returns how many are pending again and how many expired.
    pub fn restore(self: &Arc<Self>, pending: Vec<RequestView>) -> (usize, usize) {
        let now = self.now();
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
                let decision = self.expiry().reason(Some(
                    "the deadline passed while agentd was not running".into(),
                ));
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
}
