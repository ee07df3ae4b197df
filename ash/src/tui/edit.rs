//! Editing a request's arguments before approving them (`e` in the queue): the pretty-printed
//! JSON goes into a private temporary file, the operator's editor (`$VISUAL`, else `$EDITOR`,
//! else `vi`) opens it, and what was saved is approved if it is JSON and differs.

use std::io::Write;

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi`; a shell command, so it may carry
/// arguments (`code --wait`).
pub fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into())
}

/// Runs `editor` on `args_json`, pretty-printed; the edited arguments as JSON text, `None` when
/// they are unchanged, or why they cannot be used.
pub fn edit(args_json: &str, editor: &str) -> Result<Option<String>, String> {
    let asked: serde_json::Value =
        serde_json::from_str(args_json).map_err(|e| format!("the arguments are not JSON: {e}"))?;
    let pretty = serde_json::to_string_pretty(&asked).map_err(|e| e.to_string())?;
    let mut file = tempfile::Builder::new()
        .prefix("ash-args-")
        .suffix(".json")
        .tempfile()
        .map_err(|e| format!("cannot make a temporary file: {e}"))?;
    file.write_all(pretty.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| format!("cannot write the temporary file: {e}"))?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .map_err(|e| format!("cannot run the editor ({editor}): {e}"))?;
    if !status.success() {
        return Err(format!(
            "the editor ({editor}) failed ({status}): nothing was decided"
        ));
    }
    let text = std::fs::read_to_string(file.path())
        .map_err(|e| format!("cannot read the edited arguments: {e}"))?;
    let edited: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("the edited arguments are not JSON ({e}): nothing was decided"))?;
    if edited == asked {
        return Ok(None);
    }
    Ok(Some(edited.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_editor_saves_is_what_is_approved() {
        let got = edit(r#"{"env":"prod","n":1}"#, "sed -i s/prod/staging/").unwrap();
        assert_eq!(got.as_deref(), Some(r#"{"env":"staging","n":1}"#));
        assert_eq!(
            edit(r#"{"env":"prod"}"#, "true").unwrap(),
            None,
            "unchanged"
        );
        let broken = edit(r#"{"env":"prod"}"#, "sed -i s/}/oops/").unwrap_err();
        assert!(broken.contains("not JSON"), "{broken}");
        let failed = edit("{}", "false").unwrap_err();
        assert!(failed.contains("the editor (false) failed"), "{failed}");
    }
}
