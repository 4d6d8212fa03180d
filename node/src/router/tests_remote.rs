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
    router.remote_message(remote, Wire::Cluster { name: svc(), load: ClusterLoad { members, spare } });
}

fn remote_picks(router: &Router, n: usize, local_only: bool) -> usize {
    (0..n).filter(|_| matches!(router.pick_member(&svc(), local_only), Some(Destination::Remote(_)))).count()
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
    assert!((700..1300).contains(&even), "an idle member on each node: {even} of 2000 went remote");
    announce(&router, &other, 1, 1);
    let busy = remote_picks(&router, 2000, false);
    assert!(busy < 300, "a busy node receives less: {busy} of 2000");
    assert_eq!(remote_picks(&router, 200, true), 0, "work from another node stays local");
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
    router.request(&Destination::Local(caller.clone()), 9, &svc(), Bytes::from_static(b"x"), 60_000);
    let id = sent(&other)
        .into_iter()
        .find_map(|m| match m {
            Wire::Request { id, cluster, request, timeout_ms } => {
                assert_eq!((cluster, &request[..], timeout_ms), (svc(), &b"x"[..], 60_000));
                Some(id)
            }
            _ => None,
        })
        .expect("REQUEST sent to the other node");
    router.remote_message(&other, Wire::Reply { id, outcome: ReplyOutcome::Reply(Bytes::from_static(b"y")) });
    assert!(frames(&caller).contains(&NodeFrame::Reply { id: 9, outcome: ReplyOutcome::Reply(Bytes::from_static(b"y")) }));

    // The other node's requests and broadcasts go to local members only, never back out.
    let member = peer(3, Some("svc"));
    router.attach(&member);
    router.remote_message(&other, Wire::Request { id: 4, cluster: svc(), request: Bytes::from_static(b"z"), timeout_ms: 60_000 });
    let node_id = frames(&member)
        .into_iter()
        .find_map(|f| match f {
            NodeFrame::Request { id, .. } => Some(id),
            _ => None,
        })
        .expect("delivered to the local member");
    router.reply(&member, node_id, Ok(Bytes::from_static(b"w")));
    assert!(sent(&other).contains(&Wire::Reply { id: 4, outcome: ReplyOutcome::Reply(Bytes::from_static(b"w")) }));
    router.remote_message(&other, Wire::Broadcast { cluster: svc(), message: Bytes::from_static(b"b") });
    assert_eq!(frames(&member), vec![NodeFrame::Broadcast { message: Bytes::from_static(b"b") }]);
    assert!(sent(&other).is_empty(), "a broadcast from another node is not sent back");
    router.broadcast(&svc(), Bytes::from_static(b"c"));
    assert_eq!(frames(&member), vec![NodeFrame::Broadcast { message: Bytes::from_static(b"c") }]);
    assert_eq!(sent(&other), vec![Wire::Broadcast { cluster: svc(), message: Bytes::from_static(b"c") }]);
}

#[tokio::test]
async fn losing_a_link_answers_callers_and_forgets_the_node() {
    let router = Router::new();
    let _timer = router.start_timer();
    let other = remote(1);
    announce(&router, &other, 2, 32);
    router.remote_message(&other, Wire::Topic { name: "news".into(), subscribed: true });
    let caller = peer(2, None);
    router.request(&Destination::Local(caller.clone()), 5, &svc(), Bytes::from_static(b"x"), 60_000);
    router.publish("news".into(), Bytes::from_static(b"e"));
    let out = sent(&other);
    assert!(out.contains(&Wire::Publish { topic: "news".into(), event: Bytes::from_static(b"e") }), "{out:?}");
    router.detach_remote(&other);
    assert!(frames(&caller).contains(&NodeFrame::Reply { id: 5, outcome: ReplyOutcome::TimedOut }));
    assert_eq!(router.member_count("svc"), 0);
    assert!(router.local_topics().is_empty());
    assert!(other.is_closed());
}
