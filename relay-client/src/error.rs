//! The one error type of the core, with stable codes every binding maps exhaustively.

use std::fmt;

/// What went wrong, as a stable category. Bindings map each kind to their own error class or
/// status code; the string [`code`](ErrorKind::code) and the number [`number`](ErrorKind::number)
/// never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operation's deadline passed: no reply, no tunnel, no credit or no message in time.
    Timeout,
    /// The connection, service or tunnel is closed (by the application, the node, or the process
    /// having forked).
    Closed,
    /// The remote request handler failed; the message is its fault text, verbatim.
    Remote,
    /// The caller passed an argument the protocol cannot carry (empty name or payload, a timeout
    /// under 1 ms, a duplicate subscription, ...). Nothing was sent.
    InvalidArgument,
    /// The node broke the relay protocol or refused the handshake.
    Protocol,
    /// The socket failed (node not running, connection reset, ...).
    Io,
}

impl ErrorKind {
    /// Stable string code: `TIMEOUT`, `CLOSED`, `REMOTE`, `INVALID_ARGUMENT`, `PROTOCOL`, `IO`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::Closed => "CLOSED",
            ErrorKind::Remote => "REMOTE",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::Protocol => "PROTOCOL",
            ErrorKind::Io => "IO",
        }
    }

    /// Stable numeric code (the C binding returns its negation; 0 means success).
    pub fn number(self) -> i32 {
        match self {
            ErrorKind::Timeout => 1,
            ErrorKind::Closed => 2,
            ErrorKind::Remote => 3,
            ErrorKind::InvalidArgument => 4,
            ErrorKind::Protocol => 5,
            ErrorKind::Io => 6,
        }
    }

    /// Every kind, for bindings that build lookup tables and tests that check they map them all.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Timeout,
        ErrorKind::Closed,
        ErrorKind::Remote,
        ErrorKind::InvalidArgument,
        ErrorKind::Protocol,
        ErrorKind::Io,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error of the core: a stable [`ErrorKind`] and a human-readable message. For
/// [`ErrorKind::Remote`] the message is exactly the fault text the service returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    pub(crate) fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Closed, message)
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }
    pub(crate) fn io(context: &str, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    /// The stable category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message (the verbatim fault text for remote errors).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
