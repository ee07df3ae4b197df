//! The ash binary: parses the command line and runs the command.

use std::path::PathBuf;
use std::process::ExitCode;

use ash::{cmd, display, outcome, Globals};
use clap::{Parser, Subcommand};

/// Answer agentd's approval requests from the shell, or ask for one as an agent would.
#[derive(Parser, Debug)]
#[command(
    name = "ash",
    version,
    after_help = "Request IDs may be shortened to any unique prefix, as with git.\n\
                  Exit codes: 0 success, 1 failure, 2 usage error; `ash request` has its own \
                  (see `ash request --help`)."
)]
struct Cli {
    /// The agentd socket [env: AGENTD_SOCKET] [default: $XDG_RUNTIME_DIR/agentd/agentd.sock,
    /// or /tmp/agentd-$UID/agentd.sock when XDG_RUNTIME_DIR is unset]
    // The environment is read after parsing, not by clap: clap counts a value from the
    // environment as given and prints it in every usage line, as if it were required.
    #[arg(long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,

    /// Print machine-readable JSON on stdout (one document)
    #[arg(long, global = true)]
    json: bool,

    /// Reach agentd on another machine over ssh: ssh://[user@]host[:port][/socket], or
    /// `local` for this machine's socket (repeatable; `pending` and `status` cover them all)
    /// [env: AGENTD_HOST, comma-separated]
    #[arg(
        long = "host",
        value_name = "URL",
        value_delimiter = ',',
        value_parser = ash::parse_host,
        global = true
    )]
    hosts: Vec<ash::HostArg>,

    /// Without a command, ash opens the queue (`ash tui`)
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The full-screen approval queue (what `ash` alone opens)
    Tui(cmd::tui::Args),
    /// List the requests waiting for a decision
    Pending(cmd::pending::Args),
    /// Show everything about one request
    Show(cmd::show::Args),
    /// Approve a pending request
    Approve(cmd::decide::Args),
    /// Deny a pending request; the agent receives "denied by operator" and the reason
    Deny(cmd::decide::Args),
    /// Ask for approval as an agent would, and block until it is decided.
    ///
    /// Exit codes: 0 approved, 1 denied, 2 usage error, 3 expired, 4 agentd unreachable or any
    /// other error.
    Request(cmd::request::Args),
    /// Ask for approval to run a command, and run it if approved.
    ///
    /// Exit codes: the command's own when it ran; 1 denied, 2 usage error, 3 expired, 4 agentd
    /// unreachable or any other error.
    Exec(cmd::exec::Args),
    /// Hooks for agent runtimes: `ash hook claude-code`, `ash hook codex`, `ash hook gemini`
    #[command(subcommand)]
    Hook(cmd::hook::Command),
    /// An MCP server on stdio whose `approve` tool is a Claude Code `--permission-prompt-tool`
    Mcp(cmd::mcp::McpArgs),
    /// One line for a status bar: `3 pending · 1 high · next 0:42`, nothing when none
    Status(cmd::status::Args),
    /// Shell completions: ash completions bash|zsh|fish|elvish|powershell
    Completions(cmd::completions::Args),
    /// The manual page, in roff: ash man | man -l -; `ash man approve` for one command's
    Man(cmd::completions::ManArgs),
    /// Check the setup (socket, agentd, versions, permissions, config) and say what to fix
    Doctor(cmd::doctor::Args),
    /// Write agentd's hook into an agent runtime's own settings: ash setup claude-code|codex|gemini
    Setup(cmd::setup::Args),
    /// What was asked and decided, newest first
    History(cmd::history::Args),
    /// agentd's log, from its state dir: ash logs [-f]
    Logs(cmd::logs::Args),
    /// Every matching request with its decision and audit hashes, oldest first
    Export(cmd::export::Args),
    /// A private agentd with simulated agents, and the queue opened on it: try ash in one command
    Demo(cmd::demo::Args),
    /// The grants in force: standing decisions made with --scope session or timeboxed
    Grants(cmd::grants::ListArgs),
    /// End a grant (or all of them with --all)
    Revoke(cmd::grants::RevokeArgs),
    /// Apply retention now (what [retention] keeps, or --before TIME); --dry-run counts
    Prune(cmd::prune::Args),
    /// Check the audit trail
    #[command(subcommand)]
    Audit(cmd::audit::Command),
    /// Run a command here for each new request on every host followed (desktop, phone, tmux)
    Notify(cmd::notify::Args),
    /// The queue as a web page for a phone: ash web [--listen ADDR:PORT]; ash web devices; ash web revoke ID
    Web(ash::web::Args),
    /// Relay stdin and stdout to the local agentd socket (what `--host ssh://...` runs there)
    DialStdio(cmd::dial_stdio::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = cli
        .socket
        .or_else(|| {
            std::env::var_os(agentd_proto::paths::SOCKET_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(agentd_proto::paths::default_socket_path);
    let mut cli_hosts = cli.hosts;
    if cli_hosts.is_empty() {
        if let Some(from_env) = std::env::var("AGENTD_HOST").ok().filter(|v| !v.is_empty()) {
            for host in from_env.split(',') {
                match ash::parse_host(host) {
                    Ok(host) => cli_hosts.push(host),
                    Err(e) => {
                        eprintln!("ash: AGENTD_HOST: {e}");
                        return ExitCode::from(outcome::USAGE);
                    }
                }
            }
        }
    }
    let hosts = cli_hosts
        .into_iter()
        .map(|host| match host {
            ash::HostArg::Local => agentd_proto::Endpoint::Socket(socket.clone()),
            ash::HostArg::Remote(endpoint) => endpoint,
        })
        .collect();
    let globals = Globals {
        socket,
        json: cli.json,
        hosts,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ash: cannot start the async runtime: {e}");
            return ExitCode::from(outcome::FAILURE);
        }
    };
    let command = cli
        .command
        .unwrap_or(Command::Tui(cmd::tui::Args::default()));
    let waits_on_a_decision = matches!(command, Command::Request(_) | Command::Exec(_));
    // --json is global, but only some commands have a JSON document to print; the others
    // refuse it rather than print text where a script expects JSON.
    let no_json = match &command {
        Command::Demo(_) => Some("demo"),
        Command::Exec(_) => Some("exec"),
        Command::Completions(_) => Some("completions"),
        Command::Man(_) => Some("man"),
        Command::Setup(_) => Some("setup"),
        Command::Hook(_) => Some("hook"),
        Command::Mcp(_) => Some("mcp"),
        Command::DialStdio(_) => Some("dial-stdio"),
        Command::Notify(_) => Some("notify"),
        Command::Logs(_) => Some("logs"),
        _ => None,
    };
    if let Some(name) = no_json.filter(|_| globals.json) {
        eprintln!(
            "ash: --json: `ash {name}` has no JSON output (pending, show, approve, deny, request, history, export, grants, revoke, audit, prune, status and doctor have)"
        );
        return ExitCode::from(outcome::USAGE);
    }
    let result = runtime.block_on(async {
        match command {
            Command::Tui(args) => cmd::tui::run(&globals, args).await,
            Command::Demo(args) => cmd::demo::run(&globals, args).await,
            Command::Grants(args) => cmd::grants::list(&globals, args).await,
            Command::Revoke(args) => cmd::grants::revoke(&globals, args).await,
            Command::Pending(args) => cmd::pending::run(&globals, args).await,
            Command::Show(args) => cmd::show::run(&globals, args).await,
            Command::Approve(args) => {
                cmd::decide::run(&globals, agentd_proto::Verdict::Approve, args).await
            }
            Command::Deny(args) => {
                cmd::decide::run(&globals, agentd_proto::Verdict::Deny, args).await
            }
            Command::Request(args) => cmd::request::run(&globals, args).await,
            Command::History(args) => cmd::history::run(&globals, args).await,
            Command::Exec(args) => cmd::exec::run(&globals, args).await,
            Command::Status(args) => cmd::status::run(&globals, args).await,
            Command::Completions(args) => cmd::completions::completions::<Cli>(args),
            Command::Man(args) => match &args.out {
                Some(dir) => cmd::completions::man_all::<Cli>(dir),
                None => cmd::completions::man::<Cli>(&args.command),
            },
            Command::Doctor(args) => cmd::doctor::run(&globals, args).await,
            Command::Setup(args) => cmd::setup::run(args).await,
            Command::Hook(command) => cmd::hook::run(&globals, command).await,
            Command::Mcp(args) => cmd::mcp::run(&globals, args).await,
            Command::Export(args) => cmd::export::run(&globals, args).await,
            Command::Logs(args) => cmd::logs::run(args).await,
            Command::Audit(command) => cmd::audit::run(&globals, command).await,
            Command::Prune(args) => cmd::prune::run(&globals, args).await,
            Command::DialStdio(args) => cmd::dial_stdio::run(&globals, args).await,
            Command::Notify(args) => cmd::notify::run(&globals, args).await,
            Command::Web(args) => ash::web::run(&globals, args).await,
        }
    });
    // Everything the command needed has been awaited. What may still run is a blocking read of
    // stdin (`dial-stdio` after agentd closed its side): dropping the runtime would wait for
    // it forever, and the relay, with its ssh session, would outlive agentd.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ash: {}", display::clean(&format!("{e:#}")));
            ExitCode::from(outcome::error_exit_code(&e, waits_on_a_decision))
        }
    }
}
