//! Errors of the store, each with the class that decides its HTTP status.

use osprey_model::ErrorClass;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The index does not exist.
    #[error("no such index [{0}]")]
    IndexNotFound(String),
    /// The index already exists.
    #[error("index [{0}] already exists")]
    IndexExists(String),
    /// The request is invalid (query, mapping, aggregation...).
    #[error("{0}")]
    BadRequest(String),
    /// The disk is full: nothing was written, retry later.
    #[error("disk full: {0}; the request was not written, retry when space is freed")]
    DiskFull(String),
    /// Writes arrive faster than they can be stored: nothing was written, retry later.
    #[error("overloaded: {0}; the request was not written, retry later")]
    Overloaded(String),
    /// The store is shutting down.
    #[error("the store is shutting down")]
    ShuttingDown,
    /// An I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An error inside the index engine.
    #[error("index engine error: {0}")]
    Engine(#[from] tantivy::TantivyError),
}

impl StoreError {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::IndexNotFound(_) => ErrorClass::NotFound,
            StoreError::IndexExists(_) => ErrorClass::Conflict,
            StoreError::BadRequest(_) => ErrorClass::BadRequest,
            StoreError::DiskFull(_) | StoreError::Overloaded(_) => ErrorClass::TooManyRequests,
            StoreError::ShuttingDown => ErrorClass::Unavailable,
            StoreError::Io(_) | StoreError::Engine(_) => ErrorClass::Internal,
        }
    }

    /// The Elasticsearch error type name.
    pub fn es_type(&self) -> &'static str {
        match self {
            StoreError::IndexNotFound(_) => "index_not_found_exception",
            StoreError::IndexExists(_) => "resource_already_exists_exception",
            StoreError::BadRequest(_) => "illegal_argument_exception",
            StoreError::DiskFull(_) => "cluster_block_exception",
            StoreError::Overloaded(_) => "es_rejected_execution_exception",
            StoreError::ShuttingDown => "node_closed_exception",
            StoreError::Io(_) | StoreError::Engine(_) => "exception",
        }
    }

    /// Whether an I/O error means "no space left on device" (or quota exceeded).
    pub fn is_disk_full_io(error: &std::io::Error) -> bool {
        matches!(error.raw_os_error(), Some(28) | Some(122))
            || error.kind() == std::io::ErrorKind::StorageFull
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
