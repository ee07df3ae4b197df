//! A typed, framed connection: sends and receives whole protocol messages over any byte stream.
//!
//! Receiving is cancel-safe (the frame reader keeps partial input in its buffer), so a caller
//! may `select!` between an incoming message and anything else without corrupting the stream.

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use crate::codec::{self, CodecError, Encoding};
use crate::frame::{FrameCodec, FrameError};

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

pub struct Connection<S> {
    framed: Framed<S, FrameCodec>,
    encoding: Encoding,
}

/// The read and write buffers a connection starts with. Most messages are a few hundred bytes
/// and the buffers grow for the rare big one, so ten thousand idle connections need not hold
/// tokio-util's default 8 KiB twice over each.
const BUFFER_CAPACITY: usize = 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        let mut framed = Framed::with_capacity(stream, FrameCodec::default(), BUFFER_CAPACITY);
        // `with_capacity` sizes only the read buffer; the write buffer would start at 8 KiB.
        *framed.write_buffer_mut() = BytesMut::with_capacity(BUFFER_CAPACITY);
        Connection {
            framed,
            encoding: Encoding::Bincode,
        }
    }

    /// Switches the payload encoding for everything sent and received from now on.
    pub fn set_encoding(&mut self, encoding: Encoding) {
        self.encoding = encoding;
    }

    /// Sends one message and flushes it.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ConnError> {
        let payload = codec::encode_as(msg, self.encoding)?;
        self.framed.send(Bytes::from(payload)).await?;
        Ok(())
    }

    /// Receives one raw frame; `None` at a clean end of stream.
    pub async fn recv_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        match self.framed.next().await {
            None => Ok(None),
            Some(frame) => Ok(Some(frame?.freeze())),
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
        self.framed.get_ref()
    }
}
