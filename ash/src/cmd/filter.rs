//! The filter flags `history` and `export` share.

use agentd_proto::{HistoryQuery, State, SubjectType};
use chrono::Utc;

use crate::outcome::UsageError;

#[derive(clap::Args, Debug)]
pub struct Filters {
    /// Only requests from this agent
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// Only requests for this tool
    #[arg(long, value_name = "NAME")]
    tool: Option<String>,
    /// Only requests in this state: pending, approved, denied, expired or withdrawn
    #[arg(long, value_name = "STATE")]
    state: Option<State>,
    /// Only requests decided by this operator (`agentd` for timeouts and policy)
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Only requests created at or after this time: RFC 3339, or an age like 2h or 7d
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only requests created before this time: RFC 3339, or an age like 2h or 7d
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only requests of this subject type (tool, secret_access, channel_send, …)
    #[arg(long, value_name = "TYPE")]
    subject: Option<SubjectType>,
}

impl Filters {
    /// The query these flags describe, with at most `limit` results.
    pub fn query(&self, limit: Option<u32>) -> anyhow::Result<HistoryQuery> {
        let now = Utc::now();
        let when = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| crate::when::parse(t, now))
                .transpose()
                .map_err(|e| UsageError(format!("--{flag}: {e}")))
        };
        Ok(HistoryQuery {
            agent: self.agent.clone(),
            tool: self.tool.clone(),
            state: self.state,
            operator: self.operator.clone(),
            since: when("since", &self.since)?,
            until: when("until", &self.until)?,
            limit,
            subject: self.subject,
        })
    }
}
