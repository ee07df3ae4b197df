//! Per-agent rate limits (a token bucket per agent: verified uid and claimed name) and the
//! pacing of the audit entries that record refusals, so a flooding agent cannot flood the
//! audit trail too.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::agent::AgentKey;

/// At most one audit entry per agent and kind of refusal in this long.
const AUDIT_EVERY: Duration = Duration::from_secs(1);
/// Past this many agents, idle full buckets are dropped.
const PRUNE_ABOVE: usize = 10_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per agent: `rate` requests a second, bursts of up to `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<AgentKey, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Requests a second and burst size.
    pub fn limits(&self) -> (f64, f64) {
        (self.rate, self.burst)
    }

    /// Takes a token for `agent`, or says how long until one is free.
    pub fn take(&self, agent: &AgentKey, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(agent.clone()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// Decides which refusals get an audit entry: the first of each kind per agent per second,
/// with a count of those passed over since.
#[derive(Default)]
pub struct RefusalLog {
    /// Per agent and kind: when the last audited refusal was, and how many came since.
    last: Mutex<HashMap<RefusalKey, (Instant, u64)>>,
}

type RefusalKey = (AgentKey, &'static str);

impl RefusalLog {
    /// `Some(n)` when this refusal should be audited, `n` being how many went unaudited
    /// before it; `None` when it should only be counted.
    pub fn note(&self, agent: &AgentKey, kind: &'static str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() > PRUNE_ABOVE {
            last.retain(|_, (at, _)| now.duration_since(*at) < AUDIT_EVERY);
        }
        let slot = last
            .entry((agent.clone(), kind))
            .or_insert((now - AUDIT_EVERY * 2, 0));
        if now.duration_since(slot.0) >= AUDIT_EVERY {
            let skipped = slot.1;
            *slot = (now, 0);
            Some(skipped)
        } else {
            slot.1 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> AgentKey {
        AgentKey::new(Some(1000), name)
    }

    #[tokio::test]
    async fn a_burst_then_the_rate() {
        let limiter = RateLimiter::new(20.0, 40.0);
        let t0 = Instant::now();
        for _ in 0..40 {
            assert!(limiter.take(&key("a"), t0).is_ok());
        }
        let wait = limiter.take(&key("a"), t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(50) && wait > Duration::ZERO,
            "{wait:?}"
        );
        // Another agent, or the same name from another uid, has its own bucket.
        assert!(limiter.take(&key("b"), t0).is_ok());
        assert!(limiter.take(&AgentKey::new(Some(1001), "a"), t0).is_ok());
        // 100 ms later, two more tokens.
        let t1 = t0 + Duration::from_millis(100);
        assert!(limiter.take(&key("a"), t1).is_ok());
        assert!(limiter.take(&key("a"), t1).is_ok());
        assert!(limiter.take(&key("a"), t1).is_err());
    }

    #[tokio::test]
    async fn refusals_are_audited_once_a_second_with_a_count() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        assert_eq!(log.note(&key("a"), "rate", t0), Some(0));
        assert_eq!(log.note(&key("a"), "rate", t0), None);
        assert_eq!(
            log.note(&key("a"), "rate", t0 + Duration::from_millis(10)),
            None
        );
        assert_eq!(log.note(&key("a"), "pending", t0), Some(0), "another kind");
        assert_eq!(
            log.note(&key("a"), "rate", t0 + Duration::from_secs(1)),
            Some(2)
        );
    }
}
