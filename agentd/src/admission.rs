//! Who gets a connection, and how many bytes of unfinished frames anyone may hold: limits per
//! kernel uid as well as overall, with slots kept back for operators, so that neither a flood
//! of connections nor a flood of half-sent frames from one user can lock the operator out or
//! exhaust agentd's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use agentd_proto::conn::FrameBudget;

/// The connection limits, from `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// Connections open at once, everyone together (operators also get `operator_reserve`).
    pub max: usize,
    /// Connections one uid that is not an operator may hold, and agent connections an
    /// operator's uid may hold.
    pub per_uid: usize,
    /// Extra connections only operators' uids may use, so they always get in.
    pub operator_reserve: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_uid: HashMap<u32, usize>,
    /// Agent connections (after their hello) by uid, for operator uids' agents.
    agents_by_uid: HashMap<u32, usize>,
}

/// Counts open connections per uid and overall.
#[derive(Debug)]
pub struct Connections {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct Slot {
    owner: Arc<Connections>,
    uid: u32,
    agent: bool,
    /// Whether the uid is an operator's, as found when the connection was admitted.
    operator: bool,
}

impl Slot {
    pub fn operator(&self) -> bool {
        self.operator
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.owner.lock();
        counts.total = counts.total.saturating_sub(1);
        decrement(&mut counts.by_uid, self.uid);
        if self.agent {
            decrement(&mut counts.agents_by_uid, self.uid);
        }
    }
}

fn decrement(map: &mut HashMap<u32, usize>, uid: u32) {
    if let Some(n) = map.get_mut(&uid) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&uid);
        }
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection from `uid`, or why not. An operator's uid may use the
    /// reserve and is not held to the per-uid limit until it says hello as an agent.
    pub fn admit(self: &Arc<Self>, uid: u32, operator: bool) -> Result<Slot, String> {
        let mut counts = self.lock();
        let mine = counts.by_uid.get(&uid).copied().unwrap_or(0);
        if operator {
            if counts.total >= self.limits.max + self.limits.operator_reserve {
                return Err(format!(
                    "agentd has {} connections open, as many as it allows even for operators; try again shortly",
                    counts.total
                ));
            }
        } else {
            if mine >= self.limits.per_uid {
                return Err(format!(
                    "uid {uid} has {mine} connections open, the most one user may; close some or try again shortly"
                ));
            }
            if counts.total >= self.limits.max {
                return Err(format!(
                    "agentd has {} connections open, as many as it allows; try again shortly",
                    counts.total
                ));
            }
        }
        counts.total += 1;
        *counts.by_uid.entry(uid).or_insert(0) += 1;
        Ok(Slot {
            owner: Arc::clone(self),
            uid,
            agent: false,
            operator,
        })
    }

    /// The connection in `slot` said hello as an agent: an operator's uid is held to the
    /// per-uid limit for its agent connections too.
    pub fn as_agent(&self, slot: &mut Slot) -> Result<(), String> {
        let mut counts = self.lock();
        let agents = counts.agents_by_uid.get(&slot.uid).copied().unwrap_or(0);
        if agents >= self.limits.per_uid {
            return Err(format!(
                "uid {} has {agents} agent connections open, the most one user may; close some or try again shortly",
                slot.uid
            ));
        }
        *counts.agents_by_uid.entry(slot.uid).or_insert(0) += 1;
        slot.agent = true;
        Ok(())
    }

    pub fn open(&self) -> usize {
        self.lock().total
    }
}

/// The bytes of unfinished large frames, per uid and overall.
pub struct FrameBytes {
    max_total: usize,
    max_per_uid: usize,
    held: Mutex<(usize, HashMap<u32, usize>)>,
}

impl FrameBytes {
    pub fn new(max_total: usize, max_per_uid: usize) -> Arc<FrameBytes> {
        Arc::new(FrameBytes {
            max_total,
            max_per_uid,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// The budget one connection of `uid` draws on.
    pub fn for_uid(self: &Arc<Self>, uid: u32) -> Arc<dyn FrameBudget> {
        Arc::new(UidBudget {
            owner: Arc::clone(self),
            uid,
        })
    }

    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).0
    }
}

struct UidBudget {
    owner: Arc<FrameBytes>,
    uid: u32,
}

impl FrameBudget for UidBudget {
    fn take(&self, bytes: usize) -> Result<(), String> {
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mine = held.1.get(&self.uid).copied().unwrap_or(0);
        if mine + bytes > self.owner.max_per_uid {
            return Err(format!(
                "uid {} already has {} KiB of unfinished frames in flight, the most one user may ({} KiB); send one large message at a time",
                self.uid,
                mine / 1024,
                self.owner.max_per_uid / 1024
            ));
        }
        if held.0 + bytes > self.owner.max_total {
            return Err(format!(
                "agentd already holds {} KiB of unfinished frames, the most it allows ({} KiB); try again shortly",
                held.0 / 1024,
                self.owner.max_total / 1024
            ));
        }
        held.0 += bytes;
        *held.1.entry(self.uid).or_insert(0) += bytes;
        Ok(())
    }

    fn give(&self, bytes: usize) {
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.0 = held.0.saturating_sub(bytes);
        decrement_by(&mut held.1, self.uid, bytes);
    }
}

fn decrement_by(map: &mut HashMap<u32, usize>, uid: u32, by: usize) {
    if let Some(n) = map.get_mut(&uid) {
        *n = n.saturating_sub(by);
        if *n == 0 {
            map.remove(&uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max: 4,
            per_uid: 2,
            operator_reserve: 1,
        }
    }

    #[test]
    fn one_user_cannot_take_every_slot_and_operators_keep_a_reserve() {
        let c = Connections::new(limits());
        let a1 = c.admit(1000, false).unwrap();
        let _a2 = c.admit(1000, false).unwrap();
        assert!(c
            .admit(1000, false)
            .unwrap_err()
            .contains("uid 1000 has 2 connections"));
        let _b1 = c.admit(1001, false).unwrap();
        let _b2 = c.admit(1001, false).unwrap();
        assert!(c
            .admit(1002, false)
            .unwrap_err()
            .contains("as many as it allows"));
        // The operator gets the reserve; past it, nobody.
        let op = c.admit(0, true).unwrap();
        assert!(c.admit(0, true).is_err());
        drop(a1);
        assert_eq!(c.open(), 4);
        drop(op);
        let _a3 = c.admit(1000, false).unwrap();
    }

    #[test]
    fn an_operators_uid_is_held_to_the_per_uid_limit_for_agent_connections() {
        let c = Connections::new(ConnectionLimits {
            max: 10,
            per_uid: 2,
            operator_reserve: 1,
        });
        let mut slots = Vec::new();
        for _ in 0..2 {
            let mut s = c.admit(0, true).unwrap();
            c.as_agent(&mut s).unwrap();
            slots.push(s);
        }
        let mut third = c.admit(0, true).unwrap();
        assert!(c
            .as_agent(&mut third)
            .unwrap_err()
            .contains("agent connections"));
        // As an operator it is served.
        let _op = c.admit(0, true).unwrap();
        drop(slots);
        c.as_agent(&mut third).unwrap();
    }

    #[test]
    fn frame_bytes_are_bounded_per_uid_and_overall() {
        let f = FrameBytes::new(3000, 2000);
        let a = f.for_uid(1);
        let b = f.for_uid(2);
        a.take(1500).unwrap();
        assert!(a.take(600).unwrap_err().contains("uid 1 already has"));
        assert!(b.take(1600).unwrap_err().contains("agentd already holds"));
        b.take(1400).unwrap();
        assert_eq!(f.held(), 2900);
        a.give(1500);
        b.give(1400);
        assert_eq!(f.held(), 0);
    }
}
