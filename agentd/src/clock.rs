//! The queue's two clocks. Deadlines, grace periods, review windows and grant ends run on
//! tokio's monotonic clock (which a test can pause and advance); what is shown and stored
//! (created, decided, expires) comes from the wall clock here, which a test can replace so
//! that both move together.

use chrono::{DateTime, Utc};

/// Where the queue reads the wall-clock time.
pub trait WallClock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// `now`, at the microsecond precision the store keeps, so a request reads the same before
/// and after a restart.
pub fn stored(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
