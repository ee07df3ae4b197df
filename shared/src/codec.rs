//! The payload codecs: bincode 2 through serde (Rust clients), or JSON (any language), chosen
//! per connection by its hello and kept behind this one module.
//!
//! bincode is pinned at `=2.0.1` (3.0.0 is an empty tombstone release). The decoder is given the
//! frame limit as its allocation limit, so a hostile length inside a payload (a string claiming
//! 4 GiB) is refused instead of reserved.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::protocol::MAX_FRAME_LEN;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode message: {0}")]
    Encode(String),
    #[error("cannot decode message: {0}")]
    Decode(String),
    #[error("message has {0} trailing bytes after its end")]
    Trailing(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Encodes one message to its payload bytes.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(msg, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes one whole payload; bytes left over mean the peer speaks something else.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    let (msg, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(CodecError::Trailing(payload.len() - used));
    }
    Ok(msg)
}

/// Decodes only the leading protocol version of a hello payload, so a peer speaking another
/// version gets an answer naming both versions even if the rest of its hello differs.
pub fn decode_version(payload: &[u8]) -> Result<u32, CodecError> {
    bincode::serde::decode_from_slice::<u32, _>(payload, config())
        .map(|(v, _)| v)
        .map_err(|e| CodecError::Decode(e.to_string()))
}

/// How a connection's payloads are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Bincode,
    /// JSON with serde's external tagging: `{"Submit": {...}}`, `"Ping"`.
    Json,
}

/// Encodes one message in `encoding`.
pub fn encode_as<T: Serialize>(msg: &T, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match encoding {
        Encoding::Bincode => encode(msg),
        Encoding::Json => serde_json::to_vec(msg).map_err(|e| CodecError::Encode(e.to_string())),
    }
}

/// Decodes one whole payload in `encoding`.
pub fn decode_as<T: DeserializeOwned>(payload: &[u8], encoding: Encoding) -> Result<T, CodecError> {
    match encoding {
        Encoding::Bincode => decode(payload),
        Encoding::Json => {
            serde_json::from_slice(payload).map_err(|e| CodecError::Decode(e.to_string()))
        }
    }
}
