//! Malformed input drops only the connection that sent it, with a CLOSE that says why.

mod common;

use bytes::Bytes;
use common::*;
use iris_client::codec::{ClientFrame, NodeFrame, ReplyOutcome, CLIENT_MAGIC, PROTOCOL_VERSION};

/// A connection attached to "svc" (its only member) still gets its own broadcast back.
fn assert_still_served(bystander: &mut Client) {
    bystander.send(&ClientFrame::Broadcast {
        cluster: "svc".into(),
        message: Bytes::from_static(b"alive"),
    });
    assert_eq!(
        bystander.recv(),
        NodeFrame::Broadcast {
            message: Bytes::from_static(b"alive")
        }
    );
}

/// Sends `bytes` on a fresh attached connection and expects a non-empty CLOSE and the end; then
/// checks that a bystander attached before keeps working.
fn dropped_for(node: &NodeProc, bytes: &[u8]) -> String {
    let mut bystander = node.attach("svc");
    let mut offender = node.attach("svc");
    offender.send_raw(bytes);
    let reason = offender.expect_close();
    assert!(!reason.is_empty(), "a drop carries a reason");
    assert_still_served(&mut bystander);
    bystander.send(&request(1, "svc", b"x", 200));
    // The offender left the cluster: the bystander gets its own request.
    let (id, _, _) = bystander.expect_request();
    bystander.send(&ClientFrame::Reply {
        id,
        result: Ok(Bytes::from_static(b"ok")),
    });
    assert_eq!(
        bystander.expect_reply(),
        (1, ReplyOutcome::Reply(Bytes::from_static(b"ok")))
    );
    reason
}

#[test]
fn an_unknown_opcode_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    let reason = dropped_for(&node, &[0x42, 1, 2, 3]);
    assert!(reason.contains("opcode"), "{reason}");
}

#[test]
fn deny_opcode_from_a_client_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    dropped_for(&node, &[0x01, 0, 0]);
}

#[test]
fn an_invalid_bool_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    // REPLY id=0, success=0x02.
    let reason = dropped_for(&node, &[0x05, 0x00, 0x02, 0x00]);
    assert!(reason.contains("bool"), "{reason}");
}

#[test]
fn a_one_tebibyte_declared_length_drops_the_connection_without_waiting_for_it() {
    let node = NodeProc::dev(&[]);
    // BROADCAST cluster "svc", message of declared length 2^40: 12 octets claiming 1 TiB.
    let mut frame = vec![0x03, 0x03, b's', b'v', b'c'];
    frame.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    let reason = dropped_for(&node, &frame);
    assert!(reason.contains("1099511627776"), "{reason}");
}

#[test]
fn an_overlong_varint_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    let mut frame = vec![0x0d];
    frame.extend_from_slice(&[0xff; 11]);
    dropped_for(&node, &frame);
}

#[test]
fn invalid_utf8_in_a_name_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    dropped_for(&node, &[0x06, 0x02, 0xc3, 0x28]);
}

#[test]
fn init_after_the_handshake_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    let mut bytes = bytes::BytesMut::new();
    init(CLIENT_MAGIC, PROTOCOL_VERSION, "svc").encode(&mut bytes);
    dropped_for(&node, &bytes);
}

#[test]
fn a_tunnel_chunk_above_the_chunk_limit_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    let mut bytes = bytes::BytesMut::new();
    ClientFrame::TunTransfer {
        tunnel_id: 0,
        size_or_cont: 70_000,
        payload: Bytes::from(vec![0u8; 65537]),
    }
    .encode(&mut bytes);
    dropped_for(&node, &bytes);
}

#[test]
fn a_message_above_max_message_drops_the_connection() {
    let node = NodeProc::dev(&["--max-message", "4096"]);
    let mut bytes = bytes::BytesMut::new();
    ClientFrame::Publish {
        topic: "t".into(),
        event: Bytes::from(vec![0u8; 5000]),
    }
    .encode(&mut bytes);
    dropped_for(&node, &bytes);
}

#[test]
fn reusing_a_live_tunnel_id_drops_the_connection() {
    let node = NodeProc::dev(&[]);
    let mut bytes = bytes::BytesMut::new();
    let init = ClientFrame::TunInit {
        tunnel_id: 4,
        cluster: "nobody".into(),
        timeout_ms: 60_000,
    };
    init.encode(&mut bytes);
    init.encode(&mut bytes);
    let reason = dropped_for(&node, &bytes);
    assert!(reason.contains("tunnel id 4"), "{reason}");
}

#[test]
fn a_dropped_caller_does_not_disturb_the_member_answering_it() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(1, "svc", b"x", 5000));
    let (id, _, _) = member.expect_request();
    caller.send_raw(&[0x42]);
    caller.expect_close();
    member.send(&ClientFrame::Reply {
        id,
        result: Ok(Bytes::from_static(b"nobody listens")),
    });
    member.send(&ClientFrame::Broadcast {
        cluster: "svc".into(),
        message: Bytes::from_static(b"still fine"),
    });
    assert_eq!(
        member.recv(),
        NodeFrame::Broadcast {
            message: Bytes::from_static(b"still fine")
        }
    );
}

/// The Unix socket is served by the same code as TCP: garbage on it drops that connection only,
/// with a CLOSE that says why, and a TCP bystander keeps working.
#[cfg(target_os = "linux")]
#[test]
fn garbage_on_the_unix_socket_drops_only_that_connection() {
    use bytes::BytesMut;
    use iris_client::codec::{decode_node_frame, Limits};
    use std::io::{Read, Write};
    use std::os::linux::net::SocketAddrExt;
    let node = NodeProc::dev(&[]);
    let mut bystander = node.attach("svc");
    let name = format!("iris-relay-{}", node.port);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
    let mut offender = std::os::unix::net::UnixStream::connect_addr(&addr).expect("the node serves its Unix socket");
    offender
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut out = BytesMut::new();
    ClientFrame::Init {
        magic: CLIENT_MAGIC.into(),
        version: PROTOCOL_VERSION.into(),
        cluster: "svc".into(),
    }
    .encode(&mut out);
    out.extend_from_slice(&[0x42, 1, 2, 3]); // an unknown opcode
    offender.write_all(&out).expect("write");
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    loop {
        while let Some(frame) = decode_node_frame(&mut buf, &Limits::default()).expect("valid frames") {
            frames.push(frame);
        }
        let mut chunk = [0u8; 4096];
        match offender.read(&mut chunk).expect("read") {
            0 => break,
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(matches!(frames.first(), Some(NodeFrame::Init { .. })), "{frames:?}");
    match frames.last() {
        Some(NodeFrame::Close { reason }) => assert!(reason.contains("opcode"), "{reason}"),
        other => panic!("expected CLOSE with a reason, got {other:?}"),
    }
    assert_still_served(&mut bystander);
}
