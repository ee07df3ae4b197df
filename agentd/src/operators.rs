//! Who may decide: the users and groups the config names (by default, only the user agentd
//! runs as), checked against the uid and gid the kernel reports for each connection.
//!
//! Names are resolved once, at start-up, through the system's user database (NSS), so an
//! unknown name is a config error rather than a silent refusal later.

use std::collections::HashSet;

use nix::unistd::{Gid, Group, Uid, User};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OperatorError(pub String);

/// The resolved operator policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operators {
    uids: HashSet<u32>,
    gids: HashSet<u32>,
    /// Members of the allowed groups by name (supplementary membership).
    members: HashSet<String>,
    /// For messages: what the config allows, in words.
    described: String,
}

impl Operators {
    /// Only the user agentd runs as.
    pub fn own_user() -> Operators {
        let uid = Uid::effective().as_raw();
        Operators {
            uids: HashSet::from([uid]),
            gids: HashSet::new(),
            members: HashSet::new(),
            described: format!("only {} (the user agentd runs as)", user_name(uid)),
        }
    }

    /// The users and groups named in the config; empty lists mean `own_user`.
    pub fn resolve(users: &[String], groups: &[String]) -> Result<Operators, OperatorError> {
        if users.is_empty() && groups.is_empty() {
            return Ok(Operators::own_user());
        }
        let mut uids = HashSet::new();
        for name in users {
            let user = User::from_name(name)
                .map_err(|e| {
                    OperatorError(format!("[operators] users: cannot look up '{name}': {e}"))
                })?
                .ok_or_else(|| {
                    OperatorError(format!("[operators] users: no user named '{name}'"))
                })?;
            uids.insert(user.uid.as_raw());
        }
        let mut gids = HashSet::new();
        let mut members = HashSet::new();
        for name in groups {
            let group = Group::from_name(name)
                .map_err(|e| {
                    OperatorError(format!("[operators] groups: cannot look up '{name}': {e}"))
                })?
                .ok_or_else(|| {
                    OperatorError(format!("[operators] groups: no group named '{name}'"))
                })?;
            gids.insert(group.gid.as_raw());
            members.extend(group.mem);
        }
        let mut parts = Vec::new();
        if !users.is_empty() {
            parts.push(format!("users {}", users.join(", ")));
        }
        if !groups.is_empty() {
            parts.push(format!("groups {}", groups.join(", ")));
        }
        Ok(Operators {
            uids,
            gids,
            members,
            described: parts.join(" and "),
        })
    }

    /// Whether a connection with these credentials may decide.
    pub fn allows(&self, uid: u32, gid: Option<u32>) -> bool {
        if self.uids.contains(&uid) || gid.is_some_and(|g| self.gids.contains(&g)) {
            return true;
        }
        if self.gids.is_empty() {
            return false;
        }
        // Primary group from the user database, and supplementary membership by name.
        match User::from_uid(Uid::from_raw(uid)) {
            Ok(Some(user)) => {
                self.gids.contains(&user.gid.as_raw()) || self.members.contains(&user.name)
            }
            _ => false,
        }
    }

    /// What the policy allows, for error messages.
    pub fn describe(&self) -> &str {
        &self.described
    }
}

/// A uid's name for messages, or the number when it has none.
pub fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// A gid's name, or the number.
pub fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(group)) => group.name,
        _ => format!("gid {gid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_only_our_own_user_decides() {
        let ops = Operators::own_user();
        let me = Uid::effective().as_raw();
        assert!(ops.allows(me, None));
        assert!(!ops.allows(me.wrapping_add(4242), None));
    }

    #[test]
    fn named_users_and_groups_resolve_and_unknown_names_are_errors() {
        let ops = Operators::resolve(&["nobody".into()], &[]).unwrap();
        assert!(ops.allows(65534, None));
        assert!(!ops.allows(0, Some(0)));
        let by_group = Operators::resolve(&[], &["root".into()]).unwrap();
        assert!(by_group.allows(0, None), "root's primary group is root");
        assert!(
            by_group.allows(4242, Some(0)),
            "the connection's gid counts"
        );
        assert_eq!(
            Operators::resolve(&["no-such-user-here".into()], &[])
                .unwrap_err()
                .0,
            "[operators] users: no user named 'no-such-user-here'"
        );
        assert!(Operators::resolve(&[], &["no-such-group-here".into()]).is_err());
        assert_eq!(by_group.describe(), "groups root");
    }
}
