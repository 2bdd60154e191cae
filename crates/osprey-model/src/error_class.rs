//! One small classification of errors, mapped once to HTTP (and later gRPC) status codes.

/// What kind of failure an error is, from the caller's point of view.
///
/// Every library error type exposes `fn class(&self) -> ErrorClass`; the server maps the class
/// to a status code in one place. Deliberately small: add a variant only when a caller must
/// react differently to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request is malformed or names something invalid: the caller must change it.
    BadRequest,
    /// The thing asked for does not exist.
    NotFound,
    /// The request conflicts with the current state (e.g. creating an existing index).
    Conflict,
    /// The request is too large to be handled.
    PayloadTooLarge,
    /// Temporarily refused (disk full, overload): the caller should retry later.
    TooManyRequests,
    /// The service is not able to answer right now (shutting down, not ready).
    Unavailable,
    /// A bug or an unexpected I/O failure on our side.
    Internal,
}

impl ErrorClass {
    /// The HTTP status code for this class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::BadRequest => 400,
            ErrorClass::NotFound => 404,
            ErrorClass::Conflict => 409,
            ErrorClass::PayloadTooLarge => 413,
            ErrorClass::TooManyRequests => 429,
            ErrorClass::Unavailable => 503,
            ErrorClass::Internal => 500,
        }
    }
}
