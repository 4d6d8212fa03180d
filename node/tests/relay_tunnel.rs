//! Tunnels through the node: construction, flow control, ordering, close, timeouts.

mod common;

use bytes::Bytes;
use common::*;
use iris_client::codec::{ClientFrame, NodeFrame};
use std::time::{Duration, Instant};

const CHUNK_LIMIT: u64 = 65536;
const INITIAL_ALLOWANCE: u64 = 4 * 1024 * 1024;

/// An open tunnel: the initiator's id and the member's id.
struct Opened {
    initiator: Client,
    member: Client,
    a: u64,
    b: u64,
}

fn tun_init(tunnel_id: u64, cluster: &str, timeout_ms: u64) -> ClientFrame {
    ClientFrame::TunInit {
        tunnel_id,
        cluster: cluster.into(),
        timeout_ms,
    }
}

fn transfer(tunnel_id: u64, size_or_cont: u64, payload: Vec<u8>) -> ClientFrame {
    ClientFrame::TunTransfer {
        tunnel_id,
        size_or_cont,
        payload: Bytes::from(payload),
    }
}

/// Builds a tunnel from a plain client to a member of "svc" and checks every construction frame.
fn open(node: &NodeProc) -> Opened {
    let mut member = node.attach("svc");
    let mut initiator = node.attach("");
    let (a, b) = (3, 9);
    initiator.send(&tun_init(a, "svc", 5000));
    let build_id = match member.recv() {
        NodeFrame::TunInit { build_id, chunk_limit } => {
            assert_eq!(chunk_limit, CHUNK_LIMIT);
            build_id
        }
        other => panic!("expected TUN_INIT, got {other:?}"),
    };
    member.send(&ClientFrame::TunConfirm { build_id, tunnel_id: b });
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunConfirm {
            tunnel_id: a,
            chunk_limit: Some(CHUNK_LIMIT)
        }
    );
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunAllow {
            tunnel_id: a,
            space: INITIAL_ALLOWANCE
        }
    );
    assert_eq!(
        member.recv(),
        NodeFrame::TunAllow {
            tunnel_id: b,
            space: INITIAL_ALLOWANCE
        }
    );
    Opened {
        initiator,
        member,
        a,
        b,
    }
}

#[test]
fn a_tunnel_is_built_with_the_members_confirmation() {
    let node = NodeProc::dev(&[]);
    let _ = open(&node);
}

#[test]
fn data_waits_for_the_receivers_allowance_and_continuations_are_forced_through() {
    let node = NodeProc::dev(&[]);
    let Opened {
        mut initiator,
        mut member,
        a,
        b,
    } = open(&node);
    // A 100 000-octet message in two chunks; the member has granted nothing yet.
    let first = vec![1u8; 65536];
    let rest = vec![2u8; 100_000 - 65536];
    initiator.send(&transfer(a, 100_000, first.clone()));
    initiator.send(&transfer(a, 0, rest.clone()));
    member.expect_quiet();
    initiator.expect_quiet();
    // Enough for the first chunk only: the continuation follows even though the credit runs out.
    member.send(&ClientFrame::TunAllow {
        tunnel_id: b,
        space: 65536,
    });
    assert_eq!(
        member.recv(),
        NodeFrame::TunTransfer {
            tunnel_id: b,
            size_or_cont: 100_000,
            payload: first.into()
        }
    );
    assert_eq!(
        member.recv(),
        NodeFrame::TunTransfer {
            tunnel_id: b,
            size_or_cont: 0,
            payload: rest.into()
        }
    );
    // Each chunk's size is granted back to the sender once it moved on.
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunAllow {
            tunnel_id: a,
            space: 65536
        }
    );
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunAllow {
            tunnel_id: a,
            space: (100_000 - 65536) as u64
        }
    );
    // The credit is now negative: a new message waits until the member grants enough again.
    initiator.send(&transfer(a, 10, vec![3u8; 10]));
    member.send(&ClientFrame::TunAllow {
        tunnel_id: b,
        space: 100_000 - 65536,
    });
    member.expect_quiet();
    member.send(&ClientFrame::TunAllow {
        tunnel_id: b,
        space: 10,
    });
    assert_eq!(
        member.recv(),
        NodeFrame::TunTransfer {
            tunnel_id: b,
            size_or_cont: 10,
            payload: vec![3u8; 10].into()
        }
    );
}

#[test]
fn messages_arrive_in_order_in_both_directions() {
    let node = NodeProc::dev(&[]);
    let Opened {
        mut initiator,
        mut member,
        a,
        b,
    } = open(&node);
    member.send(&ClientFrame::TunAllow {
        tunnel_id: b,
        space: 1 << 26,
    });
    initiator.send(&ClientFrame::TunAllow {
        tunnel_id: a,
        space: 1 << 26,
    });
    for i in 0..200u32 {
        let msg = i.to_be_bytes().to_vec();
        initiator.send(&transfer(a, 4, msg.clone()));
        member.send(&transfer(b, 4, msg));
    }
    for (client, id) in [(&mut member, b), (&mut initiator, a)] {
        let mut got = 0u32;
        while got < 200 {
            match client.recv() {
                NodeFrame::TunTransfer {
                    tunnel_id,
                    size_or_cont,
                    payload,
                } => {
                    assert_eq!((tunnel_id, size_or_cont), (id, 4));
                    assert_eq!(&payload[..], &got.to_be_bytes());
                    got += 1;
                }
                NodeFrame::TunAllow { tunnel_id, .. } => assert_eq!(tunnel_id, id),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn a_large_transfer_completes_under_flow_control() {
    let node = NodeProc::dev(&[]);
    let Opened {
        mut initiator,
        mut member,
        a,
        b,
    } = open(&node);
    // The receiver grants 256 KiB at a time, the sender respects its own allowance: 16 MiB flows.
    let total: u64 = 16 * 1024 * 1024;
    let mut allowance = INITIAL_ALLOWANCE;
    let mut sent = 0u64;
    let mut received = 0u64;
    member.send(&ClientFrame::TunAllow {
        tunnel_id: b,
        space: 256 * 1024,
    });
    let started = Instant::now();
    while received < total {
        assert!(started.elapsed() < Duration::from_secs(60), "stalled at {received}");
        while sent < total && allowance >= CHUNK_LIMIT {
            let size_or_cont = if sent & (1024 * 1024 - 1) == 0 { 1024 * 1024 } else { 0 };
            initiator.send(&transfer(a, size_or_cont, vec![0xab; CHUNK_LIMIT as usize]));
            sent += CHUNK_LIMIT;
            allowance -= CHUNK_LIMIT;
        }
        match member.next(Duration::from_millis(10)) {
            Event::Frame(NodeFrame::TunTransfer { payload, .. }) => {
                received += payload.len() as u64;
                if received & (256 * 1024 - 1) == 0 {
                    member.send(&ClientFrame::TunAllow {
                        tunnel_id: b,
                        space: 256 * 1024,
                    });
                }
            }
            Event::Frame(other) => panic!("unexpected {other:?}"),
            Event::Eof => panic!("member dropped"),
            Event::Quiet => {}
        }
        while let Event::Frame(frame) = initiator.next(Duration::from_millis(1)) {
            match frame {
                NodeFrame::TunAllow { tunnel_id, space } if tunnel_id == a => allowance += space,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(received, total);
}

#[test]
fn close_is_acknowledged_forwarded_and_idempotent() {
    let node = NodeProc::dev(&[]);
    let Opened {
        mut initiator,
        mut member,
        a,
        b,
    } = open(&node);
    initiator.send(&ClientFrame::TunClose { tunnel_id: a });
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunClose {
            tunnel_id: a,
            reason: "".into()
        }
    );
    assert_eq!(
        member.recv(),
        NodeFrame::TunClose {
            tunnel_id: b,
            reason: "".into()
        }
    );
    initiator.send(&ClientFrame::TunClose { tunnel_id: a });
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunClose {
            tunnel_id: a,
            reason: "".into()
        }
    );
    member.send(&ClientFrame::TunClose { tunnel_id: b });
    assert_eq!(
        member.recv(),
        NodeFrame::TunClose {
            tunnel_id: b,
            reason: "".into()
        }
    );
    initiator.expect_quiet();
    // Data on the closed tunnel is dropped silently, and the id can be used again.
    member.send(&transfer(b, 1, vec![1]));
    member.expect_quiet();
    initiator.send(&tun_init(a, "svc", 5000));
    assert!(matches!(member.recv(), NodeFrame::TunInit { .. }));
}

#[test]
fn data_sent_before_a_close_reaches_the_other_end_first() {
    let node = NodeProc::dev(&[]);
    let Opened {
        mut initiator,
        mut member,
        a,
        b,
    } = open(&node);
    // The member sends two messages and closes before the initiator granted anything: the node
    // holds the data for lack of credit, and the close must not throw it away.
    member.send(&transfer(b, 3, b"one".to_vec()));
    member.send(&transfer(b, 3, b"two".to_vec()));
    member.send(&ClientFrame::TunClose { tunnel_id: b });
    assert_eq!(
        member.recv(),
        NodeFrame::TunClose {
            tunnel_id: b,
            reason: "".into()
        }
    );
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunTransfer {
            tunnel_id: a,
            size_or_cont: 3,
            payload: Bytes::from_static(b"one")
        }
    );
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunTransfer {
            tunnel_id: a,
            size_or_cont: 3,
            payload: Bytes::from_static(b"two")
        }
    );
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunClose {
            tunnel_id: a,
            reason: "".into()
        }
    );
}

#[test]
fn a_tunnel_to_an_empty_cluster_times_out() {
    let node = NodeProc::dev(&[]);
    let mut initiator = node.attach("");
    let started = Instant::now();
    initiator.send(&tun_init(1, "nobody", 300));
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunConfirm {
            tunnel_id: 1,
            chunk_limit: None
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[test]
fn a_member_that_confirms_too_late_loses_only_that_tunnel() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut initiator = node.attach("");
    initiator.send(&tun_init(1, "svc", 300));
    let NodeFrame::TunInit { build_id, .. } = member.recv() else {
        panic!("expected TUN_INIT")
    };
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunConfirm {
            tunnel_id: 1,
            chunk_limit: None
        }
    );
    member.send(&ClientFrame::TunConfirm {
        build_id,
        tunnel_id: 77,
    });
    match member.recv() {
        NodeFrame::TunClose { tunnel_id, reason } => {
            assert_eq!(tunnel_id, 77);
            assert!(!reason.is_empty());
        }
        other => panic!("expected TUN_CLOSE, got {other:?}"),
    }
    // The member is still attached and serving.
    initiator.send(&request(5, "svc", b"still there?", 5000));
    let (id, _, _) = member.expect_request();
    member.send(&ClientFrame::Reply {
        id,
        result: Ok(Bytes::from_static(b"yes")),
    });
    assert_eq!(initiator.expect_reply().0, 5);
}

#[test]
fn a_departing_connection_closes_its_tunnels_with_a_reason() {
    let node = NodeProc::dev(&[]);
    let Opened {
        mut initiator,
        member,
        a,
        ..
    } = open(&node);
    drop(member);
    match initiator.recv() {
        NodeFrame::TunClose { tunnel_id, reason } => {
            assert_eq!(tunnel_id, a);
            assert!(!reason.is_empty());
        }
        other => panic!("expected TUN_CLOSE, got {other:?}"),
    }
}

#[test]
fn a_plain_client_never_receives_tunnel_constructions() {
    let node = NodeProc::dev(&[]);
    let mut plain = node.attach("");
    let mut initiator = node.attach("");
    initiator.send(&tun_init(1, "", 300));
    assert_eq!(
        initiator.recv(),
        NodeFrame::TunConfirm {
            tunnel_id: 1,
            chunk_limit: None
        }
    );
    plain.expect_quiet();
}
