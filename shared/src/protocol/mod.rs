//! Protocol types: the hello, every client and server message, and the typed error codes.
//!
//! The payload codec is bincode (see `codec`), which cannot carry `serde_json::Value`, so tool
//! arguments travel as JSON text (`args_json`) and are parsed and canonicalised by agentd.
//!
//! In rooms: `hello` (the first frame, limits), `message` (client and server messages, events),
//! `request` (what an agent asks, what agentd knows), `decision` (verdicts, scopes, grants),
//! `history` (queries, export, audit), `daemon` (what agentd reports about itself, pruning),
//! `error`.

mod daemon;
mod decision;
mod error;
mod hello;
mod history;
mod message;
mod request;
#[cfg(test)]
mod tests;

pub use daemon::*;
pub use decision::*;
pub use error::*;
pub use hello::*;
pub use history::*;
pub use message::*;
pub use request::*;
