//! Floods from one user: limits hold per kernel uid however many names its agents give, the
//! operator always gets a connection, and unfinished frames are cut off in time and bounded in
//! memory. Each test is the attack; each fails without the per-uid limits it checks.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common;

use agentd::config::Limits;
use agentd::Settings;
use agentd_proto::{
    codec, ApprovalRequest, ErrorCode, Hello, Role, ServerMsg, State, Submitted, PROTOCOL_VERSION,
};
use agentd_testkit::TempDaemon;
use common::{expect_error_then_close, frame, read_msg, LIMIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

fn sensitive() -> ApprovalRequest {
    ApprovalRequest {
        tool: "sensitive-op".into(),
        ..ApprovalRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_name_per_connection_does_not_escape_the_per_user_limits() {
    let d = TempDaemon::start_exact(Settings {
        limits: Limits {
            pending_per_uid: 30,
            burst_per_uid: 1000.0,
            requests_per_sec_per_uid: 1000.0,
            ..Limits::default()
        },
        ..Settings::default()
    })
    .unwrap();
    // Pending: every name is fresh, so the per-agent cap (64) never bites; the uid's does.
    let mut held = Vec::new();
    let mut refusal = None;
    for i in 0..40 {
        let mut agent = d.agent(&format!("name-{i}")).await.unwrap();
        match agent.submit(&sensitive()).await {
            Ok(Submitted::Queued(_)) => held.push(agent),
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    assert_eq!(held.len(), 30);
    let err = refusal.expect("one uid's agents queued past the per-uid cap");
    assert_eq!(err.code(), Some(ErrorCode::LimitReached));
    assert!(
        err.to_string().contains("the most one user's agents may"),
        "{err}"
    );
    d.stop().await.unwrap();

    // Rate: 3,000 requests under 3,000 names in a burst are mostly refused.
    let d = TempDaemon::start_exact(Settings {
        tools: vec![agentd_proto::ToolSpec {
            name: "ls".into(),
            requires_approval: false,
            approval_timeout_secs: 10,
            risk: agentd_proto::Risk::Low,
        }],
        ..Settings::default()
    })
    .unwrap();
    let ls = ApprovalRequest {
        tool: "ls".into(),
        ..ApprovalRequest::default()
    };
    let started = std::time::Instant::now();
    let (mut answered, mut refused) = (0, 0);
    for i in 0..3000 {
        let mut agent = d.agent(&format!("n{i}")).await.unwrap();
        match agent.submit(&ls).await {
            Ok(_) => answered += 1,
            Err(e) => {
                assert!(e.to_string().contains("over their limit"), "{e}");
                refused += 1;
            }
        }
    }
    // The uid's burst (200) plus its rate (100/s) over the time taken, and no more.
    let allowed = 200 + (100.0 * started.elapsed().as_secs_f64()).ceil() as usize + 1;
    assert!(
        answered <= allowed,
        "{answered} answered (at most {allowed}), {refused} refused"
    );
    assert!(answered >= 200, "{answered} answered");
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_agent_connections_cannot_lock_the_operator_out() {
    let d = TempDaemon::start_exact(Settings {
        limits: Limits {
            max_connections: 40,
            connections_per_uid: 20,
            operator_connections: 4,
            ..Limits::default()
        },
        ..Settings::default()
    })
    .unwrap();
    let mut idle = Vec::new();
    let mut refused = 0;
    for i in 0..60 {
        match d.agent(&format!("idle-{i}")).await {
            Ok(c) => idle.push(c),
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::LimitReached), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(idle.len(), 20, "one user's agents hold at most 20");
    assert_eq!(refused, 40);
    // The operator is served.
    let mut op = d.operator("alice").await.unwrap();
    assert!(op.list(Some(State::Pending)).await.unwrap().is_empty());
    d.stop().await.unwrap();
}

/// A raw connection past a good agent hello.
async fn greeted(d: &TempDaemon) -> UnixStream {
    let mut raw = UnixStream::connect(d.socket()).await.unwrap();
    let hello = codec::encode(&Hello {
        version: PROTOCOL_VERSION,
        role: Role::Agent,
        name: "slow".into(),
        parent: None,
    })
    .unwrap();
    raw.write_all(&frame(&hello)).await.unwrap();
    assert!(matches!(
        read_msg(&mut raw).await,
        ServerMsg::Welcome { .. }
    ));
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_or_stalled_frame_is_cut_off() {
    let d = TempDaemon::start_exact(Settings {
        limits: Limits {
            frame_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Settings::default()
    })
    .unwrap();
    // Stalled: half a header, then nothing.
    let mut stalled = greeted(&d).await;
    stalled.write_all(&[0, 0]).await.unwrap();
    let err = expect_error_then_close(&mut stalled).await;
    assert_eq!(err.code, ErrorCode::BadFrame);
    assert!(
        err.message.contains("started but not finished within 1 s"),
        "{}",
        err.message
    );
    // Trickled: a byte every 100 ms, each well within the second, the whole far past it.
    let trickled = greeted(&d).await;
    let (mut read, mut write) = trickled.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(&[0, 0, 0, 200]).await.unwrap();
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..200 {
            ticker.tick().await;
            if write.write_all(&[0]).await.is_err() {
                return;
            }
        }
    });
    let msg = tokio::time::timeout(LIMIT, async {
        let mut header = [0u8; 4];
        read.read_exact(&mut header).await.unwrap();
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        read.read_exact(&mut payload).await.unwrap();
        codec::decode::<ServerMsg>(&payload).unwrap()
    })
    .await
    .expect("the trickle was cut off");
    let ServerMsg::Error(err) = msg else {
        panic!("expected an error, got {msg:?}");
    };
    assert!(
        err.message.contains("not finished within 1 s"),
        "{}",
        err.message
    );
    writer.abort();
    d.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_large_frames_are_bounded_per_user() {
    let d = TempDaemon::start_exact(Settings {
        limits: Limits {
            unfinished_frames_per_uid_bytes: 4 << 20,
            frame_timeout: Duration::from_secs(3),
            ..Limits::default()
        },
        ..Settings::default()
    })
    .unwrap();
    // Each connection claims a 1 MiB frame, sends part of it, and holds. Those agentd lets
    // in are cut off later by the frame deadline; the rest are refused at once.
    let mut conns = Vec::new();
    for _ in 0..10 {
        let mut raw = greeted(&d).await;
        // A refused connection is closed under the writer's feet: its error is read below.
        let _ = raw.write_all(&(1u32 << 20).to_be_bytes()).await;
        let _ = raw.write_all(&vec![0u8; 128 * 1024]).await;
        conns.push(raw);
    }
    let (mut held, mut refused) = (0, 0);
    for raw in &mut conns {
        let err = expect_error_then_close(raw).await;
        if err.message.contains("not finished within") {
            held += 1;
        } else {
            assert_eq!(err.code, ErrorCode::LimitReached);
            assert!(err.message.contains("unfinished frames"), "{}", err.message);
            refused += 1;
        }
    }
    assert_eq!(
        (held, refused),
        (3, 7),
        "4 MiB holds three 1 MiB frames, not four"
    );
    // Everyone else is still served.
    let mut op = d.operator("alice").await.unwrap();
    op.ping().await.unwrap();
    d.stop().await.unwrap();
}
