//! SIGTERM: every client gets CLOSE with a reason, the process exits 0.

mod common;

use common::*;
use iris_client::codec::ClientFrame;
use std::time::Duration;

#[test]
fn sigterm_closes_every_client_and_exits_zero() {
    let mut node = NodeProc::dev(&[]);
    let mut member = node.attach("svc");
    let mut plain = node.attach("");
    // A request in flight does not hold the shutdown up.
    plain.send(&request(1, "svc", b"x", 60_000));
    member.expect_request();
    node.sigterm();
    for client in [&mut member, &mut plain] {
        // The plain client may first learn that its request will never be answered.
        let reason = loop {
            match client.recv() {
                iris_client::codec::NodeFrame::Close { reason } => break reason,
                iris_client::codec::NodeFrame::Reply { id: 1, .. } => continue,
                other => panic!("expected CLOSE, got {other:?}"),
            }
        };
        assert_eq!(reason, "node shutting down");
        client.expect_eof();
    }
    let status = node.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn sigterm_with_no_clients_exits_zero() {
    let mut node = NodeProc::dev(&[]);
    node.sigterm();
    let status = node.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_client_close_during_shutdown_is_harmless() {
    let mut node = NodeProc::dev(&[]);
    let mut client = node.attach("");
    client.send(&ClientFrame::Close);
    assert_eq!(client.expect_close(), "");
    node.sigterm();
    assert!(node.wait_exit(Duration::from_secs(10)).success());
}
