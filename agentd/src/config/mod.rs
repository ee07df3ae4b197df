//! Settings and the TOML tool registry file.
//!
//! Every part of the file is optional: `[daemon]`, `[defaults]` (timeout and risk for tools that
//! do not set their own, and for unknown tools), `[store]`, `[operators]`, `[limits]`,
//! `[grants]`, `[escalation]`, `[notify]`, `[[tool]]` and `[[rule]]` entries.
//! Every error names the file and, where the parser knows it, the line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentd_proto::{Risk, ToolSpec};

mod file;
mod retention;

use crate::agent::Approver;
use crate::notify::NotifySettings;
use crate::policy::rules::{Rule, RuleEntry};
use crate::store::Durability;
pub(crate) use crate::tool_spec::ToolEntry;
use file::File;

pub use crate::tool_spec::{check_timeout, MAX_TIMEOUT_SECS};
pub use retention::Retention;

/// Everything agentd's behaviour depends on, resolved from the config file and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a request whose agent disconnected waits for it to re-attach before it is
    /// withdrawn.
    pub grace_period: Duration,
    /// The timeout of tools that set none, and of tools the registry does not know.
    pub default_timeout_secs: u64,
    /// The risk of tools that set none, and of tools the registry does not know.
    pub default_risk: Risk,
    /// Tools from the config file (the built-in `sensitive-op` is added by the registry).
    pub tools: Vec<ToolSpec>,
    /// How many finished requests stay in memory for `ash show` and late deciders.
    pub finished_capacity: usize,
    /// A connection that has not sent its hello by then is closed.
    pub hello_timeout: Duration,
    /// Where the store lives; `None` keeps everything in memory (embedding, benchmarks).
    pub state_dir: Option<PathBuf>,
    /// How far a commit goes before it counts as done.
    pub durability: Durability,
    /// The most the store may grow to, in MiB; unlimited when `None`.
    pub store_max_size_mib: Option<u64>,
    /// How long the store keeps what is finished (see `[retention]`).
    pub retention: Retention,
    /// The file these settings came from; `None` for the built-in defaults.
    pub config_path: Option<PathBuf>,
    /// Who may decide: users and groups by name; both empty means the user agentd runs as.
    pub operator_users: Vec<String>,
    pub operator_groups: Vec<String>,
    /// Let a process decide a request it (or its parent) raised. Off, except for embedding
    /// agentd in one process with its agents (tests, `ash demo`).
    pub allow_own_requests: bool,
    pub limits: Limits,
    /// The socket's file mode (0600 by default; 0660 with `socket_group` lets a group's
    /// agents connect).
    pub socket_mode: u32,
    /// The group the socket file is given.
    pub socket_group: Option<String>,
    /// How many grants are kept; the least recently used go first.
    pub grant_capacity: usize,
    /// How long a session grant lasts at most.
    pub session_grant_ttl: Duration,
    /// Risk rules, in file order.
    pub rules: Vec<Rule>,
    /// Command rules for shell tools, from `[[command]]` (the presets' are added to them).
    pub commands: Vec<crate::policy::commands::CommandEntry>,
    /// Tools whose calls carry a shell command, from `[[shell_tool]]` (beside the presets').
    pub shell_tools: Vec<crate::policy::commands::ShellTool>,
    /// Tools whose calls change files, from `[[file_tool]]`, and that fetch URLs, from
    /// `[[fetch_tool]]` (beside the presets'): what folder and host grants look at.
    pub shapes: crate::policy::reach::Shapes,
    /// The built-in presets in force (`presets` at the top of the file; all of them when the
    /// file does not say).
    pub presets: Vec<String>,
    /// How long a reviewing parent agent has before a request goes up a level.
    pub escalation_window: Duration,
    /// How many reviewing parents a request may pass through.
    pub max_review_depth: usize,
    /// The parent agents that may approve their children's requests, and what; every other
    /// reviewing parent may only deny or escalate.
    pub review_approvers: Vec<Approver>,
    /// The command run when a request reaches the operators; none by default.
    pub notify: Option<NotifySettings>,
}

/// Limits on what one agent (uid and name), one user (uid), or everyone together, may ask of
/// agentd. The per-uid limits hold however many names a user's agents give themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub pending_per_agent: usize,
    pub requests_per_sec: f64,
    pub burst: f64,
    /// Pending requests of all of one uid's agents together.
    pub pending_per_uid: usize,
    /// Requests a second (and burst) of all of one uid's agents together.
    pub requests_per_sec_per_uid: f64,
    pub burst_per_uid: f64,
    pub max_connections: usize,
    /// Connections one uid may hold (for an operator's uid: its agent connections).
    pub connections_per_uid: usize,
    /// Connections kept back for operators' uids beyond `max_connections`.
    pub operator_connections: usize,
    /// A frame that has started must be complete within this.
    pub frame_timeout: Duration,
    /// Bytes of unfinished frames over 64 KiB held at once, overall and per uid.
    pub unfinished_frames_bytes: usize,
    pub unfinished_frames_per_uid_bytes: usize,
    /// The largest tool arguments accepted, in bytes of JSON.
    pub max_args_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pending_per_agent: 64,
            requests_per_sec: 20.0,
            burst: 40.0,
            pending_per_uid: 256,
            requests_per_sec_per_uid: 100.0,
            burst_per_uid: 200.0,
            max_connections: 1024,
            connections_per_uid: 256,
            operator_connections: 16,
            frame_timeout: Duration::from_secs(10),
            unfinished_frames_bytes: 64 << 20,
            unfinished_frames_per_uid_bytes: 16 << 20,
            max_args_bytes: agentd_proto::MAX_ARGS_LEN,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grace_period: Duration::from_secs(10),
            default_timeout_secs: 300,
            default_risk: Risk::Medium,
            tools: Vec::new(),
            finished_capacity: 10_000,
            hello_timeout: Duration::from_secs(5),
            state_dir: None,
            durability: Durability::Normal,
            store_max_size_mib: None,
            retention: Retention::default(),
            config_path: None,
            operator_users: Vec::new(),
            operator_groups: Vec::new(),
            allow_own_requests: false,
            limits: Limits::default(),
            socket_mode: 0o600,
            socket_group: None,
            grant_capacity: 1024,
            session_grant_ttl: Duration::from_secs(12 * 3600),
            rules: Vec::new(),
            presets: crate::policy::presets::default_names(),
            commands: Vec::new(),
            shell_tools: Vec::new(),
            shapes: crate::policy::reach::Shapes::default(),
            escalation_window: Duration::from_secs(30),
            max_review_depth: 4,
            review_approvers: Vec::new(),
            notify: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// `path`, or `path:line:column` when the position is known.
    pub origin: String,
    pub message: String,
}

impl Settings {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: path.display().to_string(),
            message: format!("cannot read config file: {e}"),
        })?;
        check_trusted(path)?;
        let mut settings = Settings::parse(&text, path)?;
        settings.config_path =
            Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        Ok(settings)
    }

    /// Parses config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let origin = match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("{}:{line}:{col}", path.display())
                }
                None => path.display().to_string(),
            };
            ConfigError {
                origin,
                message: e.message().trim().replace('\n', " "),
            }
        })?;
        let fail = |message: String| ConfigError {
            origin: path.display().to_string(),
            message,
        };
        let mut settings = Settings::default();
        if let Some(presets) = file.presets {
            crate::policy::presets::check_names(&presets).map_err(fail)?;
            settings.presets = presets;
        }
        if let Some(secs) = file.daemon.grace_period_secs {
            if secs > 3600 {
                return Err(fail(format!(
                    "[daemon] grace_period_secs = {secs} is over the limit of 3600"
                )));
            }
            settings.grace_period = Duration::from_secs(secs);
        }
        if let Some(n) = file.daemon.finished_in_memory {
            settings.finished_capacity = n;
        }
        if let Some(mode) = &file.daemon.socket_mode {
            let parsed = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m & !0o777 == 0 && *m & 0o600 == 0o600);
            settings.socket_mode = parsed.ok_or_else(|| {
                fail(format!(
                    "[daemon] socket_mode = \"{mode}\" must be octal permissions that keep the owner's read and write, e.g. \"0660\""
                ))
            })?;
        }
        if settings.socket_mode & 0o006 != 0 && file.daemon.allow_every_local_user != Some(true) {
            return Err(fail(format!(
                "[daemon] socket_mode = \"{:04o}\" lets every user on this machine connect; share the socket with a group instead (socket_mode = \"0660\", socket_group), or, if every local user is meant, also set allow_every_local_user = true",
                settings.socket_mode
            )));
        }
        settings.socket_group = file.daemon.socket_group;
        settings.operator_users = file.operators.users;
        settings.operator_groups = file.operators.groups;
        settings.allow_own_requests = file.operators.allow_own_requests.unwrap_or(false);
        if let Some(secs) = file.escalation.window_secs {
            if !(1..=3600).contains(&secs) {
                return Err(fail(format!(
                    "[escalation] window_secs = {secs} is out of range (1 to 3600)"
                )));
            }
            settings.escalation_window = Duration::from_secs(secs);
        }
        if let Some(depth) = file.escalation.max_depth {
            if depth > 16 {
                return Err(fail(format!("[escalation] max_depth = {depth} is over 16")));
            }
            settings.max_review_depth = depth;
        }
        for entry in file.escalation.approver {
            let uid = nix::unistd::User::from_name(&entry.user)
                .map_err(|e| {
                    fail(format!(
                        "[[escalation.approver]] user: cannot look up '{}': {e}",
                        entry.user
                    ))
                })?
                .ok_or_else(|| {
                    fail(format!(
                        "[[escalation.approver]] user: no user named '{}'",
                        entry.user
                    ))
                })?
                .uid
                .as_raw();
            if entry.agent.trim().is_empty() {
                return Err(fail("[[escalation.approver]] agent is empty".into()));
            }
            settings.review_approvers.push(Approver {
                uid,
                agent: entry.agent,
                max_risk: entry.max_risk,
                tools: entry.tools,
            });
        }
        if let Some(n) = file.notify {
            if n.command.trim().is_empty() {
                return Err(fail("[notify] command is empty".into()));
            }
            let timeout = n.timeout_secs.unwrap_or(10);
            if !(1..=300).contains(&timeout) {
                return Err(fail(format!(
                    "[notify] timeout_secs = {timeout} is out of range (1 to 300)"
                )));
            }
            let max_running = n.max_running.unwrap_or(4);
            if !(1..=64).contains(&max_running) {
                return Err(fail(format!(
                    "[notify] max_running = {max_running} is out of range (1 to 64)"
                )));
            }
            settings.notify = Some(NotifySettings {
                command: n.command,
                min_risk: n.min_risk.unwrap_or(Risk::Low),
                timeout: Duration::from_secs(timeout),
                max_running,
            });
        }
        if let Some(n) = file.grants.capacity {
            if n == 0 {
                return Err(fail("[grants] capacity must be at least 1".into()));
            }
            settings.grant_capacity = n;
        }
        if let Some(h) = file.grants.session_hours {
            if !(1..=24 * 30).contains(&h) {
                return Err(fail(format!(
                    "[grants] session_hours = {h} is out of range (1 to 720)"
                )));
            }
            settings.session_grant_ttl = Duration::from_secs(h * 3600);
        }
        let l = file.limits;
        let limits = &mut settings.limits;
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(fail(format!("[limits] {name} must be a positive number")))
            }
        };
        if let Some(n) = l.pending_per_agent {
            limits.pending_per_agent = positive("pending_per_agent", n as f64)? as usize;
        }
        if let Some(r) = l.requests_per_sec {
            limits.requests_per_sec = positive("requests_per_sec", r)?;
        }
        if let Some(b) = l.burst {
            limits.burst = positive("burst", b)?.max(1.0);
        }
        if let Some(n) = l.max_connections {
            limits.max_connections = positive("max_connections", n as f64)? as usize;
        }
        if let Some(n) = l.pending_per_uid {
            limits.pending_per_uid = positive("pending_per_uid", n as f64)? as usize;
        }
        if let Some(r) = l.requests_per_sec_per_uid {
            limits.requests_per_sec_per_uid = positive("requests_per_sec_per_uid", r)?;
        }
        if let Some(b) = l.burst_per_uid {
            limits.burst_per_uid = positive("burst_per_uid", b)?.max(1.0);
        }
        if let Some(n) = l.connections_per_uid {
            limits.connections_per_uid = positive("connections_per_uid", n as f64)? as usize;
        }
        if let Some(n) = l.operator_connections {
            limits.operator_connections = n;
        }
        if let Some(secs) = l.frame_timeout_secs {
            if !(1..=600).contains(&secs) {
                return Err(fail(format!(
                    "[limits] frame_timeout_secs = {secs} is out of range (1 to 600)"
                )));
            }
            limits.frame_timeout = Duration::from_secs(secs);
        }
        if let Some(mib) = l.unfinished_frames_mib {
            limits.unfinished_frames_bytes =
                positive("unfinished_frames_mib", mib as f64)? as usize * (1 << 20);
        }
        if let Some(mib) = l.unfinished_frames_per_uid_mib {
            limits.unfinished_frames_per_uid_bytes =
                positive("unfinished_frames_per_uid_mib", mib as f64)? as usize * (1 << 20);
        }
        if let Some(kib) = l.max_args_kib {
            if !(1..=512).contains(&kib) {
                return Err(fail(format!(
                    "[limits] max_args_kib = {kib} is out of range (1 to 512, so a request fits a frame)"
                )));
            }
            limits.max_args_bytes = kib * 1024;
        }
        if let Some(secs) = l.hello_timeout_secs {
            settings.hello_timeout =
                Duration::from_secs(positive("hello_timeout_secs", secs as f64)? as u64);
        }
        if let Some(durability) = file.store.durability {
            settings.durability = durability;
        }
        if let Some(mib) = file.store.max_size_mib {
            if mib == 0 {
                return Err(fail("[store] max_size_mib must be at least 1".into()));
            }
            settings.store_max_size_mib = Some(mib);
        }
        if let Some(days) = file.retention.answered_days {
            settings.retention.answered = Retention::from_days(days);
        }
        if let Some(days) = file.retention.decided_days {
            settings.retention.decided = Retention::from_days(days);
        }
        if let Some(mins) = file.retention.every_mins {
            if mins == 0 {
                return Err(fail("[retention] every_mins must be at least 1".into()));
            }
            settings.retention.every = Duration::from_secs(u64::from(mins) * 60);
        }
        if let Some(secs) = file.defaults.approval_timeout_secs {
            check_timeout(secs).map_err(|m| fail(format!("[defaults] {m}")))?;
            settings.default_timeout_secs = secs;
        }
        if let Some(risk) = file.defaults.risk {
            settings.default_risk = risk;
        }
        // An entry's own mistakes point at its table (and at the key, where one is named).
        let at = |header: &str, index: usize, key: Option<&str>, message: String| ConfigError {
            origin: match entry_line(text, header, index, key) {
                Some((line, col)) => format!("{}:{line}:{col}", path.display()),
                None => path.display().to_string(),
            },
            message,
        };
        for (i, entry) in file.rules.into_iter().enumerate() {
            let rule = Rule::compile(entry).map_err(|m| {
                let key = [
                    "regex",
                    "glob",
                    "pointer",
                    "subject",
                    "auto",
                    "risk",
                    "counter_examples",
                    "examples",
                    "tool",
                ]
                .into_iter()
                .find(|k| m.contains(&format!(": {k}:")) || m.contains(&format!("{k} =")));
                at("rule", i, key, m)
            })?;
            if settings.rules.iter().any(|r| r.name == rule.name) {
                return Err(at(
                    "rule",
                    i,
                    Some("name"),
                    format!("[[rule]] '{}' is defined twice", rule.name),
                ));
            }
            settings.rules.push(rule);
        }
        settings.shell_tools = file.shell_tools;
        settings.shapes = crate::policy::reach::Shapes {
            file_tools: file.file_tools,
            fetch_tools: file.fetch_tools,
            read_tools: file.read_tools,
        };
        settings.commands = file.commands;
        if !settings.commands.is_empty() {
            // Refuse rules whose examples fail now, not at the first call.
            let secrets = crate::policy::commands::secret_words()
                .map_err(|e| fail(format!("the secret-file pattern: {e}")))?;
            crate::policy::presets::command_rules(
                !settings.presets.is_empty(),
                &settings.commands,
                &secrets,
            )
            .map_err(fail)?;
        }
        for (i, entry) in file.tools.into_iter().enumerate() {
            let spec = entry
                .into_spec(settings.default_timeout_secs, settings.default_risk)
                .map_err(|m| {
                    let key = ["approval_timeout_secs", "risk", "requires_approval"]
                        .into_iter()
                        .find(|k| m.contains(k))
                        .or(m.contains("tool name").then_some("name"));
                    at("tool", i, key, format!("[[tool]] {m}"))
                })?;
            if settings.tools.iter().any(|t| t.name == spec.name) {
                return Err(at(
                    "tool",
                    i,
                    Some("name"),
                    format!("[[tool]] '{}' is defined twice", spec.name),
                ));
            }
            settings.tools.push(spec);
        }
        Ok(settings)
    }
}

/// The config says who may decide and what needs no approval, so, as ssh does with its
/// files, agentd reads it only if nobody but its own user (or root) could have written it: the
/// file must belong to one of them and not be writable by group or others, and so must the
/// folder it is in (unless that folder is sticky, like /tmp).
fn check_trusted(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::MetadataExt;
    let fail = |message: String| ConfigError {
        origin: path.display().to_string(),
        message,
    };
    let us = nix::unistd::Uid::effective().as_raw();
    let trusted_owner = |uid: u32| uid == us || uid == 0;
    let meta =
        std::fs::metadata(path).map_err(|e| fail(format!("cannot read config file: {e}")))?;
    if !trusted_owner(meta.uid()) {
        return Err(fail(format!(
            "the config file belongs to uid {}, not to agentd's user (uid {us}) or root; refusing to trust it: chown {us} {}",
            meta.uid(),
            path.display()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(fail(format!(
            "the config file is writable by others (mode {:04o}); refusing to trust it: chmod 600 {}",
            meta.mode() & 0o7777,
            path.display()
        )));
    }
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let dir_meta =
        std::fs::metadata(dir).map_err(|e| fail(format!("cannot read its folder: {e}")))?;
    let sticky = dir_meta.mode() & 0o1000 != 0;
    if dir_meta.mode() & 0o022 != 0 && !sticky {
        return Err(fail(format!(
            "the config file's folder {} is writable by others (mode {:04o}), so the file could be replaced; refusing to trust it: chmod go-w {}",
            dir.display(),
            dir_meta.mode() & 0o7777,
            dir.display()
        )));
    }
    Ok(())
}

/// Where agentd looks for its config when `--config` is not given.
pub fn default_config_path() -> Option<PathBuf> {
    agentd_proto::paths::default_config_path()
}

/// Where the `index`th `[[header]]` table of `text` is (its `key = …` line when that key is
/// in it), as line and column: the array's tables are in the file's order.
fn entry_line(text: &str, header: &str, index: usize, key: Option<&str>) -> Option<(usize, usize)> {
    let table = format!("[[{header}]]");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&table))
        .nth(index)
        .map(|(n, _)| n)?;
    let found = key.and_then(|key| {
        lines
            .iter()
            .enumerate()
            .skip(start + 1)
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|(n, l)| (n, l.len() - l.trim_start().len()))
    });
    let (line, indent) = found.unwrap_or((start, 0));
    Some((line + 1, indent + 1))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
