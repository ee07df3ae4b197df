//! The policy: how a call is judged, before any person sees it.
//!
//! A call passes at once only when it is provably harmless: a shell line only when bash is
//! certain to read it as agentd did (`shell::read`), each command covered by a rule that lists
//! every flag it may take and the kind of every operand (`flags`), every file it reads in a
//! place where reads are harmless (`reads`), nothing written, nothing run that the rule does
//! not name. Anything else asks, and the grant options a person sees are never wider than
//! what they saw.

pub mod canonical;
pub mod commands;
mod flags;
mod git;
pub mod grant_key;
pub mod intake;
pub mod paths;
pub mod presets;
pub mod reach;
pub mod read_tools;
pub mod reads;
pub mod rules;
pub mod search;
pub mod shell;

pub use commands::{CommandVerdict, ShellTool};
pub use reach::Reach;
pub use reads::{Place, Read};
