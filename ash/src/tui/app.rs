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

    /// A second passed: countdowns move and old notices go.
    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        while self.notices.front().is_some_and(|n| n.until <= now) {
            self.notices.pop_front();
        }
    }

    // ---- input from the keyboard ----

    /// Handles one key; returns what the event loop must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        match self.mode.clone() {
            Mode::Help => {
                self.mode = Mode::Normal;
                None
            }
            Mode::Filter => self.filter_key(key),
            Mode::Reason { id, verdict, text } => self.reason_key(key, id, verdict, text),
            Mode::Confirm { id, scope } => {
                self.mode = Mode::Normal;
                let again = match scope {
                    Scope::Session => 's',
                    _ => 'a',
                };
                match key.code {
                    KeyCode::Char(c) if c == again || c == 'y' => {
                        self.decide(id, Verdict::Approve, None, scope, None)
                    }
                    _ => {
                        self.notice("approval cancelled".into());
                        None
                    }
                }
            }
            Mode::Ttl { id, text } => self.ttl_key(key, id, text),
            Mode::Grant { id, choice } => self.grant_key(key, id, choice),
            Mode::Batch { verdict, ids } => self.batch_key(key, verdict, ids),
            Mode::Detail => {
                match key.code {
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => self.mode = Mode::Normal,
                    KeyCode::Char('j') | KeyCode::Down => self.scroll_detail(1),
                    KeyCode::Char('k') | KeyCode::Up => self.scroll_detail(-1),
                    KeyCode::PageDown => self.scroll_detail(10),
                    KeyCode::PageUp => self.scroll_detail(-10),
                    _ => return self.decision_key(key),
                }
                None
            }
            Mode::Normal => self.normal_key(key),
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Tab | KeyCode::BackTab => {
                self.view = match self.view {
                    View::Queue => View::History,
                    View::History => View::Queue,
                };
            }
            _ if self.view == View::History => match key.code {
                KeyCode::Char('j') | KeyCode::Down => {
                    self.history_offset =
                        (self.history_offset + 1).min(self.history.len().saturating_sub(1))
                }
                KeyCode::Char('k') | KeyCode::Up => {
                    self.history_offset = self.history_offset.saturating_sub(1)
                }
                _ => {}
            },
            KeyCode::Char('j') | KeyCode::Down => self.move_selection(1),
            KeyCode::Char('k') | KeyCode::Up => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(i64::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(i64::MAX / 2),
            KeyCode::Char('J') => self.scroll_detail(1),
            KeyCode::Char('K') => self.scroll_detail(-1),
            KeyCode::Enter => {
                if self.selected().is_some() {
                    self.mode = Mode::Detail;
                }
            }
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('o') => {
                self.sort = match self.sort {
                    Sort::Deadline => Sort::Risk,
                    Sort::Risk => Sort::Deadline,
                };
                self.order();
            }
            _ => return self.decision_key(key),
        }
        None
    }

    /// `a`, `d`, `r`, `n` on the selected request.
    fn decision_key(&mut self, key: KeyEvent) -> Option<Action> {
        let selected = self.selected().map(|v| (v.id, v.risk));
        let (id, risk) = selected?;
        let has_session = self.selected().is_some_and(|v| v.session.is_some());
        match key.code {
            KeyCode::Char('a') if risk >= Risk::High => {
                self.mode = Mode::Confirm {
                    id,
                    scope: Scope::Once,
                };
                None
            }
            KeyCode::Char('a') => self.decide(id, Verdict::Approve, None, Scope::Once, None),
            KeyCode::Char('s') if !has_session => {
                self.notice("this request has no session: t approves for a time instead".into());
                None
            }
            KeyCode::Char('s') if risk >= Risk::High => {
                self.mode = Mode::Confirm {
                    id,
                    scope: Scope::Session,
                };
                None
            }
            KeyCode::Char('s') => self.decide(id, Verdict::Approve, None, Scope::Session, None),
            KeyCode::Char('t') => {
                self.mode = Mode::Ttl {
                    id,
                    text: "15m".into(),
                };
                None
            }
            KeyCode::Char('d') => self.decide(id, Verdict::Deny, None, Scope::Once, None),
            KeyCode::Char('w') => {
                self.start_grant_choice(id);
                None
            }
            KeyCode::Char(' ') => {
                self.toggle_mark(id);
                None
            }
            KeyCode::Char('e') if self.conn != Conn::Connected => {
                self.notice("not connected to agentd: nothing was decided".into());
                None
            }
            KeyCode::Char('e') => Some(Action::Edit { id }),
            KeyCode::Char('A') => {
                self.start_batch(Verdict::Approve);
                None
            }
            KeyCode::Char('D') => {
                self.start_batch(Verdict::Deny);
                None
            }
            KeyCode::Char('r') => {
                self.mode = Mode::Reason {
                    id,
                    verdict: Verdict::Deny,
                    text: String::new(),
                };
                None
            }
            KeyCode::Char('n') => {
                self.mode = Mode::Reason {
                    id,
                    verdict: Verdict::Approve,
                    text: String::new(),
                };
                None
            }
            _ => None,
        }
    }

    fn decide(
        &mut self,
        id: Uuid,
        verdict: Verdict,
        reason: Option<String>,
        scope: Scope,
        grant: Option<String>,
    ) -> Option<Action> {
        if self.conn != Conn::Connected {
            self.notice("not connected to agentd: nothing was decided".into());
            return None;
        }
        Some(Action::Decide {
            id,
            verdict,
            reason,
            scope,
            grant,
        })
    }

    fn ttl_key(&mut self, key: KeyEvent, id: Uuid, mut text: String) -> Option<Action> {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                return None;
            }
            KeyCode::Enter => match crate::when::parse_duration(&text) {
                Ok(ttl_secs) => {
                    self.mode = Mode::Normal;
                    return self.decide(
                        id,
                        Verdict::Approve,
                        None,
                        Scope::Timeboxed { ttl_secs },
                        None,
                    );
                }
                Err(e) => self.notice(e),
            },
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if text.len() < 12 => text.push(c),
            _ => {}
        }
        self.mode = Mode::Ttl { id, text };
        None
    }

    fn filter_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                self.filter.clear();
                self.refilter();
            }
            KeyCode::Backspace => {
                self.filter.pop();
                self.refilter();
            }
            KeyCode::Char(c) => {
                self.filter.push(c);
                self.refilter();
            }
            _ => {}
        }
        None
    }

    fn reason_key(
        &mut self,
        key: KeyEvent,
        id: Uuid,
        verdict: Verdict,
        mut text: String,
    ) -> Option<Action> {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                return None;
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let reason = Some(text.trim().to_string()).filter(|t| !t.is_empty());
                return self.decide(id, verdict, reason, Scope::Once, None);
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if text.len() < 1000 => text.push(c),
            _ => {}
        }
        self.mode = Mode::Reason { id, verdict, text };
        None
    }

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
