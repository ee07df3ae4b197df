//! The queue's state, with no I/O: keys and daemon updates go in, actions come out. So every
//! screen can be built and driven in a unit test.

use std::collections::{HashSet, VecDeque};

use agentd_proto::request_id::short;
use agentd_proto::{Event, RequestView, Risk, Scope, Verdict};
use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use uuid::Uuid;

mod batch;
mod choose;
mod keys;

/// How long a notice stays on screen.
const NOTICE_FOR: Duration = Duration::seconds(6);
/// How many recent decisions the history view keeps.
const HISTORY_KEEP: usize = 500;
/// How many finished IDs are remembered so a late `Queued` event cannot resurrect a card.
const FINISHED_KEEP: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Queue,
    History,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Deadline,
    Risk,
}

/// What the keyboard is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing the `/` filter.
    Filter,
    /// Typing a reason (deny) or a note (approve) for one request.
    Reason {
        id: Uuid,
        verdict: Verdict,
        text: String,
    },
    /// A high or critical request waits for the second key press.
    Confirm {
        id: Uuid,
        scope: Scope,
    },
    /// Confirming a decision on several requests at once (`A`, `D`).
    Batch {
        verdict: Verdict,
        ids: Vec<Uuid>,
    },
    /// Choosing one of the request's grant options (`w`), `choice` an index into them.
    Grant {
        id: Uuid,
        choice: usize,
    },
    /// Typing how long a timeboxed approval lasts (`15m`, `2h`).
    Ttl {
        id: Uuid,
        text: String,
    },
    /// The selected request's details fill the screen.
    Detail,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Lost(String),
}

/// What the event loop must do for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Decide {
        id: Uuid,
        verdict: Verdict,
        reason: Option<String>,
        scope: Scope,
        /// The grant option's key, for a wider grant than the exact call.
        grant: Option<String>,
    },
    /// Open the request's arguments in the operator's editor, and approve what is saved.
    Edit {
        id: Uuid,
    },
    /// The same decision on each of several requests, each decided (and audited) on its own,
    /// for that call only.
    DecideMany {
        ids: Vec<Uuid>,
        verdict: Verdict,
    },
    Quit,
}

/// What the connection to agentd reports.
#[derive(Debug, Clone)]
pub enum Update {
    Connecting,
    Lost(String),
    /// Connected, with every pending request and recent history.
    Snapshot {
        pending: Vec<RequestView>,
        history: Vec<RequestView>,
    },
    Event(Event),
    /// The answer to a decision this app sent.
    Decided(Result<RequestView, String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub until: DateTime<Utc>,
}

pub struct App {
    /// The hosts' names when the queue shows several (a HOST column); empty for one.
    pub hosts: Vec<String>,
    /// Each host's connection, by its index in `hosts`.
    pub conns: Vec<Conn>,
    /// Which host each request is on, when there are several.
    pub host_of: std::collections::HashMap<Uuid, usize>,
    pub operator: String,
    pub now: DateTime<Utc>,
    /// The clock times are shown on.
    pub zone: crate::display::Zone,
    pub view: View,
    pub sort: Sort,
    pub mode: Mode,
    pub filter: String,
    pub conn: Conn,
    pub detail_scroll: u16,
    pub history_offset: usize,
    /// Pending requests in display order.
    pending: Vec<RequestView>,
    /// Indices into `pending` that pass the filter.
    shown: Vec<usize>,
    /// Newest first.
    history: VecDeque<RequestView>,
    selected: Option<Uuid>,
    /// Requests marked (space) for a decision on several at once.
    marked: HashSet<Uuid>,
    notices: VecDeque<Notice>,
    finished: VecDeque<Uuid>,
    finished_set: HashSet<Uuid>,
    bell: bool,
}

impl App {
    pub fn new(operator: String, now: DateTime<Utc>) -> App {
        App {
            hosts: Vec::new(),
            conns: Vec::new(),
            host_of: std::collections::HashMap::new(),
            operator,
            now,
            zone: crate::display::Zone::Local,
            view: View::Queue,
            sort: Sort::Deadline,
            mode: Mode::Normal,
            filter: String::new(),
            conn: Conn::Connecting,
            detail_scroll: 0,
            history_offset: 0,
            pending: Vec::new(),
            shown: Vec::new(),
            history: VecDeque::new(),
            selected: None,
            marked: HashSet::new(),
            notices: VecDeque::new(),
            finished: VecDeque::new(),
            finished_set: HashSet::new(),
            bell: false,
        }
    }

    // ---- what the screen shows ----

    pub fn shown_len(&self) -> usize {
        self.shown.len()
    }

    /// The `n`th shown request.
    pub fn shown_at(&self, n: usize) -> Option<&RequestView> {
        self.shown.get(n).map(|&i| &self.pending[i])
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The position of the selection among the shown requests.
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected?;
        self.shown.iter().position(|&i| self.pending[i].id == id)
    }

    pub fn selected(&self) -> Option<&RequestView> {
        self.selected_index().and_then(|n| self.shown_at(n))
    }

    /// A pending request by ID.
    pub fn request(&self, id: Uuid) -> Option<&RequestView> {
        self.pending.iter().find(|v| v.id == id)
    }

    pub fn history(&self) -> impl ExactSizeIterator<Item = &RequestView> + '_ {
        self.history.iter()
    }

    /// Notices still current, oldest first.
    pub fn notices(&self) -> impl Iterator<Item = &Notice> + '_ {
        self.notices.iter().filter(|n| n.until > self.now)
    }

    /// Whether a new request arrived since the last call (for the terminal bell).
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell)
    }

    /// Shows `text` on the status line for a while.
    pub fn notice(&mut self, text: String) {
        self.notices.push_back(Notice {
            text,
            until: self.now + NOTICE_FOR,
        });
        while self.notices.len() > 3 {
            self.notices.pop_front();
        }
    }

    // ---- the queue ----

    fn order(&mut self) {
        match self.sort {
            Sort::Deadline => self
                .pending
                .sort_by_key(|v| (v.expires_at, v.created_at, v.id)),
            Sort::Risk => self
                .pending
                .sort_by_key(|v| (std::cmp::Reverse(v.risk), v.expires_at, v.id)),
        }
        self.refilter();
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.shown = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, v)| needle.is_empty() || matches(v, &needle))
            .map(|(i, _)| i)
            .collect();
        if self.selected_index().is_none() {
            self.selected = self.shown.first().map(|&i| self.pending[i].id);
        }
    }

    fn remember_finished(&mut self, id: Uuid) {
        if self.finished_set.insert(id) {
            self.finished.push_back(id);
            if self.finished.len() > FINISHED_KEEP {
                if let Some(old) = self.finished.pop_front() {
                    self.finished_set.remove(&old);
                }
            }
        }
    }

    /// Removes a request from the queue; the selection moves to its neighbour.
    fn remove(&mut self, id: Uuid) -> Option<RequestView> {
        let at = self.pending.iter().position(|v| v.id == id)?;
        let was_selected = self.selected == Some(id);
        let shown_at = self.selected_index();
        let view = self.pending.remove(at);
        self.marked.remove(&id);
        if was_selected {
            self.selected = None;
        }
        self.refilter();
        if was_selected {
            let n = shown_at
                .unwrap_or(0)
                .min(self.shown.len().saturating_sub(1));
            self.selected = self.shown_at(n).map(|v| v.id);
        }
        if matches!(&self.mode, Mode::Confirm { id: c, .. } | Mode::Reason { id: c, .. } | Mode::Ttl { id: c, .. } if *c == id)
        {
            self.mode = Mode::Normal;
        }
        Some(view)
    }

    // ---- input from agentd ----

    pub fn on_update(&mut self, update: Update) {
        match update {
            Update::Connecting => self.conn = Conn::Connecting,
            Update::Lost(why) => self.conn = Conn::Lost(why),
            Update::Snapshot { pending, history } => {
                self.conn = Conn::Connected;
                self.pending = pending
                    .into_iter()
                    .filter(|v| !self.finished_set.contains(&v.id))
                    .collect();
                self.history = history.into_iter().take(HISTORY_KEEP).collect();
                self.order();
            }
            Update::Event(Event::Queued(view)) => {
                if self.finished_set.contains(&view.id)
                    || self.pending.iter().any(|v| v.id == view.id)
                {
                    return;
                }
                self.pending.push(view);
                self.bell = true;
                self.order();
            }
            Update::Event(Event::Finished(view)) => {
                self.remember_finished(view.id);
                if self.remove(view.id).is_some() {
                    if let Some(d) = &view.decision {
                        self.notice(format!("{} {}", short(&view.id), d));
                    }
                }
                self.history.retain(|v| v.id != view.id);
                self.history.push_front(view);
                self.history.truncate(HISTORY_KEEP);
            }
            Update::Event(Event::Lagged(_)) => {
                // The link lists again after a lag; nothing to do until that snapshot.
            }
            Update::Decided(Ok(_)) => {}
            Update::Decided(Err(why)) => self.notice(why),
        }
    }

    /// The queue over several hosts: `names` label the HOST column and the connection status.
    pub fn with_hosts(mut self, names: Vec<String>) -> App {
        self.conns = vec![Conn::Connecting; names.len()];
        self.hosts = names;
        self
    }

    /// The host a request is on (several hosts), for the decision to go there.
    pub fn host(&self, id: Uuid) -> Option<usize> {
        self.host_of.get(&id).copied()
    }

    /// An update from host `host`'s connection: its requests are merged with the others'; a
    /// snapshot replaces only that host's.
    pub fn on_host_update(&mut self, host: usize, update: Update) {
        if host >= self.conns.len() {
            return;
        }
        match update {
            Update::Connecting => self.conns[host] = Conn::Connecting,
            Update::Lost(why) => self.conns[host] = Conn::Lost(why),
            Update::Snapshot { pending, history } => {
                self.conns[host] = Conn::Connected;
                let host_of = &self.host_of;
                let others = |v: &RequestView| host_of.get(&v.id) != Some(&host);
                let mut all_pending: Vec<RequestView> =
                    self.pending.iter().filter(|v| others(v)).cloned().collect();
                let mut all_history: Vec<RequestView> =
                    self.history.iter().filter(|v| others(v)).cloned().collect();
                for v in pending.iter().chain(history.iter()) {
                    self.host_of.insert(v.id, host);
                }
                all_pending.extend(pending);
                all_history.extend(history);
                let decided = |v: &RequestView| v.decision.as_ref().map_or(v.created_at, |d| d.at);
                all_history.sort_by_key(|v| std::cmp::Reverse(decided(v)));
                self.on_update(Update::Snapshot {
                    pending: all_pending,
                    history: all_history,
                });
            }
            Update::Event(Event::Queued(view)) => {
                self.host_of.insert(view.id, host);
                self.on_update(Update::Event(Event::Queued(view)));
            }
            Update::Event(Event::Finished(view)) => {
                self.host_of.insert(view.id, host);
                self.on_update(Update::Event(Event::Finished(view)));
            }
            other => self.on_update(other),
        }
        self.conn = self.hosts_conn();
    }

    /// All hosts' connections as one: connected when all are; else the first that is not, by
    /// name, with how many are.
    fn hosts_conn(&self) -> Conn {
        let up = self.conns.iter().filter(|c| **c == Conn::Connected).count();
        let down = self
            .conns
            .iter()
            .zip(&self.hosts)
            .find(|(c, _)| **c != Conn::Connected);
        match down {
            None => Conn::Connected,
            Some((Conn::Lost(why), name)) => Conn::Lost(format!(
                "{name}: {why} ({up} of {} hosts connected)",
                self.hosts.len()
            )),
            Some(_) if up == 0 => Conn::Connecting,
            Some((_, name)) => Conn::Lost(format!(
                "{name}: connecting ({up} of {} hosts connected)",
                self.hosts.len()
            )),
        }
    }

    /// A second passed: countdowns move and old notices go.
    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        while self.notices.front().is_some_and(|n| n.until <= now) {
            self.notices.pop_front();
        }
    }

    // ---- input from the keyboard ----

    fn move_selection(&mut self, by: i64) {
        if self.shown.is_empty() {
            return;
        }
        let last = self.shown.len() as i64 - 1;
        let at = self.selected_index().unwrap_or(0) as i64;
        let to = (at + by).clamp(0, last) as usize;
        self.selected = self.shown_at(to).map(|v| v.id);
        self.detail_scroll = 0;
    }

    fn scroll_detail(&mut self, by: i32) {
        self.detail_scroll = (i32::from(self.detail_scroll) + by).clamp(0, 10_000) as u16;
    }
}

/// Whether the filter text (lower-cased) appears in the agent, tool or arguments.
fn matches(v: &RequestView, needle: &str) -> bool {
    v.agent.name.to_lowercase().contains(needle)
        || v.tool.to_lowercase().contains(needle)
        || v.args_json.to_lowercase().contains(needle)
}
