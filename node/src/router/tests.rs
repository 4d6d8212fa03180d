//! In-process router tests: no sockets, frames read back from the peers' outboxes.

use super::*;
use crate::relay::outbox::{Outbox, HIGH_WATER};
use bytes::{Bytes, BytesMut};
use iris_client::codec::{decode_node_frame, Limits, NodeFrame};

fn peer(id: u64, cluster: Option<&str>) -> Arc<LocalPeer> {
    LocalPeer::new(ConnId(id), cluster.map(ByteStr::from), Outbox::new(usize::MAX))
}

/// Every frame queued for `peer` so far.
fn frames(peer: &LocalPeer) -> Vec<NodeFrame> {
    let mut buf: BytesMut = peer.outbox.take_queued();
    let mut out = Vec::new();
    while let Some(frame) = decode_node_frame(&mut buf, &Limits::default()).expect("valid frames") {
        out.push(frame);
    }
    out
}

fn svc() -> ByteStr {
    ByteStr::from("svc")
}

#[tokio::test]
async fn idle_members_take_turns() {
    let router = Router::new();
    let members: Vec<_> = (0..3).map(|i| peer(i, Some("svc"))).collect();
    members.iter().for_each(|m| router.attach(m));
    let mut picks = Vec::new();
    for _ in 0..6 {
        let clusters::Choice::Local(Destination::Local(p)) = router.choose(&svc(), &views::Arrival::Client) else {
            panic!("no member")
        };
        picks.push(p.id.0);
    }
    picks.sort();
    assert_eq!(picks, vec![0, 0, 1, 1, 2, 2]);
}

#[tokio::test]
async fn a_member_far_behind_is_avoided_and_requests_are_shed_when_all_are() {
    let router = Router::new();
    let _timer = router.start_timer();
    let slow = peer(1, Some("svc"));
    let fast = peer(2, Some("svc"));
    router.attach(&slow);
    router.attach(&fast);
    slow.outbox.push(&NodeFrame::Broadcast {
        message: Bytes::from(vec![0u8; HIGH_WATER]),
    });
    let caller = peer(3, None);
    let me = Destination::Local(caller.clone());
    for id in 0..4 {
        router.request(&me, id, &svc(), Bytes::from_static(b"x"), 10_000);
    }
    assert_eq!(fast.outstanding_requests(), 4);
    assert_eq!(slow.outstanding_requests(), 0);
    fast.outbox.push(&NodeFrame::Broadcast {
        message: Bytes::from(vec![0u8; HIGH_WATER]),
    });
    router.request(&me, 9, &svc(), Bytes::from_static(b"x"), 50);
    assert_eq!(
        fast.outstanding_requests() + slow.outstanding_requests(),
        4,
        "shed, not delivered"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        frames(&caller),
        vec![NodeFrame::Reply {
            id: 9,
            outcome: ReplyOutcome::TimedOut
        }]
    );
}

#[tokio::test]
async fn tunnel_credit_gates_first_chunks_only() {
    let router = Router::new();
    let _timer = router.start_timer();
    let member = peer(1, Some("svc"));
    router.attach(&member);
    let initiator = peer(2, None);
    router.tunnel_init(&initiator, 5, &svc(), 10_000).expect("init");
    let [NodeFrame::TunInit { build_id, .. }] = frames(&member)[..] else {
        panic!("expected TUN_INIT")
    };
    router.tunnel_confirm(&member, build_id, 8).expect("confirm");
    assert_eq!(
        frames(&member),
        vec![NodeFrame::TunAllow {
            tunnel_id: 8,
            space: INITIAL_TUNNEL_ALLOWANCE
        }]
    );
    assert_eq!(frames(&initiator).len(), 2);
    // No credit yet: both chunks wait.
    router
        .tunnel_transfer(&initiator, 5, 30, Bytes::from(vec![1u8; 20]))
        .expect("first");
    router
        .tunnel_transfer(&initiator, 5, 0, Bytes::from(vec![2u8; 10]))
        .expect("cont");
    assert!(frames(&member).is_empty());
    // Credit for less than the whole message, but enough for the first chunk.
    router.tunnel_allow(&member, 8, 20);
    let got = frames(&member);
    assert_eq!(got.len(), 2, "continuation forced through: {got:?}");
    assert_eq!(
        frames(&initiator),
        vec![
            NodeFrame::TunAllow {
                tunnel_id: 5,
                space: 20
            },
            NodeFrame::TunAllow {
                tunnel_id: 5,
                space: 10
            }
        ]
    );
    // Sending far beyond the allowance is a violation.
    let mut result = Ok(());
    for _ in 0..100 {
        result = router.tunnel_transfer(&initiator, 5, 65536, Bytes::from(vec![0u8; 65536]));
        if result.is_err() {
            break;
        }
    }
    assert!(result.is_err());
}

#[tokio::test]
async fn detaching_a_member_answers_its_callers_and_closes_its_tunnels() {
    let router = Router::new();
    let _timer = router.start_timer();
    let member = peer(1, Some("svc"));
    router.attach(&member);
    let caller = peer(2, None);
    router.request(
        &Destination::Local(caller.clone()),
        7,
        &svc(),
        Bytes::from_static(b"x"),
        60_000,
    );
    router.tunnel_init(&caller, 1, &svc(), 60_000).expect("init");
    let build_id = frames(&member)
        .into_iter()
        .find_map(|f| match f {
            NodeFrame::TunInit { build_id, .. } => Some(build_id),
            _ => None,
        })
        .expect("TUN_INIT");
    router.tunnel_confirm(&member, build_id, 3).expect("confirm");
    router.tunnel_init(&caller, 2, &svc(), 60_000).expect("second init");
    frames(&caller);
    router.detach(&member, "gone");
    assert_eq!(router.member_count("svc"), 0);
    let got = frames(&caller);
    assert!(
        got.contains(&NodeFrame::Reply {
            id: 7,
            outcome: ReplyOutcome::TimedOut
        }),
        "{got:?}"
    );
    assert!(
        got.contains(&NodeFrame::TunClose {
            tunnel_id: 1,
            reason: "gone".into()
        }),
        "{got:?}"
    );
    assert!(
        got.contains(&NodeFrame::TunConfirm {
            tunnel_id: 2,
            chunk_limit: None
        }),
        "{got:?}"
    );
}
