//! The config file as TOML: its sections and their fields, each refusing keys it does not
//! know. `mod.rs` turns a parsed file into `Settings`.

use agentd_proto::Risk;
use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) presets: Option<Vec<String>>,
    #[serde(default)]
    pub(super) daemon: DaemonSection,
    #[serde(default)]
    pub(super) defaults: DefaultsSection,
    #[serde(default)]
    pub(super) store: StoreSection,
    #[serde(default)]
    pub(super) retention: RetentionSection,
    #[serde(default)]
    pub(super) operators: OperatorsSection,
    #[serde(default)]
    pub(super) limits: LimitsSection,
    #[serde(default)]
    pub(super) grants: GrantsSection,
    #[serde(default)]
    pub(super) escalation: EscalationSection,
    pub(super) notify: Option<NotifySection>,
    #[serde(default, rename = "tool")]
    pub(super) tools: Vec<ToolEntry>,
    #[serde(default, rename = "rule")]
    pub(super) rules: Vec<RuleEntry>,
    #[serde(default, rename = "command")]
    pub(super) commands: Vec<crate::policy::commands::CommandEntry>,
    #[serde(default, rename = "shell_tool")]
    pub(super) shell_tools: Vec<crate::policy::commands::ShellTool>,
    #[serde(default, rename = "file_tool")]
    pub(super) file_tools: Vec<crate::policy::reach::FileTool>,
    #[serde(default, rename = "fetch_tool")]
    pub(super) fetch_tools: Vec<crate::policy::reach::FetchTool>,
    #[serde(default, rename = "read_tool")]
    pub(super) read_tools: Vec<crate::policy::reach::ReadTool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct OperatorsSection {
    #[serde(default)]
    pub(super) users: Vec<String>,
    #[serde(default)]
    pub(super) groups: Vec<String>,
    pub(super) allow_own_requests: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    pub(super) pending_per_agent: Option<usize>,
    pub(super) requests_per_sec: Option<f64>,
    pub(super) burst: Option<f64>,
    pub(super) pending_per_uid: Option<usize>,
    pub(super) requests_per_sec_per_uid: Option<f64>,
    pub(super) burst_per_uid: Option<f64>,
    pub(super) max_connections: Option<usize>,
    pub(super) connections_per_uid: Option<usize>,
    pub(super) operator_connections: Option<usize>,
    pub(super) frame_timeout_secs: Option<u64>,
    pub(super) unfinished_frames_mib: Option<usize>,
    pub(super) unfinished_frames_per_uid_mib: Option<usize>,
    pub(super) max_args_kib: Option<usize>,
    pub(super) hello_timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifySection {
    pub(super) command: String,
    pub(super) min_risk: Option<Risk>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) max_running: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct EscalationSection {
    pub(super) window_secs: Option<u64>,
    pub(super) max_depth: Option<usize>,
    #[serde(default)]
    pub(super) approver: Vec<ApproverEntry>,
}

/// `[[escalation.approver]]`: a parent agent, by kernel user and agent name, that may approve.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApproverEntry {
    pub(super) user: String,
    pub(super) agent: String,
    pub(super) max_risk: Risk,
    pub(super) tools: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantsSection {
    pub(super) capacity: Option<usize>,
    pub(super) session_hours: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreSection {
    pub(super) durability: Option<Durability>,
    pub(super) max_size_mib: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionSection {
    pub(super) answered_days: Option<u32>,
    pub(super) decided_days: Option<u32>,
    pub(super) every_mins: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DaemonSection {
    pub(super) grace_period_secs: Option<u64>,
    pub(super) finished_in_memory: Option<usize>,
    pub(super) socket_mode: Option<String>,
    pub(super) socket_group: Option<String>,
    pub(super) allow_every_local_user: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DefaultsSection {
    pub(super) approval_timeout_secs: Option<u64>,
    pub(super) risk: Option<Risk>,
}
