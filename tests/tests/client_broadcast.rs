//! Broadcast and publish/subscribe through a real node.

mod common;
use common::*;
use iris_client::{Bytes, Connection, ServiceHandler, ServiceLimits, TopicLimits};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Collect(Mutex<Vec<Bytes>>);

impl ServiceHandler for Collect {
    fn handle_broadcast(&self, message: Bytes) {
        self.0.lock().unwrap().push(message);
    }
}

#[test]
fn broadcast_25_clients_25_services_25_messages() {
    let node = Node::start(&[]);
    let handlers: Vec<Arc<Collect>> = (0..25).map(|_| Arc::new(Collect::default())).collect();
    let services: Vec<_> = handlers
        .iter()
        .map(|h| iris_client::register(node.port, "bcast", h.clone(), ServiceLimits::default()).unwrap())
        .collect();
    let clients: Vec<_> = (0..25)
        .map(|c| {
            let port = node.port;
            std::thread::spawn(move || {
                let conn = iris_client::connect(port).unwrap();
                for m in 0..25 {
                    conn.broadcast("bcast", format!("c{c}m{m}")).unwrap();
                }
                conn.close().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let expected: HashSet<String> = (0..25)
        .flat_map(|c| (0..25).map(move |m| format!("c{c}m{m}")))
        .collect();
    for (i, h) in handlers.iter().enumerate() {
        assert!(
            eventually(20 * SECOND, || h.0.lock().unwrap().len() >= 625),
            "member {i} got {}",
            h.0.lock().unwrap().len()
        );
        let got: Vec<String> =
            h.0.lock()
                .unwrap()
                .iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect();
        assert_eq!(got.len(), 625, "member {i}: no duplicates");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), expected, "member {i}");
    }
    for s in services {
        s.unregister().unwrap();
    }
}

#[test]
fn broadcast_reaches_the_sender_when_it_is_a_member() {
    let node = Node::start(&[]);
    let handler = Arc::new(Collect::default());
    let service = iris_client::register(node.port, "self", handler.clone(), ServiceLimits::default()).unwrap();
    service.connection().broadcast("self", "to myself").unwrap();
    assert!(eventually(5 * SECOND, || handler.0.lock().unwrap().len() == 1));
    assert_eq!(&handler.0.lock().unwrap()[0][..], b"to myself");
}

/// How long a subscription may take to reach the node before another connection publishes.
const SUBSCRIBE_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn subscribe_all(conn: &Connection, topics: &[String], seen: &Seen) {
    for topic in topics {
        let (seen, t) = (seen.clone(), topic.clone());
        conn.subscribe(
            topic,
            move |event: Bytes| {
                seen.lock()
                    .unwrap()
                    .push((t.clone(), String::from_utf8(event.to_vec()).unwrap()))
            },
            TopicLimits::default(),
        )
        .unwrap();
    }
}

#[test]
fn publish_5_clients_5_services_7_topics() {
    let node = Node::start(&[]);
    let topics: Vec<String> = (0..7).map(|t| format!("topic-{t}")).collect();
    let clients: Vec<Connection> = (0..5).map(|_| iris_client::connect(node.port).unwrap()).collect();
    let services: Vec<_> = (0..5)
        .map(|_| {
            iris_client::register(
                node.port,
                "pubsub",
                Arc::new(Collect::default()),
                ServiceLimits::default(),
            )
            .unwrap()
        })
        .collect();
    let endpoints: Vec<&Connection> = clients.iter().chain(services.iter().map(|s| s.connection())).collect();
    let seen: Vec<Seen> = endpoints.iter().map(|_| Seen::default()).collect();
    for (conn, seen) in endpoints.iter().zip(&seen) {
        subscribe_all(conn, &topics, seen);
    }
    // SUBSCRIBE has no acknowledgement; other connections' publishes race with it on the node.
    std::thread::sleep(SUBSCRIBE_SETTLE);
    // Every endpoint publishes 5 events on every topic.
    for (e, conn) in endpoints.iter().enumerate() {
        for topic in &topics {
            for n in 0..5 {
                conn.publish(topic, format!("e{e}n{n}")).unwrap();
            }
        }
    }
    let per_subscriber = endpoints.len() * topics.len() * 5;
    for (i, seen) in seen.iter().enumerate() {
        assert!(
            eventually(20 * SECOND, || seen.lock().unwrap().len() >= per_subscriber),
            "subscriber {i} got {} of {per_subscriber}",
            seen.lock().unwrap().len()
        );
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), per_subscriber, "subscriber {i}: no duplicates");
        let unique: HashSet<_> = got.into_iter().collect();
        assert_eq!(unique.len(), per_subscriber);
    }
    // After unsubscribing, a subscriber no longer receives the topic.
    clients[0].unsubscribe("topic-0").unwrap();
    clients[1].publish("topic-0", "late").unwrap();
    clients[1].publish("topic-1", "marker").unwrap();
    assert!(eventually(5 * SECOND, || seen[0]
        .lock()
        .unwrap()
        .iter()
        .any(|(_, e)| e == "marker")));
    assert!(eventually(5 * SECOND, || seen[1]
        .lock()
        .unwrap()
        .iter()
        .any(|(_, e)| e == "late")));
    assert!(!seen[0].lock().unwrap().iter().any(|(_, e)| e == "late"));
}

#[test]
fn events_with_one_thread_arrive_in_publish_order() {
    let node = Node::start(&[]);
    let conn = iris_client::connect(node.port).unwrap();
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let s = seen.clone();
    conn.subscribe(
        "ordered",
        move |e: Bytes| s.lock().unwrap().push(u32::from_be_bytes(e[..4].try_into().unwrap())),
        TopicLimits {
            event_threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let publisher = iris_client::connect(node.port).unwrap();
    std::thread::sleep(SUBSCRIBE_SETTLE);
    for i in 0..2000u32 {
        publisher.publish("ordered", i.to_be_bytes().to_vec()).unwrap();
    }
    assert!(eventually(20 * SECOND, || seen.lock().unwrap().len() == 2000));
    assert_eq!(*seen.lock().unwrap(), (0..2000).collect::<Vec<_>>());
    assert_eq!(
        conn.subscribe("ordered", |_: Bytes| {}, TopicLimits::default())
            .unwrap_err()
            .kind(),
        iris_client::ErrorKind::InvalidArgument
    );
}
