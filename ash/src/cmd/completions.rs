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
pub fn man<C: CommandFactory>() -> anyhow::Result<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(C::command()).render(&mut out)?;
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
