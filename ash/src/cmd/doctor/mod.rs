//! `ash doctor`: checks the setup a piece at a time (the socket, the daemon behind it, the
//! versions, who may decide, the agentd binary and its config, the hooks of Claude Code, Codex and Gemini CLI) and says
//! how to fix what is wrong. Exit 0 when nothing failed, 1 otherwise.

pub mod hooks;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use agentd_proto::{Client, ClientError, DaemonInfo, ErrorCode, Role, State};
use serde::Serialize;

use crate::outcome::{FAILURE, SUCCESS};
use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The config file agentd reads [default: $AGENTD_CONFIG, else
    /// ~/.config/agentd/agentd.toml]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it, for `warn` and `fail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

const START: &str =
    "start agentd (`agentd`, or `systemctl --user start agentd`; docs/SERVICE.md), or point ash at it with --socket or AGENTD_SOCKET";

pub async fn run(globals: &Globals, args: Args) -> anyhow::Result<u8> {
    let mut checks = vec![socket_file(&globals.socket)];
    let mut agentd_version = None;
    let mut info = None;
    if checks[0].status != Status::Fail {
        let (daemon, version, about) = daemon(&globals.socket).await;
        agentd_version = version;
        info = about;
        checks.extend(daemon);
    }
    let binary = find_in_path("agentd");
    checks.push(binary_check(binary.as_deref(), agentd_version.as_deref()).await);
    checks.push(config_check(binary.as_deref(), args.config, info.as_ref()).await);
    if let Some(store) = info.as_ref().and_then(|i| i.store.as_ref()) {
        checks.push(store_check(store));
    }
    checks.extend(hooks::checks());

    if globals.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            print_check(c);
        }
    }
    // A hook that will not run is a failure of the set-up, though agentd itself is fine.
    let failed = checks.iter().any(|c| {
        c.status == Status::Fail || (c.status == Status::Warn && hooks::is_runtime_check(c))
    });
    Ok(if failed { FAILURE } else { SUCCESS })
}

/// Prints one check as doctor's text output shows it, on one line: a mark, the name, the
/// detail, and the fix.
pub fn print_check(c: &Check) {
    let mark = match c.status {
        Status::Ok => "ok  ",
        Status::Info => "info",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    };
    match &c.fix {
        Some(fix) => println!("{mark}  {:<11} {} (fix: {fix})", c.name, c.detail),
        None => println!("{mark}  {:<11} {}", c.name, c.detail),
    }
}

/// Where the socket path came from, for people wondering why ash looks there.
fn origin(socket: &Path) -> &'static str {
    if std::env::var_os(agentd_proto::paths::SOCKET_ENV).is_some_and(|v| Path::new(&v) == socket) {
        "from AGENTD_SOCKET"
    } else if agentd_proto::paths::default_socket_path() == socket {
        "the default"
    } else {
        "from --socket"
    }
}

/// The socket file: there, a socket, not open to others, in a folder others cannot write.
pub fn socket_file(socket: &Path) -> Check {
    let shown = format!("{} ({})", socket.display(), origin(socket));
    let meta = match std::fs::symlink_metadata(socket) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check("socket", Status::Fail, format!("no socket at {shown}")).fix(START)
        }
        Err(e) => {
            return check(
                "socket",
                Status::Fail,
                format!("cannot look at {shown}: {e}"),
            )
            .fix("check the permissions of the folders on the way to it")
        }
    };
    if !meta.file_type().is_socket() {
        return check("socket", Status::Fail, format!("{shown} is not a socket")).fix(
            "remove it if it is left over, or choose another path with --socket; agentd never replaces a file that is not a socket",
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    let me = agentd_proto::paths::current_uid();
    if meta.uid() != me {
        return check(
            "socket",
            Status::Warn,
            format!("{shown} belongs to uid {}, not you (uid {me})", meta.uid()),
        )
        .fix("run agentd as yourself, or make sure that uid's agentd is the one you mean to use");
    }
    if mode & 0o007 != 0 {
        return check(
            "socket",
            Status::Warn,
            format!("{shown} has mode {mode:04o}: anyone on the machine can connect"),
        )
        .fix("set [daemon] socket_mode = \"0600\" (or \"0660\" with socket_group) in agentd.toml");
    }
    if let Some(dir) = socket.parent() {
        if let Ok(dmeta) = std::fs::metadata(dir) {
            let dmode = dmeta.permissions().mode() & 0o777;
            if dmode & 0o022 != 0 && dmode & 0o1000 == 0 {
                return check(
                    "socket",
                    Status::Warn,
                    format!(
                        "{} has mode {dmode:04o}: others could replace the socket",
                        dir.display()
                    ),
                )
                .fix(format!("chmod 700 {}", dir.display()));
            }
        }
    }
    check(
        "socket",
        Status::Ok,
        format!("{shown}, mode {mode:04o}, yours"),
    )
}

/// The daemon: answering, its version, and whether this user may decide; and what it runs
/// with, when it says.
async fn daemon(socket: &Path) -> (Vec<Check>, Option<String>, Option<DaemonInfo>) {
    let started = Instant::now();
    let mut client = match Client::connect(socket, Role::Operator, &super::login_name()).await {
        Ok(client) => client,
        Err(e) => return (vec![connect_failure(&e)], None, None),
    };
    let mut checks = Vec::new();
    let server = client.server().to_owned();
    let ping = client.ping().await;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let version = server.strip_prefix("agentd ").map(str::to_owned);
    let mine = env!("CARGO_PKG_VERSION");
    match (&ping, &version) {
        (Err(e), _) => checks.push(
            check("agentd", Status::Fail, format!("{server} stopped answering: {e}"))
                .fix("look at agentd's log (journalctl --user -u agentd)"),
        ),
        (Ok(()), Some(v)) if v == mine => checks.push(check(
            "agentd",
            Status::Ok,
            format!("{server} answering (protocol {}, {elapsed:.1} ms), same version as ash", agentd_proto::PROTOCOL_VERSION),
        )),
        (Ok(()), _) => checks.push(
            check(
                "agentd",
                Status::Warn,
                format!("{server} answering, but this is ash {mine}"),
            )
            .fix("install ash and agentd from the same release (cargo install --path ash --path agentd)"),
        ),
    }
    match client.list(Some(State::Pending)).await {
        Ok(pending) => checks.push(check(
            "operator",
            Status::Ok,
            format!("you may decide requests ({} pending now)", pending.len()),
        )),
        Err(e) if e.code() == Some(ErrorCode::Forbidden) => checks.push(
            check("operator", Status::Warn, format!("you may not decide requests: {e}"))
                .fix("add your user (or a group of yours) to [operators] in agentd.toml and restart agentd"),
        ),
        Err(e) => checks.push(check("operator", Status::Fail, format!("listing requests failed: {e}"))),
    }
    // An older agentd does not know the question; the checks above already said so.
    let info = client.info().await.ok();
    (checks, version, info)
}

/// The store: how large, how far back, and how it is kept bounded.
fn store_check(s: &agentd_proto::StoreInfo) -> Check {
    let days = |d: u32| match d {
        0 => "forever".to_string(),
        1 => "1 day".to_string(),
        d => format!("{d} days"),
    };
    let oldest = s.oldest.map_or("none".to_string(), |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    let kept = format!(
        "{}: {:.1} MB, {} requests, oldest {oldest}; keeps calls answered at once {}, other decisions {}",
        s.dir,
        s.bytes as f64 / 1e6,
        s.requests,
        days(s.answered_days),
        days(s.decided_days)
    );
    if s.answered_days == 0 && s.decided_days == 0 {
        check("store", Status::Info, kept)
            .fix("set [retention] answered_days and decided_days in agentd.toml to bound it")
    } else {
        check("store", Status::Ok, kept)
    }
}

fn connect_failure(e: &ClientError) -> Check {
    match e {
        ClientError::Unreachable { error, .. }
            if error.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            check(
                "agentd",
                Status::Fail,
                "nothing answers on the socket (a socket left by a crashed agentd?)",
            )
            .fix("start agentd; it replaces a stale socket by itself")
        }
        ClientError::Unreachable { error, .. }
            if error.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            check("agentd", Status::Fail, format!("not allowed to connect: {error}"))
                .fix("the socket is for its owner (and socket_group); run ash as that user or join the group")
        }
        ClientError::Server(w) if w.code == ErrorCode::VersionMismatch => {
            check("agentd", Status::Fail, w.message.clone())
                .fix("install ash and agentd from the same release")
        }
        other => check("agentd", Status::Fail, format!("cannot talk to agentd: {other}")).fix(START),
    }
}

/// The first executable called `name` on `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

async fn output(binary: &Path, args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    tokio::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .ok()
}

async fn binary_check(binary: Option<&Path>, running: Option<&str>) -> Check {
    let Some(binary) = binary else {
        return check("binary", Status::Warn, "agentd is not on PATH").fix(
            "cargo install --path agentd (from the source folder), or add its folder to PATH",
        );
    };
    let Some(out) = output(binary, &["--version".as_ref()]).await else {
        return check(
            "binary",
            Status::Fail,
            format!("{} does not run", binary.display()),
        )
        .fix("reinstall it: cargo install --path agentd");
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(1).unwrap_or("?").to_owned();
    match running {
        Some(running) if running != version => check(
            "binary",
            Status::Warn,
            format!(
                "{} is agentd {version}, but agentd {running} is running",
                binary.display()
            ),
        )
        .fix("restart agentd so the installed version runs"),
        _ => check(
            "binary",
            Status::Ok,
            format!("{} (agentd {version})", binary.display()),
        ),
    }
}

async fn config_check(
    binary: Option<&Path>,
    config: Option<PathBuf>,
    running: Option<&DaemonInfo>,
) -> Check {
    let named = config.or_else(|| std::env::var_os("AGENTD_CONFIG").map(PathBuf::from));
    let Some(running) = running else {
        return file_check(binary, named).await;
    };
    // The running agentd says what it loaded: that is the configuration in force.
    let loaded = format!(
        "{} tools and {} rules of its own, presets {}",
        running.config_tools,
        running.config_rules,
        if running.presets.is_empty() {
            "none".to_string()
        } else {
            running.presets.join(", ")
        }
    );
    let same = |named: &Path, loaded: &str| {
        std::fs::canonicalize(named).is_ok_and(|n| n == Path::new(loaded))
    };
    match (&running.config, named) {
        (None, None) => check(
            "config",
            Status::Info,
            format!("the running agentd loaded no config file: built-in defaults, {loaded}"),
        ),
        (Some(path), None) => {
            let mut c = file_check(binary, Some(PathBuf::from(path))).await;
            c.detail = format!(
                "loaded by the running agentd: {path} ({loaded}); {}",
                c.detail
            );
            c
        }
        (Some(path), Some(named)) if same(&named, path) => {
            let mut c = file_check(binary, Some(named)).await;
            c.detail = format!(
                "loaded by the running agentd: {path} ({loaded}); {}",
                c.detail
            );
            c
        }
        // A file named here that is not the one in force: its own faults first, then that.
        (running_config, Some(named)) => {
            let c = file_check(binary, Some(named.clone())).await;
            if c.status == Status::Fail {
                return c;
            }
            let in_force = running_config
                .as_deref()
                .map_or("no config file".to_string(), str::to_string);
            check(
                "config",
                Status::Warn,
                format!(
                    "the running agentd loaded {in_force}, not {}; {}",
                    named.display(),
                    c.detail
                ),
            )
            .fix(format!(
                "restart agentd with --config {} (or AGENTD_CONFIG)",
                named.display()
            ))
        }
    }
}

/// A config file on disk, checked with `agentd check-config`: `named` if given, else the
/// default path.
async fn file_check(binary: Option<&Path>, named: Option<PathBuf>) -> Check {
    let (path, named) = match named {
        Some(path) => (path, true),
        None => match agentd_proto::paths::default_config_path() {
            Some(path) => (path, false),
            None => {
                return check(
                    "config",
                    Status::Info,
                    "no home folder, so no default config file",
                )
            }
        },
    };
    if !path.exists() {
        return if named {
            check(
                "config",
                Status::Fail,
                format!("{} does not exist", path.display()),
            )
            .fix(
                "create it (docs/examples/agentd.toml is a start) or drop --config / AGENTD_CONFIG",
            )
        } else {
            check(
                "config",
                Status::Info,
                format!("no {}: agentd uses its built-in defaults", path.display()),
            )
        };
    }
    let Some(binary) = binary else {
        return check(
            "config",
            Status::Warn,
            format!("{} not checked: agentd is not on PATH", path.display()),
        )
        .fix("install agentd, then run `agentd check-config FILE`");
    };
    let Some(out) = output(binary, &["check-config".as_ref(), path.as_os_str()]).await else {
        return check(
            "config",
            Status::Fail,
            format!("{} check-config does not run", binary.display()),
        );
    };
    let first = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("agentd: error: ")
            .to_owned()
    };
    if out.status.success() {
        check("config", Status::Ok, first(&out.stdout))
    } else {
        check("config", Status::Fail, first(&out.stderr))
            .fix("correct the file; agentd refuses to start with it")
    }
}
