//! Publish/subscribe. Topics are independent of clusters; any connection may subscribe and publish.

use super::destination::{Destination, DestinationKey, LocalPeer};
use super::remote_in::LocalChange;
use super::Router;
use crate::util::lock;
use bytes::Bytes;
use iris_client::codec::{ByteStr, NodeFrame};
use std::sync::{Arc, PoisonError};

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
        let subscribers = Arc::make_mut(topics.entry(topic.clone()).or_default());
        subscribers.push(Destination::Local(peer.clone()));
        let first_local = subscribers.iter().filter(|d| d.is_local()).count() == 1;
        drop(topics);
        if first_local {
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
        if self.remove_destination(topic, DestinationKey::Local(peer.id)) {
            self.notify(LocalChange::Topic(topic.clone()));
        }
    }

    /// Removes one subscriber; returns whether no local subscriber is left.
    pub(super) fn remove_destination(&self, topic: &ByteStr, key: DestinationKey) -> bool {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let Some(subscribers) = topics.get_mut(topic) else {
            return true;
        };
        Arc::make_mut(subscribers).retain(|d| d.key() != key);
        let no_local = !subscribers.iter().any(|d| d.is_local());
        if subscribers.is_empty() {
            topics.remove(topic);
        }
        no_local
    }

    /// Adds another node as a subscriber of `topic` (it stands for all its local subscribers).
    pub(super) fn add_remote_subscriber(&self, topic: ByteStr, node: Destination) {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let subscribers = Arc::make_mut(topics.entry(topic).or_default());
        let key = node.key();
        if !subscribers.iter().any(|d| d.key() == key) {
            subscribers.push(node);
        }
    }

    /// Whether this node has local subscribers to `topic`.
    pub fn has_local_subscribers(&self, topic: &ByteStr) -> bool {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(topic).is_some_and(|s| s.iter().any(|d| d.is_local()))
    }

    /// Every topic with at least one local subscriber.
    pub fn local_topics(&self) -> Vec<ByteStr> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics
            .iter()
            .filter(|(_, s)| s.iter().any(|d| d.is_local()))
            .map(|(t, _)| t.clone())
            .collect()
    }

    pub(super) fn unsubscribe_all(&self, peer: &Arc<LocalPeer>) {
        let topics: Vec<ByteStr> = lock(&peer.topics).drain().collect();
        for topic in topics {
            self.remove_subscriber(peer, &topic);
        }
    }

    /// Sends `event` to every subscriber of `topic`. Best effort. Each other node with
    /// subscribers gets one copy and delivers it to its own subscribers.
    pub fn publish(&self, topic: ByteStr, event: Bytes) {
        self.publish_to(topic, event, false);
    }

    /// [`Router::publish`]; with `local_only` (it came from another node) only local subscribers.
    pub(super) fn publish_to(&self, topic: ByteStr, event: Bytes, local_only: bool) {
        let subscribers = {
            let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
            match topics.get(&topic) {
                Some(s) => s.clone(),
                None => return,
            }
        };
        let frame = NodeFrame::Publish { topic, event };
        for subscriber in subscribers.iter() {
            if !local_only || subscriber.is_local() {
                subscriber.send_best_effort(&frame, "publish");
            }
        }
    }
}
