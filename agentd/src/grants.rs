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
use crate::reach::{paths, Reach};

/// Whether `grant` is a folder grant that holds `file`.
fn in_folder(grant: &GrantView, file: &std::path::Path) -> bool {
    matches!(&grant.covers, GrantCover::Folder { dir } if paths::inside(file, std::path::Path::new(dir)))
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
            Reach::Shell { prefixes, writes } => {
                if prefixes.is_empty() && writes.is_empty() {
                    return None;
                }
                for prefix in prefixes {
                    used.push(find(&|g| {
                        g.tool == tool
                            && matches!(&g.covers, GrantCover::Commands { prefixes } if prefixes.contains(prefix))
                    })?);
                }
                for file in writes {
                    used.push(find(&|g| in_folder(g, file))?);
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
mod tests {
    use super::*;
    use chrono::Duration;

    fn agent(name: &str, uid: u32) -> AgentIdentity {
        AgentIdentity {
            name: name.into(),
            pid: Some(99),
            uid: Some(uid),
        }
    }

    fn grant(args: &str, scope: Scope, session: Option<&str>, ttl: i64) -> GrantView {
        let now = Utc::now();
        GrantView {
            id: Uuid::new_v4(),
            verdict: Verdict::Approve,
            scope,
            tool: "shell".into(),
            args_json: args.into(),
            agent: "claude".into(),
            agent_uid: Some(1000),
            session: session.map(String::from),
            created_at: now,
            expires_at: now + Duration::seconds(ttl),
            created_by: "alice".into(),
            from_request: Uuid::new_v4(),
            uses: 0,
            covers: GrantCover::Exact,
        }
    }

    fn only() -> Reach {
        Reach::ExactOnly("test".into())
    }

    const TEST: &str = r#"{"command":"make test"}"#;

    #[test]
    fn the_same_call_matches_and_anything_different_does_not() {
        let mut g = Grants::new(16);
        g.insert(grant(TEST, Scope::Session, Some("s1"), 600), Utc::now());
        let now = Instant::now();
        let me = agent("claude", 1000);
        let hit = g
            .answer("shell", TEST, &me, Some("s1"), &only(), now)
            .unwrap();
        assert_eq!(hit.uses, 1);
        assert!(
            g.answer(
                "shell",
                r#"{"command":"make deploy"}"#,
                &me,
                Some("s1"),
                &only(),
                now
            )
            .is_none(),
            "other arguments"
        );
        assert!(
            g.answer("shell", TEST, &me, Some("s2"), &only(), now)
                .is_none(),
            "other session"
        );
        assert!(
            g.answer("shell", TEST, &me, None, &only(), now).is_none(),
            "no session"
        );
        assert!(
            g.answer(
                "shell",
                TEST,
                &agent("codex", 1000),
                Some("s1"),
                &only(),
                now
            )
            .is_none(),
            "other agent"
        );
        assert!(
            g.answer(
                "shell",
                TEST,
                &agent("claude", 1001),
                Some("s1"),
                &only(),
                now
            )
            .is_none(),
            "same name, other uid"
        );
        assert!(
            g.answer("exec", TEST, &me, Some("s1"), &only(), now)
                .is_none(),
            "other tool"
        );
    }

    #[test]
    fn a_timeboxed_grant_covers_any_session_until_it_expires() {
        let mut g = Grants::new(16);
        g.insert(
            grant(TEST, Scope::Timeboxed { ttl_secs: 60 }, None, 60),
            Utc::now(),
        );
        let now = Instant::now();
        let me = agent("claude", 1000);
        assert!(g
            .answer("shell", TEST, &me, Some("any"), &only(), now)
            .is_some());
        assert!(g.answer("shell", TEST, &me, None, &only(), now).is_some());
        assert!(g
            .answer(
                "shell",
                TEST,
                &me,
                None,
                &only(),
                now + std::time::Duration::from_secs(61)
            )
            .is_none());
        assert!(g.is_empty(), "the expired grant is gone");
    }

    #[test]
    fn the_least_recently_used_grant_goes_when_full() {
        let mut g = Grants::new(2);
        let a = grant(r#"{"n":1}"#, Scope::Timeboxed { ttl_secs: 600 }, None, 600);
        let b = grant(r#"{"n":2}"#, Scope::Timeboxed { ttl_secs: 600 }, None, 600);
        let c = grant(r#"{"n":3}"#, Scope::Timeboxed { ttl_secs: 600 }, None, 600);
        g.insert(a.clone(), Utc::now());
        g.insert(b.clone(), Utc::now());
        // Using `a` makes `b` the least recently used.
        assert!(g
            .answer(
                "shell",
                r#"{"n":1}"#,
                &agent("claude", 1000),
                None,
                &only(),
                Instant::now()
            )
            .is_some());
        let gone = g.insert(c, Utc::now());
        assert_eq!(gone.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b.id]);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn revoking_by_prefix_or_all() {
        let mut g = Grants::new(16);
        let a = grant(r#"{"n":1}"#, Scope::Session, Some("s"), 600);
        g.insert(a.clone(), Utc::now());
        g.insert(
            grant(r#"{"n":2}"#, Scope::Session, Some("s"), 600),
            Utc::now(),
        );
        let prefix = IdPrefix::parse(&a.id.to_string()[..8]).unwrap();
        assert_eq!(g.revoke(Some(&prefix)).unwrap()[0].id, a.id);
        assert!(g.revoke(Some(&prefix)).is_err(), "nothing left to match");
        assert_eq!(g.revoke(None).unwrap().len(), 1);
        assert!(g.is_empty());
    }

    fn wide(covers: GrantCover, session: Option<&str>) -> GrantView {
        GrantView {
            covers,
            ..grant("{}", Scope::Session, session, 600)
        }
    }

    fn shell(prefixes: &[&[&str]], writes: &[&str]) -> Reach {
        Reach::Shell {
            prefixes: prefixes
                .iter()
                .map(|p| p.iter().map(|w| w.to_string()).collect())
                .collect(),
            writes: writes.iter().map(std::path::PathBuf::from).collect(),
        }
    }

    #[test]
    fn wider_grants_together_cover_all_a_call_reaches_and_nothing_more() {
        let mut g = Grants::new(16);
        let make_test = vec!["make".to_string(), "test".to_string()];
        g.insert(
            wide(
                GrantCover::Commands {
                    prefixes: vec![make_test],
                },
                Some("s1"),
            ),
            Utc::now(),
        );
        g.insert(
            wide(
                GrantCover::Folder {
                    dir: "/nonexistent-app".into(),
                },
                Some("s1"),
            ),
            Utc::now(),
        );
        let me = agent("claude", 1000);
        let now = Instant::now();
        let mut answer = |reach: &Reach, session: &str, who: &AgentIdentity| {
            g.answer(
                "shell",
                r#"{"command":"x"}"#,
                who,
                Some(session),
                reach,
                now,
            )
            .is_some()
        };
        assert!(answer(&shell(&[&["make", "test"]], &[]), "s1", &me));
        assert!(answer(
            &shell(&[&["make", "test"]], &["/nonexistent-app/out.txt"]),
            "s1",
            &me
        ));
        assert!(
            !answer(
                &shell(&[&["make", "test"], &["npm", "run"]], &[]),
                "s1",
                &me
            ),
            "one prefix not granted"
        );
        assert!(
            !answer(&shell(&[&["make", "test"]], &["/etc/x"]), "s1", &me),
            "a write outside"
        );
        assert!(!answer(&shell(&[], &[]), "s1", &me), "nothing to cover");
        assert!(
            !answer(&shell(&[&["make", "test"]], &[]), "s2", &me),
            "another session"
        );
        assert!(
            !answer(
                &shell(&[&["make", "test"]], &[]),
                "s1",
                &agent("codex", 1000)
            ),
            "another agent"
        );
        assert!(
            !answer(
                &shell(&[&["make", "test"]], &[]),
                "s1",
                &agent("claude", 1001)
            ),
            "another uid"
        );
        assert!(!answer(&Reach::ExactOnly("x".into()), "s1", &me));
        assert!(!answer(&Reach::Tool, "s1", &me), "no tool grant");
        // The commands grant is for its own tool.
        assert!(g
            .answer(
                "exec",
                "{}",
                &me,
                Some("s1"),
                &shell(&[&["make", "test"]], &[]),
                now
            )
            .is_none());
    }

    #[test]
    fn a_wider_grant_is_revoked_and_evicted_like_any_other() {
        let mut g = Grants::new(1);
        let tool = wide(GrantCover::Tool, Some("s1"));
        g.insert(tool.clone(), Utc::now());
        let me = agent("claude", 1000);
        let now = Instant::now();
        assert!(g
            .answer("shell", "{}", &me, Some("s1"), &Reach::Tool, now)
            .is_some());
        // Full: the next grant evicts it, and it covers nothing any more.
        let gone = g.insert(grant(TEST, Scope::Session, Some("s1"), 600), Utc::now());
        assert_eq!(gone[0].id, tool.id);
        assert!(g
            .answer("shell", "{}", &me, Some("s1"), &Reach::Tool, now)
            .is_none());
        let mut g = Grants::new(4);
        g.insert(tool.clone(), Utc::now());
        assert_eq!(g.revoke(None).unwrap().len(), 1);
        assert!(g
            .answer("shell", "{}", &me, Some("s1"), &Reach::Tool, now)
            .is_none());
    }
}
