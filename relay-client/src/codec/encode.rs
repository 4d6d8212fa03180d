use super::{op, ClientFrame, NodeFrame, ReplyOutcome};
use bytes::{BufMut, Bytes, BytesMut};

/// Tunnel payloads at least this long are not copied by [`ClientFrame::encode_split`] and
/// [`NodeFrame::encode_split`]: writers send them from where they already are (vectored writes).
pub const SPLIT_PAYLOAD: usize = 16 * 1024;

/// Appends an unsigned LEB128 varint.
pub fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Appends a length-prefixed field.
pub fn put_binary(buf: &mut BytesMut, data: &[u8]) {
    put_varint(buf, data.len() as u64);
    buf.put_slice(data);
}

fn put_bool(buf: &mut BytesMut, b: bool) {
    buf.put_u8(b as u8);
}

impl ClientFrame {
    /// Appends this frame's wire form to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            ClientFrame::Init {
                magic,
                version,
                cluster,
            } => {
                buf.put_u8(op::INIT);
                put_binary(buf, magic.as_bytes());
                put_binary(buf, version.as_bytes());
                put_binary(buf, cluster.as_bytes());
            }
            ClientFrame::Close => buf.put_u8(op::CLOSE),
            ClientFrame::Broadcast { cluster, message } => {
                buf.put_u8(op::BROADCAST);
                put_binary(buf, cluster.as_bytes());
                put_binary(buf, message);
            }
            ClientFrame::Request {
                id,
                cluster,
                request,
                timeout_ms,
            } => {
                buf.put_u8(op::REQUEST);
                put_varint(buf, *id);
                put_binary(buf, cluster.as_bytes());
                put_binary(buf, request);
                put_varint(buf, *timeout_ms);
            }
            ClientFrame::Reply { id, result } => {
                buf.put_u8(op::REPLY);
                put_varint(buf, *id);
                match result {
                    Ok(reply) => {
                        put_bool(buf, true);
                        put_binary(buf, reply);
                    }
                    Err(fault) => {
                        put_bool(buf, false);
                        put_binary(buf, fault.as_bytes());
                    }
                }
            }
            ClientFrame::Subscribe { topic } => {
                buf.put_u8(op::SUBSCRIBE);
                put_binary(buf, topic.as_bytes());
            }
            ClientFrame::Unsubscribe { topic } => {
                buf.put_u8(op::UNSUBSCRIBE);
                put_binary(buf, topic.as_bytes());
            }
            ClientFrame::Publish { topic, event } => encode_publish(buf, topic.as_bytes(), event),
            ClientFrame::TunInit {
                tunnel_id,
                cluster,
                timeout_ms,
            } => {
                buf.put_u8(op::TUN_INIT);
                put_varint(buf, *tunnel_id);
                put_binary(buf, cluster.as_bytes());
                put_varint(buf, *timeout_ms);
            }
            ClientFrame::TunConfirm { build_id, tunnel_id } => {
                buf.put_u8(op::TUN_CONFIRM);
                put_varint(buf, *build_id);
                put_varint(buf, *tunnel_id);
            }
            ClientFrame::TunAllow { tunnel_id, space } => encode_allow(buf, *tunnel_id, *space),
            ClientFrame::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            } => encode_transfer(buf, *tunnel_id, *size_or_cont, payload),
            ClientFrame::TunClose { tunnel_id } => {
                buf.put_u8(op::TUN_CLOSE);
                put_varint(buf, *tunnel_id);
            }
        }
    }
}

impl ClientFrame {
    /// [`encode`](Self::encode), leaving a bulk tunnel payload out of `buf` and returning it
    /// instead (see [`encode_transfer_split`]).
    pub fn encode_split(&self, buf: &mut BytesMut) -> Option<Bytes> {
        match self {
            ClientFrame::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            } => encode_transfer_split(buf, *tunnel_id, *size_or_cont, payload),
            _ => {
                self.encode(buf);
                None
            }
        }
    }
}

impl NodeFrame {
    /// [`encode`](Self::encode), leaving a bulk tunnel payload out of `buf` and returning it
    /// instead (see [`encode_transfer_split`]).
    pub fn encode_split(&self, buf: &mut BytesMut) -> Option<Bytes> {
        match self {
            NodeFrame::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            } => encode_transfer_split(buf, *tunnel_id, *size_or_cont, payload),
            _ => {
                self.encode(buf);
                None
            }
        }
    }

    /// Appends this frame's wire form to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            NodeFrame::Init { magic, version } => {
                buf.put_u8(op::INIT);
                put_binary(buf, magic.as_bytes());
                put_binary(buf, version.as_bytes());
            }
            NodeFrame::Deny { magic, reason } => {
                buf.put_u8(op::DENY);
                put_binary(buf, magic.as_bytes());
                put_binary(buf, reason.as_bytes());
            }
            NodeFrame::Close { reason } => {
                buf.put_u8(op::CLOSE);
                put_binary(buf, reason.as_bytes());
            }
            NodeFrame::Broadcast { message } => {
                buf.put_u8(op::BROADCAST);
                put_binary(buf, message);
            }
            NodeFrame::Request {
                id,
                request,
                timeout_ms,
            } => {
                buf.put_u8(op::REQUEST);
                put_varint(buf, *id);
                put_binary(buf, request);
                put_varint(buf, *timeout_ms);
            }
            NodeFrame::Reply { id, outcome } => {
                buf.put_u8(op::REPLY);
                put_varint(buf, *id);
                match outcome {
                    ReplyOutcome::TimedOut => put_bool(buf, true),
                    ReplyOutcome::Reply(reply) => {
                        put_bool(buf, false);
                        put_bool(buf, true);
                        put_binary(buf, reply);
                    }
                    ReplyOutcome::Fault(fault) => {
                        put_bool(buf, false);
                        put_bool(buf, false);
                        put_binary(buf, fault.as_bytes());
                    }
                }
            }
            NodeFrame::Publish { topic, event } => encode_publish(buf, topic.as_bytes(), event),
            NodeFrame::TunInit { build_id, chunk_limit } => {
                buf.put_u8(op::TUN_INIT);
                put_varint(buf, *build_id);
                put_varint(buf, *chunk_limit);
            }
            NodeFrame::TunConfirm { tunnel_id, chunk_limit } => {
                buf.put_u8(op::TUN_CONFIRM);
                put_varint(buf, *tunnel_id);
                match chunk_limit {
                    None => put_bool(buf, true),
                    Some(limit) => {
                        put_bool(buf, false);
                        put_varint(buf, *limit);
                    }
                }
            }
            NodeFrame::TunAllow { tunnel_id, space } => encode_allow(buf, *tunnel_id, *space),
            NodeFrame::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            } => encode_transfer(buf, *tunnel_id, *size_or_cont, payload),
            NodeFrame::TunClose { tunnel_id, reason } => {
                buf.put_u8(op::TUN_CLOSE);
                put_varint(buf, *tunnel_id);
                put_binary(buf, reason.as_bytes());
            }
        }
    }
}

fn encode_publish(buf: &mut BytesMut, topic: &[u8], event: &[u8]) {
    buf.put_u8(op::PUBLISH);
    put_binary(buf, topic);
    put_binary(buf, event);
}

fn encode_allow(buf: &mut BytesMut, tunnel_id: u64, space: u64) {
    buf.put_u8(op::TUN_ALLOW);
    put_varint(buf, tunnel_id);
    put_varint(buf, space);
}

fn transfer_header(buf: &mut BytesMut, tunnel_id: u64, size_or_cont: u64) {
    buf.put_u8(op::TUN_TRANSFER);
    put_varint(buf, tunnel_id);
    put_varint(buf, size_or_cont);
}

/// A TUN_TRANSFER whose payload, if at least [`SPLIT_PAYLOAD`] octets (it is the frame's last
/// field), is not copied: `buf` gets everything up to it and the payload is returned, to be sent
/// right after `buf`'s new octets; the concatenation is exactly what `encode` writes. Only tunnel
/// data is split: it is the bulk traffic, and tunnel credit bounds how much of it can wait in an
/// outbox (and so how much memory its shared buffers can pin); broadcasts, events and replies to
/// slow readers are copied.
fn encode_transfer_split(buf: &mut BytesMut, tunnel_id: u64, size_or_cont: u64, payload: &Bytes) -> Option<Bytes> {
    if payload.len() < SPLIT_PAYLOAD {
        encode_transfer(buf, tunnel_id, size_or_cont, payload);
        return None;
    }
    transfer_header(buf, tunnel_id, size_or_cont);
    put_varint(buf, payload.len() as u64);
    Some(payload.clone())
}

fn encode_transfer(buf: &mut BytesMut, tunnel_id: u64, size_or_cont: u64, payload: &[u8]) {
    transfer_header(buf, tunnel_id, size_or_cont);
    put_binary(buf, payload);
}
