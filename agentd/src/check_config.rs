//! `agentd check-config FILE --sample JSON…`: validates a config and shows, for each sample
//! request, the risk and its reasons and what would happen: answered at once (by policy or a
//! rule) or put to an operator.

use std::path::Path;
use std::process::ExitCode;

use agentd::policy::intake::admit;
use agentd::registry::Registry;
use agentd::Settings;
use agentd_proto::{ApprovalRequest, Risk, SubjectType, Verdict};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    tool: String,
    #[serde(default)]
    args: serde_json::Value,
    subject: Option<String>,
    risk_hint: Option<Risk>,
    /// The agent's working folder, for file tools and folder grants.
    cwd: Option<String>,
}

pub fn run(file: &Path, samples: &[String]) -> ExitCode {
    let settings = match Settings::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agentd: error: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "{}: valid: {} tools, {} rules",
        file.display(),
        settings.tools.len(),
        settings.rules.len()
    );
    let registry = Registry::new(&settings);
    for (n, text) in samples.iter().enumerate() {
        let sample: Sample = match serde_json::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("agentd: error: sample {}: not a sample request: {e}", n + 1);
                return ExitCode::from(2);
            }
        };
        let subject = match sample
            .subject
            .as_deref()
            .map(str::parse::<SubjectType>)
            .transpose()
        {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                eprintln!("agentd: error: sample {}: {e}", n + 1);
                return ExitCode::from(2);
            }
        };
        let req = ApprovalRequest {
            tool: sample.tool,
            args_json: sample.args.to_string(),
            risk_hint: sample.risk_hint,
            subject,
            cwd: sample.cwd,
            ..ApprovalRequest::default()
        };
        println!();
        println!("sample {}: {} {}", n + 1, req.tool, req.args_json);
        match admit(
            &req,
            &registry,
            &agentd::queue::AgentKey::new(None, "check-config"),
            settings.limits.max_args_bytes,
        ) {
            Err(e) => println!("  refused: {}", e.message),
            Ok(a) => {
                println!("  risk {}", a.risk);
                for reason in &a.risk_reasons {
                    println!("  - {reason}");
                }
                let what = match (&a.auto, a.requires_approval) {
                    (Some((Verdict::Deny, rule, _)), _) => format!("denied at once by rule {rule}"),
                    (Some((Verdict::Approve, rule, _)), _) => format!("approved at once by rule {rule}"),
                    (None, false) => "approved at once: the tool needs no approval".into(),
                    (None, true) => format!(
                        "asks an operator, who has {}s (a grant from an earlier decision may answer instead)",
                        a.timeout.as_secs()
                    ),
                };
                println!("  => {what}");
                if a.requires_approval && a.auto.is_none() {
                    for option in &a.grant_options {
                        println!("     --grant {:<9} {}", option.key, option.label);
                    }
                }
            }
        }
    }
    ExitCode::SUCCESS
}
