//! History, export and audit queries for the server: run on the blocking pool so a long query
//! never stalls the connections being served.

use std::sync::Arc;

use agentd_proto::{ErrorCode, ExportRecord, HistoryQuery, RequestView, WireError};

use crate::store::{Cursor, Reader, Store, StoreError};

/// `ash history` shows this many unless told otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// Requests per export frame.
pub const EXPORT_PAGE: u32 = 500;

/// The store's query side, or an error saying there is none.
pub fn reader(store: &Store) -> Result<Arc<Reader>, WireError> {
    store.reader().ok_or_else(|| WireError {
        code: ErrorCode::Unavailable,
        message: "agentd runs without a store, so it keeps no history or audit trail".into(),
    })
}

fn store_error(e: StoreError) -> WireError {
    WireError {
        code: ErrorCode::Internal,
        message: e.to_string(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, WireError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| store_error(StoreError::Query(e.to_string())))?
        .map_err(store_error)
}

/// Waits until the database holds every write made so far (with a journal, it indexes them
/// just behind the answers), so a query sees everything already answered.
pub async fn caught_up(store: &Store) -> Result<(), WireError> {
    store.caught_up().await.map_err(store_error)
}

/// Matching requests, newest first.
pub async fn history(store: &Store, query: HistoryQuery) -> Result<Vec<RequestView>, WireError> {
    let reader = reader(store)?;
    caught_up(store).await?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    blocking(move || reader.history(&query, limit)).await
}

/// One export page after `cursor`.
pub async fn export_page(
    reader: &Arc<Reader>,
    query: &HistoryQuery,
    cursor: Option<Cursor>,
    page: u32,
) -> Result<(Vec<ExportRecord>, Option<Cursor>), WireError> {
    let reader = Arc::clone(reader);
    let query = query.clone();
    blocking(move || reader.export_page(&query, cursor.as_ref(), page)).await
}
