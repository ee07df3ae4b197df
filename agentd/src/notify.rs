//! Notifications: runs the configured command for each request that reaches the operators, with
//! the request's fields in its environment, so people away from the terminal hear of it.
//!
//! The command runs on its own task fed by the event stream (which only carries what is already
//! committed), so a slow, hanging or failing command never holds up the queue: it is killed at
//! its timeout, at most `max_running` run at once, and a request arriving while all are busy is
//! logged and not notified rather than waited for. The environment and the runner are the
//! contract crate's, shared with `ash notify`.

use std::sync::Arc;

use agentd_proto::notify::{Notifier, Skipped};
use agentd_proto::Event;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use agentd_proto::notify::{clean_field, environment, NotifySettings};

/// Starts notifying for every `Queued` event on `events` until the stream closes.
pub fn spawn(settings: NotifySettings, mut events: broadcast::Receiver<Event>) -> JoinHandle<()> {
    let max_running = settings.max_running;
    let notifier = Notifier::new(
        settings,
        Arc::new(|id, result| match result {
            Ok(()) => tracing::debug!(%id, "notified"),
            Err(e) => tracing::warn!(%id, error = %e, "notification failed"),
        }),
    );
    tokio::spawn(async move {
        loop {
            let view = match events.recv().await {
                Ok(Event::Queued(view)) => view,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "notifications fell behind; some were skipped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let Err(Skipped::Busy) = notifier.notify(&view, Vec::new()) {
                tracing::warn!(
                    id = %view.id,
                    running = max_running,
                    "not notifying: every notification command slot is busy"
                );
            }
        }
    })
}
