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
    /// Write every page (ash.1, ash-approve.1, ash-audit-verify.1 ...) into this folder
    /// instead, for installing into a man1 folder
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out: Option<std::path::PathBuf>,
}

/// `ash man --out DIR`: every page, one file each, named as `man` looks them up.
pub fn man_all<C: CommandFactory>(dir: &std::path::Path) -> anyhow::Result<u8> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut command = C::command();
    command.build();
    let mut written = 0;
    let mut stack = vec![(command.get_name().to_string(), command)];
    while let Some((name, command)) = stack.pop() {
        for sub in command.get_subcommands() {
            if sub.get_name() != "help" {
                stack.push((format!("{name}-{}", sub.get_name()), sub.clone()));
            }
        }
        let page = command.name(name.clone()).bin_name(name.replace('-', " "));
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
    }
    println!("wrote {written} manual pages to {}", dir.display());
    Ok(SUCCESS)
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
