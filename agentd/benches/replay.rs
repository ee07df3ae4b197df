//! `cargo bench -p agentd --bench replay`: how often a person would be asked on the real
//! recorded sessions of `../shared/traces/dev-set.jsonl` (beside this repository), for each
//! operator mode: with no config (the built-in presets), with only Read and Grep free (the
//! set-up docs/CLAUDE-CODE.md recommended before the presets), and with the presets off. Runs `agentd replay`, the product's own command; the figures go into
//! docs/POLICY.md.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let trace = root.join("../shared/traces/dev-set.jsonl");
    if !trace.exists() {
        return Err(format!(
            "the development set is not at {}; it comes with the project's shared folder",
            trace.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    // The Claude Code calls alone, as the targets are stated for them.
    let claude = dir.path().join("claude-code.jsonl");
    let text = std::fs::read_to_string(&trace)?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("\"agent\": \"claude-code\"") || l.contains("\"agent\":\"claude-code\"")
        })
        .collect();
    std::fs::write(&claude, lines.join("\n") + "\n")?;
    let baseline = dir.path().join("read-grep.toml");
    std::fs::write(
        &baseline,
        "presets = []\n[[tool]]\nname = \"Read\"\nrequires_approval = false\nrisk = \"low\"\n[[tool]]\nname = \"Grep\"\nrequires_approval = false\nrisk = \"low\"\n",
    )?;
    set_private(&baseline)?;
    let bare = dir.path().join("no-presets.toml");
    std::fs::write(&bare, "presets = []\n")?;
    set_private(&bare)?;
    for (label, trace, config) in [
        (
            "Claude Code calls, no config (the built-in presets)",
            &claude,
            None,
        ),
        (
            "Claude Code calls, only Read and Grep free (the old CLAUDE-CODE.md set-up)",
            &claude,
            Some(&baseline),
        ),
        ("Claude Code calls, presets = []", &claude, Some(&bare)),
        (
            "every call (Claude Code and Codex), no config",
            &trace,
            None,
        ),
    ] {
        println!("{label}:");
        for mode in ["once", "session", "broadest"] {
            let line = replay(trace, config, mode)?;
            println!("  --operator {mode:<8}  {line}");
        }
    }
    Ok(())
}

fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

fn replay(
    trace: &PathBuf,
    config: Option<&PathBuf>,
    mode: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentd"));
    cmd.env_remove("AGENTD_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent/agentd-bench-config")
        .arg("replay");
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let out = cmd.args(["--operator", mode]).arg(trace).output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let text = String::from_utf8(out.stdout)?;
    Ok(text.lines().last().unwrap_or_default().to_string())
}
