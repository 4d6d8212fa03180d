//! The relay v1 handshake: the client's INIT, answered by INIT or DENY.

use bytes::BytesMut;
use iris_client::codec::{
    decode_client_frame, op, ByteStr, ClientFrame, DecodeError, Limits, CLIENT_MAGIC, PROTOCOL_VERSION,
};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Cap on each INIT field: names are short, and a stranger that has not even said hello gets no
/// large buffers.
const HANDSHAKE_FIELD_LIMIT: usize = 64 * 1024;

/// Why a connection did not complete the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer closed before sending a complete INIT.
    #[error("connection closed during the handshake")]
    Closed,
    /// Reading failed.
    #[error("read failed during the handshake: {0}")]
    Io(#[from] std::io::Error),
    /// The first frame is not INIT (closed without DENY: probably not an Iris client at all).
    #[error("first frame has opcode 0x{0:02x}, not INIT")]
    NotInit(u8),
    /// The INIT is malformed.
    #[error("malformed INIT: {0}")]
    Malformed(#[from] DecodeError),
    /// The magic string is wrong (closed without DENY).
    #[error("wrong client magic {0:?}")]
    BadMagic(String),
    /// The client speaks another protocol version: answered with DENY.
    #[error("unsupported protocol version {0:?}")]
    Version(String),
}

impl HandshakeError {
    /// The DENY reason to send, for the one failure that is answered with DENY.
    pub fn deny_reason(&self) -> Option<String> {
        match self {
            HandshakeError::Version(v) => Some(format!(
                "protocol version mismatch: node speaks {PROTOCOL_VERSION}, client sent {v}"
            )),
            _ => None,
        }
    }
}

/// Reads the client's INIT and returns the cluster it joins (`None` for a plain client). Bytes that
/// follow the INIT stay in `buf` for the frame loop. The caller applies the deadline.
pub async fn read_init<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_message: usize,
) -> Result<Option<ByteStr>, HandshakeError> {
    let limits = Limits {
        max_message: max_message.min(HANDSHAKE_FIELD_LIMIT),
        ..Limits::default()
    };
    loop {
        if let Some(&first) = buf.first() {
            // Checked before decoding: a non-INIT frame must not even be parsed.
            if first != op::INIT {
                return Err(HandshakeError::NotInit(first));
            }
            if let Some(frame) = decode_client_frame(buf, &limits)? {
                let ClientFrame::Init {
                    magic,
                    version,
                    cluster,
                } = frame
                else {
                    return Err(HandshakeError::NotInit(first));
                };
                if magic != CLIENT_MAGIC {
                    return Err(HandshakeError::BadMagic(magic.to_string()));
                }
                if version != PROTOCOL_VERSION {
                    return Err(HandshakeError::Version(version.to_string()));
                }
                return Ok(if cluster.is_empty() { None } else { Some(cluster) });
            }
        }
        buf.reserve(4096);
        if reader.read_buf(buf).await? == 0 {
            return Err(HandshakeError::Closed);
        }
    }
}
