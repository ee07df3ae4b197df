//! Helpers shared by agentd's integration tests: raw frames on a socket, and waiting until the
//! operators see what a test expects.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use agentd_proto::{codec, RequestView, ServerMsg, State, WireError};
use agentd_testkit::{Poller, TempDaemon};
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

/// How long a test waits for anything before it fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// `payload` as one frame: its length (4 bytes, big-endian), then the bytes.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// Reads one server frame and decodes it (bincode).
pub async fn read_msg(stream: &mut UnixStream) -> ServerMsg {
    let mut header = [0u8; 4];
    stream
        .read_exact(&mut header)
        .await
        .expect("a frame header");
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    stream
        .read_exact(&mut payload)
        .await
        .expect("a frame payload");
    codec::decode(&payload).expect("a server message")
}

/// Reads one server frame and expects it to be an error; then expects the connection closed.
pub async fn expect_error_then_close(stream: &mut UnixStream) -> WireError {
    let msg = tokio::time::timeout(LIMIT, read_msg(stream))
        .await
        .expect("agentd answered in time");
    let ServerMsg::Error(err) = msg else {
        panic!("expected an error frame, got {msg:?}");
    };
    let mut rest = Vec::new();
    let n = tokio::time::timeout(LIMIT, stream.read_to_end(&mut rest))
        .await
        .expect("agentd closed the connection in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing follows the error");
    err
}

/// Waits until the operators see `n` pending requests, and returns them.
pub async fn operators_see(d: &TempDaemon, n: usize) -> Vec<RequestView> {
    let mut op = d.operator("alice").await.expect("an operator connection");
    let mut poller = Poller::new(LIMIT, format!("{n} requests with the operators"));
    loop {
        let list = op.list(Some(State::Pending)).await.expect("a list");
        if list.len() == n {
            return list;
        }
        poller.tick().await;
    }
}

/// A request for the built-in `sensitive-op` tool (always asks a person) with `args`.
pub fn sensitive(args: &str) -> agentd_proto::ApprovalRequest {
    agentd_proto::ApprovalRequest {
        tool: "sensitive-op".into(),
        args_json: args.into(),
        ..agentd_proto::ApprovalRequest::default()
    }
}

/// The journal files in `state_dir`, oldest first.
pub fn journal_files(state_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(state_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("agentd.journal."))
        })
        .collect();
    files.sort();
    files
}
