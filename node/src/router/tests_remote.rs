//! Router tests with other nodes in the tables: weighted choice, traffic to and from another node
//! (one hop, local delivery only), cleanup when a link is lost. No sockets.

use super::*;
use crate::overlay::remote::{LinkId, RemotePeer};
use crate::overlay::wire::{ClusterLoad, Wire, WireLimits};
use crate::overlay::NodeId;
use crate::relay::outbox::Outbox;
use bytes::{Bytes, BytesMut};
use iris_client::codec::{decode_node_frame, Limits, NodeFrame, ReplyOutcome};

fn peer(id: u64, cluster: Option<&str>) -> Arc<LocalPeer> {
    LocalPeer::new(ConnId(id), cluster.map(ByteStr::from), Outbox::new(usize::MAX))
}

fn frames(peer: &LocalPeer) -> Vec<NodeFrame> {
    let mut buf: BytesMut = peer.outbox.take_queued();
    let mut out = Vec::new();
    while let Some(frame) = decode_node_frame(&mut buf, &Limits::default()).expect("valid frames") {
        out.push(frame);
    }
    out
}

fn remote(id: u64) -> Arc<RemotePeer> {
    Arc::new(RemotePeer::new(LinkId(id), NodeId(u128::from(id))))
}

/// Every message queued for the other node so far.
fn sent(remote: &RemotePeer) -> Vec<Wire> {
    let mut buf = remote.take_queued();
    let mut out = Vec::new();
    while let Some(msg) = Wire::decode(&mut buf, &WireLimits { max_body: 1 << 20 }).expect("valid") {
        out.push(msg);
    }
    out
}

fn svc() -> ByteStr {
    ByteStr::from("svc")
}

fn announce(router: &Router, remote: &Arc<RemotePeer>, members: u32, spare: u32) {
    router.remote_message(
        remote,
        Wire::Cluster {
            name: svc(),
            load: ClusterLoad { members, spare },
        },
    );
}

fn remote_picks(router: &Router, n: usize, local_only: bool) -> usize {
    (0..n)
        .filter(|_| matches!(router.pick_member(&svc(), local_only), Some(Destination::Remote(_))))
        .count()
}

#[tokio::test]
async fn requests_are_weighted_by_reported_spare_capacity() {
    let router = Router::new();
    let local = peer(1, Some("svc"));
    router.attach(&local);
    let other = remote(1);
    announce(&router, &other, 1, 16);
    assert_eq!(router.member_count("svc"), 2);
    let even = remote_picks(&router, 2000, false);
    assert!(
        (700..1300).contains(&even),
        "an idle member on each node: {even} of 2000 went remote"
    );
    announce(&router, &other, 1, 1);
    let busy = remote_picks(&router, 2000, false);
    assert!(busy < 300, "a busy node receives less: {busy} of 2000");
    assert_eq!(
        remote_picks(&router, 200, true),
        0,
        "work from another node stays local"
    );
    announce(&router, &other, 0, 0);
    assert_eq!(router.member_count("svc"), 1);
    assert_eq!(remote_picks(&router, 200, false), 0);
}

#[tokio::test]
async fn a_request_crosses_one_link_and_its_reply_comes_back() {
    let router = Router::new();
    let _timer = router.start_timer();
    let other = remote(1);
    announce(&router, &other, 1, 16);
    let caller = peer(2, None);
    router.request(
        &Destination::Local(caller.clone()),
        9,
        &svc(),
        Bytes::from_static(b"x"),
        60_000,
    );
    let id = sent(&other)
        .into_iter()
        .find_map(|m| match m {
            Wire::Request {
                id,
                cluster,
                request,
                timeout_ms,
            } => {
                assert_eq!((cluster, &request[..], timeout_ms), (svc(), &b"x"[..], 60_000));
                Some(id)
            }
            _ => None,
        })
        .expect("REQUEST sent to the other node");
    router.remote_message(
        &other,
        Wire::Reply {
            id,
            outcome: ReplyOutcome::Reply(Bytes::from_static(b"y")),
        },
    );
    assert!(frames(&caller).contains(&NodeFrame::Reply {
        id: 9,
        outcome: ReplyOutcome::Reply(Bytes::from_static(b"y"))
    }));

    // The other node's requests and broadcasts go to local members only, never back out.
    let member = peer(3, Some("svc"));
    router.attach(&member);
    router.remote_message(
        &other,
        Wire::Request {
            id: 4,
            cluster: svc(),
            request: Bytes::from_static(b"z"),
            timeout_ms: 60_000,
        },
    );
    let node_id = frames(&member)
        .into_iter()
        .find_map(|f| match f {
            NodeFrame::Request { id, .. } => Some(id),
            _ => None,
        })
        .expect("delivered to the local member");
    router.reply(&member, node_id, Ok(Bytes::from_static(b"w")));
    assert!(sent(&other).contains(&Wire::Reply {
        id: 4,
        outcome: ReplyOutcome::Reply(Bytes::from_static(b"w"))
    }));
    router.remote_message(
        &other,
        Wire::Broadcast {
            cluster: svc(),
            message: Bytes::from_static(b"b"),
        },
    );
    assert_eq!(
        frames(&member),
        vec![NodeFrame::Broadcast {
            message: Bytes::from_static(b"b")
        }]
    );
    assert!(
        sent(&other).is_empty(),
        "a broadcast from another node is not sent back"
    );
    router.broadcast(&svc(), Bytes::from_static(b"c"));
    assert_eq!(
        frames(&member),
        vec![NodeFrame::Broadcast {
            message: Bytes::from_static(b"c")
        }]
    );
    assert_eq!(
        sent(&other),
        vec![Wire::Broadcast {
            cluster: svc(),
            message: Bytes::from_static(b"c")
        }]
    );
}

#[tokio::test]
async fn losing_a_link_answers_callers_and_forgets_the_node() {
    let router = Router::new();
    let _timer = router.start_timer();
    let other = remote(1);
    announce(&router, &other, 2, 32);
    router.remote_message(
        &other,
        Wire::Topic {
            name: "news".into(),
            subscribed: true,
        },
    );
    let caller = peer(2, None);
    router.request(
        &Destination::Local(caller.clone()),
        5,
        &svc(),
        Bytes::from_static(b"x"),
        60_000,
    );
    router.publish("news".into(), Bytes::from_static(b"e"));
    let out = sent(&other);
    assert!(
        out.contains(&Wire::Publish {
            topic: "news".into(),
            event: Bytes::from_static(b"e")
        }),
        "{out:?}"
    );
    router.detach_remote(&other);
    assert!(frames(&caller).contains(&NodeFrame::Reply {
        id: 5,
        outcome: ReplyOutcome::TimedOut
    }));
    assert_eq!(router.member_count("svc"), 0);
    assert!(router.local_topics().is_empty());
    assert!(other.is_closed());
}

#[tokio::test]
async fn a_tunnel_built_by_another_node_maps_ids_and_credit_per_hop() {
    let router = Router::new();
    let _timer = router.start_timer();
    let other = remote(1);
    // Nobody here: the construction fails at once.
    router.remote_message(
        &other,
        Wire::TunInit {
            build: 40,
            cluster: svc(),
            timeout_ms: 60_000,
        },
    );
    assert_eq!(sent(&other), vec![Wire::TunFailed { build: 40 }]);

    let member = peer(3, Some("svc"));
    router.attach(&member);
    router.remote_message(
        &other,
        Wire::TunInit {
            build: 41,
            cluster: svc(),
            timeout_ms: 60_000,
        },
    );
    let build_id = match frames(&member).as_slice() {
        [NodeFrame::TunInit { build_id, .. }] => *build_id,
        other => panic!("{other:?}"),
    };
    router.tunnel_confirm(&member, build_id, 7).expect("confirm");
    let key = match sent(&other).as_slice() {
        [Wire::TunConfirm { build: 41, tunnel }, Wire::TunAllow { tunnel: 41, space }] => {
            assert_eq!(*space, INITIAL_TUNNEL_ALLOWANCE);
            *tunnel
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        frames(&member),
        vec![NodeFrame::TunAllow {
            tunnel_id: 7,
            space: INITIAL_TUNNEL_ALLOWANCE
        }]
    );
    // Data from the other node waits for the member's credit, then is granted back hop by hop.
    router.remote_message(
        &other,
        Wire::TunTransfer {
            tunnel: key,
            size_or_cont: 3,
            payload: Bytes::from_static(b"abc"),
        },
    );
    assert!(frames(&member).is_empty(), "the member granted nothing yet");
    router.tunnel_allow(&member, 7, 100);
    assert_eq!(
        frames(&member),
        vec![NodeFrame::TunTransfer {
            tunnel_id: 7,
            size_or_cont: 3,
            payload: Bytes::from_static(b"abc")
        }]
    );
    assert_eq!(sent(&other), vec![Wire::TunAllow { tunnel: 41, space: 3 }]);
    // Data from the member waits for the other node's credit.
    router
        .tunnel_transfer(&member, 7, 2, Bytes::from_static(b"hi"))
        .expect("transfer");
    assert!(sent(&other).is_empty(), "the other node granted nothing yet");
    router.remote_message(
        &other,
        Wire::TunAllow {
            tunnel: key,
            space: INITIAL_TUNNEL_ALLOWANCE,
        },
    );
    assert_eq!(
        sent(&other),
        vec![Wire::TunTransfer {
            tunnel: 41,
            size_or_cont: 2,
            payload: Bytes::from_static(b"hi")
        }]
    );
    assert_eq!(frames(&member), vec![NodeFrame::TunAllow { tunnel_id: 7, space: 2 }]);
    // A close on either side reaches the other with the ids of the receiver.
    router.tunnel_close(&member, 7);
    assert_eq!(
        sent(&other),
        vec![Wire::TunClose {
            tunnel: 41,
            reason: "".into()
        }]
    );
}

#[tokio::test]
async fn a_tunnel_to_another_node_opens_on_its_confirmation() {
    let router = Router::new();
    let _timer = router.start_timer();
    let other = remote(1);
    announce(&router, &other, 1, 16);
    let caller = peer(2, None);
    router.tunnel_init(&caller, 5, &svc(), 60_000).expect("init");
    let build = match sent(&other).as_slice() {
        [Wire::TunInit {
            build,
            cluster,
            timeout_ms: 60_000,
        }] if *cluster == svc() => *build,
        other => panic!("{other:?}"),
    };
    router.remote_message(&other, Wire::TunConfirm { build, tunnel: 90 });
    assert_eq!(
        frames(&caller),
        vec![
            NodeFrame::TunConfirm {
                tunnel_id: 5,
                chunk_limit: Some(TUNNEL_CHUNK_LIMIT)
            },
            NodeFrame::TunAllow {
                tunnel_id: 5,
                space: INITIAL_TUNNEL_ALLOWANCE
            }
        ]
    );
    assert_eq!(
        sent(&other),
        vec![Wire::TunAllow {
            tunnel: 90,
            space: INITIAL_TUNNEL_ALLOWANCE
        }]
    );
    // No credit from the other node yet: even a continuation waits.
    router
        .tunnel_transfer(&caller, 5, 0, Bytes::from_static(b"c"))
        .expect("transfer");
    assert!(sent(&other).is_empty());
    router.remote_message(
        &other,
        Wire::TunAllow {
            tunnel: build,
            space: 10,
        },
    );
    assert_eq!(
        sent(&other),
        vec![Wire::TunTransfer {
            tunnel: 90,
            size_or_cont: 0,
            payload: Bytes::from_static(b"c")
        }]
    );
    assert_eq!(frames(&caller), vec![NodeFrame::TunAllow { tunnel_id: 5, space: 1 }]);
    // The other node closes: the caller hears it.
    router.remote_message(
        &other,
        Wire::TunClose {
            tunnel: build,
            reason: "".into(),
        },
    );
    assert_eq!(
        frames(&caller),
        vec![NodeFrame::TunClose {
            tunnel_id: 5,
            reason: "".into()
        }]
    );
    // A late confirmation for an abandoned construction is answered with a close.
    router.remote_message(&other, Wire::TunConfirm { build: 999, tunnel: 91 });
    assert!(matches!(sent(&other).as_slice(), [Wire::TunClose { tunnel: 91, .. }]));
}
