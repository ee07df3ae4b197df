//! Deciding several requests at once: space marks the selected request; `A` approves and `D`
//! denies every marked one, or, with none marked, every one the filter shows, after a
//! confirming key. Each is decided (and audited) on its own, for that call only: a batch never
//! makes a grant.

use agentd_proto::Verdict;
use crossterm::event::{KeyCode, KeyEvent};
use uuid::Uuid;

use super::{Action, App, Mode};

impl App {
    pub(super) fn toggle_mark(&mut self, id: Uuid) {
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
        self.move_selection(1);
    }

    /// Whether `id` is marked.
    pub fn is_marked(&self, id: Uuid) -> bool {
        self.marked.contains(&id)
    }

    pub fn marked_count(&self) -> usize {
        self.marked.len()
    }

    /// The requests a batch decision takes: the marked ones, else (with a filter) all shown.
    fn batch_targets(&self) -> Vec<Uuid> {
        if !self.marked.is_empty() {
            // In queue order, marked ones hidden by the filter too.
            return self
                .pending
                .iter()
                .map(|v| v.id)
                .filter(|id| self.marked.contains(id))
                .collect();
        }
        if self.filter.is_empty() {
            return Vec::new();
        }
        (0..self.shown_len())
            .filter_map(|n| self.shown_at(n))
            .map(|v| v.id)
            .collect()
    }

    pub(super) fn start_batch(&mut self, verdict: Verdict) {
        let ids = self.batch_targets();
        if ids.is_empty() {
            self.notice(
                "mark requests with space, or filter with /, to decide several at once".into(),
            );
            return;
        }
        self.mode = Mode::Batch { verdict, ids };
    }

    pub(super) fn batch_key(
        &mut self,
        key: KeyEvent,
        verdict: Verdict,
        ids: Vec<Uuid>,
    ) -> Option<Action> {
        self.mode = Mode::Normal;
        let again = match verdict {
            Verdict::Approve => 'A',
            Verdict::Deny => 'D',
        };
        match key.code {
            KeyCode::Char(c) if c == again || c == 'y' => {
                if !matches!(self.conn, super::Conn::Connected) {
                    self.notice("not connected to agentd: nothing was decided".into());
                    return None;
                }
                self.marked.clear();
                Some(Action::DecideMany { ids, verdict })
            }
            _ => {
                self.notice("nothing decided".into());
                None
            }
        }
    }
}
