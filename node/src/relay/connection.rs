//! One client connection: handshake, the reader loop that hands frames to the router, graceful
//! and ungraceful endings.

use super::handshake::{read_init, HandshakeError};
use super::outbox::{Batch, Outbox};
use super::RelayContext;
use crate::router::{ConnId, Destination, LocalPeer, Violation};
use bytes::BytesMut;
use iris_client::codec::{decode_client_frame, ByteStr, ClientFrame, NodeFrame, PROTOCOL_VERSION, RELAY_MAGIC};
use iris_client::transport::{ReadHalf, Stream};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info, warn};

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// How long the writer may take to flush the final frames to a client that does not read.
const FLUSH_GRACE: Duration = Duration::from_secs(5);
/// After the node closed, how long it keeps reading (and discarding) so unread client data does not
/// turn the close into a reset that could destroy the final CLOSE frame in flight.
const LINGER: Duration = Duration::from_secs(1);

/// Why the reader loop ended.
enum Ending {
    /// The client sent CLOSE.
    ClientClosed,
    /// The client went away without CLOSE.
    Disconnected(Option<std::io::Error>),
    /// The client broke the protocol.
    Violation(String),
    /// The node is shutting down.
    Shutdown,
    /// The writer failed or the output overflowed.
    OutputFailed(Option<String>),
}

/// What the reader does after one frame.
enum Flow {
    Continue,
    Close,
}

/// Serves one accepted connection to its end.
pub async fn serve(stream: Stream, id: ConnId, ctx: Arc<RelayContext>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = BytesMut::with_capacity(4096);
    let handshake = tokio::time::timeout(
        ctx.config.handshake_timeout,
        read_init(&mut reader, &mut buf, ctx.config.max_message),
    );
    let handshake = tokio::select! {
        result = handshake => result,
        // Not yet a client: nothing to say goodbye to.
        _ = ctx.shutdown.wait() => return,
    };
    let cluster = match handshake {
        Ok(Ok(cluster)) => cluster,
        Err(_) => {
            warn!(timeout = ?ctx.config.handshake_timeout, "handshake timed out; closing");
            return;
        }
        Ok(Err(e)) => {
            if let Some(reason) = e.deny_reason() {
                info!(error = %e, "handshake denied");
                let mut out = BytesMut::new();
                NodeFrame::Deny {
                    magic: ByteStr::from_static(RELAY_MAGIC),
                    reason: reason.into(),
                }
                .encode(&mut out);
                let _ = tokio::time::timeout(FLUSH_GRACE, async {
                    let _ = writer.write_all(&out).await;
                    let _ = writer.shutdown().await;
                })
                .await;
                linger(&mut reader).await;
            } else if matches!(e, HandshakeError::Closed) {
                debug!("closed before the handshake");
            } else {
                warn!(error = %e, "handshake failed; closing without DENY");
            }
            return;
        }
    };

    let hard_limit = 4 * ctx.config.max_message + super::outbox::HIGH_WATER;
    let peer = LocalPeer::new(id, cluster, Outbox::new(hard_limit));
    // INIT is queued before the peer becomes routable, so it is the first frame the client sees.
    peer.outbox.push(&NodeFrame::Init {
        magic: ByteStr::from_static(RELAY_MAGIC),
        version: ByteStr::from_static(PROTOCOL_VERSION),
    });
    let writer_task = {
        let peer = peer.clone();
        tokio::spawn(async move { peer.outbox.run_socket_writer(writer).await })
    };
    ctx.router.attach(&peer);
    info!(cluster = peer.cluster.as_deref().unwrap_or(""), "client attached");

    let ending = read_frames(&ctx, &peer, &mut reader, &mut buf).await;
    let ending = match ending {
        Ending::ClientClosed => graceful_close(&ctx, &peer, &mut reader, &mut buf).await,
        other => other,
    };
    let mut disconnected = false;
    match ending {
        Ending::ClientClosed => {
            info!("client closed");
            ctx.router.detach(&peer, "the other end closed its connection");
            peer.outbox.close(Some(&NodeFrame::Close {
                reason: ByteStr::from_static(""),
            }));
        }
        Ending::Disconnected(err) => {
            match err {
                Some(e) => info!(error = %e, "client connection lost"),
                None => info!("client disconnected without CLOSE"),
            }
            disconnected = true;
            ctx.router.detach(&peer, "the other end's connection was lost");
            peer.outbox.close(None);
        }
        Ending::Violation(reason) => {
            warn!(%reason, "protocol violation; dropping connection");
            ctx.router.detach(&peer, "the other end was dropped");
            peer.outbox.close(Some(&NodeFrame::Close {
                reason: format!("protocol violation: {reason}").into(),
            }));
        }
        Ending::Shutdown => {
            info!("closing: node shutting down");
            ctx.router.detach(&peer, "node shutting down");
            peer.outbox.close(Some(&NodeFrame::Close {
                reason: ByteStr::from_static("node shutting down"),
            }));
        }
        Ending::OutputFailed(reason) => {
            warn!(
                reason = reason.as_deref().unwrap_or("writer ended"),
                "dropping connection"
            );
            ctx.router.detach(&peer, "the other end was dropped");
        }
    }
    let mut writer_task = writer_task;
    if tokio::time::timeout(FLUSH_GRACE, &mut writer_task).await.is_err() {
        warn!("client does not read; abandoning the final flush");
        writer_task.abort();
    }
    if !disconnected {
        linger(&mut reader).await;
    }
    debug!("connection ended");
}

/// Reads and handles frames until the connection should end.
async fn read_frames(ctx: &RelayContext, peer: &Arc<LocalPeer>, reader: &mut ReadHalf, buf: &mut BytesMut) -> Ending {
    let me = Destination::Local(peer.clone());
    // Created once: re-arming these waits on every read would cost more than the read.
    let shutdown = ctx.shutdown.wait();
    tokio::pin!(shutdown);
    let failed = peer.outbox.failed();
    tokio::pin!(failed);
    loop {
        // Frames routed while this batch is handled are written when it ends, by this task.
        let batch = Batch::start();
        loop {
            match decode_client_frame(buf, &ctx.limits) {
                Ok(Some(frame)) => {
                    tracing::trace!(frame = op_name(&frame), "frame");
                    match handle(ctx, peer, &me, frame) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Close) => return Ending::ClientClosed,
                        Err(v) => return Ending::Violation(v.0),
                    }
                }
                Ok(None) => break,
                Err(e) => return Ending::Violation(e.to_string()),
            }
        }
        drop(batch);
        buf.reserve(READ_CHUNK);
        tokio::select! {
            read = reader.read_buf(buf) => match read {
                Ok(0) => return Ending::Disconnected(None),
                Ok(_) => {}
                Err(e) => return Ending::Disconnected(Some(e)),
            },
            _ = &mut shutdown => return Ending::Shutdown,
            reason = &mut failed => return Ending::OutputFailed(reason),
        }
    }
}

/// Hands one frame to the router.
fn handle(ctx: &RelayContext, peer: &Arc<LocalPeer>, me: &Destination, frame: ClientFrame) -> Result<Flow, Violation> {
    let router = &ctx.router;
    match frame {
        ClientFrame::Init { .. } => return Err(Violation("INIT after the handshake".into())),
        ClientFrame::Close => return Ok(Flow::Close),
        ClientFrame::Broadcast { cluster, message } => router.broadcast(&cluster, message),
        ClientFrame::Request {
            id,
            cluster,
            request,
            timeout_ms,
        } => router.request(me, id, &cluster, request, timeout_ms),
        ClientFrame::Reply { id, result } => router.reply(peer, id, result),
        ClientFrame::Subscribe { topic } => router.subscribe(peer, topic),
        ClientFrame::Unsubscribe { topic } => router.unsubscribe(peer, &topic),
        ClientFrame::Publish { topic, event } => router.publish(topic, event),
        ClientFrame::TunInit {
            tunnel_id,
            cluster,
            timeout_ms,
        } => router.tunnel_init(peer, tunnel_id, &cluster, timeout_ms)?,
        ClientFrame::TunConfirm { build_id, tunnel_id } => router.tunnel_confirm(peer, build_id, tunnel_id)?,
        ClientFrame::TunAllow { tunnel_id, space } => router.tunnel_allow(peer, tunnel_id, space),
        ClientFrame::TunTransfer {
            tunnel_id,
            size_or_cont,
            payload,
        } => router.tunnel_transfer(peer, tunnel_id, size_or_cont, payload)?,
        ClientFrame::TunClose { tunnel_id } => router.tunnel_close(peer, tunnel_id),
    }
    Ok(Flow::Continue)
}

/// The client sent CLOSE: stop routing new work to it at once, let the requests already delivered
/// to it be answered (or expire), then end. Meanwhile only REPLY and tunnel frames are acted on;
/// new operations from a client that said goodbye are ignored.
async fn graceful_close(
    ctx: &RelayContext,
    peer: &Arc<LocalPeer>,
    reader: &mut ReadHalf,
    buf: &mut BytesMut,
) -> Ending {
    ctx.router.depart(peer);
    let shutdown = ctx.shutdown.wait();
    tokio::pin!(shutdown);
    let failed = peer.outbox.failed();
    tokio::pin!(failed);
    let mut eof = false;
    loop {
        let batch = Batch::start();
        loop {
            match decode_client_frame(buf, &ctx.limits) {
                Ok(Some(frame)) => match frame {
                    ClientFrame::Reply { id, result } => ctx.router.reply(peer, id, result),
                    ClientFrame::TunAllow { tunnel_id, space } => ctx.router.tunnel_allow(peer, tunnel_id, space),
                    ClientFrame::TunClose { tunnel_id } => ctx.router.tunnel_close(peer, tunnel_id),
                    ClientFrame::TunTransfer {
                        tunnel_id,
                        size_or_cont,
                        payload,
                    } => {
                        if let Err(v) = ctx.router.tunnel_transfer(peer, tunnel_id, size_or_cont, payload) {
                            return Ending::Violation(v.0);
                        }
                    }
                    other => debug!(frame = ?op_name(&other), "ignored after CLOSE"),
                },
                Ok(None) => break,
                Err(e) => return Ending::Violation(e.to_string()),
            }
        }
        drop(batch);
        if peer.outstanding_requests() == 0 {
            return Ending::ClientClosed;
        }
        if eof {
            // The client can send no more replies: its callers learn at once (detach answers
            // them), and the client, if it still reads, gets its CLOSE("").
            return Ending::ClientClosed;
        }
        buf.reserve(READ_CHUNK);
        tokio::select! {
            read = reader.read_buf(buf) => match read {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) => return Ending::Disconnected(Some(e)),
            },
            _ = peer.drained() => {}
            _ = &mut shutdown => return Ending::Shutdown,
            reason = &mut failed => return Ending::OutputFailed(reason),
        }
    }
}

/// A frame's name for logs.
fn op_name(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Init { .. } => "INIT",
        ClientFrame::Close => "CLOSE",
        ClientFrame::Broadcast { .. } => "BROADCAST",
        ClientFrame::Request { .. } => "REQUEST",
        ClientFrame::Reply { .. } => "REPLY",
        ClientFrame::Subscribe { .. } => "SUBSCRIBE",
        ClientFrame::Unsubscribe { .. } => "UNSUBSCRIBE",
        ClientFrame::Publish { .. } => "PUBLISH",
        ClientFrame::TunInit { .. } => "TUN_INIT",
        ClientFrame::TunConfirm { .. } => "TUN_CONFIRM",
        ClientFrame::TunAllow { .. } => "TUN_ALLOW",
        ClientFrame::TunTransfer { .. } => "TUN_TRANSFER",
        ClientFrame::TunClose { .. } => "TUN_CLOSE",
    }
}

/// Reads and discards until the client closes or [`LINGER`] passes.
async fn linger(reader: &mut ReadHalf) {
    let mut sink = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = reader.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
