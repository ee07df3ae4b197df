//! Wrappers: programs that run another command given in their arguments (`env`, `timeout`,
//! `nice`, `xargs`, `find -exec`, `bash -c`, `eval` ...). The command they run is a command the
//! line runs too, marked with the wrappers it came through.

use super::{Analysis, Command, Unknown, Word};

/// How a shell string a wrapper runs is read: by the same reading as the line around it (the
/// plain one, or the full parse), so a wrapper never lends a line a certainty it lacks.
pub type Reader<'a> = &'a dyn Fn(&str, usize) -> Analysis;

/// Programs that run another command given in their arguments (each handled below).
pub fn wrapper(program: &str) -> bool {
    matches!(
        program,
        "command"
            | "builtin"
            | "exec"
            | "nohup"
            | "time"
            | "unbuffer"
            | "env"
            | "nice"
            | "timeout"
            | "stdbuf"
            | "sudo"
            | "doas"
            | "xargs"
            | "watch"
            | "sh"
            | "bash"
            | "dash"
            | "zsh"
            | "ksh"
            | "ash"
            | "mksh"
            | "eval"
            | "find"
    )
}

/// `command`, and the commands it runs through wrappers, outermost first.
/// A shell string inside it is read by `read`.
pub fn unwrap(command: Command, depth: usize, read: Reader) -> Result<Vec<Command>, Unknown> {
    let mut out = Vec::new();
    let mut current = command;
    loop {
        // Most commands wrap nothing: no need to copy their words.
        if !wrapper(current.program()) {
            out.push(current);
            return Ok(out);
        }
        let program = current.program().to_string();
        let args: Vec<Word> = current.args().to_vec();
        let inner = match program.as_str() {
            // Run their first non-option argument as the command, with the rest.
            // `command -v NAME` only says where NAME is.
            "command"
                if args
                    .iter()
                    .take_while(|a| a.text.starts_with('-'))
                    .any(|a| a.text.contains(['v', 'V'])) =>
            {
                None
            }
            "command" | "builtin" | "exec" | "nohup" | "time" | "unbuffer" => {
                plain(skip_options(&args, &[], 0))
            }
            "env" => {
                if args.iter().any(|a| {
                    let t = a.text.as_str();
                    t == "-S"
                        || t.starts_with("--split-string")
                        || (t.starts_with("-S") && !t.starts_with("--"))
                }) {
                    return Err(Unknown(
                        "env -S splits a string into the command it runs".into(),
                    ));
                }
                let set = env_names(&args);
                skip_env(&args).map(|words| (words, set))
            }
            "nice" => plain(skip_options(&args, &["-n", "--adjustment"], 0)),
            "timeout" => plain(skip_options(
                &args,
                &["-s", "--signal", "-k", "--kill-after"],
                1,
            )),
            "stdbuf" => plain(skip_options(&args, &["-i", "-o", "-e"], 0)),
            "sudo" | "doas" => plain(skip_options(
                &args,
                &[
                    "-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "--user", "--group",
                ],
                0,
            )),
            "xargs" => plain(skip_options(
                &args,
                &[
                    "-a",
                    "-d",
                    "-E",
                    "-I",
                    "-L",
                    "-n",
                    "-P",
                    "-s",
                    "--max-args",
                    "--max-procs",
                    "--delimiter",
                    "--arg-file",
                    "--replace",
                    "--max-lines",
                ],
                0,
            )),
            "watch" => {
                // watch hands its arguments to `sh -c`, joined.
                let rest = skip_options(&args, &["-n", "--interval", "-d", "--differences"], 0);
                match rest {
                    Some(words) => return shell_string(current, &words, depth, "watch", out, read),
                    None => None::<(Vec<Word>, Vec<String>)>,
                }
            }
            "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "mksh" => {
                match dash_c(&args) {
                    Some(script) => {
                        return shell_string(current, &[script], depth, &program, out, read);
                    }
                    // A shell reading a script file or its input: what it runs is not in the
                    // line.
                    None if !args.is_empty() || !current.redirects.is_empty() => {
                        return Err(Unknown(format!(
                            "{program} runs a script that is not part of the command line"
                        )));
                    }
                    None => None,
                }
            }
            "eval" => return shell_string(current, &args, depth, "eval", out, read),
            "find" => {
                let (found, rest) = find_exec(&args);
                out.push(current.clone());
                for command in found {
                    out.extend(unwrap(
                        Command {
                            argv: command,
                            redirects: Vec::new(),
                            via: with(&current.via, "find -exec"),
                            env: current.env.clone(),
                        },
                        depth,
                        read,
                    )?);
                }
                let _ = rest;
                return Ok(out);
            }
            _ => None,
        };
        match inner {
            Some((words, set)) if !words.is_empty() => {
                if !words[0].literal {
                    return Err(Unknown(format!(
                        "{program} runs a program computed when it runs ({})",
                        words[0].text
                    )));
                }
                let via = with(&current.via, &program);
                out.push(current.clone());
                let mut env = current.env.clone();
                env.extend(set);
                current = Command {
                    argv: words,
                    redirects: current.redirects.clone(),
                    via,
                    env,
                };
            }
            _ => {
                out.push(current);
                return Ok(out);
            }
        }
    }
}

/// A wrapper's command, setting no variables.
fn plain(words: Option<Vec<Word>>) -> Option<(Vec<Word>, Vec<String>)> {
    words.map(|w| (w, Vec::new()))
}

/// The names `env NAME=value ...` sets.
fn env_names(args: &[Word]) -> Vec<String> {
    args.iter()
        .take_while(|a| a.text.starts_with('-') || a.text.contains('='))
        .filter_map(|a| {
            let (name, _) = a.text.split_once('=')?;
            (!name.is_empty() && !name.starts_with('-')).then(|| name.to_string())
        })
        .collect()
}

fn with(via: &[String], wrapper: &str) -> Vec<String> {
    let mut v = via.to_vec();
    v.push(wrapper.to_string());
    v
}

/// The words after a wrapper's options: `takes_value` options consume the next word (or carry
/// it after `=`); `positional` plain arguments (like timeout's duration) are skipped too.
fn skip_options(args: &[Word], takes_value: &[&str], positional: usize) -> Option<Vec<Word>> {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i].text;
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let name = a.split('=').next().unwrap_or(a);
        i += if takes_value.contains(&name) && !a.contains('=') {
            2
        } else {
            1
        };
    }
    let start = i + positional;
    (start < args.len()).then(|| args[start..].to_vec())
}

/// `env [-i] [-u NAME] [NAME=VALUE]... COMMAND...`
fn skip_env(args: &[Word]) -> Option<Vec<Word>> {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i].text;
        if a == "-u" || a == "--unset" || a == "-C" || a == "--chdir" || a == "-S" {
            i += 2;
        } else if a.starts_with('-') || (a.contains('=') && !a.starts_with('=')) {
            i += 1;
        } else {
            break;
        }
    }
    (i < args.len()).then(|| args[i..].to_vec())
}

/// The script of `sh -c SCRIPT` (options such as `-e`, `-x`, `-l` may come first).
fn dash_c(args: &[Word]) -> Option<Word> {
    for (i, a) in args.iter().enumerate() {
        let t = &a.text;
        if !t.starts_with('-') || t == "--" {
            return None;
        }
        if !t.starts_with("--") && t[1..].contains('c') {
            return args.get(i + 1).cloned();
        }
    }
    None
}

/// Analyses a string a wrapper hands to a shell (`bash -c`, `eval`, `watch`).
fn shell_string(
    current: Command,
    words: &[Word],
    depth: usize,
    wrapper: &str,
    mut out: Vec<Command>,
    read: Reader,
) -> Result<Vec<Command>, Unknown> {
    if words.iter().any(|w| !w.literal) {
        return Err(Unknown(format!(
            "{wrapper} runs a command line computed when it runs"
        )));
    }
    let script = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let via = with(&current.via, wrapper);
    let env = current.env.clone();
    out.push(current);
    match read(&script, depth + 1) {
        Analysis::Commands(commands) => {
            for mut command in commands {
                let mut v = via.clone();
                v.extend(command.via);
                command.via = v;
                // What the wrapper was run with, its commands run with.
                let mut e = env.clone();
                e.extend(command.env);
                command.env = e;
                out.push(command);
            }
            Ok(out)
        }
        Analysis::Unknown(why) => Err(Unknown(format!("inside {wrapper}: {why}"))),
    }
}

/// The commands `find` runs with `-exec`, `-execdir`, `-ok` and `-okdir` (up to `;` or `+`).
fn find_exec(args: &[Word]) -> (Vec<Vec<Word>>, Vec<Word>) {
    let mut found = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i].text;
        if matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
            let mut command = Vec::new();
            i += 1;
            while i < args.len() && args[i].text != ";" && args[i].text != "+" {
                command.push(args[i].clone());
                i += 1;
            }
            if !command.is_empty() {
                found.push(command);
            }
        } else {
            rest.push(args[i].clone());
        }
        i += 1;
    }
    (found, rest)
}
