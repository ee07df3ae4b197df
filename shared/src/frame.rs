//! Framing: a 4-byte big-endian length, then that many payload bytes.
//!
//! The declared length is checked against `MAX_FRAME_LEN` before a single byte is reserved for
//! it, so a peer claiming a 4 GiB frame costs nothing. A stream that ends inside a frame is
//! reported as truncated rather than silently dropped.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::protocol::MAX_FRAME_LEN;

const HEADER_LEN: usize = 4;

/// The most a partial frame's buffer grows by at a time.
pub const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed inside a frame ({got} of {expected} bytes received)")]
    Truncated { expected: usize, got: usize },
    #[error(
        "a frame was started but not finished within {secs} s ({got} of {expected} bytes received)"
    )]
    TooSlow {
        secs: u64,
        expected: usize,
        got: usize,
    },
    #[error("{0}")]
    OverBudget(String),
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into frames and back.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max: usize,
}

impl FrameCodec {
    pub fn new(max: usize) -> Self {
        FrameCodec { max }
    }
}

/// The full size (header included) of the frame whose start is in `buf`, once its header is
/// there.
pub fn frame_size(buf: &[u8]) -> Option<usize> {
    let h = buf.get(..HEADER_LEN)?;
    Some(HEADER_LEN + u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize)
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(MAX_FRAME_LEN)
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(header) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; HEADER_LEN];
        len_bytes.copy_from_slice(header);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if src.len() < HEADER_LEN + len {
            // Reserve what the frame still needs, a chunk at a time: memory follows the bytes
            // that really arrive, not the length a peer claims.
            src.reserve((HEADER_LEN + len - src.len()).min(READ_CHUNK));
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        Ok(Some(src.split_to(len)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => {
                let expected = frame_size(src).unwrap_or(HEADER_LEN);
                Err(FrameError::Truncated {
                    expected,
                    got: src.len(),
                })
            }
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        if payload.len() > self.max {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: self.max,
            });
        }
        dst.reserve(HEADER_LEN + payload.len());
        dst.put_u32(payload.len() as u32);
        dst.extend_from_slice(&payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        FrameCodec::default()
            .encode(Bytes::copy_from_slice(payload), &mut buf)
            .unwrap();
        buf
    }

    #[test]
    fn round_trips_a_frame_and_leaves_the_next() {
        let mut buf = framed(b"hello");
        buf.extend_from_slice(&framed(b"world"));
        let mut codec = FrameCodec::default();
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"hello");
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"world");
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn waits_for_the_rest_of_a_partial_frame() {
        let whole = framed(b"abcdef");
        let mut buf = BytesMut::from(&whole[..7]);
        let mut codec = FrameCodec::default();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&whole[7..]);
        assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"abcdef");
    }

    #[test]
    fn refuses_a_huge_length_without_reserving_it() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let before = buf.capacity();
        let err = FrameCodec::default().decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                ..
            }
        ));
        assert_eq!(buf.capacity(), before);
    }

    #[test]
    fn a_claimed_large_frame_reserves_only_a_chunk() {
        let mut buf = BytesMut::from(&[0, 0x0f, 0, 0][..]);
        assert!(FrameCodec::default().decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= READ_CHUNK + 64, "{}", buf.capacity());
    }

    #[test]
    fn accepts_exactly_the_limit_and_refuses_one_more() {
        let mut codec = FrameCodec::new(8);
        let mut ok = BytesMut::from(&[0, 0, 0, 8][..]);
        ok.extend_from_slice(&[7; 8]);
        assert_eq!(codec.decode(&mut ok).unwrap().unwrap().len(), 8);
        let mut too_big = BytesMut::from(&[0, 0, 0, 9][..]);
        assert!(matches!(
            codec.decode(&mut too_big),
            Err(FrameError::TooLarge { len: 9, max: 8 })
        ));
    }

    #[test]
    fn reports_a_stream_that_ends_inside_a_frame() {
        let whole = framed(b"abcdef");
        let mut buf = BytesMut::from(&whole[..6]);
        let err = FrameCodec::default().decode_eof(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FrameError::Truncated {
                expected: 10,
                got: 6
            }
        ));
        let mut header_only = BytesMut::from(&[0, 0][..]);
        assert!(matches!(
            FrameCodec::default().decode_eof(&mut header_only),
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        ));
    }

    #[test]
    fn a_clean_end_between_frames_is_not_an_error() {
        let mut empty = BytesMut::new();
        assert!(FrameCodec::default()
            .decode_eof(&mut empty)
            .unwrap()
            .is_none());
    }
}
