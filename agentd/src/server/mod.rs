//! The socket server: accepts connections, checks each hello, and serves each connection's
//! messages until it closes. `hello.rs` greets a connection, `session.rs` runs it,
//! `dispatch.rs` answers one message, `streams.rs` sends the answers that take many frames,
//! `records.rs` runs history and export queries.
//!
//! Every bad input (a frame over the limit, bytes that do not decode, a wrong version, a
//! request that breaks a rule) is answered with an error frame on that connection alone; no
//! other connection and no queued request is affected.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentd_proto::client::LocalStream;
use agentd_proto::conn::{ConnError, Connection};
use agentd_proto::frame::FrameError;
use agentd_proto::{ErrorCode, ServerMsg, WireError};
use interprocess::local_socket::tokio::prelude::*;
use tokio::task::JoinSet;

use crate::admission::{Connections, FrameBytes, Slot};
use crate::limits::{RateLimiter, RefusalLog};
use crate::operators::Operators;
use crate::queue::Queue;
use crate::registry::Registry;

mod admit;
mod agent;
mod dispatch;
mod hello;
mod records;
mod session;
mod streams;

use admit::{admit, refuse_connection};

/// What every connection shares.
pub struct Context {
    pub queue: Arc<Queue>,
    pub registry: Registry,
    /// A connection that has not said hello by then is dropped.
    pub hello_timeout: Duration,
    /// Who may decide.
    pub operators: Operators,
    /// Per agent (uid and name).
    pub rate: RateLimiter,
    /// Per uid, however many names its agents give.
    pub uid_rate: RateLimiter,
    pub refusals: RefusalLog,
    /// The largest tool arguments accepted, in bytes.
    pub max_args: usize,
    /// Open connections per uid and overall, with operators' reserve.
    pub connections: Arc<Connections>,
    /// Bytes of unfinished large frames, per uid and overall.
    pub frames: Arc<FrameBytes>,
    /// A frame that has started must finish within this.
    pub frame_timeout: Duration,
    /// What agentd runs with, for operators who ask (`Info`).
    pub about: About,
    pub retention: crate::config::Retention,
}

/// The configuration agentd loaded, as `Info` reports it.
pub struct About {
    pub config: Option<String>,
    pub config_tools: u32,
    pub config_rules: u32,
    pub presets: Vec<String>,
}

/// Accepts connections until `shutdown` resolves or `failure` does (the store could not
/// commit), then stops every connection task. Returns the failure, if that was the reason.
pub async fn serve(
    listener: LocalSocketListener,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()>,
    failure: impl Future<Output = String>,
) -> Option<String> {
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    tokio::pin!(failure);
    let mut failed = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            message = &mut failure => {
                failed = Some(message);
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok(stream) => match admit(&stream, &ctx) {
                    Ok(slot) => {
                        tasks.spawn(handle(stream, Arc::clone(&ctx), slot));
                    }
                    Err(why) => {
                        tasks.spawn(refuse_connection(stream, why));
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: say so, and give the system a
                    // moment instead of spinning on the same error.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    if failed.is_some() {
        // Let connections whose writes just failed send that error before they are cut; the
        // ones still waiting on an agent or operator are cut when this runs out.
        let drain = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(FAILURE_DRAIN, drain).await;
    }
    tasks.shutdown().await;
    failed
}

/// How long a failing agentd lets its connections send their last errors.
const FAILURE_DRAIN: Duration = Duration::from_secs(1);

type LocalSocketListener = interprocess::local_socket::tokio::Listener;

/// Who is on the other end, as the kernel and the hello tell it.
#[derive(Debug, Clone)]
pub(super) struct Peer {
    pid: Option<u32>,
    uid: Option<u32>,
    role: agentd_proto::Role,
    name: String,
    /// Whether the kernel's uid/gid for this connection are allowed to decide.
    is_operator: bool,
    /// The parent agent this agent named in its hello.
    parent: Option<String>,
}

async fn handle(stream: LocalStream, ctx: Arc<Context>, slot: Option<Slot>) {
    // The greeting's futures (the hello's timer, the credential checks) are boxed so they do
    // not add to the size of a task that then waits for hours.
    if let Some(session) = Box::pin(hello::greet(stream, ctx, slot)).await {
        session.run().await;
    }
}

impl Context {
    /// The rate limit: requests a second and burst.
    fn rate_description(&self) -> (f64, f64) {
        self.rate.limits()
    }
}

fn internal(message: String) -> WireError {
    WireError {
        code: ErrorCode::Internal,
        message,
    }
}

fn frame_error(e: &FrameError) -> WireError {
    let code = match e {
        FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
        FrameError::OverBudget(_) => ErrorCode::LimitReached,
        _ => ErrorCode::BadFrame,
    };
    WireError {
        code,
        message: e.to_string(),
    }
}

async fn send_error(
    conn: &mut Connection<LocalStream>,
    code: ErrorCode,
    message: String,
) -> Result<(), ConnError> {
    conn.send(&ServerMsg::Error(WireError { code, message }))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use interprocess::local_socket::{GenericFilePath, ToFsName};

    /// The largest a connection's task may be. A tokio task is as large as its future's
    /// largest state, whichever state it is in, and 10,000 waiting agents are 10,000 tasks:
    /// this is what keeps them under 100 MiB (it was 6,376 bytes with the wait inside the
    /// message handler).
    const TASK_BUDGET: usize = 2048;

    #[tokio::test]
    async fn a_connection_task_stays_small() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("agentd.sock");
        let listener = crate::bind(&path, &crate::SocketOptions::default())?;
        let prepared = crate::prepare(&crate::Settings::default())?;
        let ctx = prepared.ctx;
        let _client = LocalStream::connect(path.as_path().to_fs_name::<GenericFilePath>()?).await?;
        let stream = listener.accept().await?;
        let slot = admit(&stream, &ctx)?;
        let task = handle(stream, ctx, slot);
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= TASK_BUDGET,
            "a connection task is {size} bytes, over its budget of {TASK_BUDGET}"
        );
        Ok(())
    }
}
