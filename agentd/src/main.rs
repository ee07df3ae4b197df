//! The agentd binary: flags and environment, config, logging, the socket, and signals.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

mod check_config;
mod replay;

/// The approval daemon: agents ask it to approve tool calls over a Unix socket, and their calls
/// block until an operator approves or denies them with `ash`, or until the tool's timeout
/// denies them.
#[derive(Parser, Debug)]
#[command(name = "agentd", version)]
struct Args {
    /// The Unix socket to listen on [default: $XDG_RUNTIME_DIR/agentd/agentd.sock, or
    /// /tmp/agentd-$UID/agentd.sock when XDG_RUNTIME_DIR is unset]
    #[arg(long, env = "AGENTD_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Where agentd keeps its state [default: the platform's state folder for agentd,
    /// e.g. ~/.local/state/agentd]
    #[arg(long, env = "AGENTD_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// The TOML tool registry [default: agentd.toml in the platform's config folder; a missing
    /// default file is fine, a missing named file is an error]
    #[arg(long, env = "AGENTD_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a config file and show what it would do to sample requests, without starting.
    ///
    /// Each sample is JSON: {"tool": NAME, "args": {...}, "subject": TYPE, "risk_hint": LEVEL,
    /// "cwd": DIR} (all but tool optional). A sample that asks lists its grant options. Exit 0
    /// if the file is valid, 1 if not, 2 for a bad sample.
    CheckConfig {
        /// The config file to check
        file: PathBuf,
        /// A request to try the rules on (repeatable)
        #[arg(long = "sample", value_name = "JSON")]
        samples: Vec<String>,
    },
    /// Replay recorded tool calls through the decision path and count how often a person
    /// would be asked.
    ///
    /// The trace is JSON Lines, one call a line: {"tool_name", "tool_input", "session",
    /// "agent", ...}. A private agentd (in memory, with the config agentd would start with)
    /// answers each call;
    /// a simulated operator approves every call that reaches a person, with the scope
    /// --operator names. The last line reads `asked N of M calls (P%); after the first 20 of
    /// each session: n of m (p%)`. Exit 0, 1 for a bad config, 2 for a bad trace.
    Replay {
        /// The trace to replay
        trace: PathBuf,
        /// How the simulated operator approves: once, for the session (an exact-arguments
        /// grant), or with the broadest grant offered
        #[arg(long, value_enum, default_value = "session")]
        operator: replay::OperatorMode,
        /// One JSON document instead of the table
        #[arg(long)]
        json: bool,
        /// Also list every call that reached a person (session, position, tool, what it did)
        #[arg(long)]
        asked: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match &args.command {
        Some(Command::CheckConfig { file, samples }) => return check_config::run(file, samples),
        Some(Command::Replay {
            trace,
            operator,
            json,
            asked,
        }) => {
            // The same config agentd itself would start with.
            let config = args
                .config
                .clone()
                .or_else(|| agentd::config::default_config_path().filter(|p| p.exists()));
            return replay::run(
                config.as_deref(),
                replay::Options {
                    mode: *operator,
                    json: *json,
                    list_asked: *asked,
                },
                trace,
            );
        }
        None => {}
    }
    init_logging(&args);
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (the terminal, or the journal under systemd) and to `agentd.log` in the
/// state dir, where `ash logs` finds them when agentd was started in the background. The file
/// is kept to about 10 MiB: a bigger one is moved to `agentd.log.1` at start.
fn init_logging(args: &Args) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    const KEEP: u64 = 10 * 1024 * 1024;
    let filter =
        || EnvFilter::try_from_env("AGENTD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter());
    // The state dir is made private, as the store makes it; one that cannot be made (or is a
    // file) leaves logging to stderr, and the store says what is wrong.
    let file = args
        .state_dir
        .clone()
        .or_else(agentd_proto::paths::default_state_dir)
        .filter(|dir| {
            use std::os::unix::fs::DirBuilderExt;
            dir.is_dir()
                || std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .is_ok()
        })
        .and_then(|dir| {
            let path = agentd_proto::paths::log_file(&dir);
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > KEEP) {
                let _ = std::fs::rename(&path, dir.join("agentd.log.1"));
            }
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .ok()
        })
        .map(|file| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_filter(filter())
        });
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
}

fn start(args: Args) -> anyhow::Result<()> {
    let config_path = args
        .config
        .clone()
        .or_else(|| agentd::config::default_config_path().filter(|p| p.exists()));
    let settings = match &config_path {
        Some(path) => agentd::Settings::load(path)?,
        None => agentd::Settings::default(),
    };
    let state_dir = match args.state_dir {
        Some(dir) => dir,
        None => agentd_proto::paths::default_state_dir()
            .context("cannot find a home folder for the state dir; pass --state-dir")?,
    };
    let settings = agentd::Settings {
        state_dir: Some(state_dir.clone()),
        ..settings
    };
    let socket = args
        .socket
        .unwrap_or_else(agentd_proto::paths::default_socket_path);

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Handlers first: once the socket answers, a signal must find them in place.
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let listener = agentd::bind(&socket, &agentd::socket_options(&settings)?)?;
        let prepared = agentd::prepare(&settings)?;
        // Said once the socket and the store are both in place: a start that fails is one
        // error line, with no "listening" before it.
        // What it runs with, and from where: the config's own tools and rules, and the
        // presets (which add their own).
        let config = config_path
            .as_ref()
            .map_or("none (built-in defaults)".to_string(), |p| {
                p.display().to_string()
            });
        tracing::info!(
            socket = %socket.display(), state_dir = %state_dir.display(), config = %config,
            config_tools = settings.tools.len(), config_rules = settings.rules.len(),
            presets = %settings.presets.join(","),
            "agentd {} listening", env!("CARGO_PKG_VERSION")
        );
        agentd::serve(prepared, listener, async {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            }
        })
        .await
        .context("stopped because the store failed")?;
        tracing::info!("agentd stopped");
        Ok(())
    })
}
