use super::{op, ByteStr, ClientFrame, Limits, NodeFrame, ReplyOutcome, MAX_VARINT_LEN};
use bytes::{Bytes, BytesMut};
use std::ops::Range;

/// Why a byte stream is not valid relay v1. Any of these is a protocol violation: the receiver
/// drops the connection that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The first octet of a frame is not an operation this direction carries.
    #[error("unknown opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    /// A bool octet other than 0x00 or 0x01.
    #[error("invalid bool octet 0x{0:02x}")]
    InvalidBool(u8),
    /// A varint longer than 10 octets or above u64::MAX.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A declared length above the configured cap.
    #[error("{field} declares {declared} octets, the limit is {limit}")]
    TooLarge {
        field: &'static str,
        declared: u64,
        limit: usize,
    },
    /// A string field that is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
}

/// Internal parse result: either more input is needed or the input is invalid.
enum Stop {
    Incomplete,
    Invalid(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(e: DecodeError) -> Self {
        Stop::Invalid(e)
    }
}

type Parse<T> = Result<T, Stop>;

/// A cursor over the buffered input that hands out field positions, not copies; the frame's bytes
/// are split off and sliced only once the whole frame is known to be present.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Parse<u8> {
        let b = *self.data.get(self.pos).ok_or(Stop::Incomplete)?;
        self.pos += 1;
        Ok(b)
    }

    fn bool(&mut self) -> Parse<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::InvalidBool(b).into()),
        }
    }

    fn varint(&mut self) -> Parse<u64> {
        let mut value: u64 = 0;
        for i in 0..MAX_VARINT_LEN {
            let b = self.byte()?;
            // The tenth octet may only contribute the 64th bit.
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(DecodeError::VarintOverflow.into());
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow.into())
    }

    /// A length-prefixed field; the cap is checked before the body is awaited.
    fn binary(&mut self, field: &'static str, limit: usize) -> Parse<Range<usize>> {
        let declared = self.varint()?;
        if declared > limit as u64 {
            return Err(DecodeError::TooLarge { field, declared, limit }.into());
        }
        let start = self.pos;
        let end = start + declared as usize;
        if end > self.data.len() {
            return Err(Stop::Incomplete);
        }
        self.pos = end;
        Ok(start..end)
    }

    fn message(&mut self, field: &'static str) -> Parse<Range<usize>> {
        self.binary(field, self.limits.max_message)
    }

    fn string(&mut self, field: &'static str) -> Parse<StrRange> {
        let range = self.binary(field, self.limits.max_message)?;
        if std::str::from_utf8(&self.data[range.clone()]).is_err() {
            return Err(DecodeError::InvalidUtf8 { field }.into());
        }
        Ok(StrRange(range))
    }
}

/// Position of a string already checked to be UTF-8.
struct StrRange(Range<usize>);

/// Turns field positions into zero-copy slices of the split-off frame.
struct Frame(Bytes);

impl Frame {
    fn bin(&self, r: Range<usize>) -> Bytes {
        self.0.slice(r)
    }
    fn str(&self, r: StrRange) -> ByteStr {
        ByteStr::from_utf8(self.0.slice(r.0)).expect("checked while parsing")
    }
}

/// Runs `parse` over the buffered input; on success splits the frame off `buf` and builds it.
fn decode_with<P, B, T>(buf: &mut BytesMut, limits: &Limits, parse: P, build: B) -> Result<Option<T>, DecodeError>
where
    P: FnOnce(&mut Reader<'_>) -> Parse<FieldList>,
    B: FnOnce(u8, Fields) -> T,
{
    if buf.is_empty() {
        return Ok(None);
    }
    let mut reader = Reader {
        data: &buf[..],
        pos: 1,
        limits,
    };
    let opcode = buf[0];
    match parse(&mut reader) {
        Ok(fields) => {
            let len = reader.pos;
            let frame = Frame(buf.split_to(len).freeze());
            Ok(Some(build(opcode, Fields { frame, fields, next: 0 })))
        }
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Invalid(e)) => Err(e),
    }
}

/// One parsed field, in frame order.
#[derive(Default)]
enum Field {
    #[default]
    Absent,
    U(u64),
    B(bool),
    Bin(Range<usize>),
    Str(StrRange),
}

/// The parsed fields of one frame, consumed in order by the frame builders.
struct Fields {
    frame: Frame,
    fields: FieldList,
    next: usize,
}

/// Up to four fields kept inline: no allocation per decoded frame.
#[derive(Default)]
struct FieldList([Field; 4]);

macro_rules! fields {
    ($($f:expr),* $(,)?) => {{
        let fields = [$($f),*];
        let mut list = FieldList::default();
        for (slot, f) in list.0.iter_mut().zip(fields) {
            *slot = f;
        }
        list
    }};
}

impl Fields {
    fn take(&mut self) -> Option<Field> {
        let f = std::mem::take(self.fields.0.get_mut(self.next)?);
        self.next += 1;
        Some(f)
    }

    fn u(&mut self) -> u64 {
        match self.take() {
            Some(Field::U(v)) => v,
            _ => unreachable!("field order fixed by the parser"),
        }
    }
    fn b(&mut self) -> bool {
        match self.take() {
            Some(Field::B(v)) => v,
            _ => unreachable!("field order fixed by the parser"),
        }
    }
    fn bin(&mut self) -> Bytes {
        match self.take() {
            Some(Field::Bin(r)) => self.frame.bin(r),
            _ => unreachable!("field order fixed by the parser"),
        }
    }
    fn str(&mut self) -> ByteStr {
        match self.take() {
            Some(Field::Str(r)) => self.frame.str(r),
            _ => unreachable!("field order fixed by the parser"),
        }
    }
}

/// Decodes one client-to-node frame from the front of `buf`.
///
/// Returns `Ok(None)` (consuming nothing) when `buf` holds only part of a frame, `Ok(Some(frame))`
/// after removing the frame's octets from `buf`, or an error for input that can never become valid.
pub fn decode_client_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<ClientFrame>, DecodeError> {
    use Field::*;
    let opcode = match buf.first() {
        Some(&b) => b,
        None => return Ok(None),
    };
    decode_with(
        buf,
        limits,
        |r| {
            Ok(match opcode {
                op::INIT => fields![
                    Str(r.string("magic")?),
                    Str(r.string("version")?),
                    Str(r.string("cluster")?)
                ],
                op::CLOSE => fields![],
                op::BROADCAST => fields![Str(r.string("cluster")?), Bin(r.message("message")?)],
                op::REQUEST => fields![
                    U(r.varint()?),
                    Str(r.string("cluster")?),
                    Bin(r.message("request")?),
                    U(r.varint()?)
                ],
                op::REPLY => {
                    let id = r.varint()?;
                    if r.bool()? {
                        fields![U(id), B(true), Bin(r.message("reply")?)]
                    } else {
                        fields![U(id), B(false), Str(r.string("fault")?)]
                    }
                }
                op::SUBSCRIBE | op::UNSUBSCRIBE => fields![Str(r.string("topic")?)],
                op::PUBLISH => fields![Str(r.string("topic")?), Bin(r.message("event")?)],
                op::TUN_INIT => fields![U(r.varint()?), Str(r.string("cluster")?), U(r.varint()?)],
                op::TUN_CONFIRM | op::TUN_ALLOW => fields![U(r.varint()?), U(r.varint()?)],
                op::TUN_TRANSFER => transfer(r)?,
                op::TUN_CLOSE => fields![U(r.varint()?)],
                other => return Err(DecodeError::UnknownOpcode(other).into()),
            })
        },
        |opcode, mut f| match opcode {
            op::INIT => ClientFrame::Init {
                magic: f.str(),
                version: f.str(),
                cluster: f.str(),
            },
            op::CLOSE => ClientFrame::Close,
            op::BROADCAST => ClientFrame::Broadcast {
                cluster: f.str(),
                message: f.bin(),
            },
            op::REQUEST => ClientFrame::Request {
                id: f.u(),
                cluster: f.str(),
                request: f.bin(),
                timeout_ms: f.u(),
            },
            op::REPLY => {
                let id = f.u();
                let result = if f.b() { Ok(f.bin()) } else { Err(f.str()) };
                ClientFrame::Reply { id, result }
            }
            op::SUBSCRIBE => ClientFrame::Subscribe { topic: f.str() },
            op::UNSUBSCRIBE => ClientFrame::Unsubscribe { topic: f.str() },
            op::PUBLISH => ClientFrame::Publish {
                topic: f.str(),
                event: f.bin(),
            },
            op::TUN_INIT => ClientFrame::TunInit {
                tunnel_id: f.u(),
                cluster: f.str(),
                timeout_ms: f.u(),
            },
            op::TUN_CONFIRM => ClientFrame::TunConfirm {
                build_id: f.u(),
                tunnel_id: f.u(),
            },
            op::TUN_ALLOW => ClientFrame::TunAllow {
                tunnel_id: f.u(),
                space: f.u(),
            },
            op::TUN_TRANSFER => ClientFrame::TunTransfer {
                tunnel_id: f.u(),
                size_or_cont: f.u(),
                payload: f.bin(),
            },
            op::TUN_CLOSE => ClientFrame::TunClose { tunnel_id: f.u() },
            _ => unreachable!("opcode checked by the parser"),
        },
    )
}

/// Decodes one node-to-client frame from the front of `buf`; same contract as
/// [`decode_client_frame`].
pub fn decode_node_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<NodeFrame>, DecodeError> {
    use Field::*;
    let opcode = match buf.first() {
        Some(&b) => b,
        None => return Ok(None),
    };
    decode_with(
        buf,
        limits,
        |r| {
            Ok(match opcode {
                op::INIT => fields![Str(r.string("magic")?), Str(r.string("version")?)],
                op::DENY => fields![Str(r.string("magic")?), Str(r.string("reason")?)],
                op::CLOSE => fields![Str(r.string("reason")?)],
                op::BROADCAST => fields![Bin(r.message("message")?)],
                op::REQUEST => fields![U(r.varint()?), Bin(r.message("request")?), U(r.varint()?)],
                op::REPLY => {
                    let id = r.varint()?;
                    if r.bool()? {
                        fields![U(id), B(true)]
                    } else if r.bool()? {
                        fields![U(id), B(false), B(true), Bin(r.message("reply")?)]
                    } else {
                        fields![U(id), B(false), B(false), Str(r.string("fault")?)]
                    }
                }
                op::PUBLISH => fields![Str(r.string("topic")?), Bin(r.message("event")?)],
                op::TUN_INIT | op::TUN_ALLOW => fields![U(r.varint()?), U(r.varint()?)],
                op::TUN_CONFIRM => {
                    let id = r.varint()?;
                    if r.bool()? {
                        fields![U(id), B(true)]
                    } else {
                        fields![U(id), B(false), U(r.varint()?)]
                    }
                }
                op::TUN_TRANSFER => transfer(r)?,
                op::TUN_CLOSE => fields![U(r.varint()?), Str(r.string("reason")?)],
                other => return Err(DecodeError::UnknownOpcode(other).into()),
            })
        },
        |opcode, mut f| match opcode {
            op::INIT => NodeFrame::Init {
                magic: f.str(),
                version: f.str(),
            },
            op::DENY => NodeFrame::Deny {
                magic: f.str(),
                reason: f.str(),
            },
            op::CLOSE => NodeFrame::Close { reason: f.str() },
            op::BROADCAST => NodeFrame::Broadcast { message: f.bin() },
            op::REQUEST => NodeFrame::Request {
                id: f.u(),
                request: f.bin(),
                timeout_ms: f.u(),
            },
            op::REPLY => {
                let id = f.u();
                let outcome = if f.b() {
                    ReplyOutcome::TimedOut
                } else if f.b() {
                    ReplyOutcome::Reply(f.bin())
                } else {
                    ReplyOutcome::Fault(f.str())
                };
                NodeFrame::Reply { id, outcome }
            }
            op::PUBLISH => NodeFrame::Publish {
                topic: f.str(),
                event: f.bin(),
            },
            op::TUN_INIT => NodeFrame::TunInit {
                build_id: f.u(),
                chunk_limit: f.u(),
            },
            op::TUN_CONFIRM => {
                let tunnel_id = f.u();
                let chunk_limit = if f.b() { None } else { Some(f.u()) };
                NodeFrame::TunConfirm { tunnel_id, chunk_limit }
            }
            op::TUN_ALLOW => NodeFrame::TunAllow {
                tunnel_id: f.u(),
                space: f.u(),
            },
            op::TUN_TRANSFER => NodeFrame::TunTransfer {
                tunnel_id: f.u(),
                size_or_cont: f.u(),
                payload: f.bin(),
            },
            op::TUN_CLOSE => NodeFrame::TunClose {
                tunnel_id: f.u(),
                reason: f.str(),
            },
            _ => unreachable!("opcode checked by the parser"),
        },
    )
}

/// TUN_TRANSFER is identical in both directions: id, declared message size (capped by the maximum
/// message size) and a payload capped by the chunk limit.
fn transfer(r: &mut Reader<'_>) -> Parse<FieldList> {
    let id = r.varint()?;
    let size = r.varint()?;
    if size > r.limits.max_message as u64 {
        return Err(DecodeError::TooLarge {
            field: "tunnel message size",
            declared: size,
            limit: r.limits.max_message,
        }
        .into());
    }
    let chunk_limit = r.limits.chunk_limit;
    Ok(fields![
        Field::U(id),
        Field::U(size),
        Field::Bin(r.binary("tunnel chunk", chunk_limit)?)
    ])
}
