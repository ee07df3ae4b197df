//! The queue over several hosts: requests merged from each host's link, a snapshot replacing
//! only its host's requests, and a host that drops out named while the others keep working.

use super::app::{App, Conn, Update};
use super::tests::*;
use agentd_proto::{Event, Risk};

fn two_hosts() -> App {
    empty_app().with_hosts(vec!["ssh://dev@build-01".into(), "ssh://vm-2".into()])
}

#[test]
fn several_hosts_merge_into_one_queue_with_a_host_column() {
    let mut app = two_hosts();
    app.on_host_update(
        0,
        Update::Snapshot {
            pending: vec![req(0x01, "claude", "deploy", Risk::High, "{}", 100)],
            history: vec![],
        },
    );
    app.on_host_update(
        1,
        Update::Snapshot {
            pending: vec![req(0x02, "codex", "rm", Risk::Medium, "{}", 50)],
            history: vec![],
        },
    );
    assert_eq!(app.pending_count(), 2);
    assert_eq!(app.host(id(0x01)), Some(0));
    assert_eq!(app.host(id(0x02)), Some(1));
    assert_eq!(app.conn, Conn::Connected);
    let shown = text(&screen(&app, 120, 20));
    assert!(shown.contains("HOST"), "{shown}");
    assert!(shown.contains("ssh://dev@build-01"), "{shown}");
    assert!(shown.contains("ssh://vm-2"), "{shown}");

    // A new snapshot from one host replaces only that host's requests.
    app.on_host_update(
        1,
        Update::Snapshot {
            pending: vec![],
            history: vec![],
        },
    );
    assert_eq!(app.pending_count(), 1);
    assert!(app.request(id(0x01)).is_some());
    assert!(app.request(id(0x02)).is_none());

    // An event names its host, so a decision on it goes there.
    app.on_host_update(
        1,
        Update::Event(Event::Queued(req(0x03, "codex", "ls", Risk::Low, "{}", 30))),
    );
    assert_eq!(app.host(id(0x03)), Some(1));
}

#[test]
fn a_host_dropping_out_is_shown_while_the_others_keep_working() {
    let mut app = two_hosts();
    for host in 0..2 {
        app.on_host_update(
            host,
            Update::Snapshot {
                pending: vec![req(
                    0x10 + host as u8,
                    "claude",
                    "deploy",
                    Risk::Low,
                    "{}",
                    100,
                )],
                history: vec![],
            },
        );
    }
    app.on_host_update(1, Update::Lost("agentd closed the connection".into()));
    // Its requests stay listed (they may still be decided when it is back); the status says
    // which host is gone.
    assert_eq!(app.pending_count(), 2);
    match &app.conn {
        Conn::Lost(why) => {
            assert!(why.contains("ssh://vm-2"), "{why}");
            assert!(why.contains("1 of 2 hosts connected"), "{why}");
        }
        other => panic!("expected the lost host to show, got {other:?}"),
    }
    let shown = text(&screen(&app, 120, 20));
    assert!(shown.contains("1 of 2 hosts connected"), "{shown}");
    app.on_host_update(1, Update::Connecting);
    app.on_host_update(
        1,
        Update::Snapshot {
            pending: vec![],
            history: vec![],
        },
    );
    assert_eq!(app.conn, Conn::Connected);
    assert_eq!(app.pending_count(), 1);
}
