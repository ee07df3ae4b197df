//! A typed, framed connection: sends and receives whole protocol messages over any byte stream.
//!
//! Receiving is cancel-safe (partial input stays in the connection's buffer), so a caller may
//! `select!` between an incoming message and anything else without corrupting the stream. A
//! server can also give a connection a deadline for finishing a frame it has started, and a
//! budget the bytes of unfinished frames are drawn from, so a peer that trickles or stalls a
//! frame is cut off and many such peers cannot hold memory without bound.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

use crate::codec::{self, CodecError, Encoding};
use crate::frame::{frame_size, FrameCodec, FrameError};

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Where the bytes of unfinished frames are counted (per peer and overall, as the server
/// decides). `take` says whether `bytes` more may be held; `give` returns them.
pub trait FrameBudget: Send + Sync {
    fn take(&self, bytes: usize) -> Result<(), String>;
    fn give(&self, bytes: usize);
}

/// Frames up to this size are always read without drawing on the budget: the messages agents
/// and operators send every day are a few hundred bytes.
pub const FREE_FRAME: usize = 64 * 1024;

/// How a server limits a connection's unfinished frames.
pub struct FrameLimits {
    /// A frame that has started must be complete within this.
    pub deadline: Duration,
    pub budget: Arc<dyn FrameBudget>,
}

pub struct Connection<S> {
    stream: S,
    codec: FrameCodec,
    read: BytesMut,
    write: BytesMut,
    encoding: Encoding,
    limits: Option<Box<Limited>>,
}

/// The state of a limited connection's current unfinished frame.
struct Limited {
    limits: FrameLimits,
    /// When the unfinished frame's first byte arrived.
    since: Option<Instant>,
    /// How many bytes of the budget it holds.
    held: usize,
}

impl Drop for Limited {
    fn drop(&mut self) {
        if self.held > 0 {
            self.limits.budget.give(self.held);
        }
    }
}

/// The read and write buffers a connection starts with. Most messages are a few hundred bytes
/// and the buffers grow for the rare big one, so ten thousand idle connections need not hold
/// 8 KiB twice over each.
const BUFFER_CAPACITY: usize = 1024;

impl<S> Connection<S> {
    /// The stream underneath, e.g. to ask a transport why it ended.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream underneath, the connection given up (what it had buffered is dropped).
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            codec: FrameCodec::default(),
            read: BytesMut::with_capacity(BUFFER_CAPACITY),
            write: BytesMut::with_capacity(BUFFER_CAPACITY),
            encoding: Encoding::Bincode,
            limits: None,
        }
    }

    /// From now on, a frame must finish within `limits.deadline` of its first byte, and a
    /// frame over [`FREE_FRAME`] must fit in `limits.budget` while it arrives.
    pub fn limit_frames(&mut self, limits: FrameLimits) {
        self.limits = Some(Box::new(Limited {
            limits,
            since: None,
            held: 0,
        }));
    }

    /// Switches the payload encoding for everything sent and received from now on.
    pub fn set_encoding(&mut self, encoding: Encoding) {
        self.encoding = encoding;
    }

    /// Sends one message and flushes it.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ConnError> {
        let payload = codec::encode_as(msg, self.encoding)?;
        self.write.clear();
        self.codec
            .encode(Bytes::from(payload), &mut self.write)
            .map_err(ConnError::Frame)?;
        self.stream
            .write_all(&self.write)
            .await
            .map_err(FrameError::Io)?;
        self.stream.flush().await.map_err(FrameError::Io)?;
        if self.write.capacity() > 64 * BUFFER_CAPACITY {
            // One large reply should not keep its buffer for the life of the connection.
            self.write = BytesMut::with_capacity(BUFFER_CAPACITY);
        }
        Ok(())
    }

    /// Receives one raw frame; `None` at a clean end of stream.
    pub async fn recv_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.read)? {
                self.frame_done();
                return Ok(Some(frame.freeze()));
            }
            self.account()?;
            // Room for a whole ordinary message in one read: after frames are split off the
            // front, the spare capacity left can be a few bytes, and reading a frame in pieces
            // costs a syscall each (`reserve` takes back the space already read, if it can).
            if self.read.capacity() - self.read.len() < BUFFER_CAPACITY / 2 {
                self.read.reserve(BUFFER_CAPACITY);
            }
            let since = self.limits.as_ref().and_then(|l| l.since);
            let read = self.stream.read_buf(&mut self.read);
            let n = match (since, self.limits.as_ref()) {
                (Some(since), Some(limited)) => {
                    let deadline = since + limited.limits.deadline;
                    match tokio::time::timeout_at(deadline, read).await {
                        Ok(n) => n?,
                        Err(_) => {
                            return Err(FrameError::TooSlow {
                                secs: limited.limits.deadline.as_secs(),
                                expected: frame_size(&self.read).unwrap_or(4),
                                got: self.read.len(),
                            })
                        }
                    }
                }
                _ => read.await?,
            };
            if n == 0 {
                return match self.codec.decode_eof(&mut self.read)? {
                    Some(frame) => {
                        self.frame_done();
                        Ok(Some(frame.freeze()))
                    }
                    None => Ok(None),
                };
            }
        }
    }

    /// Notes when an unfinished frame started, and draws on the budget for a large one.
    fn account(&mut self) -> Result<(), FrameError> {
        let Some(limited) = self.limits.as_mut() else {
            return Ok(());
        };
        if self.read.is_empty() {
            return Ok(());
        }
        limited.since.get_or_insert_with(Instant::now);
        let size = frame_size(&self.read).unwrap_or(0);
        if size > FREE_FRAME && limited.held < size {
            let more = size - limited.held;
            limited
                .limits
                .budget
                .take(more)
                .map_err(FrameError::OverBudget)?;
            limited.held = size;
        }
        Ok(())
    }

    /// A whole frame arrived: its budget goes back, and a big buffer is let go.
    fn frame_done(&mut self) {
        if let Some(limited) = self.limits.as_mut() {
            limited.since = None;
            if limited.held > 0 {
                limited.limits.budget.give(limited.held);
                limited.held = 0;
            }
            // What is left is the start of the next frame, if anything.
            if !self.read.is_empty() {
                limited.since = Some(Instant::now());
            }
        }
        if self.read.is_empty() && self.read.capacity() > 64 * BUFFER_CAPACITY {
            self.read = BytesMut::with_capacity(BUFFER_CAPACITY);
        }
    }

    /// Receives and decodes one message; `None` at a clean end of stream.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ConnError> {
        match self.recv_frame().await? {
            None => Ok(None),
            Some(frame) => Ok(Some(codec::decode_as(&frame, self.encoding)?)),
        }
    }

    /// The underlying stream, e.g. to read peer credentials.
    pub fn stream(&self) -> &S {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted {
        held: AtomicUsize,
        max: usize,
    }

    impl FrameBudget for Counted {
        fn take(&self, bytes: usize) -> Result<(), String> {
            let now = self.held.fetch_add(bytes, Ordering::SeqCst) + bytes;
            if now > self.max {
                self.held.fetch_sub(bytes, Ordering::SeqCst);
                return Err(format!("over budget by {}", now - self.max));
            }
            Ok(())
        }
        fn give(&self, bytes: usize) {
            self.held.fetch_sub(bytes, Ordering::SeqCst);
        }
    }

    fn limited(
        deadline: Duration,
        max: usize,
    ) -> (
        Connection<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<Counted>,
    ) {
        let (a, b) = tokio::io::duplex(4 * 1024 * 1024);
        let budget = Arc::new(Counted {
            held: AtomicUsize::new(0),
            max,
        });
        let mut conn = Connection::new(a);
        conn.limit_frames(FrameLimits {
            deadline,
            budget: Arc::clone(&budget) as Arc<dyn FrameBudget>,
        });
        (conn, b, budget)
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_waits_but_a_started_frame_must_finish() {
        let (mut conn, mut peer, _) = limited(Duration::from_secs(10), 1 << 20);
        // Idle for an hour: fine.
        let idle = tokio::time::timeout(Duration::from_secs(3600), conn.recv_frame()).await;
        assert!(idle.is_err(), "nothing arrived, nothing ended");
        // Two bytes of a header, then nothing: cut off at the deadline.
        peer.write_all(&[0, 0]).await.unwrap();
        let err = conn.recv_frame().await.unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooSlow {
                    secs: 10,
                    got: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_frame_is_cut_off() {
        let (mut conn, mut peer, _) = limited(Duration::from_secs(10), 1 << 20);
        let trickle = tokio::spawn(async move {
            peer.write_all(&[0, 0, 0, 100]).await.unwrap();
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if peer.write_all(&[1]).await.is_err() {
                    return;
                }
            }
        });
        let err = conn.recv_frame().await.unwrap_err();
        assert!(matches!(err, FrameError::TooSlow { .. }), "{err}");
        trickle.abort();
    }

    #[tokio::test]
    async fn large_unfinished_frames_draw_on_the_budget_and_give_it_back() {
        let (mut conn, mut peer, budget) = limited(Duration::from_secs(60), 300 * 1024);
        let payload = vec![7u8; 200 * 1024];
        peer.write_all(&(payload.len() as u32).to_be_bytes())
            .await
            .unwrap();
        peer.write_all(&payload).await.unwrap();
        let frame = conn.recv_frame().await.unwrap().unwrap();
        assert_eq!(frame.len(), payload.len());
        assert_eq!(budget.held.load(Ordering::SeqCst), 0, "given back");
        // A frame larger than what is left is refused as soon as its header arrives.
        peer.write_all(&(400u32 * 1024).to_be_bytes())
            .await
            .unwrap();
        let err = conn.recv_frame().await.unwrap_err();
        assert!(matches!(err, FrameError::OverBudget(_)), "{err}");
        // Small frames never touch it.
        let (mut conn, mut peer, budget) = limited(Duration::from_secs(60), 0);
        peer.write_all(&[0, 0, 0, 3, 1, 2, 3]).await.unwrap();
        assert_eq!(&conn.recv_frame().await.unwrap().unwrap()[..], &[1, 2, 3]);
        assert_eq!(budget.held.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_dropped_connection_returns_what_it_held() {
        let (mut conn, mut peer, budget) = limited(Duration::from_secs(60), 1 << 20);
        peer.write_all(&(500u32 * 1024).to_be_bytes())
            .await
            .unwrap();
        peer.write_all(&[0; 1000]).await.unwrap();
        let pending = tokio::time::timeout(Duration::from_millis(50), conn.recv_frame()).await;
        assert!(pending.is_err());
        assert_eq!(budget.held.load(Ordering::SeqCst), 500 * 1024 + 4);
        drop(conn);
        assert_eq!(budget.held.load(Ordering::SeqCst), 0);
    }
}
