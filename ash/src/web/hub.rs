//! What the web queue shows, kept current: one follower task per host subscribes to agentd's
//! events (reconnecting with backoff, as the terminal queue does), holds the pending requests
//! and the last decisions, and tells every open page what changed. Decisions go to agentd on a
//! connection of their own; agentd decides who wins a race.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agentd_proto::{
    Client, ClientError, DecideRequest, Endpoint, Event, HistoryQuery, RequestView, Role, State,
};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::push::Note;

/// Decisions kept for the history page.
const RECENT: usize = 50;

/// How long a decision may take to reach agentd and be answered.
const DECIDE_WITHIN: Duration = Duration::from_secs(20);

/// A change an open page hears about (server-sent events).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `queued`, `finished`, or `reload` (reconnected: list again).
    pub kind: &'static str,
    pub id: Option<String>,
    /// For `finished`: the state and who decided, as the page says it.
    pub outcome: Option<String>,
}

#[derive(Default)]
struct Held {
    /// Pending requests, by host index.
    pending: HashMap<(usize, Uuid), RequestView>,
    recent: VecDeque<(usize, RequestView)>,
    /// Per host: connected, or why not.
    status: Vec<Result<(), String>>,
    /// Per host: whether it has been listed once (what waits at the first listing is a
    /// backlog, not news).
    listed: Vec<bool>,
}

pub struct Hub {
    pub hosts: Vec<Endpoint>,
    /// The operator's login name; decisions are recorded as `NAME via web (DEVICE)`.
    pub operator: String,
    held: Mutex<Held>,
    changes: broadcast::Sender<Change>,
    /// The push sender, with `--push`: told of every request in order.
    notes: Option<mpsc::UnboundedSender<Note>>,
}

/// How a finished request reads on the page: `approved by alice via web (pixel)`.
pub fn outcome_words(v: &RequestView) -> String {
    match &v.decision {
        Some(d) => match d.state {
            State::Expired => "expired: no decision before the deadline".to_string(),
            State::Withdrawn => "withdrawn by the agent".to_string(),
            state => format!("{} by {}", state.as_str(), d.by),
        },
        None => v.state.as_str().to_string(),
    }
}

impl Hub {
    pub fn new(
        hosts: Vec<Endpoint>,
        operator: String,
        notes: Option<mpsc::UnboundedSender<Note>>,
    ) -> Arc<Hub> {
        let (changes, _) = broadcast::channel(1024);
        let held = Held {
            status: vec![Err("connecting".into()); hosts.len()],
            listed: vec![false; hosts.len()],
            ..Held::default()
        };
        let hub = Arc::new(Hub {
            hosts,
            operator,
            held: Mutex::new(held),
            changes,
            notes,
        });
        for host in 0..hub.hosts.len() {
            tokio::spawn(follow(Arc::clone(&hub), host));
        }
        hub
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Pending requests, most urgent first, with their host index.
    pub fn pending(&self) -> Vec<(usize, RequestView)> {
        let mut all: Vec<(usize, RequestView)> = self
            .held()
            .pending
            .iter()
            .map(|((h, _), v)| (*h, v.clone()))
            .collect();
        all.sort_by_key(|(_, v)| (v.expires_at, v.id));
        all
    }

    /// The request `id` of host `host`, if it waits.
    pub fn waiting(&self, host: usize, id: Uuid) -> Option<RequestView> {
        self.held().pending.get(&(host, id)).cloned()
    }

    /// The request with this ID (full or an 8-character prefix): pending, or recently decided.
    pub fn find(&self, id: &str) -> Option<(usize, RequestView)> {
        let held = self.held();
        let matches = |v: &RequestView| {
            let full = v.id.to_string();
            full == id || (id.len() >= 8 && full.starts_with(id))
        };
        held.pending
            .iter()
            .find(|(_, v)| matches(v))
            .map(|((h, _), v)| (*h, v.clone()))
            .or_else(|| {
                held.recent
                    .iter()
                    .find(|(_, v)| matches(v))
                    .map(|(h, v)| (*h, v.clone()))
            })
    }

    pub fn recent(&self) -> Vec<(usize, RequestView)> {
        self.held().recent.iter().cloned().collect()
    }

    /// Per host: its name and whether it is connected (or why not).
    pub fn status(&self) -> Vec<(String, Result<(), String>)> {
        let held = self.held();
        self.hosts
            .iter()
            .zip(held.status.iter())
            .map(|(h, s)| (h.to_string(), s.clone()))
            .collect()
    }

    /// Sends a decision to the host that holds the request.
    pub async fn decide(
        &self,
        host: usize,
        req: &DecideRequest,
    ) -> Result<RequestView, ClientError> {
        let to = self
            .hosts
            .get(host)
            .ok_or_else(|| ClientError::Unexpected("no such host".into()))?;
        // Well inside the 30 s a page's connection may carry nothing: the page hears why
        // rather than losing its connection.
        let decided = async {
            let mut client = Client::connect(to, Role::Operator, &self.operator).await?;
            client.decide(req).await
        };
        tokio::time::timeout(DECIDE_WITHIN, decided)
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Remote {
                    host: to.to_string(),
                    message: format!(
                        "no answer within {} s; the decision may or may not have been made",
                        DECIDE_WITHIN.as_secs()
                    ),
                })
            })
    }

    fn note(&self, note: Note) {
        if let Some(notes) = &self.notes {
            let _ = notes.send(note);
        }
    }

    fn set(&self, host: usize, status: Result<(), String>) {
        if let Some(s) = self.held().status.get_mut(host) {
            *s = status;
        }
    }

    fn finished(&self, host: usize, v: RequestView) {
        let change = Change {
            kind: "finished",
            id: Some(v.id.to_string()),
            outcome: Some(outcome_words(&v)),
        };
        self.note(Note::Finished {
            host,
            view: v.clone(),
        });
        {
            let mut held = self.held();
            held.pending.remove(&(host, v.id));
            held.recent.push_front((host, v));
            held.recent.truncate(RECENT);
        }
        let _ = self.changes.send(change);
    }
}

/// Follows one host for as long as `ash web` runs.
async fn follow(hub: Arc<Hub>, host: usize) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(&hub, host).await {
            Ok(()) => return,
            Err(e) => {
                hub.set(host, Err(e.to_string()));
                let _ = hub.changes.send(Change {
                    kind: "reload",
                    id: None,
                    outcome: None,
                });
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn session(hub: &Hub, host: usize) -> Result<(), ClientError> {
    let to = &hub.hosts[host];
    let mut events = Client::connect(to, Role::Operator, &hub.operator).await?;
    let mut ops = Client::connect(to, Role::Operator, &hub.operator).await?;
    // Subscribed before listing, so nothing falls between the two.
    events.subscribe().await?;
    let pending = ops.list(Some(State::Pending)).await?;
    let recent = ops
        .history(&HistoryQuery {
            limit: Some(RECENT as u32),
            ..HistoryQuery::default()
        })
        .await?;
    drop(ops);
    {
        let mut held = hub.held();
        // Told while the lock is held, so a `Queued` from this session cannot come first.
        let first = !std::mem::replace(&mut held.listed[host], true);
        hub.note(Note::Listed {
            host,
            pending: pending.clone(),
            first,
        });
        held.pending.retain(|(h, _), _| *h != host);
        for v in pending {
            held.pending.insert((host, v.id), v);
        }
        held.recent.retain(|(h, _)| *h != host);
        for v in recent.into_iter().filter(|v| v.state != State::Pending) {
            held.recent.push_back((host, v));
        }
        held.recent
            .make_contiguous()
            .sort_by_key(|(_, v)| std::cmp::Reverse(v.created_at));
        held.recent.truncate(RECENT);
    }
    hub.set(host, Ok(()));
    let _ = hub.changes.send(Change {
        kind: "reload",
        id: None,
        outcome: None,
    });
    loop {
        match events.next_event().await? {
            Event::Queued(v) => {
                let id = v.id.to_string();
                hub.note(Note::Queued {
                    host,
                    view: v.clone(),
                });
                hub.held().pending.insert((host, v.id), v);
                let _ = hub.changes.send(Change {
                    kind: "queued",
                    id: Some(id),
                    outcome: None,
                });
            }
            Event::Finished(v) => hub.finished(host, v),
            // Fell behind: start over with a fresh list.
            Event::Lagged(_) => {
                return Err(ClientError::Unexpected(
                    "fell behind agentd's events".into(),
                ))
            }
        }
    }
}
