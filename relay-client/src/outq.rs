//! An output queue of encoded frames that does not copy bulk tunnel data: frames are encoded
//! into a growing buffer, but tunnel payloads of [`SPLIT_PAYLOAD`](crate::codec::SPLIT_PAYLOAD)
//! octets and more stay where they are (shared [`Bytes`]) and leave in the same vectored write as
//! the octets around them. Shared by the client core's and the node's connection outboxes.
//!
//! Memory: a payload queued by reference keeps the buffer it was decoded from alive until it is
//! written, and [`OutQueue::len`] counts only the payload's own octets. The outboxes' limits are
//! therefore limits on queued octets, not on the memory pinned behind them. Only tunnel data is
//! queued by reference, which tunnel credit bounds, and each such payload is at least
//! [`SPLIT_PAYLOAD`](crate::codec::SPLIT_PAYLOAD) octets, so the two differ by at most the ratio
//! of a read buffer's size to that (and far less in bulk, where a buffer is full of tunnel data).

use crate::codec::{ClientFrame, NodeFrame};
use crate::transport::WriteHalf;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::{self, IoSlice};

/// Slices per vectored write (Linux takes up to 1024; a few dozen cover a large batch).
const MAX_SLICES: usize = 64;

/// Queued octets: `done` (frozen pieces and bulk payloads, in order), then `tail`.
#[derive(Debug, Default)]
pub struct OutQueue {
    done: VecDeque<Bytes>,
    done_len: usize,
    tail: BytesMut,
}

impl OutQueue {
    /// An empty queue whose buffer starts with `capacity` octets.
    pub fn with_capacity(capacity: usize) -> OutQueue {
        OutQueue {
            done: VecDeque::new(),
            done_len: 0,
            tail: BytesMut::with_capacity(capacity),
        }
    }

    /// Octets queued.
    pub fn len(&self) -> usize {
        self.done_len + self.tail.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a node frame; a bulk payload is queued by reference.
    pub fn push_node(&mut self, frame: &NodeFrame) {
        if let Some(payload) = frame.encode_split(&mut self.tail) {
            self.push_bytes(payload);
        }
    }

    /// Queues a client frame; a bulk payload is queued by reference.
    pub fn push_client(&mut self, frame: &ClientFrame) {
        if let Some(payload) = frame.encode_split(&mut self.tail) {
            self.push_bytes(payload);
        }
    }

    /// Queues `bytes` by reference.
    pub fn push_bytes(&mut self, bytes: Bytes) {
        self.freeze_tail();
        self.done_len += bytes.len();
        self.done.push_back(bytes);
    }

    fn freeze_tail(&mut self) {
        if !self.tail.is_empty() {
            let piece = self.tail.split().freeze();
            self.done_len += piece.len();
            self.done.push_back(piece);
        }
    }

    /// Moves everything queued in `later` behind what is queued here.
    pub fn append(&mut self, later: &mut OutQueue) {
        if later.is_empty() {
            return;
        }
        if self.is_empty() {
            std::mem::swap(self, later);
            return;
        }
        self.freeze_tail();
        later.freeze_tail();
        self.done_len += later.done_len;
        self.done.append(&mut later.done);
        later.done_len = 0;
    }

    /// Forgets everything queued (the buffer's allocation is kept where it can be).
    pub fn clear(&mut self) {
        self.done.clear();
        self.done_len = 0;
        self.tail.clear();
    }

    /// Capacity of the encoding buffer (for deciding whether to keep it).
    pub fn capacity(&self) -> usize {
        self.tail.capacity()
    }

    /// Drops the first `n` octets (written).
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len(), "advance past the end of the queue");
        while n > 0 {
            match self.done.front_mut() {
                Some(front) if front.len() <= n => {
                    n -= front.len();
                    self.done_len -= front.len();
                    self.done.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    self.done_len -= n;
                    n = 0;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
        if self.tail.is_empty() {
            self.tail.clear(); // back to the start of the allocation when it is ours alone
        }
    }

    /// One non-blocking (vectored) write of the front of the queue; the written octets are
    /// removed. `WouldBlock` when the socket takes nothing now.
    pub fn try_write_to(&mut self, socket: &WriteHalf) -> io::Result<usize> {
        let n = if self.done.is_empty() {
            socket.try_write(&self.tail)?
        } else {
            // On the stack: this runs for every write of a busy connection.
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (slot, piece) in slices.iter_mut().zip(self.pieces()) {
                *slot = IoSlice::new(piece);
                count += 1;
            }
            socket.try_write_vectored(&slices[..count])?
        };
        if n == 0 && !self.is_empty() {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.advance(n);
        Ok(n)
    }

    /// Writes the whole queue, waiting for the socket as needed.
    pub async fn write_all_to(&mut self, socket: &WriteHalf) -> io::Result<()> {
        while !self.is_empty() {
            match self.try_write_to(socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The queued octets, piece by piece, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.done
            .iter()
            .map(|b| &b[..])
            .chain(std::iter::once(&self.tail[..]).filter(|t| !t.is_empty()))
    }

    /// Everything queued, copied into one buffer (tests).
    pub fn to_bytes(&self) -> BytesMut {
        let mut all = BytesMut::with_capacity(self.len());
        for piece in self.pieces() {
            all.extend_from_slice(piece);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_node_frame, Limits, SPLIT_PAYLOAD};

    fn transfer(len: usize, fill: u8) -> NodeFrame {
        NodeFrame::TunTransfer {
            tunnel_id: 1,
            size_or_cont: 0,
            payload: Bytes::from(vec![fill; len]),
        }
    }

    fn frames() -> Vec<NodeFrame> {
        (0..200)
            .map(|i| transfer(if i % 3 == 0 { SPLIT_PAYLOAD + i } else { i }, i as u8))
            .collect()
    }

    #[test]
    fn the_queue_holds_exactly_the_encoded_stream() {
        let mut q = OutQueue::default();
        let mut expected = BytesMut::new();
        for f in frames() {
            q.push_node(&f);
            f.encode(&mut expected);
            assert_eq!(q.len(), expected.len());
        }
        assert_eq!(q.to_bytes(), expected);
        // Advancing by odd amounts keeps the rest intact.
        let mut at = 0;
        for step in [1, 7, SPLIT_PAYLOAD, 3, 100_000, 5] {
            let step = step.min(q.len());
            q.advance(step);
            at += step;
            assert_eq!(q.to_bytes(), expected[at..]);
        }
        let mut later = OutQueue::default();
        later.push_node(&transfer(SPLIT_PAYLOAD * 2, 9));
        later.push_node(&transfer(3, 8));
        transfer(SPLIT_PAYLOAD * 2, 9).encode(&mut expected);
        transfer(3, 8).encode(&mut expected);
        q.append(&mut later);
        assert!(later.is_empty());
        assert_eq!(q.to_bytes(), expected[at..]);
    }

    #[tokio::test]
    async fn vectored_writes_deliver_every_frame_in_order() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connect = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(connect, listener.accept());
        let (_r, w) = crate::transport::Stream::Tcp(client.unwrap()).into_split();
        let mut server = accepted.unwrap().0;
        let sender = tokio::spawn(async move {
            let mut q = OutQueue::default();
            for f in frames() {
                q.push_node(&f);
            }
            q.write_all_to(&w).await.unwrap();
            assert!(q.is_empty());
        });
        let mut got = BytesMut::new();
        let mut decoded = Vec::new();
        while decoded.len() < 200 {
            let n = server.read_buf(&mut got).await.unwrap();
            assert!(n > 0);
            while let Some(f) = decode_node_frame(&mut got, &Limits::default()).unwrap() {
                decoded.push(f);
            }
        }
        sender.await.unwrap();
        assert_eq!(decoded, frames());
    }
}
