//! What the queue has to tell once a write is durable: an agent's outcome, an event for
//! subscribers, a request for a reviewing parent. Held in write order and released when the
//! store says the write is durable: at once where it is durable when `Store::write` returns
//! (the journal, or no store at all), or by a small task watching the store where its writer
//! thread commits later (full durability). The store only stores; this is who wakes whom.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use agentd_proto::{Event, Outcome, RequestView};
use tokio::sync::{broadcast, mpsc, watch};

use crate::store::{Committed, Store};

/// What to tell whom once a write is durable.
pub enum Delivery {
    /// Wake the connections waiting on a request.
    Outcome(Arc<watch::Sender<Option<Outcome>>>, Outcome),
    /// Push an event to subscribers.
    Event(Event),
    /// Hand a child's request to its reviewing parent agent.
    Review(mpsc::UnboundedSender<RequestView>, RequestView),
}

/// How many events a slow subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 4096;

pub struct Outbox {
    /// Deliveries not yet durable, with the number of the write they wait for, oldest first.
    held: Mutex<VecDeque<(u64, Delivery)>>,
    events: broadcast::Sender<Event>,
    /// Whether the task releasing behind the store's writer is running.
    watching: AtomicBool,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox {
            held: Mutex::new(VecDeque::new()),
            events: broadcast::channel(EVENT_BUFFER).0,
            watching: AtomicBool::new(false),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn held(&self) -> MutexGuard<'_, VecDeque<(u64, Delivery)>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `deliveries` until write `seq` is durable, and releases whatever is by now.
    /// Called in write order (under the queue's lock), so deliveries go out in that order.
    pub fn post(self: &Arc<Self>, store: &Store, seq: u64, deliveries: Vec<Delivery>) {
        let mut held = self.held();
        held.extend(deliveries.into_iter().map(|d| (seq, d)));
        self.release(&mut held, store.durable_seq());
        if !held.is_empty() && !self.watching.swap(true, Ordering::AcqRel) {
            self.watch(store.durable_watch());
        }
    }

    /// Delivers everything held for writes up to `durable`. Sends never block: a watch keeps
    /// the latest value, and a slow subscriber is told it lagged.
    fn release(&self, held: &mut VecDeque<(u64, Delivery)>, durable: u64) {
        while held.front().is_some_and(|(seq, _)| *seq <= durable) {
            let Some((_, delivery)) = held.pop_front() else {
                break;
            };
            match delivery {
                Delivery::Outcome(tx, outcome) => {
                    tx.send_replace(Some(outcome));
                }
                Delivery::Event(event) => {
                    let _ = self.events.send(event);
                }
                Delivery::Review(reviewer, view) => {
                    let _ = reviewer.send(view);
                }
            }
        }
    }

    /// Releases behind the store's writer until the store closes. Outside a runtime nothing
    /// is spawned: what is held then goes with the next post.
    fn watch(self: &Arc<Self>, mut durable: watch::Receiver<Committed>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.watching.store(false, Ordering::Release);
            return;
        };
        let outbox = Arc::clone(self);
        runtime.spawn(async move {
            // Released first with what is durable now: a commit may have landed between the
            // post that started this and the receiver's clone.
            loop {
                let seq = durable.borrow_and_update().seq;
                outbox.release(&mut outbox.held(), seq);
                if durable.changed().await.is_err() {
                    break;
                }
            }
        });
    }
}

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox::new()
    }
}
