//! The config file's tests: every section read, every bad value refused with where.

use super::*;

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::parse(text, Path::new("/etc/agentd.toml"))
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let s = parse("").unwrap();
    assert_eq!(s.grace_period, Duration::from_secs(10));
    assert_eq!(s.default_timeout_secs, 300);
    assert_eq!(s.default_risk, Risk::Medium);
    assert!(s.tools.is_empty());
}

#[test]
fn reads_tools_with_defaults_filled_in() {
    let s = parse(
        r#"
        [daemon]
        grace_period_secs = 3
        [store]
        durability = "full"
        [defaults]
        approval_timeout_secs = 120
        risk = "high"
        [[tool]]
        name = "read-file"
        requires_approval = false
        risk = "low"
        [[tool]]
        name = "deploy"
        approval_timeout_secs = 60
        "#,
    )
    .unwrap();
    assert_eq!(s.grace_period, Duration::from_secs(3));
    assert_eq!(s.durability, Durability::Full);
    assert_eq!(
        s.tools,
        vec![
            ToolSpec {
                name: "read-file".into(),
                requires_approval: false,
                approval_timeout_secs: 120,
                risk: Risk::Low
            },
            ToolSpec {
                name: "deploy".into(),
                requires_approval: true,
                approval_timeout_secs: 60,
                risk: Risk::High
            },
        ]
    );
}

#[test]
fn operators_limits_and_socket_settings_are_read() {
    let s = parse(
        r#"
        [daemon]
        socket_mode = "0660"
        socket_group = "agents"
        [operators]
        users = ["alice"]
        groups = ["wheel"]
        [limits]
        pending_per_agent = 8
        requests_per_sec = 2.5
        burst = 5
        max_connections = 100
        max_args_kib = 64
        hello_timeout_secs = 2
        "#,
    )
    .unwrap();
    assert_eq!(s.socket_mode, 0o660);
    assert_eq!(s.socket_group.as_deref(), Some("agents"));
    assert_eq!(s.operator_users, vec!["alice"]);
    assert_eq!(s.operator_groups, vec!["wheel"]);
    assert_eq!(
        s.limits,
        Limits {
            pending_per_agent: 8,
            requests_per_sec: 2.5,
            burst: 5.0,
            max_connections: 100,
            max_args_bytes: 64 * 1024,
            ..Limits::default()
        }
    );
    assert_eq!(s.hello_timeout, Duration::from_secs(2));
    assert!(
        parse("[daemon]\nsocket_mode = \"0444\"\n").is_err(),
        "owner must keep rw"
    );
    assert!(parse("[daemon]\nsocket_mode = \"rw\"\n").is_err());
    let open = parse("[daemon]\nsocket_mode = \"0666\"\n").unwrap_err();
    assert!(
        open.to_string()
            .contains("lets every user on this machine connect"),
        "{open}"
    );
    assert_eq!(
        parse("[daemon]\nsocket_mode = \"0666\"\nallow_every_local_user = true\n")
            .unwrap()
            .socket_mode,
        0o666
    );
    assert!(parse("[limits]\nrequests_per_sec = 0\n").is_err());
    assert!(parse("[limits]\nmax_args_kib = 4096\n").is_err());
}

#[test]
fn a_misspelt_key_names_the_line_and_column() {
    let err = parse("[[tool]]\nname = \"x\"\nrequires_aproval = true\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("/etc/agentd.toml:3:1: "), "{text}");
    assert!(text.contains("requires_aproval"), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn a_bad_risk_word_is_refused() {
    let err = parse("[[tool]]\nname = \"x\"\nrisk = \"severe\"\n").unwrap_err();
    assert!(err.to_string().contains("/etc/agentd.toml:3:"), "{err}");
}

#[test]
fn out_of_range_and_duplicate_entries_are_refused() {
    // Each names the file, the line and the column of what is wrong.
    let zero = parse("[[tool]]\nname = \"x\"\napproval_timeout_secs = 0\n").unwrap_err();
    assert!(zero.to_string().contains("out of range"), "{zero}");
    assert!(
        zero.to_string().starts_with("/etc/agentd.toml:3:1: "),
        "{zero}"
    );
    let dup = parse("[[tool]]\nname = \"x\"\n[[tool]]\nname = \"x\"\n").unwrap_err();
    assert!(dup.to_string().contains("'x' is defined twice"), "{dup}");
    assert!(
        dup.to_string().starts_with("/etc/agentd.toml:4:1: "),
        "{dup}"
    );
    let empty = parse("[[tool]]\nname = \"\"\n").unwrap_err();
    assert!(empty.to_string().contains("name"), "{empty}");
    let spaced = parse("[[tool]]\n  name = \"x y\"\n").unwrap_err();
    assert!(
        spaced.to_string().starts_with("/etc/agentd.toml:2:3: "),
        "{spaced}"
    );
    let rules = parse(
        "[[rule]]\nname = \"r\"\nrisk = \"high\"\n\n[[rule]]\nname = \"r\"\nrisk = \"low\"\n",
    )
    .unwrap_err();
    assert!(
        rules.to_string().starts_with("/etc/agentd.toml:6:1: "),
        "{rules}"
    );
}

#[test]
fn the_notify_section_is_read_and_checked() {
    assert_eq!(parse("").unwrap().notify, None);
    let s = parse(
        "[notify]\ncommand = \"notify-send agentd \\\"$AGENTD_MESSAGE\\\"\"\nmin_risk = \"high\"\n",
    )
    .unwrap();
    let n = s.notify.unwrap();
    assert_eq!(n.command, "notify-send agentd \"$AGENTD_MESSAGE\"");
    assert_eq!(n.min_risk, Risk::High);
    assert_eq!(n.timeout, Duration::from_secs(10));
    assert_eq!(n.max_running, 4);
    let empty = parse("[notify]\ncommand = \" \"\n").unwrap_err();
    assert_eq!(
        empty.to_string(),
        "/etc/agentd.toml: [notify] command is empty"
    );
    let slow = parse("[notify]\ncommand = \"x\"\ntimeout_secs = 0\n").unwrap_err();
    assert!(
        slow.to_string()
            .contains("timeout_secs = 0 is out of range"),
        "{slow}"
    );
    let many = parse("[notify]\ncommand = \"x\"\nmax_running = 1000\n").unwrap_err();
    assert!(many.to_string().contains("max_running = 1000"), "{many}");
    let missing = parse("[notify]\nmin_risk = \"low\"\n").unwrap_err();
    assert!(missing.to_string().contains("command"), "{missing}");
    let typo = parse("[notify]\ncommand = \"x\"\ncomand = \"y\"\n").unwrap_err();
    assert!(typo.to_string().contains("/etc/agentd.toml:3:"), "{typo}");
}

#[test]
fn per_user_limits_frames_and_operator_reserve_are_read_and_checked() {
    let s = parse(
        "[limits]\npending_per_uid = 10\nrequests_per_sec_per_uid = 5\nburst_per_uid = 7\nconnections_per_uid = 3\noperator_connections = 2\nframe_timeout_secs = 4\nunfinished_frames_mib = 8\nunfinished_frames_per_uid_mib = 2\n",
    )
    .unwrap();
    let l = s.limits;
    assert_eq!(l.pending_per_uid, 10);
    assert_eq!((l.requests_per_sec_per_uid, l.burst_per_uid), (5.0, 7.0));
    assert_eq!((l.connections_per_uid, l.operator_connections), (3, 2));
    assert_eq!(l.frame_timeout, Duration::from_secs(4));
    assert_eq!(l.unfinished_frames_bytes, 8 << 20);
    assert_eq!(l.unfinished_frames_per_uid_bytes, 2 << 20);
    for (bad, says) in [
        (
            "frame_timeout_secs = 0",
            "frame_timeout_secs = 0 is out of range",
        ),
        (
            "frame_timeout_secs = 601",
            "frame_timeout_secs = 601 is out of range",
        ),
        (
            "pending_per_uid = 0",
            "pending_per_uid must be a positive number",
        ),
        (
            "connections_per_uid = 0",
            "connections_per_uid must be a positive number",
        ),
        (
            "unfinished_frames_mib = 0",
            "unfinished_frames_mib must be a positive number",
        ),
        (
            "requests_per_sec_per_uid = -1",
            "requests_per_sec_per_uid must be a positive number",
        ),
    ] {
        let err = parse(&format!("[limits]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn approving_parents_are_named_by_user_and_agent() {
    let s = parse(
        "[[escalation.approver]]\nuser = \"root\"\nagent = \"lead\"\nmax_risk = \"medium\"\ntools = [\"deploy\"]\n",
    )
    .unwrap();
    assert_eq!(
        s.review_approvers,
        vec![Approver {
            uid: 0,
            agent: "lead".into(),
            max_risk: Risk::Medium,
            tools: Some(vec!["deploy".into()]),
        }]
    );
    assert!(parse("").unwrap().review_approvers.is_empty());
    let unknown = parse(
        "[[escalation.approver]]\nuser = \"no-such-user-here\"\nagent = \"x\"\nmax_risk = \"low\"\n",
    )
    .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("no user named 'no-such-user-here'"),
        "{unknown}"
    );
    let missing = parse("[[escalation.approver]]\nuser = \"root\"\nagent = \"x\"\n").unwrap_err();
    assert!(missing.to_string().contains("max_risk"), "{missing}");
}

#[test]
fn a_config_others_could_have_written_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agentd.toml");
    std::fs::write(
        &file,
        "[[tool]]\nname = \"Bash\"\nrequires_approval = false\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Settings::load(&file).is_ok());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = Settings::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("writable by others (mode 0666)") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Settings::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("folder") && err.contains("could be replaced"),
        "{err}"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(Settings::load(&file).is_ok(), "a sticky folder is fine");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
    let err = Settings::load(&file).unwrap_err().to_string();
    assert!(err.contains("belongs to uid 65534"), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn presets_are_on_unless_the_file_says_otherwise() {
    assert_eq!(
        parse("").unwrap().presets,
        ["claude-code", "codex", "gemini"]
    );
    assert!(parse("presets = []\n").unwrap().presets.is_empty());
    assert_eq!(parse("presets = [\"codex\"]\n").unwrap().presets, ["codex"]);
    let err = parse("presets = [\"claude\"]\n").unwrap_err().to_string();
    assert!(err.contains("no preset named 'claude'"), "{err}");
}

#[test]
fn command_rules_in_the_file_are_read_and_their_examples_checked() {
    let s = parse(
        "[[shell_tool]]\nname = \"run\"\npointer = \"/cmd\"\n\n[[command]]\nname = \"tests\"\nprefixes = [\"cargo test\"]\nflags = [\"--workspace\"]\nauto = \"approve\"\nexamples = [\"cargo test --workspace\"]\ncounter_examples = [\"cargo publish\"]\n",
    )
    .unwrap();
    assert_eq!(s.commands.len(), 1);
    assert_eq!(s.shell_tools[0].name, "run");
    let err = parse(
        "[[command]]\nname = \"tests\"\nprefixes = [\"cargo test\"]\nauto = \"approve\"\nexamples = [\"cargo build\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("[[command]] 'tests': the example \"cargo build\" is not approved"),
        "{err}"
    );
    let err = parse(
        "[[command]]\nname = \"all\"\nprefixes = [\"rm\"]\nauto = \"approve\"\ncounter_examples = [\"rm -rf ~\"]\n",
    )
    .unwrap_err()
    .to_string();
    // Checked against the whole set: approving rm breaks the presets' counter-examples too.
    assert!(
        err.contains("counter-example") && err.contains("is approved"),
        "{err}"
    );
    let err = parse("[[command]]\nname = \"x\"\nprefixes = [\"ls\"]\nauto = \"maybe\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("must be \"approve\" or \"deny\""), "{err}");
}

#[test]
fn broken_toml_is_one_line() {
    let err = parse("[[tool]\nname = ").unwrap_err();
    assert!(err.to_string().starts_with("/etc/agentd.toml:1:"), "{err}");
    assert!(!err.to_string().contains('\n'));
}
