//! Standing decisions: a grant answers every later request with the same tool, the same
//! canonical arguments and the same agent (verified uid and name), within its session for
//! session scope, until it expires or is revoked.
//!
//! Unlike a cache keyed on the tool alone, "allow for this session" on a shell tool allows that
//! one command, not every command. A wider grant (an option the request offered: commands by
//! prefix, file changes under a folder, a host, a tool) covers a later call of the same agent
//! only when it covers everything the call reaches (`reach`): every command no rule approves,
//! every file it changes. The set is an LRU of bounded size: when it is full, the
//! grant used longest ago is dropped (and recorded as ended, so a restart does not bring it
//! back).
//!
//! Expiry is checked on the monotonic clock: a grant lasts the time it was given from when it
//! was made (or, after a restart, from what its stored wall-clock expiry left), however the
//! wall clock is set meanwhile.

use std::collections::{BTreeMap, HashMap};

use agentd_proto::request_id::IdPrefix;
use agentd_proto::{AgentIdentity, GrantCover, GrantView, Scope, Verdict};
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

/// What must match exactly for a grant to answer a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tool: String,
    args_json: String,
    agent_uid: Option<u32>,
    agent: String,
    /// Only for session scope.
    session: Option<String>,
}

fn key_of(g: &GrantView) -> Key {
    Key {
        tool: g.tool.clone(),
        args_json: g.args_json.clone(),
        agent_uid: g.agent_uid,
        agent: g.agent.clone(),
        session: match g.scope {
            Scope::Session => g.session.clone(),
            _ => None,
        },
    }
}

use crate::agent::AgentKey;
use crate::policy::{paths, reach::Reach};

/// Whether `grant` is a folder grant that holds `file`.
fn in_folder(grant: &GrantView, file: &std::path::Path) -> bool {
    matches!(&grant.covers, GrantCover::Folder { dir } if paths::inside(file, std::path::Path::new(dir)))
}

/// Whether `grant` is a reads grant for a folder that holds `file`.
fn reads_in(grant: &GrantView, file: &std::path::Path) -> bool {
    let GrantCover::Reads { dir } = &grant.covers else {
        return false;
    };
    let dir = std::path::Path::new(dir);
    paths::inside(file, dir)
        || (file == dir && paths::resolve(file).as_deref() == paths::resolve(dir).as_deref())
}

/// The grants in force, most recently used last.
pub struct Grants {
    capacity: usize,
    /// Exact-arguments grants.
    by_key: HashMap<Key, Uuid>,
    /// Wider grants, by agent.
    wide: HashMap<AgentKey, Vec<Uuid>>,
    /// The grant, its last use, and when it ends on the monotonic clock.
    by_id: HashMap<Uuid, (GrantView, u64, Instant)>,
    /// Last use → grant, for eviction.
    recency: BTreeMap<u64, Uuid>,
    tick: u64,
}

impl Grants {
    pub fn new(capacity: usize) -> Grants {
        Grants {
            capacity: capacity.max(1),
            by_key: HashMap::new(),
            wide: HashMap::new(),
            by_id: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
        }
    }

    fn touch(&mut self, id: Uuid) {
        self.tick += 1;
        if let Some((_, used, _)) = self.by_id.get_mut(&id) {
            self.recency.remove(used);
            *used = self.tick;
            self.recency.insert(self.tick, id);
        }
    }

    fn remove(&mut self, id: Uuid) -> Option<GrantView> {
        let (grant, used, _) = self.by_id.remove(&id)?;
        self.recency.remove(&used);
        if grant.covers == GrantCover::Exact {
            self.by_key.remove(&key_of(&grant));
        } else {
            let owner = AgentKey::new(grant.agent_uid, grant.agent.as_str());
            if let Some(ids) = self.wide.get_mut(&owner) {
                ids.retain(|g| *g != id);
                if ids.is_empty() {
                    self.wide.remove(&owner);
                }
            }
        }
        Some(grant)
    }

    /// Adds a grant (replacing one with the same key); returns those that had to go to make
    /// room, or were replaced. `wall_now` is the wall-clock time its expiry is counted from.
    pub fn insert(&mut self, grant: GrantView, wall_now: DateTime<Utc>) -> Vec<GrantView> {
        let mut gone = Vec::new();
        let exact = grant.covers == GrantCover::Exact;
        if let Some(old) = self.by_key.get(&key_of(&grant)).copied().filter(|_| exact) {
            gone.extend(self.remove(old));
        }
        while self.by_id.len() >= self.capacity {
            let Some((_, &oldest)) = self.recency.iter().next() else {
                break;
            };
            gone.extend(self.remove(oldest));
        }
        let id = grant.id;
        // What is left of its wall-clock life, from now on the monotonic clock.
        let left = (grant.expires_at - wall_now).to_std().unwrap_or_default();
        let ends = Instant::now() + left;
        if exact {
            self.by_key.insert(key_of(&grant), id);
        } else {
            self.wide
                .entry(AgentKey::new(grant.agent_uid, grant.agent.as_str()))
                .or_default()
                .push(id);
        }
        self.by_id.insert(id, (grant, 0, ends));
        self.touch(id);
        gone
    }

    /// The grant that answers a request, if one does: an exact grant (a session grant before a
    /// timeboxed one), else wider grants of the same agent that together cover all the call
    /// reaches. Counts the use of each; returns the first. Expired grants found on the way are
    /// dropped.
    pub fn answer(
        &mut self,
        tool: &str,
        args_json: &str,
        agent: &AgentIdentity,
        session: Option<&str>,
        reach: &Reach,
        now: Instant,
    ) -> Option<GrantView> {
        if let Some(exact) = self.answer_exact(tool, args_json, agent, session, now) {
            return Some(exact);
        }
        let used = self.covering(tool, agent, session, reach, now)?;
        let mut first = None;
        for id in used {
            self.touch(id);
            if let Some((grant, _, _)) = self.by_id.get_mut(&id) {
                grant.uses += 1;
                first.get_or_insert_with(|| grant.clone());
            }
        }
        first
    }

    /// The wider grants that together cover what the call reaches, if some do.
    fn covering(
        &mut self,
        tool: &str,
        agent: &AgentIdentity,
        session: Option<&str>,
        reach: &Reach,
        now: Instant,
    ) -> Option<Vec<Uuid>> {
        let owner = AgentKey::of(agent);
        let ids = self.wide.get(&owner)?.clone();
        let mut live = Vec::new();
        for id in ids {
            let Some((grant, _, ends)) = self.by_id.get(&id) else {
                continue;
            };
            if *ends <= now {
                self.remove(id);
                continue;
            }
            let in_scope = match grant.scope {
                Scope::Session => session.is_some() && grant.session.as_deref() == session,
                _ => true,
            };
            if in_scope && grant.verdict == Verdict::Approve {
                live.push(grant.clone());
            }
        }
        let find = |ok: &dyn Fn(&GrantView) -> bool| live.iter().find(|g| ok(g)).map(|g| g.id);
        let mut used = Vec::new();
        match reach {
            Reach::ExactOnly(_) => return None,
            Reach::Shell {
                prefixes,
                writes,
                reads,
            } => {
                if prefixes.is_empty() && writes.is_empty() && reads.is_empty() {
                    return None;
                }
                for file in reads {
                    used.push(find(&|g| reads_in(g, file))?);
                }
                for prefix in prefixes {
                    used.push(find(&|g| {
                        g.tool == tool
                            && matches!(&g.covers, GrantCover::Commands { prefixes } if prefixes.iter().any(|p| crate::policy::grant_key::covers(p, prefix)))
                    })?);
                }
                for file in writes {
                    used.push(find(&|g| in_folder(g, file))?);
                }
            }
            Reach::Reads(files) => {
                if files.is_empty() {
                    return None;
                }
                for file in files {
                    used.push(find(&|g| reads_in(g, file))?);
                }
            }
            Reach::Files(files) => {
                if files.is_empty() {
                    return None;
                }
                for file in files {
                    used.push(find(&|g| in_folder(g, file))?);
                }
            }
            Reach::Host(host) => used.push(find(&|g| {
                g.tool == tool && matches!(&g.covers, GrantCover::Domain { host: h } if h == host)
            })?),
            Reach::Tool => used.push(find(&|g| g.tool == tool && g.covers == GrantCover::Tool)?),
        }
        used.dedup();
        Some(used)
    }

    /// The exact-arguments grant that answers a request, if one does.
    fn answer_exact(
        &mut self,
        tool: &str,
        args_json: &str,
        agent: &AgentIdentity,
        session: Option<&str>,
        now: Instant,
    ) -> Option<GrantView> {
        let mut key = Key {
            tool: tool.to_string(),
            args_json: args_json.to_string(),
            agent_uid: agent.uid,
            agent: agent.name.clone(),
            session: session.map(String::from),
        };
        let mut candidates = Vec::new();
        if key.session.is_some() {
            candidates.extend(self.by_key.get(&key).copied());
        }
        key.session = None;
        candidates.extend(self.by_key.get(&key).copied());
        for id in candidates {
            let expired = self.by_id.get(&id).is_some_and(|(_, _, ends)| *ends <= now);
            if expired {
                self.remove(id);
                continue;
            }
            self.touch(id);
            let (grant, _, _) = self.by_id.get_mut(&id)?;
            grant.uses += 1;
            return Some(grant.clone());
        }
        None
    }

    /// The grants in force, oldest first; expired ones are dropped.
    pub fn list(&mut self, now: Instant) -> Vec<GrantView> {
        let expired: Vec<Uuid> = self
            .by_id
            .values()
            .filter(|(_, _, ends)| *ends <= now)
            .map(|(g, _, _)| g.id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        let mut all: Vec<GrantView> = self.by_id.values().map(|(g, _, _)| g.clone()).collect();
        all.sort_by_key(|g| (g.created_at, g.id));
        all
    }

    /// Removes the grants `prefix` names (exactly one) or, with `None`, all of them.
    pub fn revoke(&mut self, prefix: Option<&IdPrefix>) -> Result<Vec<GrantView>, Vec<Uuid>> {
        let matching: Vec<Uuid> = self
            .by_id
            .keys()
            .filter(|id| prefix.is_none_or(|p| p.matches(id)))
            .copied()
            .collect();
        if prefix.is_some() && matching.len() != 1 {
            return Err(matching);
        }
        Ok(matching
            .into_iter()
            .filter_map(|id| self.remove(id))
            .collect())
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests;
