//! The durable store: tampering caught by the audit chain (edits made with the sqlite3 shell),
//! recovery after a restart, refusing bad store files, a full store, history and export on
//! thousands of rows. Helpers here; one module per theme.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

use crate::common;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use agentd::{Daemon, Settings, StartError, StoreError};
use agentd_proto::{
    ApprovalRequest, DecideRequest, DecisionSource, ErrorCode, HistoryQuery, Risk, State,
    Submitted, ToolSpec, Verdict,
};
use agentd_testkit::{unlimited, Poller, TempDaemon};
use chrono::Utc;

pub(super) const LIMIT: Duration = Duration::from_secs(30);

/// Runs `sql` with the sqlite3 shell, as someone tampering by hand would.
pub(super) fn sqlite3(db: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 shell is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Queues `n` requests and denies them, leaving a chain of 1 + 2n entries.
pub(super) async fn decided(d: &TempDaemon, n: usize) -> Vec<uuid::Uuid> {
    let mut op = d.operator("alice").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut agent = d.agent("claude").await.unwrap();
        let Submitted::Queued(t) = agent
            .submit(&common::sensitive(&format!(r#"{{"i":{i}}}"#)))
            .await
            .unwrap()
        else {
            panic!("expected a queued request");
        };
        op.decide(&DecideRequest {
            id: t.id.to_string(),
            verdict: Verdict::Deny,
            operator: "bob".into(),
            reason: Some(format!("no {i}")),
            scope: agentd_proto::Scope::Once,
            grant: None,
            args_json: None,
        })
        .await
        .unwrap();
        assert_eq!(agent.wait().await.unwrap().decision.by, "bob");
        ids.push(t.id);
    }
    // The writer indexes the journal just behind the answers: let it catch up (a query
    // waits for that) before a test edits the database under it.
    assert_eq!(verify(d).await.broken, None);
    ids
}

pub(super) async fn verify(d: &TempDaemon) -> agentd_proto::AuditReport {
    d.operator("auditor")
        .await
        .unwrap()
        .verify_audit()
        .await
        .unwrap()
}

pub(super) fn db(d: &TempDaemon) -> std::path::PathBuf {
    d.state_dir().join("agentd.db")
}

mod audit;
mod files;
mod journal;
mod queries;
mod restart;
mod retention;
