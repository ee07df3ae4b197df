//! What each key does, by mode: the queue's keys, a decision's confirmation and scope, and
//! the one-line inputs (a deny reason, a grant's time to live, the filter).

use super::*;

impl App {
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

    pub(super) fn decide(
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
}
