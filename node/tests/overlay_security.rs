//! Outsiders are kept out: wrong key, wrong network name, garbage before the handshake, and
//! tampered, replayed or reordered frames on an authenticated link are all rejected, logged, and
//! the node keeps serving. The test speaks the overlay itself through `iris_node::overlay::link`.

mod common;

use bytes::BytesMut;
use common::overlay::{free_port, network_key, other_key, TestNet};
use common::NodeProc;
use iris_node::keys::load_private_key;
use iris_node::overlay::link::{self, Credentials, LinkError, LinkReader, LinkWriter, Role};
use iris_node::overlay::wire::Wire;
use iris_node::overlay::NodeId;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn creds(network: &str, key: &std::path::Path) -> Credentials {
    Credentials::new(network, &load_private_key(key).expect("key"), NodeId::random()).expect("credentials")
}

async fn dial(addr: SocketAddr, creds: &Credentials) -> Result<(LinkReader, LinkWriter, NodeId), LinkError> {
    link::handshake(TcpStream::connect(addr).await.expect("connect"), Role::Initiator, creds).await
}

/// Reads from an authenticated link until the node drops it; panics if it does not within 5 s.
async fn expect_dropped(reader: &mut LinkReader, what: &str) {
    let mut buf = BytesMut::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reader.recv(&mut buf)).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return,
            Err(_) => panic!("the node kept the link after {what}"),
        }
    }
}

fn heartbeat() -> Vec<u8> {
    let mut b = BytesMut::new();
    Wire::Heartbeat.encode(&mut b);
    b.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_are_rejected_and_the_node_keeps_serving() {
    let net = TestNet::new("security");
    let port = free_port();
    let log = std::env::temp_dir().join(format!("iris-security-{}-{port}.log", std::process::id()));
    let key = network_key();
    let listen = format!("127.0.0.2:{port}");
    let node = NodeProc::start_logged(
        &[
            "--net",
            &net.name,
            "--rsa",
            key.to_str().unwrap(),
            "--port",
            "0",
            "--listen",
            &listen,
            "--no-discover",
        ],
        Some(&log),
    );
    let addr: SocketAddr = listen.parse().unwrap();
    let good = creds(&net.name, &key);

    // Wrong key: the handshake completes, the RSA proof does not verify (either side).
    let wrong_key = dial(addr, &creds(&net.name, &other_key())).await;
    assert!(
        matches!(wrong_key, Err(LinkError::BadSignature) | Err(LinkError::Io(_))),
        "{:?}",
        wrong_key.err()
    );

    // Wrong network name: the prologues differ, Noise fails.
    let wrong_net = dial(addr, &creds("another-network", &key)).await;
    assert!(wrong_net.is_err(), "a node of another network was accepted");

    // Garbage before the handshake: a declared length beyond the pre-auth bound ends it at once.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(&[0xff; 4096]).await.unwrap();
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match raw.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "garbage did not end the connection");

    // Tampered frame on an authenticated link.
    let (mut reader, mut writer, _) = dial(addr, &good).await.expect("a member of the network is accepted");
    let mut sealed = writer.seal(&heartbeat()).unwrap().to_vec();
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    writer.write_raw(&sealed).await.unwrap();
    expect_dropped(&mut reader, "a tampered frame").await;

    // Replayed frame.
    let (mut reader, mut writer, _) = dial(addr, &good).await.expect("accepted");
    let sealed = writer.seal(&heartbeat()).unwrap();
    writer.write_raw(&sealed).await.unwrap();
    writer.write_raw(&sealed).await.unwrap();
    expect_dropped(&mut reader, "a replayed frame").await;

    // Reordered frames.
    let (mut reader, mut writer, _) = dial(addr, &good).await.expect("accepted");
    let first = writer.seal(&heartbeat()).unwrap();
    let second = writer.seal(&heartbeat()).unwrap();
    writer.write_raw(&second).await.unwrap();
    writer.write_raw(&first).await.unwrap();
    expect_dropped(&mut reader, "reordered frames").await;

    // The node still serves: other nodes and its own clients.
    let (mut reader, mut writer, peer) = dial(addr, &good).await.expect("still accepting members");
    writer.send(&heartbeat()).await.unwrap();
    let mut buf = BytesMut::new();
    reader
        .recv(&mut buf)
        .await
        .expect("the node talks to a legitimate peer");
    let limits = iris_node::overlay::wire::WireLimits { max_body: 1 << 20 };
    assert!(matches!(Wire::decode(&mut buf, &limits), Ok(Some(Wire::Hello { node, .. })) if node == peer));
    let client = iris_client::connect_async(node.port).await.expect("relay still serves");
    client.close_async().await.unwrap();

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let rejected = text.matches("overlay handshake rejected").count();
    let dropped = text.matches("link dropped").count();
    assert!(rejected >= 3, "handshake rejections logged: {rejected}\n{text}");
    assert!(dropped >= 3, "dropped links logged: {dropped}\n{text}");
    let _ = std::fs::remove_file(&log);
}
