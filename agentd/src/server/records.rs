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
