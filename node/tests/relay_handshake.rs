//! The relay v1 handshake: INIT, DENY, silent and garbage connections.

mod common;

use common::*;
use iris_client::codec::{ClientFrame, NodeFrame, CLIENT_MAGIC, PROTOCOL_VERSION, RELAY_MAGIC};
use std::time::{Duration, Instant};

#[test]
fn plain_clients_and_members_are_greeted_with_init() {
    let node = NodeProc::dev(&[]);
    let _plain = node.attach("");
    let _member = node.attach("svc");
    // Also over IPv6 loopback.
    if let Ok(stream) = std::net::TcpStream::connect(("::1", node.port)) {
        drop(stream);
    }
}

#[test]
fn a_version_mismatch_is_denied() {
    let node = NodeProc::dev(&[]);
    let mut client = Client::connect(node.port);
    client.send(&init(CLIENT_MAGIC, "v0.9-ancient", ""));
    match client.recv() {
        NodeFrame::Deny { magic, reason } => {
            assert_eq!(magic, RELAY_MAGIC);
            assert!(
                reason.contains("v0.9-ancient"),
                "reason should name the version: {reason}"
            );
        }
        other => panic!("expected DENY, got {other:?}"),
    }
    client.expect_eof();
}

#[test]
fn a_wrong_magic_closes_without_deny() {
    let node = NodeProc::dev(&[]);
    let mut client = Client::connect(node.port);
    client.send(&init("not-iris", PROTOCOL_VERSION, ""));
    client.expect_eof();
}

#[test]
fn a_wrong_first_opcode_closes_without_deny() {
    let node = NodeProc::dev(&[]);
    let mut client = Client::connect(node.port);
    client.send(&ClientFrame::Close);
    client.expect_eof();
}

#[test]
fn garbage_instead_of_a_handshake_closes_without_deny() {
    let node = NodeProc::dev(&[]);
    let mut client = Client::connect(node.port);
    client.send_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    client.expect_eof();
    // A huge declared magic length is refused before any of it is awaited.
    let mut client = Client::connect(node.port);
    client.send_raw(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    client.expect_eof();
}

#[test]
fn a_silent_socket_is_closed_at_the_handshake_deadline_and_others_are_unaffected() {
    let node = NodeProc::dev(&["--handshake-timeout", "0.5"]);
    let started = Instant::now();
    let mut silent = Client::connect(node.port);
    // A client that completes its handshake in time keeps working.
    let mut member = node.attach("svc");
    silent.expect_eof();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed before the deadline"
    );
    member.send(&ClientFrame::Broadcast {
        cluster: "svc".into(),
        message: bytes::Bytes::from_static(b"hi"),
    });
    match member.recv() {
        NodeFrame::Broadcast { message } => assert_eq!(&message[..], b"hi"),
        other => panic!("expected BROADCAST, got {other:?}"),
    }
    // A handshake split over several writes within the deadline succeeds.
    let mut slow = Client::connect(node.port);
    let mut bytes = bytes::BytesMut::new();
    init(CLIENT_MAGIC, PROTOCOL_VERSION, "").encode(&mut bytes);
    for b in bytes.iter() {
        slow.send_raw(&[*b]);
    }
    assert!(matches!(slow.recv(), NodeFrame::Init { .. }));
}
