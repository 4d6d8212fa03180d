//! The secure transport between two nodes: Noise XX over TCP, authenticated with the network's
//! RSA key, AES-GCM on every frame (see `spec/overlay.md`).
//!
//! [`handshake`] turns a fresh TCP stream into a [`LinkReader`] / [`LinkWriter`] pair once both
//! sides proved they hold the network key; anything else (a wrong key, another network name,
//! garbage, silence) ends in a [`LinkError`] within [`HANDSHAKE_TIMEOUT`], having read at most a
//! few KiB.

mod auth;
mod cipher;
mod frames;

pub use auth::Credentials;
pub use frames::{LinkReader, LinkWriter, MAX_NOISE_MESSAGE, MAX_PLAINTEXT};

use super::membership::NodeId;
use std::time::Duration;
use tokio::net::TcpStream;

/// The Noise protocol every link speaks.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";
/// Protocol label in the prologue and the signed auth message; bump on incompatible changes.
pub const PROTOCOL_LABEL: &str = "iris-overlay-v3";
/// Deadline for the whole handshake, authentication included.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest Noise message accepted before the peer is authenticated.
pub const MAX_PREAUTH_MESSAGE: usize = 2048;

/// Which side of the TCP connection this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This node dialled.
    Initiator,
    /// This node accepted.
    Responder,
}

/// Why a link could not be set up or ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The socket failed or closed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake did not finish in time.
    #[error("handshake timed out")]
    Timeout,
    /// Noise rejected a message: wrong network name, tampered, replayed or reordered data, or
    /// garbage.
    #[error("decryption or handshake failure ({0}): tampered, replayed, foreign or garbage data")]
    Crypto(String),
    /// The peer does not hold the network key.
    #[error("the peer did not prove it holds the network key")]
    BadSignature,
    /// A message longer than allowed at this stage.
    #[error("message of {0} octets is too long here")]
    TooLong(usize),
    /// The auth message was malformed.
    #[error("malformed authentication message")]
    BadAuth,
}

impl From<snow::Error> for LinkError {
    fn from(e: snow::Error) -> Self {
        LinkError::Crypto(e.to_string())
    }
}

/// Runs the handshake on `stream` as `role`; returns the two halves of the link and the peer's
/// node id (proven only in the sense that the peer holds the network key).
pub async fn handshake(
    stream: TcpStream,
    role: Role,
    creds: &Credentials,
) -> Result<(LinkReader, LinkWriter, NodeId), LinkError> {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, auth::run(stream, role, creds)).await {
        Ok(result) => result,
        Err(_) => Err(LinkError::Timeout),
    }
}
