//! Publish/subscribe. Topics are independent of clusters; any connection may subscribe and publish.

use super::destination::{Destination, LocalPeer};
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
        Arc::make_mut(topics.entry(topic).or_default()).push(Destination::Local(peer.clone()));
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
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(subscribers) = topics.get_mut(topic) {
            Arc::make_mut(subscribers).retain(|d| !peer.is(d));
            if subscribers.is_empty() {
                topics.remove(topic);
            }
        }
    }

    pub(super) fn unsubscribe_all(&self, peer: &Arc<LocalPeer>) {
        let topics: Vec<ByteStr> = lock(&peer.topics).drain().collect();
        for topic in topics {
            self.remove_subscriber(peer, &topic);
        }
    }

    /// Sends `event` to every subscriber of `topic`. Best effort.
    pub fn publish(&self, topic: ByteStr, event: Bytes) {
        let subscribers = {
            let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
            match topics.get(&topic) {
                Some(s) => s.clone(),
                None => return,
            }
        };
        let frame = NodeFrame::Publish { topic, event };
        for subscriber in subscribers.iter() {
            subscriber.send_best_effort(&frame, "publish");
        }
    }
}
