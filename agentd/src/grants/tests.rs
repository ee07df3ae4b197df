//! Grants: exact and wide grants answering calls, expiry on the monotonic clock, eviction,
//! and what a revocation takes away.

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
        reason: None,
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
        reads: Vec::new(),
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
