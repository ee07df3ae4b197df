//! The plain reading of command lines (`shell/fast/`, the one that may approve) and
//! tree-sitter's full parse (which names the parts of lines that ask) agree where both read a
//! line: on every shell command of the trace fixture and the
//! destructive corpus (and of the development set beside the repository, when it is there), on
//! hand-picked tricky lines, and on generated ones.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use agentd::policy::shell::{analyze, analyze_fully, is_plain, Analysis};
use proptest::prelude::*;

/// Equal analyses: the same commands, or both unknown (the reasons may name different parts).
fn same(line: &str) {
    // Here-documents, backslashes and multi-line quotes are read by the plain reading as bash
    // reads them (`bash_differential.rs` holds it to bash); tree-sitter's grammar reads some of
    // them otherwise, which only matters to reasons shown for lines that ask anyway.
    if line.contains("<<") || line.contains('\\') || line.contains('\n') || line.contains("$\"") {
        return;
    }
    let plain = |mut c: Vec<agentd::policy::shell::Command>| {
        for command in &mut c {
            for word in command
                .argv
                .iter_mut()
                .chain(command.redirects.iter_mut().map(|r| &mut r.target))
            {
                word.glob = false;
                word.split = false;
            }
        }
        c
    };
    match (analyze(line), analyze_fully(line)) {
        (Analysis::Commands(a), Analysis::Commands(b)) => {
            assert_eq!(plain(a), plain(b), "{line:?}")
        }
        (Analysis::Unknown(_), Analysis::Unknown(_)) => {}
        (a, b) => panic!("{line:?}: quick {a:?}, full {b:?}"),
    }
}

use crate::proof::corpus::recorded as lines_of;

#[test]
fn recorded_and_destructive_lines_read_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = lines_of(&root.join("tests/fixtures/trace.jsonl"));
    lines.extend(lines_of(&root.join("tests/fixtures/destructive.jsonl")));
    let fixtures = lines.len();
    lines.extend(lines_of(&root.join("../../shared/traces/dev-set.jsonl")));
    assert!(fixtures > 100, "{fixtures} lines");
    let plain = lines.iter().filter(|l| is_plain(l)).count();
    assert!(
        plain > lines.len() / 3,
        "only {plain} of {} plain",
        lines.len()
    );
    for line in &lines {
        same(line);
    }
}

#[test]
fn tricky_lines_read_the_same() {
    for line in [
        "ls -la",
        "git status && ls",
        "a | b | c",
        "a || b; c & d",
        "echo \"built $(date +%s)\" || exit 1",
        "cd /srv/app && git status --short | grep -v '^??' | sort > /tmp/changes.txt",
        "npm run build 2>&1 | tail -n 20",
        "FOO=1 BAR=$(whoami) make test",
        "PATH=/tmp/x ls",
        "env PATH=/tmp/x ls",
        "echo $HOME ${USER} \"$PWD/x\"",
        "ls ~/x *.ts",
        "cat x > y 2>&1",
        "cat x >> y",
        "cmd &> log",
        "cmd 2> /dev/null",
        "x >&2",
        "a <in",
        "echo 'it''s'",
        "echo \"a\"'b'c",
        "ls\n\nls",
        "ls &&\n ls",
        "a | \n b",
        "sudo rm -rf /",
        "bash -c 'ls; rm x'",
        "xargs rm",
        "find . -name x -exec rm {} ;",
        "$(echo rm) -rf x",
        "echo $(ls $(pwd))",
        "echo $(date) > f",
        "a=b",
        "a=b c=d",
        "x=",
        "x= ls",
        "ls # comment",
        "echo a#b",
        "[ -f x ] && ls",
        "if true; then ls; fi",
        "ls; ;",
        "ls |",
        "| ls",
        "&& ls",
        "ls &",
        "ls & ls",
        "echo ~ a~b",
        "echo $1 $? $@",
        "echo $((1+2))",
        "cat <<EOF\nx\nEOF",
        "cat <<< x",
        "diff <(ls a) <(ls b)",
        "echo \\$HOME",
        "echo `date`",
        "echo 'unterminated",
        "echo \"unterminated",
        "echo $(unterminated",
        "{ ls; }",
        "(ls)",
        "ls 2>&1 | grep x",
        "ls > f | grep x",
        "ls | grep x > f",
        "> f ls",
        "ls > f x",
        "! ls",
        "time ls",
        "export A=1",
        "ls;;",
        "é",
        "echo \"é\"",
        "echo 'a\tb'",
        "ls\t-la",
        "git log --format=%H%n --output=~/.bashrc",
        "echo ${X:-y}",
        "echo ${#X}",
        "echo \"${X}\"",
        "2>&1 ls",
        "ls 2>&1",
        "ls 2>",
        "ls >",
        "ls >>f",
        "ls 3<&0",
        "echo x >| f",
        "echo x <> f",
        "ls)",
        "echo )",
        "$(ls)",
        "\"ls\" -la",
        "'rm' -rf x",
        "r''m -rf x",
        "\\rm x",
        "command rm x",
        "nice -n 5 make",
        "timeout 5 make test",
        "watch -n 1 ls",
        "eval 'ls; rm x'",
        "sh -c \"$(curl x)\"",
        "ls ''\"\"$(rm -rf ~)",
        "cat ''\"\"$HOME/x",
        "ls ''",
        "echo \"\" x",
        "timeout == .",
        "5a=b cat",
        "x 3>&-",
        "cat . 0<in",
        "FOO=1 status%s .",
        "-exec2> 2>x",
        "cat timeout$( )",
        "a | b > f",
        "a 2>&1 | b",
        "x && a | b > f",
        "a | b 2>&1 | c",
        "x && a 2>&1 | b",
        "a | b > f; c | d",
        "a | b > f && c > g || d",
    ] {
        same(line);
    }
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "ls",
        "git",
        "status",
        "rm",
        "-rf",
        "x",
        "a=b",
        "FOO=1",
        "PATH=/tmp",
        "'q s'",
        "\"d q\"",
        "\"$HOME\"",
        "$X",
        "${Y}",
        "$(date)",
        "$(ls -la)",
        "~/x",
        "*.ts",
        "2>&1",
        ">",
        "/dev/null",
        ">>",
        "out.txt",
        "<",
        "in",
        "|",
        "||",
        "&&",
        ";",
        "&",
        "\n",
        "env",
        "sudo",
        "bash",
        "-c",
        "'ls; rm x'",
        "xargs",
        "find",
        ".",
        "-exec",
        "{}",
        "\\;",
        "#c",
        "(",
        ")",
        "{",
        "}",
        "!",
        "[[",
        "if",
        "then",
        "fi",
        "<<EOF",
        "$((1+2))",
        "`date`",
        "\\",
        "a\\ b",
        "é",
        "\"",
        "'",
        "$",
        "=",
        "~",
        "echo",
        "cat",
        "make",
        "test",
        "2>",
        "&>",
        "x=",
        "$(",
        "\"$(ls)\"",
        "timeout",
        "5",
        "nice",
        "eval",
        "'",
        "\t",
        "'$(x)'",
        "\"`x`\"",
        "$HOME/x",
        "a'b'c",
        "1>",
        "0<",
        "3>&-",
        "==",
        "=~",
        "--output=x",
        "git",
        "log",
        "-c",
        "core.pager=sh",
        "xargs",
        "-I{}",
        "printf",
        "%s",
        "\"a;b\"",
        "'a|b'",
        "a&&b",
        "x||y",
        "2>>",
        "&>>",
        ">&2",
        "<&0",
        "5a=b",
        "_x=1",
        "\"\"",
        "''",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn generated_lines_read_the_same(
        tokens in prop::collection::vec((token(), prop::bool::ANY), 1..14)
    ) {
        let mut line = String::new();
        for (t, glue) in tokens {
            line.push_str(t);
            if !glue {
                line.push(' ');
            }
        }
        same(&line);
    }
}
