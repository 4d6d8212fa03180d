//! A fork()ed child that uses its parent's connection gets CLOSED at once instead of hanging, and
//! can connect afresh.

mod common;
use common::*;
use iris_client::{Bytes, ErrorKind, ServiceHandler, ServiceLimits};
use std::sync::Arc;

struct Echo;
impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        Ok(request)
    }
}

#[test]
fn a_forked_child_gets_closed_from_inherited_connections() {
    let node = Node::start(&[]);
    let _service = iris_client::register(node.port, "echo", Arc::new(Echo), ServiceLimits::default()).unwrap();
    let conn = iris_client::connect(node.port).unwrap();
    assert_eq!(&conn.request("echo", "parent", SECOND).unwrap()[..], b"parent");
    // SAFETY: the child only calls the client core and then _exit()s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let inherited = conn.request("echo", "child", SECOND);
        let mut code = match inherited {
            Err(e) if e.kind() == ErrorKind::Closed => 0,
            _ => 10,
        };
        if code == 0 {
            code = match iris_client::connect(node.port).and_then(|c| c.request("echo", "fresh", 5 * SECOND)) {
                Ok(reply) if &reply[..] == b"fresh" => 0,
                _ => 20,
            };
        }
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting on our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "the child did not exit normally (hang or crash)"
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "10: inherited connection not CLOSED; 20: fresh connect failed"
    );
    // The parent's connection is unaffected.
    assert_eq!(&conn.request("echo", "again", SECOND).unwrap()[..], b"again");
}
