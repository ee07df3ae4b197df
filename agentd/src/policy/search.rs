//! Recursive searches (`rg`, Grep, `git grep`): the tree walked first, as the search will walk
//! it, for files that hold secrets; hidden files count where an ignore file whitelists them.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::reads::Place;

/// The most files and folders looked at under a folder a search reads recursively; a larger
/// tree asks rather than being read in full on every call.
pub(super) const SEARCH_LIMIT: usize = 20_000;

/// Why a recursive search of `word` (from any of `dirs`) may read a file that holds secrets:
/// one is under it (hidden files and folders aside: the searches rules allow skip them, as
/// `rg` does without `--hidden`), or it is too large to look through.
pub fn searches_secrets(
    word: &str,
    dirs: &[Option<PathBuf>],
    place: &Place,
    secrets: &Regex,
    hidden: bool,
) -> Option<String> {
    for dir in dirs {
        let root = place.absolute(word, dir.as_deref())?;
        // An ignore file that names a file with `!` lets rg search it, hidden or not; so does
        // a search that reads hidden files by design.
        let hidden = hidden || whitelists(&root, place);
        let found = walk_tree(&root, |path, name| {
            if name.starts_with('.') && !hidden {
                Step::Skip
            } else if secrets.is_match(&path.to_string_lossy()) {
                Step::Stop(format!("{} holds secrets", path.display()))
            } else {
                Step::Go
            }
        });
        match found {
            Ok(None) => {}
            Ok(Some(why)) => return Some(why),
            Err(TooMany) => {
                return Some(format!(
                    "{word} holds over {SEARCH_LIMIT} files, too many to check for secrets"
                ))
            }
        }
    }
    None
}

/// What a walk does with an entry.
enum Step<R> {
    /// Pass it by (and what is under it).
    Skip,
    /// Go on (into it, if it is a folder).
    Go,
    /// Stop the walk with this.
    Stop(R),
}

/// More entries than a walk looks at.
struct TooMany;

/// Walks the tree under `root` as a search does (links not followed, `.git` passed by), up to
/// `SEARCH_LIMIT` entries, asking `step` about each (its path and name).
fn walk_tree<R>(
    root: &Path,
    mut step: impl FnMut(&Path, &str) -> Step<R>,
) -> Result<Option<R>, TooMany> {
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SEARCH_LIMIT {
                return Err(TooMany);
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == ".git" {
                continue;
            }
            let path = entry.path();
            match step(&path, &name) {
                Step::Skip => {}
                Step::Stop(found) => return Ok(Some(found)),
                Step::Go => {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(path);
                    }
                }
            }
        }
    }
    Ok(None)
}

/// Whether an ignore file rg reads for a search of `root` (in it, under it, or in a folder
/// above it up to the project) has a `!` line, which makes rg search what it names even when
/// it is hidden.
fn whitelists(root: &Path, place: &Place) -> bool {
    const FILES: [&str; 3] = [".gitignore", ".ignore", ".rgignore"];
    let negates = |file: &Path| {
        std::fs::read_to_string(file)
            .is_ok_and(|text| text.lines().any(|l| l.trim_start().starts_with('!')))
    };
    let top = place.project.clone().unwrap_or_else(|| root.to_path_buf());
    let above = root
        .ancestors()
        .take_while(|d| d.starts_with(&top))
        .any(|d| {
            FILES.iter().any(|f| negates(&d.join(f))) || negates(&d.join(".git/info/exclude"))
        });
    if above {
        return true;
    }
    // Below: walked (bounded; past the bound, taken to be there) for ignore files.
    let found = walk_tree(root, |path, name| {
        if FILES.contains(&name) && negates(path) {
            Step::Stop(())
        } else {
            Step::Go
        }
    });
    !matches!(found, Ok(None))
}
