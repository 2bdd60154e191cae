//! Elasticsearch-shaped errors: `{"error": {"root_cause": [...], "type", "reason"}, "status"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use osprey_store::StoreError;
use serde_json::json;

/// An error answered in Elasticsearch's format.
#[derive(Debug)]
pub struct EsError {
    /// HTTP status.
    pub status: StatusCode,
    /// Elasticsearch error type, e.g. `parsing_exception`.
    pub kind: String,
    /// What is wrong and where.
    pub reason: String,
    /// The index concerned, if any.
    pub index: Option<String>,
}

impl EsError {
    /// A 400 with a type and reason.
    pub fn bad_request(kind: &str, reason: impl Into<String>) -> EsError {
        EsError {
            status: StatusCode::BAD_REQUEST,
            kind: kind.into(),
            reason: reason.into(),
            index: None,
        }
    }

    /// Any status.
    pub fn new(status: StatusCode, kind: &str, reason: impl Into<String>) -> EsError {
        EsError {
            status,
            kind: kind.into(),
            reason: reason.into(),
            index: None,
        }
    }

    /// `index_not_found_exception`.
    pub fn index_not_found(index: &str) -> EsError {
        EsError {
            status: StatusCode::NOT_FOUND,
            kind: "index_not_found_exception".into(),
            reason: format!("no such index [{index}]"),
            index: Some(index.to_string()),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut cause = json!({"type": self.kind, "reason": self.reason});
        if let Some(index) = &self.index {
            cause["index"] = json!(index);
        }
        json!({"error": {"root_cause": [cause.clone()], "type": self.kind, "reason": self.reason, "index": self.index}, "status": self.status.as_u16()})
    }
}

impl From<StoreError> for EsError {
    fn from(error: StoreError) -> EsError {
        let status = StatusCode::from_u16(error.class().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let index = match &error {
            StoreError::IndexNotFound(i) | StoreError::IndexExists(i) => Some(i.clone()),
            _ => None,
        };
        if status.is_server_error() {
            tracing::error!(error = %error, "store error");
        }
        EsError {
            status,
            kind: error.es_type().into(),
            reason: error.to_string(),
            index,
        }
    }
}

impl From<osprey_model::IndexNameError> for EsError {
    fn from(error: osprey_model::IndexNameError) -> EsError {
        EsError::bad_request("invalid_index_name_exception", error.to_string())
    }
}

impl IntoResponse for EsError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Handler result.
pub type EsResult<T = Response> = Result<T, EsError>;
