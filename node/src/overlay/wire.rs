//! Node-to-node messages and their encoding (inside the encrypted link, see `link/`).
//!
//! A message is `varint body_length, body`; the body is one opcode octet and its fields, encoded
//! with the relay codec's primitives (LEB128 varints, length-prefixed binaries). Every length is
//! checked against [`WireLimits`] before anything is reserved, so a peer (even an authenticated
//! one) cannot make a node allocate memory it never sends.

use super::engine::Control;
use super::scribe::{Agg, Entry, Group, GroupKind, DIRECT_MAX};
use super::NodeId;
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

/// Most hops a message may take (a safety net: routes are loop-free by construction).
pub const MAX_HOPS: u8 = 64;

/// How a request, broadcast, publish or tunnel construction travels, and so what the receiving
/// node does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Sent straight to a node hosting members: deliver to local members only.
    Direct,
    /// Routed towards the group's key by a node outside its tree: the first node of the tree
    /// takes over; others forward it along the route.
    Route {
        /// Links crossed so far.
        hops: u8,
    },
    /// A request or tunnel construction walking the tree: pick a local member or another tree
    /// direction (never back), weighted by spare capacity.
    Walk {
        /// Links crossed so far.
        hops: u8,
    },
    /// A broadcast or publish flooding the tree: deliver locally, pass on to every other tree
    /// direction with members; `(origin, seq)` identifies it for duplicate suppression.
    Flood {
        /// Links crossed so far.
        hops: u8,
        /// The node that started the flood.
        origin: NodeId,
        /// Its sequence number at that node.
        seq: u64,
    },
}

impl Via {
    /// Links crossed so far.
    pub fn hops(&self) -> u8 {
        match self {
            Via::Direct => 1,
            Via::Route { hops } | Via::Walk { hops } | Via::Flood { hops, .. } => *hops,
        }
    }
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
    /// Overlay maintenance: Pastry state, link needs, tree joins and aggregates.
    Control(Control),
    /// A request for one member of `cluster`.
    Request {
        /// The sender's id for the request (used in the reply).
        id: u64,
        /// Target cluster.
        cluster: ByteStr,
        /// Payload.
        request: Bytes,
        /// The caller's timeout.
        timeout_ms: u64,
        /// How it travels.
        via: Via,
    },
    /// The answer to a [`Wire::Request`].
    Reply {
        /// The id from the request.
        id: u64,
        /// What happened.
        outcome: ReplyOutcome,
    },
    /// For every member of `cluster`.
    Broadcast {
        /// Target cluster.
        cluster: ByteStr,
        /// Payload.
        message: Bytes,
        /// How it travels.
        via: Via,
    },
    /// For every subscriber of `topic`.
    Publish {
        /// Topic.
        topic: ByteStr,
        /// Payload.
        event: Bytes,
        /// How it travels.
        via: Via,
    },
    /// Build a tunnel to one member of `cluster`; `build` is the sender's id for it.
    TunInit {
        /// The sender's id for the tunnel (frames towards the sender carry it).
        build: u64,
        /// Target cluster.
        cluster: ByteStr,
        /// The initiator's timeout.
        timeout_ms: u64,
        /// How it travels.
        via: Via,
        /// The node whose client asked for the tunnel, when it accepts a [`Wire::TunRedirect`]:
        /// a member node the construction reaches over another node answers with its address
        /// instead of confirming, and the origin builds the tunnel over a direct link.
        origin: Option<NodeId>,
    },
    /// The construction `build` reached a member node other than the next one: `node` (listening
    /// on `listen`) hosts a member; the origin is to ask it over a direct link. Travels back
    /// along the construction's path like [`Wire::TunFailed`].
    TunRedirect {
        /// The receiver's id for the construction.
        build: u64,
        /// The member node.
        node: NodeId,
        /// Its overlay listen addresses.
        listen: Vec<SocketAddr>,
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
    pub const STATE: u8 = 4;
    pub const NEED: u8 = 5;
    pub const JOIN: u8 = 6;
    pub const LEAVE: u8 = 7;
    pub const DOWN: u8 = 8;
    pub const REQUEST: u8 = 9;
    pub const REPLY: u8 = 10;
    pub const BROADCAST: u8 = 11;
    pub const PUBLISH: u8 = 12;
    pub const TUN_INIT: u8 = 13;
    pub const TUN_CONFIRM: u8 = 14;
    pub const TUN_FAILED: u8 = 15;
    pub const TUN_ALLOW: u8 = 16;
    pub const TUN_TRANSFER: u8 = 17;
    pub const TUN_CLOSE: u8 = 18;
    pub const TUN_REDIRECT: u8 = 19;
}

/// Most addresses in one address list (more are simply not sent).
pub const MAX_ADDRS: usize = 1024;
/// Most addresses per node in a state entry or tree entry.
pub const MAX_NODE_ADDRS: usize = 16;
/// Most entries in one state message.
pub const MAX_STATE_ENTRIES: usize = 1024;

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

fn vl(v: u64) -> usize {
    (((64 - v.leading_zeros()) as usize).max(1)).div_ceil(7)
}

fn bin(len: usize) -> usize {
    vl(len as u64) + len
}

fn via_len(via: &Via) -> usize {
    match via {
        Via::Direct => 1,
        Via::Route { .. } | Via::Walk { .. } => 2,
        Via::Flood { seq, .. } => 2 + 16 + vl(*seq),
    }
}

fn put_via(b: &mut BytesMut, via: &Via) {
    match via {
        Via::Direct => b.extend_from_slice(&[0]),
        Via::Route { hops } => b.extend_from_slice(&[1, *hops]),
        Via::Walk { hops } => b.extend_from_slice(&[2, *hops]),
        Via::Flood { hops, origin, seq } => {
            b.extend_from_slice(&[3, *hops]);
            b.extend_from_slice(&origin.0.to_be_bytes());
            put_varint(b, *seq);
        }
    }
}

fn put_id(b: &mut BytesMut, id: NodeId) {
    b.extend_from_slice(&id.0.to_be_bytes());
}

fn put_group(b: &mut BytesMut, g: &Group) {
    b.extend_from_slice(&[match g.kind {
        GroupKind::Cluster => 0,
        GroupKind::Topic => 1,
    }]);
    put_binary(b, g.name.as_bytes());
}

fn put_agg(b: &mut BytesMut, agg: &Agg) {
    put_varint(b, u64::from(agg.members));
    put_varint(b, u64::from(agg.spare));
    match &agg.nodes {
        None => b.extend_from_slice(&[0]),
        Some(nodes) => {
            b.extend_from_slice(&[1]);
            put_varint(b, nodes.len() as u64);
            for e in nodes {
                put_id(b, e.node);
                put_varint(b, u64::from(e.members));
                put_varint(b, u64::from(e.spare));
                put_addrs(b, &e.addrs[..e.addrs.len().min(MAX_NODE_ADDRS)]);
            }
        }
    }
}

fn put_control(b: &mut BytesMut, c: &Control) {
    match c {
        Control::State { entries, sample, reply } => {
            b.extend_from_slice(&[op::STATE, u8::from(*reply)]);
            for list in [entries, sample] {
                let list = &list[..list.len().min(MAX_STATE_ENTRIES)];
                put_varint(b, list.len() as u64);
                for (node, addrs) in list {
                    put_id(b, *node);
                    put_addrs(b, &addrs[..addrs.len().min(MAX_NODE_ADDRS)]);
                }
            }
        }
        Control::Need(need) => b.extend_from_slice(&[op::NEED, u8::from(*need)]),
        Control::Join { group, agg } => {
            b.extend_from_slice(&[op::JOIN]);
            put_group(b, group);
            put_agg(b, agg);
        }
        Control::Leave { group } => {
            b.extend_from_slice(&[op::LEAVE]);
            put_group(b, group);
        }
        Control::Down { group, outside } => {
            b.extend_from_slice(&[op::DOWN]);
            put_group(b, group);
            put_agg(b, outside);
        }
    }
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
    /// Appends the message, length prefix included, to `buf`. Traffic bodies have their length
    /// computed first, so payloads are copied once, straight into `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        if let Wire::Control(c) = self {
            // Small and rare: encode aside, then prefix.
            let mut body = BytesMut::new();
            put_control(&mut body, c);
            put_varint(buf, body.len() as u64);
            buf.extend_from_slice(&body);
            return;
        }
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

    /// The encoded body's length (opcode included, prefix excluded) of a non-control message.
    fn body_len(&self) -> usize {
        fn addrs(a: &[SocketAddr]) -> usize {
            let a = &a[..a.len().min(MAX_ADDRS)];
            vl(a.len() as u64) + a.iter().map(|x| if x.is_ipv4() { 7 } else { 19 }).sum::<usize>()
        }
        1 + match self {
            Wire::Hello { listen, .. } => 16 + addrs(listen),
            Wire::Heartbeat | Wire::Bye => 0,
            Wire::Control(_) => unreachable!("control messages are encoded aside"),
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
                via,
            } => vl(*id) + bin(cluster.len()) + bin(request.len()) + vl(*timeout_ms) + via_len(via),
            Wire::Reply { id, outcome } => {
                vl(*id)
                    + 1
                    + match outcome {
                        ReplyOutcome::TimedOut => 0,
                        ReplyOutcome::Reply(r) => bin(r.len()),
                        ReplyOutcome::Fault(f) => bin(f.len()),
                    }
            }
            Wire::Broadcast { cluster, message, via } => bin(cluster.len()) + bin(message.len()) + via_len(via),
            Wire::Publish { topic, event, via } => bin(topic.len()) + bin(event.len()) + via_len(via),
            Wire::TunInit {
                build,
                cluster,
                timeout_ms,
                via,
                origin,
            } => {
                vl(*build) + bin(cluster.len()) + vl(*timeout_ms) + via_len(via) + if origin.is_some() { 17 } else { 1 }
            }
            Wire::TunRedirect { build, listen, .. } => vl(*build) + 16 + addrs(listen),
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
                put_id(b, *node);
                put_addrs(b, listen);
            }
            Wire::Heartbeat => op(b, op::HEARTBEAT),
            Wire::Bye => op(b, op::BYE),
            Wire::Control(c) => put_control(b, c),
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
                via,
            } => {
                op(b, op::REQUEST);
                put_varint(b, *id);
                put_binary(b, cluster.as_bytes());
                put_binary(b, request);
                put_varint(b, *timeout_ms);
                put_via(b, via);
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
            Wire::Broadcast { cluster, message, via } => {
                op(b, op::BROADCAST);
                put_binary(b, cluster.as_bytes());
                put_binary(b, message);
                put_via(b, via);
            }
            Wire::Publish { topic, event, via } => {
                op(b, op::PUBLISH);
                put_binary(b, topic.as_bytes());
                put_binary(b, event);
                put_via(b, via);
            }
            Wire::TunInit {
                build,
                cluster,
                timeout_ms,
                via,
                origin,
            } => {
                op(b, op::TUN_INIT);
                put_varint(b, *build);
                put_binary(b, cluster.as_bytes());
                put_varint(b, *timeout_ms);
                put_via(b, via);
                match origin {
                    None => b.extend_from_slice(&[0]),
                    Some(node) => {
                        b.extend_from_slice(&[1]);
                        put_id(b, *node);
                    }
                }
            }
            Wire::TunRedirect { build, node, listen } => {
                op(b, op::TUN_REDIRECT);
                put_varint(b, *build);
                put_id(b, *node);
                put_addrs(b, listen);
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

    fn id(&mut self) -> Result<NodeId, WireError> {
        let o = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&o);
        Ok(NodeId(u128::from_be_bytes(a)))
    }

    fn via(&mut self) -> Result<Via, WireError> {
        let kind = self.u8()?;
        if kind == 0 {
            return Ok(Via::Direct);
        }
        let hops = self.u8()?;
        if hops > MAX_HOPS {
            return Err(WireError::Field("hop count"));
        }
        Ok(match kind {
            1 => Via::Route { hops },
            2 => Via::Walk { hops },
            3 => Via::Flood {
                hops,
                origin: self.id()?,
                seq: self.varint()?,
            },
            _ => return Err(WireError::Field("via")),
        })
    }

    fn group(&mut self) -> Result<Group, WireError> {
        let kind = match self.u8()? {
            0 => GroupKind::Cluster,
            1 => GroupKind::Topic,
            _ => return Err(WireError::Field("group kind")),
        };
        Ok(Group {
            kind,
            name: self.string()?,
        })
    }

    fn node_addrs(&mut self) -> Result<Vec<SocketAddr>, WireError> {
        let addrs = self.addrs()?;
        if addrs.len() > MAX_NODE_ADDRS {
            return Err(WireError::Field("too many addresses for one node"));
        }
        Ok(addrs)
    }

    fn node_list(&mut self) -> Result<Vec<(NodeId, Vec<SocketAddr>)>, WireError> {
        let n = self.varint()?;
        if n > MAX_STATE_ENTRIES as u64 {
            return Err(WireError::Field("too many state entries"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push((self.id()?, self.node_addrs()?));
        }
        Ok(out)
    }

    fn agg(&mut self) -> Result<Agg, WireError> {
        let members = self.u32()?;
        let spare = self.u32()?;
        let nodes = if self.bool()? {
            let n = self.varint()?;
            if n > DIRECT_MAX as u64 {
                return Err(WireError::Field("too many member nodes"));
            }
            let mut nodes = Vec::with_capacity(n as usize);
            for _ in 0..n {
                nodes.push(Entry {
                    node: self.id()?,
                    members: self.u32()?,
                    spare: self.u32()?,
                    addrs: self.node_addrs()?,
                });
            }
            Some(nodes)
        } else {
            None
        };
        Ok(Agg { members, spare, nodes })
    }

    fn message(&mut self) -> Result<Wire, WireError> {
        Ok(match self.u8()? {
            op::HELLO => Wire::Hello {
                node: self.id()?,
                listen: self.addrs()?,
            },
            op::HEARTBEAT => Wire::Heartbeat,
            op::BYE => Wire::Bye,
            op::STATE => {
                let reply = self.bool()?;
                let entries = self.node_list()?;
                let sample = self.node_list()?;
                Wire::Control(Control::State { entries, sample, reply })
            }
            op::NEED => Wire::Control(Control::Need(self.bool()?)),
            op::JOIN => Wire::Control(Control::Join {
                group: self.group()?,
                agg: self.agg()?,
            }),
            op::LEAVE => Wire::Control(Control::Leave { group: self.group()? }),
            op::DOWN => Wire::Control(Control::Down {
                group: self.group()?,
                outside: self.agg()?,
            }),
            op::REQUEST => Wire::Request {
                id: self.varint()?,
                cluster: self.string()?,
                request: self.binary()?,
                timeout_ms: self.varint()?,
                via: self.via()?,
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
                via: self.via()?,
            },
            op::PUBLISH => Wire::Publish {
                topic: self.string()?,
                event: self.binary()?,
                via: self.via()?,
            },
            op::TUN_INIT => Wire::TunInit {
                build: self.varint()?,
                cluster: self.string()?,
                timeout_ms: self.varint()?,
                via: self.via()?,
                origin: if self.bool()? { Some(self.id()?) } else { None },
            },
            op::TUN_REDIRECT => Wire::TunRedirect {
                build: self.varint()?,
                node: self.id()?,
                listen: self.addrs()?,
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

    fn entry(n: u128) -> Entry {
        Entry {
            node: NodeId(n),
            members: 2,
            spare: 31,
            addrs: vec!["127.0.0.2:9".parse().unwrap(), "[::1]:8".parse().unwrap()],
        }
    }

    #[test]
    fn every_message_round_trips_and_lengths_are_bounded() {
        let limits = WireLimits { max_body: 4096 };
        let flood = Via::Flood {
            hops: 3,
            origin: NodeId(u128::MAX - 5),
            seq: 1 << 40,
        };
        let msgs = vec![
            Wire::Hello {
                node: NodeId(7),
                listen: vec!["127.0.0.2:9".parse().unwrap(), "[::1]:8".parse().unwrap()],
            },
            Wire::Heartbeat,
            Wire::Bye,
            Wire::Control(Control::State {
                entries: vec![(NodeId(1), vec!["10.1.2.3:4".parse().unwrap()]), (NodeId(2), vec![])],
                sample: vec![(NodeId(9), vec!["[fd00::1]:7".parse().unwrap()])],
                reply: true,
            }),
            Wire::Control(Control::Need(false)),
            Wire::Control(Control::Join {
                group: Group::cluster("svc"),
                agg: Agg {
                    members: 4,
                    spare: 40,
                    nodes: Some(vec![entry(1), entry(2)]),
                },
            }),
            Wire::Control(Control::Leave {
                group: Group::topic("t"),
            }),
            Wire::Control(Control::Down {
                group: Group::topic("t"),
                outside: Agg {
                    members: 99,
                    spare: 0,
                    nodes: None,
                },
            }),
            Wire::Request {
                id: 1,
                cluster: "svc".into(),
                request: Bytes::from_static(b"x"),
                timeout_ms: 5,
                via: Via::Walk { hops: 2 },
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
                via: Via::Route { hops: 1 },
                origin: None,
            },
            Wire::TunInit {
                build: 3,
                cluster: "d".into(),
                timeout_ms: 1,
                via: Via::Walk { hops: 2 },
                origin: Some(NodeId(u128::MAX - 1)),
            },
            Wire::TunRedirect {
                build: 1 << 30,
                node: NodeId(77),
                listen: vec!["127.0.0.2:9".parse().unwrap(), "[::1]:8".parse().unwrap()],
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
                via: flood,
            },
            Wire::Publish {
                topic: "t".into(),
                event: Bytes::from(vec![0u8; 200]),
                via: Via::Direct,
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

    #[test]
    fn malformed_control_fields_are_rejected() {
        let limits = WireLimits { max_body: 1 << 20 };
        // A tree entry list longer than DIRECT_MAX.
        let mut body = BytesMut::new();
        body.extend_from_slice(&[op::JOIN, 0]);
        put_binary(&mut body, b"svc");
        put_varint(&mut body, 1);
        put_varint(&mut body, 1);
        body.extend_from_slice(&[1]);
        put_varint(&mut body, DIRECT_MAX as u64 + 1);
        let mut buf = BytesMut::new();
        put_varint(&mut buf, body.len() as u64);
        buf.extend_from_slice(&body);
        assert_eq!(
            Wire::decode(&mut buf, &limits),
            Err(WireError::Field("too many member nodes"))
        );
        // A hop count beyond the limit.
        let mut body = BytesMut::new();
        body.extend_from_slice(&[op::PUBLISH]);
        put_binary(&mut body, b"t");
        put_binary(&mut body, b"e");
        body.extend_from_slice(&[1, MAX_HOPS + 1]);
        let mut buf = BytesMut::new();
        put_varint(&mut buf, body.len() as u64);
        buf.extend_from_slice(&body);
        assert_eq!(Wire::decode(&mut buf, &limits), Err(WireError::Field("hop count")));
        // An unknown group kind.
        let mut buf = BytesMut::from(&[3u8, op::LEAVE, 7, 0][..]);
        assert_eq!(Wire::decode(&mut buf, &limits), Err(WireError::Field("group kind")));
    }
}
