//! History and export queries for the server, through the store's one query path, with
//! their errors as the wire says them.

use agentd_proto::{ErrorCode, ExportRecord, HistoryQuery, RequestView, WireError};

use crate::store::{Cursor, Store, StoreError};

/// `ash history` shows this many unless told otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// Requests per export frame.
pub const EXPORT_PAGE: u32 = 500;

/// An error unless agentd runs with a store.
pub fn require_store(store: &Store) -> Result<(), WireError> {
    match store.reader() {
        Some(_) => Ok(()),
        None => Err(no_store()),
    }
}

fn no_store() -> WireError {
    WireError {
        code: ErrorCode::Unavailable,
        message: "agentd runs without a store, so it keeps no history or audit trail".into(),
    }
}

fn store_error(e: StoreError) -> WireError {
    WireError {
        code: ErrorCode::Internal,
        message: e.to_string(),
    }
}

/// Matching requests, newest first.
pub async fn history(store: &Store, query: HistoryQuery) -> Result<Vec<RequestView>, WireError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let found = store
        .query(move |reader| reader.history(&query, limit))
        .await
        .map_err(store_error)?;
    found.ok_or_else(no_store)
}

/// One export page after `cursor`.
pub async fn export_page(
    store: &Store,
    query: &HistoryQuery,
    cursor: Option<Cursor>,
    page: u32,
) -> Result<(Vec<ExportRecord>, Option<Cursor>), WireError> {
    let query = query.clone();
    let found = store
        .query(move |reader| reader.export_page(&query, cursor.as_ref(), page))
        .await
        .map_err(store_error)?;
    found.ok_or_else(no_store)
}

/// What this agentd runs with: its configuration and its store.
pub async fn info(ctx: &super::Context) -> Result<agentd_proto::DaemonInfo, WireError> {
    let store = ctx.queue.store();
    let reach = store.reach().await.map_err(store_error)?;
    let dir = store
        .path()
        .and_then(std::path::Path::parent)
        .map(|d| d.display().to_string());
    let store = match (reach, dir) {
        (Some(reach), Some(dir)) => Some(agentd_proto::StoreInfo {
            dir,
            bytes: reach.bytes,
            requests: reach.requests,
            oldest: reach.oldest,
            answered_days: crate::config::Retention::days(ctx.retention.answered),
            decided_days: crate::config::Retention::days(ctx.retention.decided),
            checkpoint: reach.checkpoint,
        }),
        _ => None,
    };
    Ok(agentd_proto::DaemonInfo {
        server: format!("agentd {}", env!("CARGO_PKG_VERSION")),
        pid: std::process::id(),
        config: ctx.about.config.clone(),
        config_tools: ctx.about.config_tools,
        config_rules: ctx.about.config_rules,
        presets: ctx.about.presets.clone(),
        registered_tools: u32::try_from(ctx.registry.registered_count()).unwrap_or(u32::MAX),
        store,
    })
}

/// Applies retention now: the settings' horizons, or everything finished before `before`.
pub async fn prune(
    ctx: &super::Context,
    req: &agentd_proto::PruneRequest,
    by: &str,
) -> Result<agentd_proto::PruneReport, WireError> {
    let now = chrono::Utc::now();
    let plan = match req.before {
        Some(before) if before > now => {
            return Err(WireError {
                code: ErrorCode::InvalidArgs,
                message: format!(
                    "--before {before} is in the future; nothing after now can be pruned"
                ),
            })
        }
        Some(before) => crate::store::PrunePlan {
            now,
            answered_before: Some(before),
            decided_before: Some(before),
            by: by.to_string(),
        },
        None => ctx.retention.plan(now, by),
    };
    ctx.queue
        .store()
        .prune(plan, req.dry_run)
        .await
        .map_err(store_error)
}
