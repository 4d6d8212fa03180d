//! The live links and what flows on them besides traffic: hello, heartbeats, graceful leave,
//! deterministic resolution of duplicate links, and the glue between the sans-I/O
//! [`Engine`] (Pastry state, link needs, Scribe trees) and the sockets, the clock and the
//! router.
//!
//! Every link runs two tasks: a reader (decrypt, decode, hand control messages to the engine and
//! traffic to the router) and a writer (drain the peer's buffer, encrypt, write; a heartbeat when
//! idle). A link silent for [`LINK_DEAD`] is dropped, so a crashed or hung node is routed around
//! within 3 s; a closed socket (e.g. after `kill -9`) is noticed at once.
//!
//! Locking: the engine's lock is taken before the links table's, never the other way round;
//! outputs are carried out while the engine lock is held, so they happen in the engine's order.

use super::discovery;
use super::engine::{Engine, EngineConfig, Output};
use super::link::{self, Credentials, LinkError, LinkReader, LinkWriter, Role};
use super::pastry::Hop;
use super::remote::{LinkId, RemotePeer};
use super::scribe::{Group, GroupKind, GroupView};
use super::wire::{Wire, WireLimits, MAX_NODE_ADDRS};
use crate::config::OverlayConfig;
use crate::router::{LinkFuture, LocalChange, OverlayHooks, RemoteDir, RemoteView, Router};
use crate::util::lock;
use bytes::BytesMut;
use iris_client::codec::ByteStr;
use rsa::RsaPrivateKey;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

pub use super::id::NodeId;

/// An idle link sends a heartbeat this often.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// A link that received nothing for this long is dropped.
pub const LINK_DEAD: Duration = Duration::from_millis(2500);
/// How often changed spare capacity is re-announced.
pub const LOAD_REPORT_INTERVAL: Duration = Duration::from_millis(500);
/// How often the engine's clock ticks (link needs, leaf-set exchange, listener expiry).
pub const ENGINE_TICK: Duration = Duration::from_millis(100);
/// Handshakes in progress at once, inbound and outbound each; more inbound connections are closed.
pub const MAX_PENDING_HANDSHAKES: usize = 64;
/// A replaced duplicate link stays open at least this long (messages in flight on it arrive).
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How long a graceful leave waits for the goodbyes to be flushed.
const LEAVE_GRACE: Duration = Duration::from_secs(1);

/// Why the overlay could not start.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// No listen address could be bound.
    #[error("cannot listen for other nodes on {addrs}: {error}")]
    Bind {
        /// The addresses tried.
        addrs: String,
        /// The last error.
        error: std::io::Error,
    },
    /// Credentials could not be prepared.
    #[error("overlay credentials: {0}")]
    Credentials(#[from] LinkError),
}

/// One live link.
struct LinkEntry {
    peer: Arc<RemotePeer>,
    /// Who dialled (duplicate resolution keeps the link dialled by the lower id).
    initiator: NodeId,
    /// The node's listen addresses (from its hello).
    listen: Vec<SocketAddr>,
    writer: Option<JoinHandle<()>>,
}

/// Shared state of the overlay.
pub(crate) struct Inner {
    pub(crate) creds: Credentials,
    pub(crate) router: Arc<Router>,
    pub(crate) config: OverlayConfig,
    /// The addresses actually bound.
    pub(crate) listen: Vec<SocketAddr>,
    limits: WireLimits,
    links: Mutex<HashMap<NodeId, LinkEntry>>,
    /// The engine and the views it last handed out (resolved again when links change).
    engine: Mutex<EngineSide>,
    /// Zero of the engine's clock.
    epoch: Instant,
    /// Addresses being dialled now (until their link is in `links` or the dial failed).
    dialing: Mutex<HashSet<SocketAddr>>,
    /// Woken when a link is added or a dial ends ([`Inner::link_to`] waits on it).
    link_event: tokio::sync::Notify,
    /// Nodes [`Inner::link_to`] could not reach lately, and when it gave up on each.
    unreachable: Mutex<HashMap<NodeId, Instant>>,
    /// Listen addresses of linked nodes (not dialled again).
    linked_addrs: Mutex<HashMap<SocketAddr, NodeId>>,
    pub(crate) handshakes: Arc<Semaphore>,
    /// Dials in progress at once (separate from inbound, so strangers cannot stall discovery).
    dials: Arc<Semaphore>,
    next_link: AtomicU64,
    rejected: AtomicU64,
}

/// The engine with the views it produced.
struct EngineSide {
    engine: Engine,
    views: HashMap<Group, GroupView>,
}

/// The running overlay of one node.
pub struct Overlay {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Overlay {
    /// Binds the listen addresses and starts accepting, discovering and announcing. Returns at
    /// once: a lone node is ready immediately and merges with peers as they are found.
    pub async fn start(
        config: &OverlayConfig,
        network: &str,
        key: &RsaPrivateKey,
        router: Arc<Router>,
        max_message: usize,
    ) -> Result<Overlay, OverlayError> {
        let node = NodeId::random();
        let creds = Credentials::new(network, key, node)?;
        let mut listeners = Vec::new();
        let mut last_error = None;
        for addr in &config.listen {
            match TcpListener::bind(addr).await {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    warn!(%addr, error = %e, "cannot listen for other nodes here");
                    last_error = Some(e);
                }
            }
        }
        if listeners.is_empty() {
            let addrs = config
                .listen
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let error = last_error.unwrap_or_else(|| std::io::Error::other("no listen address"));
            return Err(OverlayError::Bind { addrs, error });
        }
        let listen: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
        let inner = Arc::new(Inner {
            creds,
            router: router.clone(),
            config: config.clone(),
            listen: listen.clone(),
            limits: WireLimits::for_max_message(max_message),
            links: Mutex::default(),
            engine: Mutex::new(EngineSide {
                engine: Engine::new(node, listen.clone(), engine_config()),
                views: HashMap::new(),
            }),
            epoch: Instant::now(),
            dialing: Mutex::default(),
            link_event: tokio::sync::Notify::new(),
            unreachable: Mutex::default(),
            linked_addrs: Mutex::default(),
            handshakes: Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES)),
            dials: Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES)),
            next_link: AtomicU64::new(1),
            rejected: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        router.set_observer(tx);
        router.set_overlay(Arc::new(Hooks {
            inner: Arc::downgrade(&inner),
            me: node,
            redirect_tunnels: tunnel_redirect_knob(),
        }));
        let mut tasks = vec![
            tokio::spawn(announcer(inner.clone(), rx)),
            tokio::spawn(ticker(inner.clone())),
        ];
        for listener in listeners {
            tasks.push(tokio::spawn(accept_loop(listener, inner.clone())));
        }
        tasks.push(tokio::spawn(discovery::run(inner.clone())));
        let discover = config
            .discover
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",");
        info!(node = %node, listen = ?listen, discover, probe = config.probe, seeds = ?config.seeds,
            seed_dns = ?config.seed_dns, "overlay started");
        Ok(Overlay { inner, tasks })
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.creds.node
    }

    /// The overlay addresses bound.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.inner.listen
    }

    /// Nodes currently linked.
    pub fn peers(&self) -> Vec<NodeId> {
        lock(&self.inner.links).keys().copied().collect()
    }

    /// Entries of this node's Pastry state (diagnostics).
    pub fn routing_state(&self) -> usize {
        lock(&self.inner.engine).engine.pastry().state_size()
    }

    /// Graceful leave: every peer gets `Bye` (it forgets this node at once), the links are
    /// flushed (bounded) and the overlay's tasks stop.
    pub async fn leave(self) {
        for task in &self.tasks {
            task.abort();
        }
        let entries: Vec<(Arc<RemotePeer>, Option<JoinHandle<()>>)> = lock(&self.inner.links)
            .values_mut()
            .map(|e| (e.peer.clone(), e.writer.take()))
            .collect();
        for (peer, _) in &entries {
            peer.send_wire(&Wire::Bye);
            peer.close();
        }
        let writers = entries.into_iter().filter_map(|(_, w)| w);
        let _ = tokio::time::timeout(LEAVE_GRACE, async {
            for w in writers {
                let _ = w.await;
            }
        })
        .await;
        info!(node = %self.inner.creds.node, "left the overlay");
    }
}

impl Inner {
    /// Dials `addr` unless it is this node, already linked or being dialled.
    pub(crate) fn dial(self: &Arc<Self>, addr: SocketAddr) {
        if self.listen.contains(&addr) || lock(&self.linked_addrs).contains_key(&addr) {
            return;
        }
        if !lock(&self.dialing).insert(addr) {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            let dialing = Dialing {
                inner: inner.clone(),
                addr,
            };
            if let Some((reader, writer, node)) = inner.connect(addr).await {
                inner
                    .run_link(reader, writer, node, Role::Initiator, addr, Some(dialing))
                    .await;
            }
        });
    }

    /// A live link to `node`, dialling `addrs` (at most [`MAX_NODE_ADDRS`]) when there is none;
    /// `None` when every dial failed or nothing came up `within`. A node that could not be reached
    /// is not dialled again for this purpose for [`UNREACHABLE_FOR`]: `None` at once, so a
    /// network where some nodes cannot dial others pays the wait once, not per tunnel.
    async fn link_to(
        self: &Arc<Self>,
        node: NodeId,
        addrs: Vec<SocketAddr>,
        within: Duration,
    ) -> Option<Arc<RemotePeer>> {
        let deadline = tokio::time::Instant::now() + within;
        // `dial` skips this node's own addresses and those of linked nodes.
        let addrs: Vec<SocketAddr> = addrs.into_iter().take(MAX_NODE_ADDRS).collect();
        let linked = |inner: &Inner| {
            let peer = lock(&inner.links).get(&node).map(|e| e.peer.clone());
            let peer = peer.filter(|p| !p.is_closed());
            if peer.is_some() {
                lock(&inner.unreachable).remove(&node);
            }
            peer
        };
        if let Some(peer) = linked(self) {
            return Some(peer);
        }
        let recently = lock(&self.unreachable)
            .get(&node)
            .is_some_and(|at| at.elapsed() < UNREACHABLE_FOR);
        if recently {
            return None;
        }
        debug!(node = %node, ?addrs, "dialling a node for a direct tunnel");
        for a in &addrs {
            self.dial(*a);
        }
        loop {
            let event = self.link_event.notified();
            tokio::pin!(event);
            event.as_mut().enable();
            // Dials first, links second: a dial is over only once its link is in `links`, so a
            // dial seen over here has its link seen below (this thread may be preempted between
            // the two reads while the dial completes).
            let dialling = addrs.iter().any(|a| lock(&self.dialing).contains(a));
            if let Some(peer) = linked(self) {
                return Some(peer);
            }
            // Never dialled (this node's own address, or one linked to another node), or every
            // dial ended without a link to `node`.
            if !dialling {
                return self.unreachable(node);
            }
            if tokio::time::timeout_at(deadline, event).await.is_err() {
                // A wait cut short by a construction's deadline says little about the node.
                return if within >= Duration::from_secs(1) {
                    self.unreachable(node)
                } else {
                    None
                };
            }
        }
    }

    /// Notes that `node` could not be linked to; `None`.
    fn unreachable(&self, node: NodeId) -> Option<Arc<RemotePeer>> {
        info!(node = %node, "no direct link to this node for tunnels; they are relayed along the tree for {UNREACHABLE_FOR:?}");
        let mut unreachable = lock(&self.unreachable);
        unreachable.retain(|_, at| at.elapsed() < UNREACHABLE_FOR);
        unreachable.insert(node, Instant::now());
        None
    }

    async fn connect(self: &Arc<Self>, addr: SocketAddr) -> Option<(LinkReader, LinkWriter, NodeId)> {
        let permit = self.dials.clone().acquire_owned().await.ok()?;
        let stream = match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::trace!(%addr, error = %e, "nothing listening");
                return None;
            }
            Err(_) => {
                tracing::trace!(%addr, "connect timed out");
                return None;
            }
        };
        let result = link::handshake(stream, Role::Initiator, &self.creds).await;
        drop(permit);
        match result {
            Ok(link) => Some(link),
            Err(e) => {
                self.count_rejection(addr, &e, "dialled");
                None
            }
        }
    }

    /// Counts and logs a failed handshake: every one of the first 100 at WARN, then every 100th
    /// (the rest at DEBUG), so a flood of strangers cannot flood the log.
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of is newer than the MSRV (1.75)
    fn count_rejection(&self, addr: SocketAddr, error: &LinkError, side: &'static str) {
        let total = self.rejected.fetch_add(1, Ordering::Relaxed) + 1;
        if total <= 100 || total % 100 == 0 {
            warn!(%addr, side, %error, rejected_total = total, "overlay handshake rejected");
        } else {
            debug!(%addr, side, %error, rejected_total = total, "overlay handshake rejected");
        }
    }

    /// Serves one authenticated link until it ends.
    async fn run_link(
        self: &Arc<Self>,
        mut reader: LinkReader,
        writer: LinkWriter,
        node: NodeId,
        role: Role,
        addr: SocketAddr,
        dialing: Option<Dialing>,
    ) {
        let me = self.creds.node;
        if node == me {
            debug!(%addr, "reached myself; closing");
            return;
        }
        let initiator = if role == Role::Initiator { me } else { node };
        let link = LinkId(self.next_link.fetch_add(1, Ordering::Relaxed));
        let peer = Arc::new(RemotePeer::new(link, node));
        // Hello goes first, before anyone else can queue for this link.
        peer.send_wire(&Wire::Hello {
            node: me,
            listen: self.listen.clone(),
        });
        let replaced = {
            let mut links = lock(&self.links);
            let keep_new = match links.get(&node) {
                None => true,
                // The same side dialled again: the old link is stale.
                Some(old) if old.initiator == initiator => true,
                // Two links dialled in opposite directions: both ends keep the one dialled by the
                // lower node id.
                Some(_) => initiator == me.min(node),
            };
            if !keep_new {
                debug!(node = %node, link = link.0, "duplicate link; keeping the one dialled by the lower id");
                return;
            }
            links
                .insert(
                    node,
                    LinkEntry {
                        peer: peer.clone(),
                        initiator,
                        // Until its hello: where it was dialled, so that nobody dials it there
                        // again meanwhile (a second link dialled by the same side would be
                        // resolved by arrival order, which the two ends may see differently).
                        listen: if role == Role::Initiator {
                            vec![addr]
                        } else {
                            Vec::new()
                        },
                        writer: None,
                    },
                )
                .map(|old| old.peer)
        };
        if role == Role::Initiator {
            lock(&self.linked_addrs).insert(addr, node);
        }
        // The dial (if any) is over only now that its link can be found.
        drop(dialing);
        self.link_event.notify_waiters();
        if let Some(old) = replaced {
            debug!(node = %node, old = old.link.0, new = link.0, "duplicate link replaced");
            // Traffic for the node takes the new link from now on; the old one finishes what it
            // carries (both ends pick the same survivor, so both drain the same link).
            self.with_engine(|_| {}, Some(node));
            tokio::spawn(drain_replaced(old));
        }
        let writer_task = tokio::spawn(write_loop(peer.clone(), writer));
        if let Some(entry) = lock(&self.links).get_mut(&node).filter(|e| e.peer.link == link) {
            entry.writer = Some(writer_task);
        }
        info!(node = %node, link = link.0, %addr, ?role, "link up");

        let ending = self.read_loop(&mut reader, &peer).await;
        match &ending {
            Ok(()) => info!(node = %node, link = link.0, "link closed"),
            Err(reason) => warn!(node = %node, link = link.0, %reason, "link dropped"),
        }
        let removed = {
            let mut links = lock(&self.links);
            if links.get(&node).is_some_and(|e| e.peer.link == link) {
                links.remove(&node)
            } else {
                None
            }
        };
        if let Some(entry) = removed {
            let mut addrs = lock(&self.linked_addrs);
            for a in &entry.listen {
                if addrs.get(a) == Some(&node) {
                    addrs.remove(a);
                }
            }
            drop(addrs);
            let now = self.now();
            self.with_engine(|e| e.link_down(node, now), Some(node));
        }
        self.router.detach_remote(&peer);
    }

    /// Reads until the link ends: `Ok` for a graceful end (bye, closed here), `Err` otherwise.
    async fn read_loop(self: &Arc<Self>, reader: &mut LinkReader, peer: &Arc<RemotePeer>) -> Result<(), String> {
        let mut plain = BytesMut::new();
        loop {
            let received = tokio::select! {
                r = tokio::time::timeout(LINK_DEAD, reader.recv(&mut plain)) => r,
                _ = peer.stopped() => return Ok(()),
            };
            match received {
                Err(_) => return Err(format!("nothing received for {LINK_DEAD:?}")),
                Ok(Err(LinkError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err("connection closed".into())
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(())) => {}
            }
            // Frames this batch routes to local clients are written when it ends, by this task.
            let batch = crate::relay::outbox::Batch::start();
            loop {
                match Wire::decode(&mut plain, &self.limits) {
                    Ok(Some(msg)) => {
                        if self.handle(peer, msg) {
                            return Ok(());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Err(format!("undecodable message: {e}")),
                }
            }
            drop(batch);
        }
    }

    /// Handles one message; returns true when the peer said goodbye.
    fn handle(self: &Arc<Self>, peer: &Arc<RemotePeer>, msg: Wire) -> bool {
        match msg {
            Wire::Hello { node, listen } => {
                if node != peer.node {
                    warn!(claimed = %node, authenticated = %peer.node, "hello names another node; ignored");
                    return false;
                }
                let before = match lock(&self.links).get_mut(&node).filter(|e| e.peer.link == peer.link) {
                    Some(entry) => std::mem::replace(&mut entry.listen, listen.clone()),
                    None => return false, // a replaced link's late hello
                };
                let mut addrs = lock(&self.linked_addrs);
                // The address it was dialled at (if any), recorded when the link came up.
                for a in &before {
                    if addrs.get(a) == Some(&node) {
                        addrs.remove(a);
                    }
                }
                for a in &listen {
                    addrs.insert(*a, node);
                }
                drop(addrs);
                let now = self.now();
                self.with_engine(|e| e.link_up(node, listen, now), Some(node));
            }
            Wire::Control(msg) => {
                let now = self.now();
                self.with_engine(|e| e.receive(peer.node, msg, now), None);
            }
            Wire::Bye => {
                info!(node = %peer.node, "node left gracefully");
                return true;
            }
            Wire::Heartbeat => {}
            other => self.router.remote_message(peer, other),
        }
        false
    }

    /// The engine's clock.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Runs `f` on the engine and carries out what it asked for, in order, under the engine
    /// lock. With `relinked`, views naming that node are resolved again (its link changed).
    fn with_engine(self: &Arc<Self>, f: impl FnOnce(&mut Engine), relinked: Option<NodeId>) {
        let mut side = lock(&self.engine);
        f(&mut side.engine);
        let outputs = side.engine.drain();
        let mut changed: HashSet<Group> = HashSet::new();
        for out in outputs {
            match out {
                Output::Send(node, msg) => {
                    let peer = lock(&self.links).get(&node).map(|e| e.peer.clone());
                    if let Some(peer) = peer {
                        peer.send_wire(&Wire::Control(msg));
                    }
                }
                Output::Dial(node, addrs) => {
                    debug!(node = %node, ?addrs, "dialling a node the overlay wants");
                    for addr in addrs {
                        self.dial(addr);
                    }
                }
                Output::Close(node) => {
                    let peer = lock(&self.links).get(&node).map(|e| e.peer.clone());
                    if let Some(peer) = peer {
                        debug!(node = %node, "closing a link neither end needs");
                        peer.close();
                    }
                }
                Output::View(group, view) => {
                    match view {
                        Some(v) => side.views.insert(group.clone(), v),
                        None => side.views.remove(&group),
                    };
                    changed.insert(group);
                }
            }
        }
        if let Some(node) = relinked {
            for (group, view) in &side.views {
                let named = view.tree.iter().any(|d| d.node == node)
                    || view.direct.as_ref().is_some_and(|d| d.iter().any(|e| e.node == node));
                if named {
                    changed.insert(group.clone());
                }
            }
        }
        for group in changed {
            let resolved = side.views.get(&group).map(|v| self.resolve(v));
            match group.kind {
                GroupKind::Cluster => self.router.set_cluster_view(&group.name, resolved),
                GroupKind::Topic => self.router.set_topic_view(&group.name, resolved),
            }
        }
    }

    /// A view with node ids turned into the current links. Direct delivery needs a link to every
    /// listed node; until then traffic walks the tree.
    fn resolve(&self, view: &GroupView) -> RemoteView {
        let links = lock(&self.links);
        let dir = |node: NodeId, members: u32, spare: u32| {
            links.get(&node).map(|e| RemoteDir {
                peer: e.peer.clone(),
                members,
                spare,
            })
        };
        let tree = view
            .tree
            .iter()
            .filter_map(|d| dir(d.node, d.members, d.spare))
            .collect();
        let direct = view.direct.as_ref().and_then(|entries| {
            entries
                .iter()
                .map(|e| dir(e.node, e.members, e.spare))
                .collect::<Option<Vec<RemoteDir>>>()
        });
        RemoteView { tree, direct }
    }

    /// Listen addresses of nodes linked or known to be alive (discovery skips them).
    pub(crate) fn known_addrs(&self) -> HashSet<SocketAddr> {
        let mut known = lock(&self.engine).engine.known_addrs();
        known.extend(lock(&self.linked_addrs).keys().copied());
        known
    }
}

/// Closes a replaced link once nothing is pending on it (requests either way, constructions,
/// tunnels), at the earliest after [`DRAIN_GRACE`] so messages already on the wire arrive.
async fn drain_replaced(old: Arc<RemotePeer>) {
    tokio::time::sleep(DRAIN_GRACE).await;
    while old.has_pending() && !old.is_closed() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    debug!(node = %old.node, link = old.link.0, "replaced link drained; closing it");
    old.close();
}

/// Drains the peer's buffer into the link; a heartbeat when idle. Closing the peer flushes what
/// is queued and ends the task.
async fn write_loop(peer: Arc<RemotePeer>, mut writer: LinkWriter) {
    let mut heartbeat = BytesMut::new();
    Wire::Heartbeat.encode(&mut heartbeat);
    let mut batch = BytesMut::new();
    loop {
        let result = match peer.next_batch(HEARTBEAT_INTERVAL, &mut batch).await {
            Some(true) => writer.send_in_place(&mut batch).await,
            Some(false) => writer.send(&heartbeat).await,
            None => break,
        };
        batch.clear();
        if let Err(e) = result {
            debug!(node = %peer.node, link = peer.link.0, error = %e, "link write failed");
            peer.close();
            break;
        }
    }
    writer.shutdown().await;
}

/// Accepts inbound links; at most [`MAX_PENDING_HANDSHAKES`] unauthenticated connections at once.
async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "overlay accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = inner.handshakes.clone().try_acquire_owned() else {
            warn!(%addr, "too many handshakes in progress; connection closed");
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let result = link::handshake(stream, Role::Responder, &inner.creds).await;
            drop(permit);
            match result {
                Ok((reader, writer, node)) => inner.run_link(reader, writer, node, Role::Responder, addr, None).await,
                Err(e) => inner.count_rejection(addr, &e, "accepted"),
            }
        });
    }
}

/// Feeds this node's membership changes to the engine: at once for joins, leaves,
/// subscriptions and first uses; every [`LOAD_REPORT_INTERVAL`] for changed spare capacity.
async fn announcer(inner: Arc<Inner>, mut changes: mpsc::UnboundedReceiver<LocalChange>) {
    let mut sent: HashMap<ByteStr, (u32, u32)> = HashMap::new();
    let mut tick = tokio::time::interval(LOAD_REPORT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some(change) = change else { return };
                let now = inner.now();
                match change {
                    LocalChange::Cluster(name) => {
                        let load = inner.router.local_cluster_load(&name);
                        let local = (load.0 > 0).then_some(load);
                        if local.is_some() { sent.insert(name.clone(), load); } else { sent.remove(&name); }
                        inner.with_engine(|e| e.set_local(&Group::cluster(name), local, now), None);
                    }
                    LocalChange::Topic(name) => {
                        let n = inner.router.local_subscribers(&name) as u32;
                        let local = (n > 0).then_some((n, 0));
                        inner.with_engine(|e| e.set_local(&Group::topic(name), local, now), None);
                    }
                    LocalChange::Used(group) => inner.with_engine(|e| e.touch(&group, now), None),
                }
            }
            _ = tick.tick() => {
                let now = inner.now();
                let names: Vec<ByteStr> = sent.keys().cloned().collect();
                for name in names {
                    let load = inner.router.local_cluster_load(&name);
                    if sent.get(&name) != Some(&load) && load.0 > 0 {
                        sent.insert(name.clone(), load);
                        inner.with_engine(|e| e.set_local(&Group::cluster(name), Some(load), now), None);
                    }
                }
            }
        }
    }
}

/// The engine's clock: link needs, leaf-set exchange, listener expiry, and the groups local
/// clients keep sending to.
async fn ticker(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(ENGINE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut since_use = Duration::ZERO;
    loop {
        tick.tick().await;
        let now = inner.now();
        since_use += ENGINE_TICK;
        if since_use >= Duration::from_secs(1) {
            since_use = Duration::ZERO;
            inner.router.age_floods();
            let used: Vec<Group> = inner
                .router
                .take_used_clusters()
                .into_iter()
                .map(Group::cluster)
                .chain(inner.router.take_used_topics().into_iter().map(Group::topic))
                .collect();
            if !used.is_empty() {
                inner.with_engine(
                    |e| {
                        for g in &used {
                            e.touch(g, now);
                        }
                    },
                    None,
                );
            }
        }
        let links: HashMap<NodeId, Arc<RemotePeer>> =
            lock(&inner.links).iter().map(|(n, e)| (*n, e.peer.clone())).collect();
        inner.with_engine(
            |e| e.tick(now, &|n| links.get(&n).is_some_and(|p| p.take_active())),
            None,
        );
    }
}

/// Test knob: the leaf set size (2-64; default [`super::pastry::LEAF_SET`]).
pub const LEAF_SET_VAR: &str = "IRIS_OVERLAY_LEAF_SET";
/// Test knob: groups of at most this many member nodes are delivered to directly (0-16; default
/// [`super::scribe::DIRECT_MAX`]; 0 sends everything along the trees).
pub const DIRECT_MAX_VAR: &str = "IRIS_OVERLAY_DIRECT_MAX";

/// The engine's settings, with the test knobs applied. Tests shrink the leaf set and turn direct
/// delivery off so that a handful of processes exercise multi-hop routes and tree walks.
fn engine_config() -> EngineConfig {
    let mut cfg = EngineConfig::default();
    let knob = |var: &str, range: std::ops::RangeInclusive<usize>| {
        let value = std::env::var(var).ok()?;
        match value.parse::<usize>() {
            Ok(v) if range.contains(&v) => {
                warn!(var, value = v, "overlay tuning knob set (meant for tests)");
                Some(v)
            }
            _ => {
                warn!(var, %value, "ignored: not a number in {range:?}");
                None
            }
        }
    };
    if let Some(v) = knob(LEAF_SET_VAR, 2..=64) {
        cfg.leaf_set = v;
    }
    if let Some(v) = knob(DIRECT_MAX_VAR, 0..=super::scribe::DIRECT_MAX) {
        cfg.direct_max = v;
    }
    cfg
}

/// How long a node that [`Inner::link_to`] could not reach is not tried again.
pub const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// A dial in progress: over (and [`Inner::link_to`] woken) when dropped.
struct Dialing {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

impl Drop for Dialing {
    fn drop(&mut self) {
        lock(&self.inner.dialing).remove(&self.addr);
        self.inner.link_event.notify_waiters();
    }
}

/// Knob: `0` makes tunnel constructions started here relay along the tree instead of
/// redirecting to a direct link to the member's node (default on).
pub const TUNNEL_REDIRECT_VAR: &str = "IRIS_OVERLAY_TUNNEL_REDIRECT";

fn tunnel_redirect_knob() -> bool {
    match std::env::var(TUNNEL_REDIRECT_VAR).as_deref() {
        Err(_) | Ok("1") => true,
        Ok("0") => {
            warn!(
                var = TUNNEL_REDIRECT_VAR,
                "tunnels to distant members are relayed along the trees"
            );
            false
        }
        Ok(other) => {
            warn!(var = TUNNEL_REDIRECT_VAR, value = other, "ignored: not 0 or 1");
            true
        }
    }
}

/// The router's handle on the overlay.
struct Hooks {
    inner: Weak<Inner>,
    me: NodeId,
    redirect_tunnels: bool,
}

impl OverlayHooks for Hooks {
    fn me(&self) -> NodeId {
        self.me
    }

    fn next_hop(&self, key: NodeId) -> Option<Arc<RemotePeer>> {
        let inner = self.inner.upgrade()?;
        let hop = lock(&inner.engine).engine.next_hop(key);
        match hop {
            Hop::Local => None,
            Hop::Node(n) => lock(&inner.links).get(&n).map(|e| e.peer.clone()),
        }
    }

    fn redirect_tunnels(&self) -> bool {
        self.redirect_tunnels
    }

    fn listen(&self) -> Vec<SocketAddr> {
        self.inner.upgrade().map(|i| i.listen.clone()).unwrap_or_default()
    }

    fn link_to(&self, node: NodeId, addrs: Vec<SocketAddr>, within: Duration) -> LinkFuture {
        let inner = self.inner.upgrade();
        Box::pin(async move { inner?.link_to(node, addrs, within).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lone_node(key: &RsaPrivateKey) -> Overlay {
        let config = OverlayConfig {
            listen: vec!["127.0.0.1:0".parse().expect("addr")],
            discover: Vec::new(),
            probe: false,
            seeds: Vec::new(),
            seed_dns: Vec::new(),
        };
        Overlay::start(&config, "link-to-test", key, Router::new(), 1 << 20)
            .await
            .expect("start")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn link_to_dials_a_node_once_and_gives_up_early_when_nothing_answers() {
        let key = crate::keys::generate_private_key(2048).expect("key");
        let (a, b) = (lone_node(&key).await, lone_node(&key).await);
        assert!(a.peers().is_empty(), "no discovery, no seeds: alone");
        let wait = Duration::from_secs(30);
        let first = a
            .inner
            .link_to(b.node_id(), b.listen_addrs().to_vec(), wait)
            .await
            .expect("linked");
        assert_eq!(first.node, b.node_id());
        assert!(a.peers().contains(&b.node_id()));
        let again = a
            .inner
            .link_to(b.node_id(), b.listen_addrs().to_vec(), wait)
            .await
            .expect("linked");
        assert!(Arc::ptr_eq(&first, &again), "the existing link is reused");

        // Nothing listens at the address: the failed dial ends the wait long before `wait`.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let nobody = closed.local_addr().expect("addr");
        drop(closed);
        let started = std::time::Instant::now();
        let none = a.inner.link_to(NodeId::random(), vec![nobody], wait).await;
        assert!(none.is_none());
        assert!(started.elapsed() < wait / 3, "gave up after {:?}", started.elapsed());
        // A node that is not at the address it was said to be at: no link to it either.
        let elsewhere = a.inner.link_to(NodeId::random(), b.listen_addrs().to_vec(), wait).await;
        assert!(elsewhere.is_none());

        // Something that accepts connections but never completes a handshake: the wait runs out,
        // and the next attempt for that node gives up at once instead of waiting again.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let silent_addr = silent.local_addr().expect("addr");
        let stuck = NodeId::random();
        let started = std::time::Instant::now();
        let first = a.inner.link_to(stuck, vec![silent_addr], Duration::from_secs(1)).await;
        assert!(first.is_none());
        assert!(started.elapsed() >= Duration::from_secs(1), "waited the whole second");
        let started = std::time::Instant::now();
        assert!(a.inner.link_to(stuck, vec![silent_addr], wait).await.is_none());
        assert!(started.elapsed() < wait / 3, "remembered: {:?}", started.elapsed());
        // An existing link is used whatever was remembered.
        lock(&a.inner.unreachable).insert(b.node_id(), Instant::now());
        assert!(a.inner.link_to(b.node_id(), Vec::new(), wait).await.is_some());
        assert!(!lock(&a.inner.unreachable).contains_key(&b.node_id()));
        drop(silent);
        a.leave().await;
        b.leave().await;
    }
}
