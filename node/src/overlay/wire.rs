//! Node-to-node messages and their encoding (inside the encrypted link, see `link/`).
//!
//! A message is `varint body_length, body`; the body is one opcode octet and its fields, encoded
//! with the relay codec's primitives (LEB128 varints, length-prefixed binaries). Every length is
//! checked against [`WireLimits`] before anything is reserved, so a peer (even an authenticated
//! one) cannot make a node allocate memory it never sends.

use super::membership::NodeId;
use bytes::{Buf, Bytes, BytesMut};
use iris_client::codec::{put_binary, put_varint, ByteStr, ReplyOutcome};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Caps applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct WireLimits {
    /// Largest message body.
    pub max_body: usize,
}

impl WireLimits {
    /// Limits for a relay whose clients may send `max_message` octets: payloads plus room for the
    /// names and ids around them.
    pub fn for_max_message(max_message: usize) -> WireLimits {
        WireLimits {
            max_body: max_message.saturating_add(2 * 65536),
        }
    }
}

/// Per-cluster state a node announces: how many members it hosts and how many of them have room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLoad {
    /// Members attached to the announcing node (0 = the node no longer hosts the cluster).
    pub members: u32,
    /// Members keeping up with their traffic, minus requests they have outstanding, floored at 0:
    /// the weight other nodes give this node when they pick where a request goes.
    pub spare: u32,
}

/// One node-to-node message.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    /// First message on a new link, both ways: who the sender is and where it listens.
    Hello {
        /// The sender's node id.
        node: NodeId,
        /// The sender's overlay listen addresses.
        listen: Vec<SocketAddr>,
    },
    /// Liveness; sent when nothing else was sent for a while.
    Heartbeat,
    /// The sender is shutting down gracefully; forget it at once.
    Bye,
    /// Overlay addresses of nodes the sender is linked to (lets seeds introduce everybody).
    Peers {
        /// Their listen addresses.
        addrs: Vec<SocketAddr>,
    },
    /// The sender's members of a cluster (absolute, so repeats are harmless).
    Cluster {
        /// Cluster name.
        name: ByteStr,
        /// Members and spare capacity.
        load: ClusterLoad,
    },
    /// Whether the sender has subscribers to a topic.
    Topic {
        /// Topic name.
        name: ByteStr,
        /// True while at least one local client subscribes.
        subscribed: bool,
    },
    /// A request for one of the receiver's local members of `cluster`.
    Request {
        /// The sender's id for the request (used in the reply).
        id: u64,
        /// Target cluster.
        cluster: ByteStr,
        /// Payload.
        request: Bytes,
        /// The caller's timeout.
        timeout_ms: u64,
    },
    /// The answer to a [`Wire::Request`].
    Reply {
        /// The id from the request.
        id: u64,
        /// What happened.
        outcome: ReplyOutcome,
    },
    /// For every local member of `cluster` on the receiver.
    Broadcast {
        /// Target cluster.
        cluster: ByteStr,
        /// Payload.
        message: Bytes,
    },
    /// For every local subscriber of `topic` on the receiver.
    Publish {
        /// Topic.
        topic: ByteStr,
        /// Payload.
        event: Bytes,
    },
    /// Build a tunnel to one local member of `cluster`; `build` is the sender's id for it.
    TunInit {
        /// The sender's id for the tunnel (frames towards the sender carry it).
        build: u64,
        /// Target cluster.
        cluster: ByteStr,
        /// The initiator's timeout.
        timeout_ms: u64,
    },
    /// The tunnel `build` was accepted; the confirming node calls it `tunnel`.
    TunConfirm {
        /// The initiating node's id.
        build: u64,
        /// The confirming node's id (frames towards it carry it).
        tunnel: u64,
    },
    /// The construction `build` failed (no member, or it did not confirm in time).
    TunFailed {
        /// The initiating node's id.
        build: u64,
    },
    /// Credit for the receiver's side of tunnel `tunnel` (the receiver's id).
    TunAllow {
        /// The receiver's id for the tunnel.
        tunnel: u64,
        /// Octets.
        space: u64,
    },
    /// One chunk of tunnel data.
    TunTransfer {
        /// The receiver's id for the tunnel.
        tunnel: u64,
        /// Total message size on a first chunk, 0 on continuations.
        size_or_cont: u64,
        /// The chunk.
        payload: Bytes,
    },
    /// The tunnel closed on the sender's side.
    TunClose {
        /// The receiver's id for the tunnel.
        tunnel: u64,
        /// Empty for a graceful close.
        reason: ByteStr,
    },
}

mod op {
    pub const HELLO: u8 = 1;
    pub const HEARTBEAT: u8 = 2;
    pub const BYE: u8 = 3;
    pub const PEERS: u8 = 4;
    pub const CLUSTER: u8 = 5;
    pub const TOPIC: u8 = 6;
    pub const REQUEST: u8 = 7;
    pub const REPLY: u8 = 8;
    pub const BROADCAST: u8 = 9;
    pub const PUBLISH: u8 = 10;
    pub const TUN_INIT: u8 = 11;
    pub const TUN_CONFIRM: u8 = 12;
    pub const TUN_FAILED: u8 = 13;
    pub const TUN_ALLOW: u8 = 14;
    pub const TUN_TRANSFER: u8 = 15;
    pub const TUN_CLOSE: u8 = 16;
}

/// Most addresses in one `Hello` or `Peers` (more are simply not sent).
pub const MAX_ADDRS: usize = 1024;

/// Why a received message could not be decoded; the link is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A declared length exceeds the limits.
    #[error("message of {0} octets exceeds the limit")]
    TooLong(u64),
    /// The body ended before its fields did.
    #[error("truncated message")]
    Truncated,
    /// The body has octets after its fields.
    #[error("trailing octets in message")]
    Trailing,
    /// Unknown opcode.
    #[error("unknown opcode {0}")]
    UnknownOp(u8),
    /// A varint longer than 10 octets or overflowing u64.
    #[error("bad varint")]
    Varint,
    /// A string that is not UTF-8.
    #[error("string is not UTF-8")]
    Utf8,
    /// A field with an impossible value.
    #[error("bad field: {0}")]
    Field(&'static str),
}

fn put_addrs(buf: &mut BytesMut, addrs: &[SocketAddr]) {
    let addrs = &addrs[..addrs.len().min(MAX_ADDRS)];
    put_varint(buf, addrs.len() as u64);
    for addr in addrs {
        match addr.ip() {
            IpAddr::V4(ip) => {
                buf.extend_from_slice(&[4]);
                buf.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                buf.extend_from_slice(&[6]);
                buf.extend_from_slice(&ip.octets());
            }
        }
        buf.extend_from_slice(&addr.port().to_be_bytes());
    }
}

impl Wire {
    /// Appends the message, length prefix included, to `buf`. The body length is computed first,
    /// so payloads are copied once, straight into `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        let body_len = self.body_len();
        put_varint(buf, body_len as u64);
        buf.reserve(body_len);
        let start = buf.len();
        self.encode_body(buf);
        debug_assert_eq!(
            buf.len() - start,
            body_len,
            "body_len disagrees with encode_body for {self:?}"
        );
    }

    /// The encoded body's length (opcode included, prefix excluded).
    fn body_len(&self) -> usize {
        fn vl(v: u64) -> usize {
            (((64 - v.leading_zeros()) as usize).max(1)).div_ceil(7)
        }
        fn bin(len: usize) -> usize {
            vl(len as u64) + len
        }
        fn addrs(a: &[SocketAddr]) -> usize {
            let a = &a[..a.len().min(MAX_ADDRS)];
            vl(a.len() as u64) + a.iter().map(|x| if x.is_ipv4() { 7 } else { 19 }).sum::<usize>()
        }
        1 + match self {
            Wire::Hello { listen, .. } => 16 + addrs(listen),
            Wire::Heartbeat | Wire::Bye => 0,
            Wire::Peers { addrs: a } => addrs(a),
            Wire::Cluster { name, load } => bin(name.len()) + vl(u64::from(load.members)) + vl(u64::from(load.spare)),
            Wire::Topic { name, .. } => bin(name.len()) + 1,
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
            } => vl(*id) + bin(cluster.len()) + bin(request.len()) + vl(*timeout_ms),
            Wire::Reply { id, outcome } => {
                vl(*id)
                    + 1
                    + match outcome {
                        ReplyOutcome::TimedOut => 0,
                        ReplyOutcome::Reply(r) => bin(r.len()),
                        ReplyOutcome::Fault(f) => bin(f.len()),
                    }
            }
            Wire::Broadcast { cluster, message } => bin(cluster.len()) + bin(message.len()),
            Wire::Publish { topic, event } => bin(topic.len()) + bin(event.len()),
            Wire::TunInit {
                build,
                cluster,
                timeout_ms,
            } => vl(*build) + bin(cluster.len()) + vl(*timeout_ms),
            Wire::TunConfirm { build, tunnel } => vl(*build) + vl(*tunnel),
            Wire::TunFailed { build } => vl(*build),
            Wire::TunAllow { tunnel, space } => vl(*tunnel) + vl(*space),
            Wire::TunTransfer {
                tunnel,
                size_or_cont,
                payload,
            } => vl(*tunnel) + vl(*size_or_cont) + bin(payload.len()),
            Wire::TunClose { tunnel, reason } => vl(*tunnel) + bin(reason.len()),
        }
    }

    fn encode_body(&self, b: &mut BytesMut) {
        let op = |b: &mut BytesMut, o: u8| b.extend_from_slice(&[o]);
        match self {
            Wire::Hello { node, listen } => {
                op(b, op::HELLO);
                b.extend_from_slice(&node.0.to_be_bytes());
                put_addrs(b, listen);
            }
            Wire::Heartbeat => op(b, op::HEARTBEAT),
            Wire::Bye => op(b, op::BYE),
            Wire::Peers { addrs } => {
                op(b, op::PEERS);
                put_addrs(b, addrs);
            }
            Wire::Cluster { name, load } => {
                op(b, op::CLUSTER);
                put_binary(b, name.as_bytes());
                put_varint(b, u64::from(load.members));
                put_varint(b, u64::from(load.spare));
            }
            Wire::Topic { name, subscribed } => {
                op(b, op::TOPIC);
                put_binary(b, name.as_bytes());
                b.extend_from_slice(&[u8::from(*subscribed)]);
            }
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
            } => {
                op(b, op::REQUEST);
                put_varint(b, *id);
                put_binary(b, cluster.as_bytes());
                put_binary(b, request);
                put_varint(b, *timeout_ms);
            }
            Wire::Reply { id, outcome } => {
                op(b, op::REPLY);
                put_varint(b, *id);
                match outcome {
                    ReplyOutcome::TimedOut => b.extend_from_slice(&[0]),
                    ReplyOutcome::Reply(reply) => {
                        b.extend_from_slice(&[1]);
                        put_binary(b, reply);
                    }
                    ReplyOutcome::Fault(fault) => {
                        b.extend_from_slice(&[2]);
                        put_binary(b, fault.as_bytes());
                    }
                }
            }
            Wire::Broadcast { cluster, message } => {
                op(b, op::BROADCAST);
                put_binary(b, cluster.as_bytes());
                put_binary(b, message);
            }
            Wire::Publish { topic, event } => {
                op(b, op::PUBLISH);
                put_binary(b, topic.as_bytes());
                put_binary(b, event);
            }
            Wire::TunInit {
                build,
                cluster,
                timeout_ms,
            } => {
                op(b, op::TUN_INIT);
                put_varint(b, *build);
                put_binary(b, cluster.as_bytes());
                put_varint(b, *timeout_ms);
            }
            Wire::TunConfirm { build, tunnel } => {
                op(b, op::TUN_CONFIRM);
                put_varint(b, *build);
                put_varint(b, *tunnel);
            }
            Wire::TunFailed { build } => {
                op(b, op::TUN_FAILED);
                put_varint(b, *build);
            }
            Wire::TunAllow { tunnel, space } => {
                op(b, op::TUN_ALLOW);
                put_varint(b, *tunnel);
                put_varint(b, *space);
            }
            Wire::TunTransfer {
                tunnel,
                size_or_cont,
                payload,
            } => {
                op(b, op::TUN_TRANSFER);
                put_varint(b, *tunnel);
                put_varint(b, *size_or_cont);
                put_binary(b, payload);
            }
            Wire::TunClose { tunnel, reason } => {
                op(b, op::TUN_CLOSE);
                put_varint(b, *tunnel);
                put_binary(b, reason.as_bytes());
            }
        }
    }

    /// Decodes one message from the front of `buf`: `Ok(None)` when it is not complete yet.
    pub fn decode(buf: &mut BytesMut, limits: &WireLimits) -> Result<Option<Wire>, WireError> {
        let Some((len, prefix)) = peek_varint(buf)? else {
            return Ok(None);
        };
        if len > limits.max_body as u64 {
            return Err(WireError::TooLong(len));
        }
        let len = len as usize;
        if buf.len() < prefix + len {
            buf.reserve(prefix + len - buf.len());
            return Ok(None);
        }
        buf.advance(prefix);
        let mut body = Reader(buf.split_to(len).freeze());
        let msg = body.message()?;
        if !body.0.is_empty() {
            return Err(WireError::Trailing);
        }
        Ok(Some(msg))
    }
}

/// A varint at the front of `buf` and its encoded length, if complete.
fn peek_varint(buf: &[u8]) -> Result<Option<(u64, usize)>, WireError> {
    let mut value: u64 = 0;
    for (i, &octet) in buf.iter().enumerate().take(10) {
        let part = u64::from(octet & 0x7f);
        if i == 9 && octet > 1 {
            return Err(WireError::Varint);
        }
        value |= part << (7 * i);
        if octet & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 10 {
        return Err(WireError::Varint);
    }
    Ok(None)
}

struct Reader(Bytes);

impl Reader {
    fn u8(&mut self) -> Result<u8, WireError> {
        if self.0.is_empty() {
            return Err(WireError::Truncated);
        }
        Ok(self.0.get_u8())
    }
    fn varint(&mut self) -> Result<u64, WireError> {
        match peek_varint(&self.0)? {
            Some((v, n)) => {
                self.0.advance(n);
                Ok(v)
            }
            None => Err(WireError::Truncated),
        }
    }
    fn take(&mut self, n: usize) -> Result<Bytes, WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        Ok(self.0.split_to(n))
    }
    fn binary(&mut self) -> Result<Bytes, WireError> {
        let len = self.varint()?;
        // The whole body is already bounded and in memory: a length beyond it is just truncation.
        if len > self.0.len() as u64 {
            return Err(WireError::Truncated);
        }
        self.take(len as usize)
    }
    fn string(&mut self) -> Result<ByteStr, WireError> {
        ByteStr::from_utf8(self.binary()?).ok_or(WireError::Utf8)
    }
    fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Field("bool")),
        }
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.varint()?).map_err(|_| WireError::Field("u32"))
    }
    fn addrs(&mut self) -> Result<Vec<SocketAddr>, WireError> {
        let n = self.varint()?;
        if n > MAX_ADDRS as u64 {
            return Err(WireError::Field("too many addresses"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let ip = match self.u8()? {
                4 => {
                    let o = self.take(4)?;
                    IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3]))
                }
                6 => {
                    let o = self.take(16)?;
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&o);
                    IpAddr::V6(Ipv6Addr::from(a))
                }
                _ => return Err(WireError::Field("address family")),
            };
            let p = self.take(2)?;
            out.push(SocketAddr::new(ip, u16::from_be_bytes([p[0], p[1]])));
        }
        Ok(out)
    }

    fn message(&mut self) -> Result<Wire, WireError> {
        Ok(match self.u8()? {
            op::HELLO => {
                let id = self.take(16)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(&id);
                Wire::Hello {
                    node: NodeId(u128::from_be_bytes(a)),
                    listen: self.addrs()?,
                }
            }
            op::HEARTBEAT => Wire::Heartbeat,
            op::BYE => Wire::Bye,
            op::PEERS => Wire::Peers { addrs: self.addrs()? },
            op::CLUSTER => Wire::Cluster {
                name: self.string()?,
                load: ClusterLoad {
                    members: self.u32()?,
                    spare: self.u32()?,
                },
            },
            op::TOPIC => Wire::Topic {
                name: self.string()?,
                subscribed: self.bool()?,
            },
            op::REQUEST => Wire::Request {
                id: self.varint()?,
                cluster: self.string()?,
                request: self.binary()?,
                timeout_ms: self.varint()?,
            },
            op::REPLY => {
                let id = self.varint()?;
                let outcome = match self.u8()? {
                    0 => ReplyOutcome::TimedOut,
                    1 => ReplyOutcome::Reply(self.binary()?),
                    2 => ReplyOutcome::Fault(self.string()?),
                    _ => return Err(WireError::Field("reply outcome")),
                };
                Wire::Reply { id, outcome }
            }
            op::BROADCAST => Wire::Broadcast {
                cluster: self.string()?,
                message: self.binary()?,
            },
            op::PUBLISH => Wire::Publish {
                topic: self.string()?,
                event: self.binary()?,
            },
            op::TUN_INIT => Wire::TunInit {
                build: self.varint()?,
                cluster: self.string()?,
                timeout_ms: self.varint()?,
            },
            op::TUN_CONFIRM => Wire::TunConfirm {
                build: self.varint()?,
                tunnel: self.varint()?,
            },
            op::TUN_FAILED => Wire::TunFailed { build: self.varint()? },
            op::TUN_ALLOW => Wire::TunAllow {
                tunnel: self.varint()?,
                space: self.varint()?,
            },
            op::TUN_TRANSFER => Wire::TunTransfer {
                tunnel: self.varint()?,
                size_or_cont: self.varint()?,
                payload: self.binary()?,
            },
            op::TUN_CLOSE => Wire::TunClose {
                tunnel: self.varint()?,
                reason: self.string()?,
            },
            other => return Err(WireError::UnknownOp(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_and_lengths_are_bounded() {
        let limits = WireLimits { max_body: 4096 };
        let msgs = vec![
            Wire::Hello {
                node: NodeId(7),
                listen: vec!["127.0.0.2:9".parse().unwrap(), "[::1]:8".parse().unwrap()],
            },
            Wire::Heartbeat,
            Wire::Bye,
            Wire::Cluster {
                name: "svc".into(),
                load: ClusterLoad { members: 3, spare: 2 },
            },
            Wire::Topic {
                name: "t".into(),
                subscribed: true,
            },
            Wire::Request {
                id: 1,
                cluster: "svc".into(),
                request: Bytes::from_static(b"x"),
                timeout_ms: 5,
            },
            Wire::Reply {
                id: 1,
                outcome: ReplyOutcome::Fault("no".into()),
            },
            Wire::Reply {
                id: 2,
                outcome: ReplyOutcome::TimedOut,
            },
            Wire::TunTransfer {
                tunnel: 3,
                size_or_cont: 0,
                payload: Bytes::from_static(b"abc"),
            },
            Wire::TunClose {
                tunnel: 3,
                reason: "".into(),
            },
            Wire::TunTransfer {
                tunnel: u64::MAX,
                size_or_cont: 1 << 35,
                payload: Bytes::from(vec![1u8; 300]),
            },
            Wire::TunInit {
                build: 128,
                cluster: "c".into(),
                timeout_ms: 16384,
            },
            Wire::TunConfirm { build: 127, tunnel: 0 },
            Wire::TunFailed { build: 1 << 21 },
            Wire::TunAllow {
                tunnel: 5,
                space: 4 << 20,
            },
            Wire::Broadcast {
                cluster: "b".into(),
                message: Bytes::from_static(b"m"),
            },
            Wire::Publish {
                topic: "t".into(),
                event: Bytes::from(vec![0u8; 200]),
            },
            Wire::Peers {
                addrs: vec!["10.1.2.3:4".parse().unwrap()],
            },
            Wire::Reply {
                id: 3,
                outcome: ReplyOutcome::Reply(Bytes::from_static(b"ok")),
            },
        ];
        let mut buf = BytesMut::new();
        for m in &msgs {
            m.encode(&mut buf);
        }
        for m in &msgs {
            assert_eq!(Wire::decode(&mut buf, &limits).unwrap().as_ref(), Some(m));
        }
        assert_eq!(Wire::decode(&mut buf, &limits).unwrap(), None);
        let mut huge = BytesMut::new();
        put_varint(&mut huge, 1 << 40);
        assert_eq!(Wire::decode(&mut huge, &limits), Err(WireError::TooLong(1 << 40)));
        let mut bad = BytesMut::from(&[2u8, 99, 0][..]);
        assert_eq!(Wire::decode(&mut bad, &limits), Err(WireError::UnknownOp(99)));
    }
}
