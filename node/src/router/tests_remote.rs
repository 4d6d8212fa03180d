//! Router tests with other nodes in the views: weighted choice, direct traffic to and from another
//! node (one hop, local delivery only), tree walks and floods, routing towards a key from outside
//! a tree, cleanup when a link is lost. No sockets.

use super::views::Arrival;
use super::*;
use crate::overlay::remote::{LinkId, RemotePeer};
use crate::overlay::wire::{Via, Wire, WireLimits};
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

fn dir(remote: &Arc<RemotePeer>, members: u32, spare: u32) -> RemoteDir {
    RemoteDir {
        peer: remote.clone(),
        members,
        spare,
    }
}

/// The overlay says: `remote` is the one other node hosting `svc` (a small group: direct).
fn announce(router: &Router, remote: &Arc<RemotePeer>, members: u32, spare: u32) {
    let d = dir(remote, members, spare);
    router.set_cluster_view(
        &svc(),
        Some(RemoteView {
            tree: vec![d.clone()],
            direct: Some(if members > 0 { vec![d] } else { vec![] }),
        }),
    );
}

fn remote_picks(router: &Router, n: usize, arrival: &Arrival) -> usize {
    (0..n)
        .filter(|_| matches!(router.choose(&svc(), arrival), clusters::Choice::Remote(_)))
        .count()
}

/// An overlay whose next hop towards every key is `next` (or nobody).
struct FixedHop {
    next: Option<Arc<RemotePeer>>,
}

impl OverlayHooks for FixedHop {
    fn me(&self) -> NodeId {
        NodeId(1000)
    }
    fn next_hop(&self, _key: NodeId) -> Option<Arc<RemotePeer>> {
        self.next.clone()
    }
}

fn with_overlay(router: &Router, next: Option<&Arc<RemotePeer>>) {
    router.set_overlay(Arc::new(FixedHop { next: next.cloned() }));
}

#[tokio::test]
async fn requests_are_weighted_by_reported_spare_capacity() {
    let router = Router::new();
    let local = peer(1, Some("svc"));
    router.attach(&local);
    let other = remote(1);
    announce(&router, &other, 1, 16);
    assert_eq!(router.member_count("svc"), 2);
    let client = Arrival::Client;
    let even = remote_picks(&router, 2000, &client);
    assert!(
        (700..1300).contains(&even),
        "an idle member on each node: {even} of 2000 went remote"
    );
    announce(&router, &other, 1, 1);
    let busy = remote_picks(&router, 2000, &client);
    assert!(busy < 300, "a busy node receives less: {busy} of 2000");
    assert_eq!(
        remote_picks(&router, 200, &Arrival::Remote(other.clone(), Via::Direct)),
        0,
        "work from another node stays local"
    );
    announce(&router, &other, 0, 0);
    assert_eq!(router.member_count("svc"), 1);
    assert_eq!(remote_picks(&router, 200, &client), 0);
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
                via,
            } => {
                assert_eq!(
                    (cluster, &request[..], timeout_ms, via),
                    (svc(), &b"x"[..], 60_000, Via::Direct)
                );
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
            via: Via::Direct,
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
            via: Via::Direct,
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
    with_overlay(&router, None);
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
            message: Bytes::from_static(b"c"),
            via: Via::Direct,
        }]
    );
}

#[tokio::test]
async fn losing_a_link_answers_callers_and_forgets_the_node() {
    let router = Router::new();
    let _timer = router.start_timer();
    let other = remote(1);
    with_overlay(&router, None);
    announce(&router, &other, 2, 32);
    let news = dir(&other, 1, 0);
    router.set_topic_view(
        &"news".into(),
        Some(RemoteView {
            tree: vec![news.clone()],
            direct: Some(vec![news]),
        }),
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
            event: Bytes::from_static(b"e"),
            via: Via::Direct,
        }),
        "{out:?}"
    );
    router.detach_remote(&other);
    assert!(frames(&caller).contains(&NodeFrame::Reply {
        id: 5,
        outcome: ReplyOutcome::TimedOut
    }));
    assert!(other.is_closed());
    // Until the overlay replaces the view, nothing is chosen over the closed link.
    assert_eq!(remote_picks(&router, 100, &Arrival::Client), 0);
    assert!(router.local_topics().is_empty());
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
            via: Via::Direct,
            origin: None,
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
            via: Via::Direct,
            origin: None,
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
            timeout_ms,
            via: Via::Direct,
            origin: None,
        }] if *cluster == svc() && (59_000..=60_000).contains(timeout_ms) => *build,
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

/// A view with two tree directions and no member list (a large group).
fn tree_view(router: &Router, a: &Arc<RemotePeer>, b: &Arc<RemotePeer>) {
    router.set_cluster_view(
        &svc(),
        Some(RemoteView {
            tree: vec![dir(a, 5, 80), dir(b, 5, 80)],
            direct: None,
        }),
    );
}

#[tokio::test]
async fn requests_walk_the_tree_but_never_back_where_they_came_from() {
    let router = Router::new();
    let _timer = router.start_timer();
    with_overlay(&router, None);
    let (a, b) = (remote(1), remote(2));
    tree_view(&router, &a, &b);
    for i in 0..20 {
        router.remote_message(
            &a,
            Wire::Request {
                id: i,
                cluster: svc(),
                request: Bytes::from_static(b"q"),
                timeout_ms: 60_000,
                via: Via::Walk { hops: 2 },
            },
        );
    }
    let walked: Vec<Via> = sent(&b)
        .into_iter()
        .filter_map(|m| match m {
            Wire::Request { via, .. } => Some(via),
            _ => None,
        })
        .collect();
    assert_eq!(
        walked,
        vec![Via::Walk { hops: 3 }; 20],
        "all continue to the other direction"
    );
    assert!(sent(&a).is_empty(), "never back");
    // With a local member, some stay here; from a client, both directions take a share.
    let member = peer(3, Some("svc"));
    router.attach(&member);
    let caller = Destination::Local(peer(4, None));
    for i in 0..300 {
        router.request(&caller, i, &svc(), Bytes::from_static(b"q"), 60_000);
    }
    let (to_a, to_b) = (sent(&a).len(), sent(&b).len());
    let local = frames(&member).len();
    assert!(to_a > 50 && to_b > 50 && local > 5, "{to_a} {to_b} {local}");
    assert_eq!(to_a + to_b + local, 300);
}

#[tokio::test]
async fn floods_reach_every_direction_once_and_duplicates_are_dropped() {
    let router = Router::new();
    with_overlay(&router, None);
    let (a, b) = (remote(1), remote(2));
    tree_view(&router, &a, &b);
    let member = peer(3, Some("svc"));
    router.attach(&member);
    let flood = Via::Flood {
        hops: 1,
        origin: NodeId(77),
        seq: 5,
    };
    let msg = |via| Wire::Broadcast {
        cluster: svc(),
        message: Bytes::from_static(b"m"),
        via,
    };
    router.remote_message(&a, msg(flood));
    assert_eq!(frames(&member).len(), 1);
    assert_eq!(
        sent(&b),
        vec![msg(Via::Flood {
            hops: 2,
            origin: NodeId(77),
            seq: 5
        })]
    );
    assert!(sent(&a).is_empty());
    // The same flood over another path (a subtree moving): dropped, not delivered again.
    router.remote_message(&b, msg(flood));
    assert!(frames(&member).is_empty());
    assert!(sent(&a).is_empty() && sent(&b).is_empty());
    // A flood this node starts goes to both directions with its own id.
    router.broadcast(&svc(), Bytes::from_static(b"m"));
    assert_eq!(frames(&member).len(), 1);
    for r in [&a, &b] {
        assert!(matches!(
            sent(r).as_slice(),
            [Wire::Broadcast {
                via: Via::Flood {
                    origin: NodeId(1000),
                    hops: 1,
                    ..
                },
                ..
            }]
        ));
    }
}

#[tokio::test]
async fn outside_a_tree_traffic_is_routed_towards_the_key_and_the_group_is_joined() {
    let router = Router::new();
    let _timer = router.start_timer();
    let next = remote(1);
    with_overlay(&router, Some(&next));
    let (tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    router.set_observer(tx);
    let caller = Destination::Local(peer(2, None));
    router.request(&caller, 1, &svc(), Bytes::from_static(b"q"), 60_000);
    router.publish("news".into(), Bytes::from_static(b"e"));
    let out = sent(&next);
    assert!(
        matches!(
            out[0],
            Wire::Request {
                via: Via::Route { hops: 1 },
                ..
            }
        ),
        "{out:?}"
    );
    assert!(
        matches!(
            out[1],
            Wire::Publish {
                via: Via::Route { hops: 1 },
                ..
            }
        ),
        "{out:?}"
    );
    // The first use asks the overlay to join the trees (as a listener), once.
    router.request(&caller, 2, &svc(), Bytes::from_static(b"q"), 60_000);
    assert_eq!(sent(&next).len(), 1);
    let mut seen = Vec::new();
    while let Ok(c) = changes.try_recv() {
        seen.push(c);
    }
    assert_eq!(
        seen,
        vec![
            LocalChange::Used(crate::overlay::scribe::Group::cluster("svc")),
            LocalChange::Used(crate::overlay::scribe::Group::topic("news")),
        ]
    );
    // A routed message that reaches a node with no further hop and no tree ends there.
    let lone = Router::new();
    with_overlay(&lone, None);
    lone.remote_message(
        &next,
        Wire::Publish {
            topic: "news".into(),
            event: Bytes::from_static(b"e"),
            via: Via::Route { hops: 3 },
        },
    );
    assert!(sent(&next).is_empty());
}

/// An overlay whose constructions accept redirects; a link to another node is `link` (if any).
struct Redirecting {
    link: Option<Arc<RemotePeer>>,
    /// Whether the link comes up only when the wait for it is over.
    slow: bool,
}

impl Redirecting {
    fn new(link: Option<Arc<RemotePeer>>) -> Redirecting {
        Redirecting { link, slow: false }
    }
}

const ME: NodeId = NodeId(1000);

fn listen_addrs() -> Vec<std::net::SocketAddr> {
    vec!["127.0.0.9:4000".parse().expect("addr")]
}

impl OverlayHooks for Redirecting {
    fn me(&self) -> NodeId {
        ME
    }
    fn next_hop(&self, _key: NodeId) -> Option<Arc<RemotePeer>> {
        None
    }
    fn redirect_tunnels(&self) -> bool {
        true
    }
    fn listen(&self) -> Vec<std::net::SocketAddr> {
        listen_addrs()
    }
    fn link_to(&self, node: NodeId, addrs: Vec<std::net::SocketAddr>, within: std::time::Duration) -> LinkFuture {
        assert_eq!(addrs, listen_addrs());
        let link = self.link.clone().filter(|l| l.node == node);
        let slow = self.slow;
        Box::pin(async move {
            if slow {
                tokio::time::sleep(within).await;
            }
            link
        })
    }
}

fn tun_init(build: u64, via: Via, origin: Option<NodeId>) -> Wire {
    Wire::TunInit {
        build,
        cluster: svc(),
        timeout_ms: 60_000,
        via,
        origin,
    }
}

#[tokio::test]
async fn a_member_node_reached_over_the_tree_redirects_the_origin_to_itself() {
    let router = Router::new();
    let _timer = router.start_timer();
    router.set_overlay(Arc::new(Redirecting::new(None)));
    let member = peer(3, Some("svc"));
    router.attach(&member);
    let from = remote(1);
    router.remote_message(&from, tun_init(50, Via::Walk { hops: 1 }, Some(NodeId(77))));
    assert_eq!(
        sent(&from),
        vec![Wire::TunRedirect {
            build: 50,
            node: ME,
            listen: listen_addrs()
        }]
    );
    assert!(frames(&member).is_empty(), "the member is not asked");
    // Asked directly, from the origin itself, or without an origin: the member is asked.
    for msg in [
        tun_init(51, Via::Direct, Some(NodeId(77))),
        tun_init(52, Via::Walk { hops: 1 }, Some(from.node)),
        tun_init(53, Via::Route { hops: 2 }, None),
    ] {
        router.remote_message(&from, msg);
        assert!(sent(&from).is_empty());
        assert!(matches!(frames(&member).as_slice(), [NodeFrame::TunInit { .. }]));
    }
}

#[tokio::test]
async fn a_node_on_the_way_hands_a_redirect_back_and_forgets_the_construction() {
    let router = Router::new();
    let _timer = router.start_timer();
    router.set_overlay(Arc::new(Redirecting::new(None)));
    let (a, b) = (remote(1), remote(2));
    tree_view(&router, &a, &b);
    router.remote_message(&a, tun_init(60, Via::Walk { hops: 1 }, Some(NodeId(77))));
    let build = match sent(&b).as_slice() {
        [Wire::TunInit {
            build,
            via: Via::Walk { hops: 2 },
            origin: Some(NodeId(77)),
            ..
        }] => *build,
        other => panic!("{other:?}"),
    };
    router.remote_message(
        &b,
        Wire::TunRedirect {
            build,
            node: NodeId(500),
            listen: listen_addrs(),
        },
    );
    assert_eq!(
        sent(&a),
        vec![Wire::TunRedirect {
            build: 60,
            node: NodeId(500),
            listen: listen_addrs()
        }]
    );
    // The construction is gone here: a late confirmation is refused.
    router.remote_message(&b, Wire::TunConfirm { build, tunnel: 9 });
    assert!(matches!(sent(&b).as_slice(), [Wire::TunClose { tunnel: 9, .. }]));
    assert!(sent(&a).is_empty());
}

/// Starts a tunnel from a client of `router` into the large group of [`tree_view`] and answers
/// its construction with a redirect to `node`; the client.
fn redirected_tunnel(router: &Arc<Router>, a: &Arc<RemotePeer>, b: &Arc<RemotePeer>, node: NodeId) -> Arc<LocalPeer> {
    redirected_tunnel_within(router, a, b, node, 60_000)
}

fn redirected_tunnel_within(
    router: &Arc<Router>,
    a: &Arc<RemotePeer>,
    b: &Arc<RemotePeer>,
    node: NodeId,
    timeout_ms: u64,
) -> Arc<LocalPeer> {
    tree_view(router, a, b);
    let caller = peer(2, None);
    router.tunnel_init(&caller, 5, &svc(), timeout_ms).expect("init");
    let (walked, build) = match (sent(a).as_slice(), sent(b).as_slice()) {
        ([Wire::TunInit { build, via, origin, .. }], []) => (a, (*build, *via, *origin)),
        ([], [Wire::TunInit { build, via, origin, .. }]) => (b, (*build, *via, *origin)),
        other => panic!("{other:?}"),
    };
    assert_eq!((build.1, build.2), (Via::Walk { hops: 1 }, Some(ME)));
    router.remote_message(
        walked,
        Wire::TunRedirect {
            build: build.0,
            node,
            listen: listen_addrs(),
        },
    );
    caller
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn the_origin_of_a_redirected_tunnel_asks_the_member_node_over_a_direct_link() {
    let router = Router::new();
    let _timer = router.start_timer();
    let direct = remote(3);
    router.set_overlay(Arc::new(Redirecting::new(Some(direct.clone()))));
    let (a, b) = (remote(1), remote(2));
    let caller = redirected_tunnel(&router, &a, &b, direct.node);
    settle().await;
    let build = match sent(&direct).as_slice() {
        [Wire::TunInit {
            build,
            timeout_ms,
            via: Via::Direct,
            origin: None,
            ..
        }] if *timeout_ms <= 60_000 => *build,
        other => panic!("{other:?}"),
    };
    assert!(sent(&a).is_empty() && sent(&b).is_empty());
    assert!(
        frames(&caller).is_empty(),
        "nothing for the client until the member confirms"
    );
    router.remote_message(&direct, Wire::TunConfirm { build, tunnel: 90 });
    assert!(matches!(
        frames(&caller).as_slice(),
        [
            NodeFrame::TunConfirm { tunnel_id: 5, .. },
            NodeFrame::TunAllow { tunnel_id: 5, .. }
        ]
    ));
}

#[tokio::test]
async fn without_a_direct_link_a_redirected_tunnel_is_relayed_along_the_tree() {
    let router = Router::new();
    let _timer = router.start_timer();
    router.set_overlay(Arc::new(Redirecting::new(None)));
    let (a, b) = (remote(1), remote(2));
    let caller = redirected_tunnel(&router, &a, &b, NodeId(500));
    settle().await;
    let again: Vec<Wire> = sent(&a).into_iter().chain(sent(&b)).collect();
    assert!(
        matches!(
            again.as_slice(),
            [Wire::TunInit {
                via: Via::Walk { hops: 1 },
                origin: None,
                ..
            }]
        ),
        "{again:?}"
    );
    assert!(frames(&caller).is_empty());
}

#[tokio::test]
async fn a_client_closing_a_tunnel_while_its_link_is_set_up_gets_nothing_later() {
    // With a direct link, and without (the construction would go along the tree again).
    for linked in [true, false] {
        let router = Router::new();
        let _timer = router.start_timer();
        let direct = remote(3);
        router.set_overlay(Arc::new(Redirecting::new(linked.then(|| direct.clone()))));
        let (a, b) = (remote(1), remote(2));
        let caller = redirected_tunnel(&router, &a, &b, direct.node);
        router.tunnel_close(&caller, 5);
        settle().await;
        assert!(sent(&direct).is_empty(), "a closed construction is not continued");
        assert!(sent(&a).is_empty() && sent(&b).is_empty(), "nor sent along the tree");
        assert_eq!(
            frames(&caller),
            vec![NodeFrame::TunClose {
                tunnel_id: 5,
                reason: "".into()
            }],
            "the close is acknowledged, and nothing comes later"
        );
    }
}

#[tokio::test]
async fn a_link_that_comes_up_after_the_deadline_ends_the_construction_timed_out_once() {
    let router = Router::new();
    let _timer = router.start_timer();
    let direct = remote(3);
    router.set_overlay(Arc::new(Redirecting {
        link: Some(direct.clone()),
        slow: true,
    }));
    let (a, b) = (remote(1), remote(2));
    let caller = redirected_tunnel_within(&router, &a, &b, direct.node, 100);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        frames(&caller),
        vec![NodeFrame::TunConfirm {
            tunnel_id: 5,
            chunk_limit: None
        }],
        "one timeout"
    );
    assert!(
        sent(&direct).is_empty(),
        "the member node is not asked after the deadline"
    );
    assert!(sent(&a).is_empty() && sent(&b).is_empty());
}
