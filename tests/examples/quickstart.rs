use iris_client::{Bytes, ServiceHandler, ServiceLimits, TopicLimits};
use std::{sync::Arc, time::Duration};

struct Echo;

impl ServiceHandler for Echo {
    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        Ok(request) // an Err(text) reaches the caller as a remote error
    }
}

fn main() -> iris_client::Result<()> {
    let port = std::env::var("IRIS_PORT").map_or(55555, |p| p.parse().expect("IRIS_PORT"));

    // A service: one member of the cluster "echo".
    let service = iris_client::register(port, "echo", Arc::new(Echo), ServiceLimits::default())?;

    // A client: request/reply, publish/subscribe and a tunnel.
    let conn = iris_client::connect(port)?;
    let reply = conn.request("echo", "hello", Duration::from_secs(1))?;
    println!("reply: {}", String::from_utf8_lossy(&reply));

    let on_event = |event: Bytes| println!("event: {event:?}");
    conn.subscribe("news", on_event, TopicLimits::default())?;
    conn.publish("news", "iris is up")?;

    conn.close()?;
    service.unregister()?;
    Ok(())
}
