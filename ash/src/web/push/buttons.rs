//! The one-time secrets behind a notification's approve and deny buttons. Each is bound to one
//! request and one verdict and is good until the request's deadline; using either spends both.
//! Only hashes are kept, so a lookup takes the same time whatever the guess.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use agentd_proto::Verdict;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::web::devices;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Button {
    pub host: usize,
    pub id: Uuid,
    pub verdict: Verdict,
    pub until: DateTime<Utc>,
}

#[derive(Default)]
pub struct Tokens {
    /// By the SHA-256 of the secret.
    live: Mutex<HashMap<String, Button>>,
}

impl Tokens {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Button>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Two new secrets for a request: (approve, deny).
    pub fn issue(
        &self,
        host: usize,
        id: Uuid,
        until: DateTime<Utc>,
    ) -> anyhow::Result<(String, String)> {
        let approve = devices::secret(16)?;
        let deny = devices::secret(16)?;
        let mut live = self.live();
        for (secret, verdict) in [(&approve, Verdict::Approve), (&deny, Verdict::Deny)] {
            live.insert(
                devices::hash(secret),
                Button {
                    host,
                    id,
                    verdict,
                    until,
                },
            );
        }
        Ok((approve, deny))
    }

    /// What `secret` was issued for, if it is live and in time; both of that request's secrets
    /// are spent.
    pub fn take(&self, secret: &str, now: DateTime<Utc>) -> Option<Button> {
        let mut live = self.live();
        let button = live.remove(&devices::hash(secret))?;
        live.retain(|_, b| !(b.host == button.host && b.id == button.id));
        (now < button.until).then_some(button)
    }

    /// Spends a request's secrets (it was decided some other way).
    pub fn forget(&self, host: usize, id: Uuid) {
        self.live().retain(|_, b| !(b.host == host && b.id == id));
    }

    /// How many secrets are live.
    #[cfg(test)]
    fn live_secrets(&self) -> usize {
        self.live().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_secret_is_bound_to_its_request_and_verdict_and_works_once() {
        let tokens = Tokens::default();
        let now = Utc::now();
        let id = Uuid::new_v4();
        let (approve, deny) = tokens.issue(1, id, now + Duration::minutes(5)).unwrap();
        assert_ne!(approve, deny);
        assert_eq!(approve.len(), 32);
        let b = tokens.take(&deny, now).unwrap();
        assert_eq!((b.host, b.id, b.verdict), (1, id, Verdict::Deny));
        assert_eq!(tokens.take(&deny, now), None, "used twice");
        assert_eq!(
            tokens.take(&approve, now),
            None,
            "the other verdict is spent too"
        );
        assert_eq!(tokens.live_secrets(), 0);
    }

    #[test]
    fn a_secret_past_the_deadline_or_of_a_decided_request_is_refused() {
        let tokens = Tokens::default();
        let now = Utc::now();
        let (late, _) = tokens.issue(0, Uuid::new_v4(), now).unwrap();
        assert_eq!(tokens.take(&late, now), None);
        let other = Uuid::new_v4();
        let (approve, _) = tokens.issue(0, other, now + Duration::minutes(1)).unwrap();
        tokens.forget(0, other);
        assert_eq!(tokens.take(&approve, now), None);
        assert_eq!(tokens.take("", now), None);
    }
}
