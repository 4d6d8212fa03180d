//! Publish/subscribe. Topics are independent of clusters; any connection may subscribe and publish.

use super::destination::{Destination, DestinationKey, LocalPeer};
use super::remote_in::LocalChange;
use super::views::{Arrival, RemoteView};
use super::Router;
use crate::overlay::scribe::Group;
use crate::overlay::wire::Wire;
use crate::util::lock;
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

/// A topic as this node sees it: its local subscribers and how it reaches the others.
#[derive(Default)]
pub(super) struct Topic {
    /// Local subscribers, copied on write so publishing clones one `Arc` under the read lock.
    subscribers: Arc<Vec<Destination>>,
    /// Other nodes, as the overlay last described them (`None`: not in the tree).
    remote: Option<Arc<RemoteView>>,
    /// A local client published since the overlay last looked.
    used: AtomicBool,
}

impl Router {
    /// Subscribes `peer` to `topic`; delivery starts with the next PUBLISH the node handles.
    ///
    /// Subscribing to a topic already subscribed is a harmless no-op (the old node dropped the
    /// client; nothing is gained by punishing a retry), and the subscriber still receives each
    /// event once.
    pub fn subscribe(&self, peer: &Arc<LocalPeer>, topic: ByteStr) {
        if !lock(&peer.topics).insert(topic.clone()) {
            tracing::debug!(conn = %peer.id, %topic, "already subscribed; ignored");
            return;
        }
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let entry = topics.entry(topic.clone()).or_default();
        let subscribers = Arc::make_mut(&mut entry.subscribers);
        subscribers.push(Destination::Local(peer.clone()));
        let first = subscribers.len() == 1;
        drop(topics);
        if first {
            self.notify(LocalChange::Topic(topic));
        }
    }

    /// Unsubscribes `peer` from `topic`. Unsubscribing from a topic not subscribed is a harmless
    /// no-op, for the same reason as a double subscribe.
    pub fn unsubscribe(&self, peer: &Arc<LocalPeer>, topic: &ByteStr) {
        if !lock(&peer.topics).remove(topic) {
            tracing::debug!(conn = %peer.id, %topic, "not subscribed; unsubscribe ignored");
            return;
        }
        self.remove_subscriber(peer, topic);
    }

    fn remove_subscriber(&self, peer: &LocalPeer, topic: &ByteStr) {
        let key = DestinationKey::Local(peer.id);
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = topics.get_mut(topic) else { return };
        Arc::make_mut(&mut entry.subscribers).retain(|d| d.key() != key);
        let last = entry.subscribers.is_empty();
        if last && entry.remote.is_none() {
            topics.remove(topic);
        }
        drop(topics);
        if last {
            self.notify(LocalChange::Topic(topic.clone()));
        }
    }

    /// Installs how `topic` reaches other nodes (`None`: this node left its tree).
    pub fn set_topic_view(&self, topic: &ByteStr, view: Option<RemoteView>) {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        match view {
            Some(view) => topics.entry(topic.clone()).or_default().remote = Some(Arc::new(view)),
            None => {
                if let Some(entry) = topics.get_mut(topic) {
                    entry.remote = None;
                    if entry.subscribers.is_empty() {
                        topics.remove(topic);
                    }
                }
            }
        }
    }

    /// How many local clients subscribe to `topic`.
    pub fn local_subscribers(&self, topic: &ByteStr) -> usize {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(topic).map_or(0, |t| t.subscribers.len())
    }

    /// Every topic with at least one local subscriber.
    pub fn local_topics(&self) -> Vec<ByteStr> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics
            .iter()
            .filter(|(_, t)| !t.subscribers.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Topics local clients published to since the last call; entries left with nothing are
    /// dropped.
    pub fn take_used_topics(&self) -> Vec<ByteStr> {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let used = topics
            .iter()
            .filter(|(_, t)| t.used.swap(false, Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect();
        topics.retain(|_, t| !t.subscribers.is_empty() || t.remote.is_some() || t.used.load(Ordering::Relaxed));
        used
    }

    pub(super) fn unsubscribe_all(&self, peer: &Arc<LocalPeer>) {
        let topics: Vec<ByteStr> = lock(&peer.topics).drain().collect();
        for topic in topics {
            self.remove_subscriber(peer, &topic);
        }
    }

    /// Sends `event` to every subscriber of `topic`. Best effort.
    pub fn publish(&self, topic: ByteStr, event: Bytes) {
        self.publish_to(topic, event, &Arrival::Client);
    }

    /// [`Router::publish`] for an event that arrived as `arrival` (see `views.rs`).
    pub(super) fn publish_to(&self, topic: ByteStr, event: Bytes, arrival: &Arrival) {
        let (subscribers, view, first_use) = {
            let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
            match topics.get(&topic) {
                Some(t) => {
                    let first_use = matches!(arrival, Arrival::Client)
                        && self.hooks().is_some()
                        && !t.used.swap(true, Ordering::Relaxed)
                        && t.remote.is_none();
                    (t.subscribers.clone(), t.remote.clone(), first_use)
                }
                None => (
                    Arc::default(),
                    None,
                    matches!(arrival, Arrival::Client) && self.hooks().is_some(),
                ),
            }
        };
        if first_use {
            self.note_topic_use(&topic);
        }
        let group = Group::topic(topic.clone());
        let fresh = self.fan_out(&group, view.as_deref(), arrival, |peer, via| {
            peer.mark_used();
            peer.send_wire_best_effort(
                &Wire::Publish {
                    topic: topic.clone(),
                    event: event.clone(),
                    via,
                },
                "publish",
            );
        });
        if !fresh {
            return;
        }
        let frame = NodeFrame::Publish { topic, event };
        for subscriber in subscribers.iter() {
            subscriber.send_best_effort(&frame, "publish");
        }
    }

    /// A local client publishes to `topic` and the overlay does not know yet: make sure an entry
    /// records the use, and tell the overlay at once.
    fn note_topic_use(&self, topic: &ByteStr) {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        topics
            .entry(topic.clone())
            .or_default()
            .used
            .store(true, Ordering::Relaxed);
        drop(topics);
        self.notify(LocalChange::Used(Group::topic(topic.clone())));
    }
}
