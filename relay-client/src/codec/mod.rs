//! The relay v1 codec: frames in both directions, sans-I/O.
//!
//! Bytes go in, frames come out; no sockets, no runtime. The node and the client core both use this
//! module, so the wire format exists exactly once. See `spec/relay-v1.md` for the protocol.
//!
//! Decoding is streaming: [`decode_client_frame`] and [`decode_node_frame`] take a buffer that may
//! hold a partial frame and return `Ok(None)` until a whole frame is present. Every declared length
//! is checked against [`Limits`] before any data is awaited, so a peer cannot make us reserve memory
//! it never sends.

mod bytestr;
mod decode;
mod encode;
pub use encode::{put_binary, put_varint, SPLIT_PAYLOAD};

pub use bytestr::ByteStr;
pub use decode::{decode_client_frame, decode_node_frame, DecodeError};

use bytes::Bytes;

/// Magic string a client sends in its INIT frame.
pub const CLIENT_MAGIC: &str = "iris-client-magic";
/// Magic string the node sends in its INIT and DENY frames.
pub const RELAY_MAGIC: &str = "iris-relay-magic";
/// The protocol version string both sides send.
pub const PROTOCOL_VERSION: &str = "v1.0-draft2";
/// The largest TUN_TRANSFER payload (octets) the node announces and accepts.
pub const CHUNK_LIMIT: usize = 64 * 1024;
/// The default cap on any message, event, request, reply, fault or name (octets).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// A varint never spans more than this many octets (it encodes a u64).
pub const MAX_VARINT_LEN: usize = 10;

/// Operation codes: the first octet of every frame.
pub mod op {
    pub const INIT: u8 = 0x00;
    pub const DENY: u8 = 0x01;
    pub const CLOSE: u8 = 0x02;
    pub const BROADCAST: u8 = 0x03;
    pub const REQUEST: u8 = 0x04;
    pub const REPLY: u8 = 0x05;
    pub const SUBSCRIBE: u8 = 0x06;
    pub const UNSUBSCRIBE: u8 = 0x07;
    pub const PUBLISH: u8 = 0x08;
    pub const TUN_INIT: u8 = 0x09;
    pub const TUN_CONFIRM: u8 = 0x0a;
    pub const TUN_ALLOW: u8 = 0x0b;
    pub const TUN_TRANSFER: u8 = 0x0c;
    pub const TUN_CLOSE: u8 = 0x0d;
}

/// Size caps the decoder enforces on declared lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cap on every binary and string field except tunnel chunk payloads, and on the declared total
    /// size of a tunnel message.
    pub max_message: usize,
    /// Cap on a single TUN_TRANSFER payload.
    pub chunk_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: DEFAULT_MAX_MESSAGE,
            chunk_limit: CHUNK_LIMIT,
        }
    }
}

/// A frame sent by a client to the node ("In" in the spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Handshake: magic, version, and the cluster to join ("" for a plain client).
    Init {
        magic: ByteStr,
        version: ByteStr,
        cluster: ByteStr,
    },
    /// Graceful close request.
    Close,
    Broadcast {
        cluster: ByteStr,
        message: Bytes,
    },
    Request {
        id: u64,
        cluster: ByteStr,
        request: Bytes,
        timeout_ms: u64,
    },
    /// A service's answer to a REQUEST the node delivered: `Ok(reply)` or `Err(fault)`.
    Reply {
        id: u64,
        result: Result<Bytes, ByteStr>,
    },
    Subscribe {
        topic: ByteStr,
    },
    Unsubscribe {
        topic: ByteStr,
    },
    Publish {
        topic: ByteStr,
        event: Bytes,
    },
    TunInit {
        tunnel_id: u64,
        cluster: ByteStr,
        timeout_ms: u64,
    },
    TunConfirm {
        build_id: u64,
        tunnel_id: u64,
    },
    TunAllow {
        tunnel_id: u64,
        space: u64,
    },
    /// `size_or_cont` is the total message size on a first chunk and 0 on continuation chunks.
    TunTransfer {
        tunnel_id: u64,
        size_or_cont: u64,
        payload: Bytes,
    },
    TunClose {
        tunnel_id: u64,
    },
}

/// How a request ended, as the node reports it to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// No answer before the deadline (or nobody to ask).
    TimedOut,
    Reply(Bytes),
    Fault(ByteStr),
}

/// A frame sent by the node to a client ("Out" in the spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeFrame {
    Init {
        magic: ByteStr,
        version: ByteStr,
    },
    Deny {
        magic: ByteStr,
        reason: ByteStr,
    },
    /// `reason` is empty for a graceful close and says why otherwise (the client was dropped).
    Close {
        reason: ByteStr,
    },
    Broadcast {
        message: Bytes,
    },
    Request {
        id: u64,
        request: Bytes,
        timeout_ms: u64,
    },
    Reply {
        id: u64,
        outcome: ReplyOutcome,
    },
    Publish {
        topic: ByteStr,
        event: Bytes,
    },
    TunInit {
        build_id: u64,
        chunk_limit: u64,
    },
    /// `chunk_limit` is `None` when the construction timed out.
    TunConfirm {
        tunnel_id: u64,
        chunk_limit: Option<u64>,
    },
    TunAllow {
        tunnel_id: u64,
        space: u64,
    },
    TunTransfer {
        tunnel_id: u64,
        size_or_cont: u64,
        payload: Bytes,
    },
    TunClose {
        tunnel_id: u64,
        reason: ByteStr,
    },
}

#[cfg(test)]
mod tests;
