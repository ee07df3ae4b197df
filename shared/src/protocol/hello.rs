//! The first frame of every connection, and the limits both sides hold to.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The protocol version, defined once. The first frame of every connection carries it.
pub const PROTOCOL_VERSION: u32 = 4;

/// The largest frame payload either side accepts (1 MiB). Checked before allocating.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// The largest tool arguments accepted, as JSON text (256 KiB), so that any one request fits
/// in a frame with room to spare.
pub const MAX_ARGS_LEN: usize = 256 * 1024;

/// The first frame of every connection. `version` must stay the first field: agentd decodes it
/// on its own first, so it can name both versions even when the rest of the hello changed shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub role: Role,
    /// The self-declared name of the agent or operator.
    pub name: String,
    /// An agent's parent agent, which reviews its requests first when it is connected as a
    /// reviewer (same uid).
    pub parent: Option<String>,
}

/// What a connection is for. Only operators may list and decide requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Agent,
    Operator,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Agent => "agent",
            Role::Operator => "operator",
        })
    }
}
