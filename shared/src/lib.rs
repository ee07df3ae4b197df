//! The contract between agentd and its clients: protocol types, the wire codec, socket paths
//! and the async client that ash, the tests and any Rust agent share.
//!
//! Everything that crosses the socket is defined here once, so the daemon and its clients can
//! never disagree about a message's shape.

pub mod client;
pub mod codec;
pub mod conn;
pub mod frame;
pub mod grant;
pub mod notify;
pub mod paths;
pub mod protocol;
pub mod remote;
pub mod request_id;
pub mod text;

pub use client::{
    request_approval, request_approval_as_child, request_approval_watched, Client, ClientError,
    Progress, Submitted,
};
pub use grant::{GrantCover, GrantOption};
pub use protocol::*;
pub use remote::{Endpoint, SshHost};
