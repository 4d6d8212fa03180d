//! Codec tests: the shared wire vectors, partial input, caps, and round trips.

use super::*;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

const VECTORS: &str = include_str!("../../../spec/relay-v1-vectors.tsv");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    VECTORS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, h) = l.split_once('\t').expect("name<TAB>hex");
            (name, hex(h.trim()))
        })
        .collect()
}

fn s(v: &str) -> ByteStr {
    ByteStr::from(v)
}
fn b(v: &str) -> Bytes {
    Bytes::copy_from_slice(v.as_bytes())
}

/// What each named vector must decode to; `None` marks a direction the vector does not use.
fn expected(name: &str) -> (Option<ClientFrame>, Option<NodeFrame>) {
    use ClientFrame as C;
    use NodeFrame as N;
    let init_client = |cluster: &str| C::Init {
        magic: s(CLIENT_MAGIC),
        version: s(PROTOCOL_VERSION),
        cluster: s(cluster),
    };
    match name {
        "in INIT client" => (Some(init_client("")), None),
        "in INIT service echo" => (Some(init_client("echo")), None),
        "out INIT" => (
            None,
            Some(N::Init {
                magic: s(RELAY_MAGIC),
                version: s(PROTOCOL_VERSION),
            }),
        ),
        "out DENY" => (
            None,
            Some(N::Deny {
                magic: s(RELAY_MAGIC),
                reason: s("unsupported protocol version"),
            }),
        ),
        "in CLOSE" => (Some(C::Close), None),
        "out CLOSE graceful" => (None, Some(N::Close { reason: s("") })),
        "in BROADCAST echo 'hi'" => (
            Some(C::Broadcast {
                cluster: s("echo"),
                message: b("hi"),
            }),
            None,
        ),
        "out BROADCAST 'hi'" => (None, Some(N::Broadcast { message: b("hi") })),
        "in REQUEST id=1 echo 'ping' 1000ms" => (
            Some(C::Request {
                id: 1,
                cluster: s("echo"),
                request: b("ping"),
                timeout_ms: 1000,
            }),
            None,
        ),
        "out REQUEST id=300 'ping' 250ms" => (
            None,
            Some(N::Request {
                id: 300,
                request: b("ping"),
                timeout_ms: 250,
            }),
        ),
        "in REPLY id=300 ok 'pong'" => (
            Some(C::Reply {
                id: 300,
                result: Ok(b("pong")),
            }),
            None,
        ),
        "in REPLY id=300 fault 'boom'" => (
            Some(C::Reply {
                id: 300,
                result: Err(s("boom")),
            }),
            None,
        ),
        "out REPLY id=1 timed out" => (
            None,
            Some(N::Reply {
                id: 1,
                outcome: ReplyOutcome::TimedOut,
            }),
        ),
        "out REPLY id=1 ok 'pong'" => (
            None,
            Some(N::Reply {
                id: 1,
                outcome: ReplyOutcome::Reply(b("pong")),
            }),
        ),
        "out REPLY id=1 fault 'boom'" => (
            None,
            Some(N::Reply {
                id: 1,
                outcome: ReplyOutcome::Fault(s("boom")),
            }),
        ),
        "in SUBSCRIBE news" => (Some(C::Subscribe { topic: s("news") }), None),
        "in UNSUBSCRIBE news" => (Some(C::Unsubscribe { topic: s("news") }), None),
        "in/out PUBLISH news 'e1'" => (
            Some(C::Publish {
                topic: s("news"),
                event: b("e1"),
            }),
            Some(N::Publish {
                topic: s("news"),
                event: b("e1"),
            }),
        ),
        "in TUN_INIT id=7 echo 1000ms" => (
            Some(C::TunInit {
                tunnel_id: 7,
                cluster: s("echo"),
                timeout_ms: 1000,
            }),
            None,
        ),
        "out TUN_INIT build=0 chunk=65536" => (
            None,
            Some(N::TunInit {
                build_id: 0,
                chunk_limit: 65536,
            }),
        ),
        "in TUN_CONFIRM build=0 id=3" => (
            Some(C::TunConfirm {
                build_id: 0,
                tunnel_id: 3,
            }),
            None,
        ),
        "out TUN_CONFIRM id=7 ok chunk=65536" => (
            None,
            Some(N::TunConfirm {
                tunnel_id: 7,
                chunk_limit: Some(65536),
            }),
        ),
        "out TUN_CONFIRM id=7 timed out" => (
            None,
            Some(N::TunConfirm {
                tunnel_id: 7,
                chunk_limit: None,
            }),
        ),
        "in/out TUN_ALLOW id=7 space=4MiB" => (
            Some(C::TunAllow {
                tunnel_id: 7,
                space: 4 << 20,
            }),
            Some(N::TunAllow {
                tunnel_id: 7,
                space: 4 << 20,
            }),
        ),
        "in/out TUN_TRANSFER id=7 first chunk size=5 'hello'" => (
            Some(C::TunTransfer {
                tunnel_id: 7,
                size_or_cont: 5,
                payload: b("hello"),
            }),
            Some(N::TunTransfer {
                tunnel_id: 7,
                size_or_cont: 5,
                payload: b("hello"),
            }),
        ),
        "in/out TUN_TRANSFER id=7 continuation 'lo'" => (
            Some(C::TunTransfer {
                tunnel_id: 7,
                size_or_cont: 0,
                payload: b("lo"),
            }),
            Some(N::TunTransfer {
                tunnel_id: 7,
                size_or_cont: 0,
                payload: b("lo"),
            }),
        ),
        "in TUN_CLOSE id=7" => (Some(C::TunClose { tunnel_id: 7 }), None),
        "out TUN_CLOSE id=7 graceful" => (
            None,
            Some(N::TunClose {
                tunnel_id: 7,
                reason: s(""),
            }),
        ),
        other => panic!("vector {other:?} has no expectation in this test; add one"),
    }
}

fn varint_value(name: &str) -> u64 {
    match name.trim_start_matches("varint ") {
        "2^32" => 1 << 32,
        "2^64-1" => u64::MAX,
        n => n.parse().unwrap(),
    }
}

#[test]
fn every_shared_vector_decodes_and_encodes_exactly() {
    let limits = Limits::default();
    let mut checked = 0;
    for (name, wire) in vectors() {
        if name.starts_with("varint ") {
            let mut out = BytesMut::new();
            put_varint(&mut out, varint_value(name));
            assert_eq!(&out[..], &wire[..], "{name}: encoding");
            // A varint decodes as the id of a TUN_CLOSE frame, the simplest frame that holds one.
            let mut buf = BytesMut::from(&[op::TUN_CLOSE][..]);
            buf.extend_from_slice(&wire);
            let frame = decode_client_frame(&mut buf, &limits).unwrap().unwrap();
            assert_eq!(
                frame,
                ClientFrame::TunClose {
                    tunnel_id: varint_value(name)
                },
                "{name}"
            );
            checked += 1;
            continue;
        }
        if name.starts_with("bad: ") {
            let mut in_buf = BytesMut::from(&wire[..]);
            let mut out_buf = BytesMut::from(&wire[..]);
            assert!(
                decode_client_frame(&mut in_buf, &limits).is_err(),
                "{name}: client-side decode must reject"
            );
            if wire[0] == 0x7f {
                assert!(
                    decode_node_frame(&mut out_buf, &limits).is_err(),
                    "{name}: node-side decode must reject"
                );
            }
            checked += 1;
            continue;
        }
        let (client, node) = expected(name);
        if let Some(frame) = client {
            let mut buf = BytesMut::from(&wire[..]);
            assert_eq!(
                decode_client_frame(&mut buf, &limits).unwrap().as_ref(),
                Some(&frame),
                "{name}: decode"
            );
            assert!(buf.is_empty(), "{name}: decode consumed the whole frame");
            let mut out = BytesMut::new();
            frame.encode(&mut out);
            assert_eq!(&out[..], &wire[..], "{name}: encode");
        }
        if let Some(frame) = node {
            let mut buf = BytesMut::from(&wire[..]);
            assert_eq!(
                decode_node_frame(&mut buf, &limits).unwrap().as_ref(),
                Some(&frame),
                "{name}: decode"
            );
            assert!(buf.is_empty(), "{name}: decode consumed the whole frame");
            let mut out = BytesMut::new();
            frame.encode(&mut out);
            assert_eq!(&out[..], &wire[..], "{name}: encode");
        }
        checked += 1;
    }
    assert_eq!(checked, vectors().len());
    assert!(checked >= 39, "the vector file shrank: {checked}");
}

#[test]
fn bad_vectors_give_the_specific_error() {
    let limits = Limits::default();
    let err = |h: &str| decode_client_frame(&mut BytesMut::from(&hex(h)[..]), &limits).unwrap_err();
    assert_eq!(err("7f"), DecodeError::UnknownOpcode(0x7f));
    assert_eq!(err("050102"), DecodeError::InvalidBool(2));
    assert!(matches!(
        err("03046563686f808080808020"),
        DecodeError::TooLarge { field: "message", .. }
    ));
    assert_eq!(err("04ffffffffffffffffffffff01"), DecodeError::VarintOverflow);
    // A tenth octet above 1 overflows u64 as well.
    assert_eq!(err("0dffffffffffffffffff02"), DecodeError::VarintOverflow);
    // DENY never travels client to node.
    assert_eq!(err("0100"), DecodeError::UnknownOpcode(0x01));
    // Invalid UTF-8 in a name.
    assert!(matches!(err("0601ff"), DecodeError::InvalidUtf8 { field: "topic" }));
}

#[test]
fn tunnel_chunks_are_capped_by_the_chunk_limit() {
    let limits = Limits {
        max_message: 1 << 20,
        chunk_limit: 4,
    };
    let mut ok = BytesMut::from(&hex("0c0705046865")[..]);
    assert!(
        decode_client_frame(&mut ok, &limits).unwrap().is_none(),
        "4-octet chunk is fine, just incomplete"
    );
    let mut big = BytesMut::from(&hex("0c07050568656c6c6f")[..]);
    assert!(matches!(
        decode_client_frame(&mut big, &limits),
        Err(DecodeError::TooLarge {
            field: "tunnel chunk",
            ..
        })
    ));
    let mut huge_total = BytesMut::from(&hex("0c078080800101")[..]);
    assert!(matches!(
        decode_node_frame(&mut huge_total, &limits),
        Err(DecodeError::TooLarge {
            field: "tunnel message size",
            ..
        })
    ));
}

#[test]
fn every_prefix_of_a_frame_is_incomplete_not_an_error() {
    let limits = Limits::default();
    for (name, wire) in vectors() {
        if name.starts_with("bad: ") || name.starts_with("varint ") {
            continue;
        }
        for cut in 0..wire.len() {
            let mut c = BytesMut::from(&wire[..cut]);
            let mut n = BytesMut::from(&wire[..cut]);
            if name.starts_with("in") {
                assert_eq!(decode_client_frame(&mut c, &limits), Ok(None), "{name} cut at {cut}");
                assert_eq!(c.len(), cut, "incomplete input is not consumed");
            }
            if name.starts_with("out") || name.starts_with("in/out") {
                assert_eq!(decode_node_frame(&mut n, &limits), Ok(None), "{name} cut at {cut}");
            }
        }
    }
}

#[test]
fn back_to_back_frames_decode_one_at_a_time() {
    let limits = Limits::default();
    let mut buf = BytesMut::from(&hex("0200030268690d07")[..]);
    assert_eq!(
        decode_node_frame(&mut buf, &limits).unwrap(),
        Some(NodeFrame::Close { reason: s("") })
    );
    assert_eq!(
        decode_node_frame(&mut buf, &limits).unwrap(),
        Some(NodeFrame::Broadcast { message: b("hi") })
    );
    // The trailing TUN_CLOSE lacks its reason: incomplete.
    assert_eq!(decode_node_frame(&mut buf, &limits).unwrap(), None);
    assert_eq!(buf.len(), 2);
}

fn arb_str() -> impl Strategy<Value = ByteStr> {
    ".{0,12}".prop_map(ByteStr::from)
}
fn arb_bin() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn arb_client() -> impl Strategy<Value = ClientFrame> {
    use ClientFrame as C;
    prop_oneof![
        (arb_str(), arb_str(), arb_str()).prop_map(|(magic, version, cluster)| C::Init {
            magic,
            version,
            cluster
        }),
        Just(C::Close),
        (arb_str(), arb_bin()).prop_map(|(cluster, message)| C::Broadcast { cluster, message }),
        (any::<u64>(), arb_str(), arb_bin(), any::<u64>()).prop_map(|(id, cluster, request, timeout_ms)| C::Request {
            id,
            cluster,
            request,
            timeout_ms
        }),
        (any::<u64>(), arb_bin()).prop_map(|(id, r)| C::Reply { id, result: Ok(r) }),
        (any::<u64>(), arb_str()).prop_map(|(id, f)| C::Reply { id, result: Err(f) }),
        arb_str().prop_map(|topic| C::Subscribe { topic }),
        arb_str().prop_map(|topic| C::Unsubscribe { topic }),
        (arb_str(), arb_bin()).prop_map(|(topic, event)| C::Publish { topic, event }),
        (any::<u64>(), arb_str(), any::<u64>()).prop_map(|(tunnel_id, cluster, timeout_ms)| C::TunInit {
            tunnel_id,
            cluster,
            timeout_ms
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(build_id, tunnel_id)| C::TunConfirm { build_id, tunnel_id }),
        (any::<u64>(), any::<u64>()).prop_map(|(tunnel_id, space)| C::TunAllow { tunnel_id, space }),
        (any::<u64>(), 0..DEFAULT_MAX_MESSAGE as u64, arb_bin()).prop_map(|(tunnel_id, size_or_cont, payload)| {
            C::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            }
        }),
        any::<u64>().prop_map(|tunnel_id| C::TunClose { tunnel_id }),
    ]
}

fn arb_node() -> impl Strategy<Value = NodeFrame> {
    use NodeFrame as N;
    prop_oneof![
        (arb_str(), arb_str()).prop_map(|(magic, version)| N::Init { magic, version }),
        (arb_str(), arb_str()).prop_map(|(magic, reason)| N::Deny { magic, reason }),
        arb_str().prop_map(|reason| N::Close { reason }),
        arb_bin().prop_map(|message| N::Broadcast { message }),
        (any::<u64>(), arb_bin(), any::<u64>()).prop_map(|(id, request, timeout_ms)| N::Request {
            id,
            request,
            timeout_ms
        }),
        any::<u64>().prop_map(|id| N::Reply {
            id,
            outcome: ReplyOutcome::TimedOut
        }),
        (any::<u64>(), arb_bin()).prop_map(|(id, r)| N::Reply {
            id,
            outcome: ReplyOutcome::Reply(r)
        }),
        (any::<u64>(), arb_str()).prop_map(|(id, f)| N::Reply {
            id,
            outcome: ReplyOutcome::Fault(f)
        }),
        (arb_str(), arb_bin()).prop_map(|(topic, event)| N::Publish { topic, event }),
        (any::<u64>(), any::<u64>()).prop_map(|(build_id, chunk_limit)| N::TunInit { build_id, chunk_limit }),
        (any::<u64>(), any::<Option<u64>>())
            .prop_map(|(tunnel_id, chunk_limit)| N::TunConfirm { tunnel_id, chunk_limit }),
        (any::<u64>(), any::<u64>()).prop_map(|(tunnel_id, space)| N::TunAllow { tunnel_id, space }),
        (any::<u64>(), 0..DEFAULT_MAX_MESSAGE as u64, arb_bin()).prop_map(|(tunnel_id, size_or_cont, payload)| {
            N::TunTransfer {
                tunnel_id,
                size_or_cont,
                payload,
            }
        }),
        (any::<u64>(), arb_str()).prop_map(|(tunnel_id, reason)| N::TunClose { tunnel_id, reason }),
    ]
}

proptest! {
    #[test]
    fn client_frames_round_trip(frames in prop::collection::vec(arb_client(), 1..8), split in 0usize..4096) {
        let mut wire = BytesMut::new();
        for f in &frames { f.encode(&mut wire); }
        // Feed the stream in two pieces at an arbitrary point: the decoder must not care.
        let split = split.min(wire.len());
        let mut buf = BytesMut::from(&wire[..split]);
        let mut got = Vec::new();
        while let Some(f) = decode_client_frame(&mut buf, &Limits::default()).unwrap() { got.push(f); }
        buf.extend_from_slice(&wire[split..]);
        while let Some(f) = decode_client_frame(&mut buf, &Limits::default()).unwrap() { got.push(f); }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn node_frames_round_trip(frames in prop::collection::vec(arb_node(), 1..8)) {
        let mut wire = BytesMut::new();
        for f in &frames { f.encode(&mut wire); }
        let mut got = Vec::new();
        while let Some(f) = decode_node_frame(&mut wire, &Limits::default()).unwrap() { got.push(f); }
        prop_assert!(wire.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
        let limits = Limits { max_message: 1024, chunk_limit: 64 };
        let mut a = BytesMut::from(&data[..]);
        let mut b = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = decode_client_frame(&mut a, &limits) {}
        while let Ok(Some(_)) = decode_node_frame(&mut b, &limits) {}
    }
}

/// `encode_split` writes exactly `encode`'s octets, with bulk tunnel payloads (and only those)
/// left out of the buffer and returned instead.
#[test]
fn encode_split_is_encode_with_the_bulk_payload_left_out() {
    use crate::codec::SPLIT_PAYLOAD;
    for size in [0, 1, SPLIT_PAYLOAD - 1, SPLIT_PAYLOAD, SPLIT_PAYLOAD + 1, 100_000] {
        let p = Bytes::from((0..size).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
        let client = [
            ClientFrame::TunTransfer {
                tunnel_id: 300,
                size_or_cont: 1 << 20,
                payload: p.clone(),
            },
            ClientFrame::Broadcast {
                cluster: "c".into(),
                message: p.clone(),
            },
            ClientFrame::Publish {
                topic: "t".into(),
                event: p.clone(),
            },
            ClientFrame::Reply {
                id: 9,
                result: Ok(p.clone()),
            },
            ClientFrame::Request {
                id: 9,
                cluster: "c".into(),
                request: p.clone(),
                timeout_ms: 5,
            },
        ];
        let node = [
            NodeFrame::TunTransfer {
                tunnel_id: 300,
                size_or_cont: 0,
                payload: p.clone(),
            },
            NodeFrame::Broadcast { message: p.clone() },
            NodeFrame::Publish {
                topic: "t".into(),
                event: p.clone(),
            },
            NodeFrame::Reply {
                id: 9,
                outcome: ReplyOutcome::Reply(p.clone()),
            },
            NodeFrame::Request {
                id: 9,
                request: p.clone(),
                timeout_ms: 5,
            },
        ];
        let check = |whole: BytesMut, mut head: BytesMut, rest: Option<Bytes>, splittable: bool| {
            assert_eq!(rest.is_some(), splittable && size >= SPLIT_PAYLOAD, "size {size}");
            if let Some(rest) = rest {
                assert_eq!(rest, p, "the payload itself is returned");
                head.extend_from_slice(&rest);
            }
            assert_eq!(head, whole, "size {size}");
        };
        for (i, f) in client.iter().enumerate() {
            let (mut whole, mut head) = (BytesMut::new(), BytesMut::new());
            f.encode(&mut whole);
            let rest = f.encode_split(&mut head);
            check(whole, head, rest, i == 0); // only tunnel data is split
        }
        for (i, f) in node.iter().enumerate() {
            let (mut whole, mut head) = (BytesMut::new(), BytesMut::new());
            f.encode(&mut whole);
            let rest = f.encode_split(&mut head);
            check(whole, head, rest, i == 0);
        }
    }
}
