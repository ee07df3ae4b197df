//! Admission: a slot for each new connection by the kernel's uid (operators' uids may use the
//! reserve), and a refusal that says which limit was reached.

use std::time::Duration;

use agentd_proto::client::LocalStream;
use agentd_proto::conn::Connection;
use agentd_proto::ErrorCode;
use interprocess::local_socket::traits::StreamCommon;

use super::{send_error, Context};
use crate::admission::Slot;

/// A slot for a new connection, by the uid the kernel reports (an operator's uid may use the
/// reserve), or why not. A connection whose credentials cannot be read gets a slot as nobody
/// in particular, and `greet` refuses it.
pub(super) fn admit(stream: &LocalStream, ctx: &Context) -> Result<Option<Slot>, String> {
    let Ok(creds) = stream.peer_creds() else {
        return Ok(None);
    };
    let Some(uid) = creds.euid() else {
        return Ok(None);
    };
    let operator = ctx.operators.allows(uid, creds.egid());
    ctx.connections.admit(uid, operator).map(Some)
}

/// Over a connection limit: say so and close, without reading more than the hello.
pub(super) async fn refuse_connection(stream: LocalStream, why: String) {
    tracing::warn!("refusing a connection: {why}");
    let mut conn = Connection::new(stream);
    let refusal = async {
        // Take the hello first, so the client is reading when the refusal arrives.
        let _ = conn.recv_frame().await;
        send_error(&mut conn, ErrorCode::LimitReached, why).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), refusal).await;
}
