//! Choosing a grant option (`w`): the selected request's grants, narrowest first; left/right
//! (or a digit) picks one, Enter approves with it for the session (for 15 minutes when the
//! request has no session), Esc goes back.

use agentd_proto::{Scope, Verdict};
use crossterm::event::{KeyCode, KeyEvent};
use uuid::Uuid;

use super::{Action, App, Mode};

/// How long a wider grant chosen for a request with no session lasts.
const NO_SESSION_TTL_SECS: u64 = 15 * 60;

impl App {
    /// Opens the choice on `id`, at the first option wider than the exact call.
    pub(super) fn start_grant_choice(&mut self, id: Uuid) {
        let count = self.grant_count(id);
        if count == 0 {
            self.notice("this request offers no grant".into());
            return;
        }
        self.mode = Mode::Grant {
            id,
            choice: usize::from(count > 1),
        };
    }

    fn grant_count(&self, id: Uuid) -> usize {
        self.request(id).map_or(0, |v| v.grant_options.len())
    }

    pub(super) fn grant_key(&mut self, key: KeyEvent, id: Uuid, choice: usize) -> Option<Action> {
        let count = self.grant_count(id);
        if count == 0 {
            // Decided or gone meanwhile.
            self.mode = Mode::Normal;
            return None;
        }
        let mut choice = choice.min(count - 1);
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                return None;
            }
            KeyCode::Left | KeyCode::Char('h') | KeyCode::Char('k') | KeyCode::Up => {
                choice = choice.saturating_sub(1)
            }
            KeyCode::Right
            | KeyCode::Char('l')
            | KeyCode::Char('j')
            | KeyCode::Down
            | KeyCode::Tab => choice = (choice + 1).min(count - 1),
            KeyCode::Char(c @ '1'..='9') => {
                let n = c as usize - '1' as usize;
                if n < count {
                    choice = n;
                }
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let view = self.request(id)?;
                let key = view.grant_options.get(choice)?.key.clone();
                let scope = match view.session {
                    Some(_) => Scope::Session,
                    None => Scope::Timeboxed {
                        ttl_secs: NO_SESSION_TTL_SECS,
                    },
                };
                return self.decide(id, Verdict::Approve, None, scope, Some(key));
            }
            _ => {}
        }
        self.mode = Mode::Grant { id, choice };
        None
    }
}
