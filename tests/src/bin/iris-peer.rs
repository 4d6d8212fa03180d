//! `iris-peer`: a tiny Rust client/service that the other languages' cross tests talk to.
//!
//! ```text
//! iris-peer serve   PORT CLUSTER PREFIX   echo service: request -> PREFIX+request, tunnel messages
//!                                         -> PREFIX+message; prints "ready" once registered and
//!                                         runs until stdin closes
//! iris-peer request PORT CLUSTER PAYLOAD  prints the reply; on error prints "CODE: message" to
//!                                         stderr and exits 1
//! iris-peer tunnel  PORT CLUSTER PAYLOAD  sends PAYLOAD through a tunnel, prints the answer
//! ```

use bytes::Bytes;
use iris_client::{Error, ServiceHandler, ServiceLimits, Tunnel};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

struct Echo {
    prefix: Vec<u8>,
}

impl Echo {
    fn answer(&self, data: &[u8]) -> Bytes {
        let mut out = self.prefix.clone();
        out.extend_from_slice(data);
        Bytes::from(out)
    }
}

impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        if &request[..] == b"fail" {
            return Err("rust peer refuses".to_string());
        }
        Ok(self.answer(&request))
    }

    fn handle_tunnel(&self, tunnel: Tunnel) {
        while let Ok(message) = tunnel.recv(None) {
            if tunnel.send(self.answer(&message), Some(TIMEOUT)).is_err() {
                break;
            }
        }
    }
}

fn fail(e: Error) -> ! {
    eprintln!("{}: {}", e.kind().code(), e.message());
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: iris-peer serve|request|tunnel PORT CLUSTER PREFIX|PAYLOAD");
        std::process::exit(2);
    }
    let port: u16 = args[2].parse().expect("PORT must be a number");
    let (cluster, arg) = (&args[3], args[4].clone());
    match args[1].as_str() {
        "serve" => {
            let handler = Arc::new(Echo {
                prefix: arg.into_bytes(),
            });
            let service =
                iris_client::register(port, cluster, handler, ServiceLimits::default()).unwrap_or_else(|e| fail(e));
            println!("ready");
            std::io::stdout().flush().ok();
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            service.unregister().unwrap_or_else(|e| fail(e));
        }
        "request" => {
            let conn = iris_client::connect(port).unwrap_or_else(|e| fail(e));
            let reply = conn
                .request(cluster, arg.into_bytes(), TIMEOUT)
                .unwrap_or_else(|e| fail(e));
            println!("{}", String::from_utf8_lossy(&reply));
            conn.close().unwrap_or_else(|e| fail(e));
        }
        "tunnel" => {
            let conn = iris_client::connect(port).unwrap_or_else(|e| fail(e));
            let tunnel = conn.tunnel(cluster, TIMEOUT).unwrap_or_else(|e| fail(e));
            tunnel.send(arg.into_bytes(), Some(TIMEOUT)).unwrap_or_else(|e| fail(e));
            let answer = tunnel.recv(Some(TIMEOUT)).unwrap_or_else(|e| fail(e));
            println!("{}", String::from_utf8_lossy(&answer));
            tunnel.close().unwrap_or_else(|e| fail(e));
            conn.close().unwrap_or_else(|e| fail(e));
        }
        other => {
            eprintln!("unknown command {other:?}");
            std::process::exit(2);
        }
    }
}
