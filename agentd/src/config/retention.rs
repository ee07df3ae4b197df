//! `[retention]`: how long the store keeps what is finished, and what a prune removes now.

use std::time::Duration;

/// How long finished requests and ended grants are kept (`[retention]`; `None` is forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Calls answered at once (by a rule, a preset or a grant), and the audit trail.
    pub answered: Option<Duration>,
    /// Requests a person decided, that expired or were withdrawn, and grants that ended.
    pub decided: Option<Duration>,
    /// How often agentd applies it as it runs.
    pub every: Duration,
}

const DAY: u64 = 86_400;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            answered: Some(Duration::from_secs(30 * DAY)),
            decided: Some(Duration::from_secs(365 * DAY)),
            every: Duration::from_secs(3600),
        }
    }
}

impl Retention {
    /// What retention removes as of `now`, asked for by `by`.
    pub fn plan(&self, now: chrono::DateTime<chrono::Utc>, by: &str) -> crate::store::PrunePlan {
        let horizon = |keep: Option<Duration>| {
            keep.and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now - d)
        };
        crate::store::PrunePlan {
            now,
            answered_before: horizon(self.answered),
            decided_before: horizon(self.decided),
            by: by.to_string(),
        }
    }

    /// Whole days, as the settings say them (0 is forever).
    pub fn days(keep: Option<Duration>) -> u32 {
        keep.map_or(0, |d| {
            u32::try_from(d.as_secs().div_ceil(DAY)).unwrap_or(u32::MAX)
        })
    }

    pub(super) fn from_days(days: u32) -> Option<Duration> {
        (days > 0).then(|| Duration::from_secs(u64::from(days) * DAY))
    }
}
