//! The grant options a request offers a person, narrowest first: always the exact call, then
//! at most one wider grant from what the call reaches.

use std::path::Path;

use agentd_proto::{GrantCover, GrantOption};

use super::Reach;
use crate::policy::paths;

/// The options for a call of `tool` that reaches `reach`, made by an agent working in `cwd`.
pub fn for_call(tool: &str, reach: &Reach, cwd: Option<&str>) -> Vec<GrantOption> {
    let mut options = vec![GrantOption::exact()];
    match reach {
        Reach::ExactOnly(_) => {}
        Reach::Shell {
            prefixes,
            writes,
            reads,
        } if !prefixes.is_empty() && writes.is_empty() && reads.is_empty() => {
            let names: Vec<String> = prefixes
                .iter()
                .map(|p| format!("`{}`", p.join(" ")))
                .collect();
            options.push(GrantOption::new(
                GrantCover::Commands {
                    prefixes: prefixes.clone(),
                },
                format!(
                    "{} with other plain arguments, no other flag (every other command in the line still needs a rule or grant; a build or test tool runs code from a folder the agent can edit)",
                    names.join(", ")
                ),
            ));
        }
        Reach::Shell {
            prefixes,
            writes,
            reads,
        } if prefixes.is_empty() && reads.is_empty() => {
            options.extend(folder(writes, cwd));
        }
        Reach::Shell {
            prefixes,
            writes,
            reads,
        } if prefixes.is_empty() && writes.is_empty() => {
            options.extend(reads_under(reads));
        }
        Reach::Reads(reads) => options.extend(reads_under(reads)),
        // Commands and files at once: one question each time, or a grant made from a call
        // that asks for one of them.
        Reach::Shell { .. } => {}
        Reach::Files(files) => options.extend(folder(files, cwd)),
        Reach::Host(host) => options.push(GrantOption::new(
            GrantCover::Domain { host: host.clone() },
            format!("{tool} from {host} (this host only, not its subdomains)"),
        )),
        Reach::Tool => options.push(GrantOption::new(
            GrantCover::Tool,
            format!("any call of {tool}"),
        )),
    }
    options
}

/// "Reads under FOLDER": the nearest folder holding every file read (a file's own folder, or
/// the project it is in, found by its `.git`), when it is narrow enough: never the root, a
/// top-level folder, `/home` or a home folder itself.
fn reads_under(files: &[std::path::PathBuf]) -> Option<GrantOption> {
    let mut dirs = files.iter().map(|f| {
        // A pattern's folder is the part before its first wildcard.
        let f: std::path::PathBuf = f
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains('*'))
            .collect();
        let start = if f.is_dir() { f.as_path() } else { f.parent()? };
        // In a home folder, the folder of the home it is in (`~/.codex`, `~/notes`); else the
        // project it is in (found by its `.git`); else its own folder.
        let in_home = start.ancestors().find(|d| {
            let parent = d.parent();
            parent.is_some_and(|p| paths::too_wide(p) && !paths::too_wide(d))
                && parent.is_some_and(|p| p.parent().is_some_and(|g| g != p))
                && parent.is_some_and(|p| {
                    p.starts_with("/home")
                        || p.starts_with("/Users")
                        || p == std::path::Path::new("/root")
                })
        });
        let project = start
            .ancestors()
            .find(|d| d.join(".git").exists() && !paths::too_wide(d));
        Some(in_home.or(project).unwrap_or(start).to_path_buf())
    });
    let mut common = dirs.next()??;
    for dir in dirs {
        let dir = dir?;
        while !dir.starts_with(&common) {
            common = common.parent()?.to_path_buf();
        }
    }
    if paths::too_wide(&common) {
        return None;
    }
    let shown = common.to_string_lossy().into_owned();
    Some(GrantOption::new(
        GrantCover::Reads { dir: shown.clone() },
        format!("reads of files under {shown} (files that hold secrets still ask)"),
    ))
}

/// "File changes under the working folder", when every file is in it and it is narrow enough.
fn folder(files: &[std::path::PathBuf], cwd: Option<&str>) -> Option<GrantOption> {
    let dir = paths::normalise(Path::new(cwd?))?;
    if paths::too_wide(&dir) || files.is_empty() {
        return None;
    }
    if !files.iter().all(|f| f.starts_with(&dir) && f != &dir) {
        return None;
    }
    let shown = dir.to_string_lossy().into_owned();
    Some(GrantOption::new(
        GrantCover::Folder { dir: shown.clone() },
        format!(
            "file changes under {shown} (by any file tool or shell redirection; never .git/, agent or editor settings, start-up files or secrets)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn keys(options: &[GrantOption]) -> Vec<&str> {
        options.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn exact_comes_first_and_one_wider_option_follows() {
        let cmds = Reach::Shell {
            prefixes: vec![vec!["git".into(), "commit".into()]],
            writes: Vec::new(),
            reads: Vec::new(),
        };
        let got = for_call("Bash", &cmds, None);
        assert_eq!(keys(&got), ["exact", "commands"]);
        assert!(got[1]
            .label
            .starts_with("`git commit` with other plain arguments, no other flag"));
        assert_eq!(
            keys(&for_call("Bash", &Reach::ExactOnly("x".into()), None)),
            ["exact"]
        );
        assert_eq!(
            keys(&for_call("mcp__x__y", &Reach::Tool, None)),
            ["exact", "tool"]
        );
        assert_eq!(
            keys(&for_call("WebFetch", &Reach::Host("docs.rs".into()), None)),
            ["exact", "domain"]
        );
    }

    #[test]
    fn a_folder_is_offered_only_for_files_inside_a_narrow_working_folder() {
        let inside = Reach::Files(vec![PathBuf::from("/home/dev/app/src/x.rs")]);
        let got = for_call("Edit", &inside, Some("/home/dev/app"));
        assert_eq!(keys(&got), ["exact", "folder"]);
        assert_eq!(
            got[1].covers,
            GrantCover::Folder {
                dir: "/home/dev/app".into()
            }
        );
        assert_eq!(keys(&for_call("Edit", &inside, None)), ["exact"]);
        assert_eq!(
            keys(&for_call("Edit", &inside, Some("/home/dev"))),
            ["exact"],
            "a home folder is too wide"
        );
        let outside = Reach::Files(vec![PathBuf::from("/etc/hosts")]);
        assert_eq!(
            keys(&for_call("Edit", &outside, Some("/home/dev/app"))),
            ["exact"]
        );
    }
}
