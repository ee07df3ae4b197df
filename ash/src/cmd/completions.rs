//! `ash completions SHELL` and `ash man`: shell completions and the manual page, generated
//! from the same command-line definition ash parses with, so they never drift.

use clap::CommandFactory;

use crate::outcome::SUCCESS;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Writes the completion script for `shell` to stdout.
pub fn completions<C: CommandFactory>(args: Args) -> anyhow::Result<u8> {
    let mut cmd = C::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "ash", &mut out);
    print_all(&out)
}

/// Writes the manual page (roff) to stdout: `ash man | man -l -`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// The command whose page to print (`approve`, `audit verify`); ash's own page without
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `ash man [SUBCOMMAND …]`: the manual page of ash, or of one subcommand (`ash-approve(1)`,
/// `ash-audit-verify(1)`), from the same clap definition as `--help`, every flag listed.
pub fn man<C: CommandFactory>(path: &[String]) -> anyhow::Result<u8> {
    let mut command = C::command();
    command.build();
    let mut name = command.get_name().to_string();
    for part in path {
        let Some(sub) = command.find_subcommand(part).cloned() else {
            let known: Vec<String> = command
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            return Err(crate::outcome::UsageError(format!(
                "no command `{name} {part}`; `{name}` has {}",
                known.join(", ")
            ))
            .into());
        };
        name = format!("{name}-{}", sub.get_name());
        command = sub;
    }
    let command = command.name(name.clone()).bin_name(name.replace('-', " "));
    let mut out = Vec::new();
    clap_mangen::Man::new(command).render(&mut out)?;
    print_all(&out)
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> anyhow::Result<u8> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(SUCCESS),
    }
}
