//! A wall clock that moves with tokio's clock, so a test that pauses and advances time sees
//! deadlines fire and stamps (created, decided, expires) agree to the microsecond.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use agentd::clock::WallClock;

/// The wall-clock time at creation, plus however far tokio's clock has moved since.
#[derive(Debug, Clone, Copy)]
pub struct TokioWallClock {
    wall: DateTime<Utc>,
    start: Instant,
}

impl TokioWallClock {
    /// Starts at `wall` now; call inside a runtime (usually one with time paused).
    pub fn starting_at(wall: DateTime<Utc>) -> TokioWallClock {
        TokioWallClock {
            wall,
            start: Instant::now(),
        }
    }
}

impl WallClock for TokioWallClock {
    fn now(&self) -> DateTime<Utc> {
        let moved = Instant::now().duration_since(self.start);
        self.wall + chrono::Duration::from_std(moved).unwrap_or(chrono::Duration::MAX)
    }
}
