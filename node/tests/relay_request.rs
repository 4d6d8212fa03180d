//! Request/reply through the node: delivery, faults, timeouts, load spreading, graceful close.

mod common;

use bytes::Bytes;
use common::*;
use iris_client::codec::{ByteStr, ClientFrame, NodeFrame, ReplyOutcome};
use std::time::{Duration, Instant};

fn reply(id: u64, result: Result<&'static [u8], &str>) -> ClientFrame {
    ClientFrame::Reply {
        id,
        result: result.map(Bytes::from_static).map_err(ByteStr::from),
    }
}

#[test]
fn a_request_is_answered_with_the_members_reply() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(0, "svc", b"ping", 5000));
    let (node_id, payload, timeout_ms) = member.expect_request();
    assert_eq!(&payload[..], b"ping");
    assert_eq!(timeout_ms, 5000);
    member.send(&reply(node_id, Ok(b"pong")));
    assert_eq!(
        caller.expect_reply(),
        (0, ReplyOutcome::Reply(Bytes::from_static(b"pong")))
    );
    // A duplicate reply is ignored.
    member.send(&reply(node_id, Ok(b"again")));
    caller.expect_quiet();
}

#[test]
fn ids_of_callers_and_of_the_node_are_separate() {
    let node = NodeProc::dev(&[]);
    // The member is also a caller that uses the same ids the node picks for it.
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(0, "svc", b"from caller", 5000));
    let (node_id, _, _) = member.expect_request();
    member.send(&request(node_id, "svc", b"from member", 5000));
    let (node_id2, payload, _) = member.expect_request();
    assert_eq!(&payload[..], b"from member");
    member.send(&reply(node_id2, Ok(b"to member")));
    assert_eq!(
        member.expect_reply(),
        (node_id, ReplyOutcome::Reply(Bytes::from_static(b"to member")))
    );
    member.send(&reply(node_id, Ok(b"to caller")));
    assert_eq!(
        caller.expect_reply(),
        (0, ReplyOutcome::Reply(Bytes::from_static(b"to caller")))
    );
}

#[test]
fn a_fault_travels_verbatim() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(42, "svc", b"x", 5000));
    let (id, _, _) = member.expect_request();
    let fault = "db: connection refused (naïve retry #3) ✗";
    member.send(&reply(id, Err(fault)));
    assert_eq!(caller.expect_reply(), (42, ReplyOutcome::Fault(fault.into())));
}

#[test]
fn an_unanswered_request_times_out_and_a_late_reply_is_ignored() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    let started = Instant::now();
    caller.send(&request(1, "svc", b"x", 300));
    let (id, _, timeout_ms) = member.expect_request();
    assert_eq!(timeout_ms, 300);
    assert_eq!(caller.expect_reply(), (1, ReplyOutcome::TimedOut));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "timed out early: {:?}",
        started.elapsed()
    );
    member.send(&reply(id, Ok(b"late")));
    caller.expect_quiet();
}

#[test]
fn a_request_to_an_empty_cluster_times_out() {
    let node = NodeProc::dev(&[]);
    let mut caller = node.attach("");
    let started = Instant::now();
    caller.send(&request(9, "nobody", b"x", 300));
    assert_eq!(caller.expect_reply(), (9, ReplyOutcome::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[test]
fn an_empty_fault_means_no_answer_and_the_caller_times_out() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    let started = Instant::now();
    caller.send(&request(3, "svc", b"x", 500));
    let (id, _, _) = member.expect_request();
    member.send(&reply(id, Err("")));
    assert_eq!(caller.expect_reply(), (3, ReplyOutcome::TimedOut));
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "answered before the deadline"
    );
}

#[test]
fn requests_are_spread_over_all_members() {
    let node = NodeProc::dev(&[]);
    let mut members: Vec<Client> = (0..3).map(|_| node.attach("svc")).collect();
    let mut caller = node.attach("");
    const N: u64 = 30;
    for id in 0..N {
        caller.send(&request(id, "svc", b"work", 10_000));
    }
    let mut counts = Vec::new();
    let mut answered = 0;
    for member in &mut members {
        let mut count = 0;
        while let Event::Frame(frame) = member.next(Duration::from_millis(500)) {
            let NodeFrame::Request { id, .. } = frame else {
                panic!("unexpected {frame:?}")
            };
            member.send(&reply(id, Ok(b"done")));
            count += 1;
        }
        counts.push(count);
        answered += count;
    }
    assert_eq!(answered, N, "every request reaches exactly one member: {counts:?}");
    assert!(counts.iter().all(|&c| c > 0), "every member takes a share: {counts:?}");
    let mut ids: Vec<u64> = (0..N)
        .map(|_| caller.expect_reply())
        .map(|(id, outcome)| {
            assert_eq!(outcome, ReplyOutcome::Reply(Bytes::from_static(b"done")));
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
}

#[test]
fn the_least_loaded_member_is_preferred() {
    let node = NodeProc::dev(&[]);
    let mut busy = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(0, "svc", b"slow", 10_000));
    let (_slow_id, _, _) = busy.expect_request();
    let mut idle = node.attach("svc");
    // `busy` holds one outstanding request, so every new one goes to `idle` while it answers.
    for id in 1..6 {
        caller.send(&request(id, "svc", b"fast", 10_000));
        let (nid, _, _) = idle.expect_request();
        idle.send(&reply(nid, Ok(b"ok")));
        assert_eq!(caller.expect_reply().0, id);
    }
    busy.expect_quiet();
}

#[test]
fn a_member_that_disconnects_has_its_requests_answered_timed_out_at_once() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(5, "svc", b"x", 60_000));
    member.expect_request();
    drop(member);
    assert_eq!(caller.expect_reply(), (5, ReplyOutcome::TimedOut));
}

#[test]
fn graceful_close_drains_delivered_requests_before_close() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut caller = node.attach("");
    caller.send(&request(7, "svc", b"x", 10_000));
    let (id, _, _) = member.expect_request();
    member.send(&ClientFrame::Close);
    // Still serving the delivered request: no CLOSE yet.
    member.expect_quiet();
    // Nothing new is routed to a closing member.
    caller.send(&request(8, "svc", b"y", 300));
    member.send(&reply(id, Ok(b"finished")));
    assert_eq!(member.expect_close(), "");
    let mut replies = vec![caller.expect_reply(), caller.expect_reply()];
    replies.sort_by_key(|r| r.0);
    assert_eq!(
        replies,
        vec![
            (7, ReplyOutcome::Reply(Bytes::from_static(b"finished"))),
            (8, ReplyOutcome::TimedOut)
        ]
    );
}

#[test]
fn after_unregistering_requests_time_out_instead_of_reaching_the_departed_member() {
    let node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    member.send(&ClientFrame::Close);
    assert_eq!(member.expect_close(), "");
    let mut caller = node.attach("");
    caller.send(&request(1, "svc", b"x", 300));
    assert_eq!(caller.expect_reply(), (1, ReplyOutcome::TimedOut));
}

#[test]
fn broadcast_reaches_every_member_including_the_sender_but_no_plain_client() {
    let node = NodeProc::dev(&[]);
    let mut a = node.attach("svc");
    let mut b = node.attach("svc");
    let mut other = node.attach("other");
    let mut plain = node.attach("");
    a.send(&ClientFrame::Broadcast {
        cluster: "svc".into(),
        message: Bytes::from_static(b"from a"),
    });
    plain.send(&ClientFrame::Broadcast {
        cluster: "svc".into(),
        message: Bytes::from_static(b"from plain"),
    });
    for member in [&mut a, &mut b] {
        let mut got = vec![];
        for _ in 0..2 {
            match member.recv() {
                NodeFrame::Broadcast { message } => got.push(message),
                other => panic!("expected BROADCAST, got {other:?}"),
            }
        }
        got.sort();
        assert_eq!(
            got,
            vec![Bytes::from_static(b"from a"), Bytes::from_static(b"from plain")]
        );
    }
    other.expect_quiet();
    plain.expect_quiet();
}

#[test]
fn publish_reaches_subscribers_and_subscription_changes_are_harmless() {
    let node = NodeProc::dev(&[]);
    let mut s1 = node.attach("");
    let mut s2 = node.attach("svc");
    let mut publisher = node.attach("");
    s1.subscribe_synced("news");
    // Subscribing twice is a no-op: still one copy per event.
    s2.subscribe_synced("news");
    s2.subscribe_synced("news");
    publisher.send(&ClientFrame::Publish {
        topic: "news".into(),
        event: Bytes::from_static(b"e1"),
    });
    for s in [&mut s1, &mut s2] {
        assert_eq!(
            s.recv(),
            NodeFrame::Publish {
                topic: "news".into(),
                event: Bytes::from_static(b"e1")
            }
        );
        s.expect_quiet();
    }
    // Unsubscribing, twice, and from a topic never subscribed: no-ops after the first.
    s1.send(&ClientFrame::Unsubscribe { topic: "news".into() });
    s1.send(&ClientFrame::Unsubscribe { topic: "news".into() });
    s1.send(&ClientFrame::Unsubscribe { topic: "never".into() });
    s1.sync();
    publisher.send(&ClientFrame::Publish {
        topic: "news".into(),
        event: Bytes::from_static(b"e2"),
    });
    assert_eq!(
        s2.recv(),
        NodeFrame::Publish {
            topic: "news".into(),
            event: Bytes::from_static(b"e2")
        }
    );
    s1.expect_quiet();
    // The publisher is not subscribed and gets nothing.
    publisher.expect_quiet();
}

#[test]
fn requests_to_a_member_that_does_not_read_are_still_answered() {
    let node = NodeProc::dev(&[]);
    // The member never reads: once its buffers are full further requests are shed, and every
    // request, delivered or not, is answered timed_out at its deadline.
    let _stuck = node.attach("svc");
    let mut caller = node.attach("");
    const N: u64 = 40;
    let big = Bytes::from(vec![0x55u8; 1024 * 1024]);
    let writer = {
        let mut raw = bytes::BytesMut::new();
        for id in 0..N {
            ClientFrame::Request {
                id,
                cluster: "svc".into(),
                request: big.clone(),
                timeout_ms: 1500,
            }
            .encode(&mut raw);
        }
        raw.freeze()
    };
    // Written from another thread so the replies can be read while the requests go out.
    let mut sender = caller.try_clone_stream();
    let handle = std::thread::spawn(move || {
        use std::io::Write;
        sender.write_all(&writer).expect("write requests");
    });
    let mut ids = Vec::new();
    for _ in 0..N {
        match caller.next(Duration::from_secs(30)) {
            Event::Frame(NodeFrame::Reply { id, outcome }) => {
                assert_eq!(outcome, ReplyOutcome::TimedOut);
                ids.push(id);
            }
            other => panic!("expected REPLY, got {other:?}"),
        }
    }
    handle.join().expect("sender");
    ids.sort();
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
}
