//! Length-prefixed Noise messages on a TCP stream and the two halves of an established link.
//!
//! Each Noise message travels as a 2-octet big-endian length and the ciphertext (at most 65535
//! octets, 16 of them the AES-GCM tag). Larger plaintexts are split. The transport uses explicit
//! nonces (snow's stateless mode) so reading and writing run in separate tasks; each direction
//! counts its own nonces from 0, so a replayed, dropped, reordered or altered frame fails
//! decryption and the link is dropped.
//!
//! Bulk data is what these halves are tuned for (AES-GCM itself is ring's, through snow's ring
//! resolver): the writer seals into one reused buffer and writes every [`WRITE_FRAMES`] messages,
//! so the other node starts decrypting while this one is still sealing a large batch; the reader
//! fills a fixed buffer with as much as the socket holds (one system call for up to
//! [`WRITE_FRAMES`] messages instead of two per message) and decrypts every whole message in it
//! per call. Neither allocates per message. The octets on the wire are exactly those of sealing
//! the whole stream at once.

use super::LinkError;
use bytes::{Bytes, BytesMut};
use snow::StatelessTransportState;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Largest Noise message (ciphertext).
pub const MAX_NOISE_MESSAGE: usize = 65535;
/// Largest plaintext per Noise message (the rest is the AES-GCM tag).
pub const MAX_PLAINTEXT: usize = MAX_NOISE_MESSAGE - 16;
/// Noise messages sealed per socket write: large enough that a write is worth a system call,
/// small enough that sealing a large batch does not delay its first octets.
pub const WRITE_FRAMES: usize = 8;
/// The reader's buffer: this many largest messages with their length prefixes.
const READ_BUFFER: usize = 8 * (2 + MAX_NOISE_MESSAGE);
/// Plaintext octets the reader delivers before it lets the runtime's other tasks run (see
/// [`LinkReader::recv`]).
const YIELD_AFTER: usize = 8 * MAX_PLAINTEXT;

/// Reads one length-prefixed message of at most `max` octets (the handshake: reads exactly that
/// message and nothing after it).
pub(super) async fn read_message(reader: &mut OwnedReadHalf, max: usize, buf: &mut Vec<u8>) -> Result<(), LinkError> {
    let mut len = [0u8; 2];
    reader.read_exact(&mut len).await?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > max {
        return Err(LinkError::TooLong(len));
    }
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(())
}

/// Writes one length-prefixed message.
pub(super) async fn write_message(writer: &mut OwnedWriteHalf, msg: &[u8]) -> Result<(), LinkError> {
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    writer.write_all(&out).await?;
    Ok(())
}

/// The receiving half of an authenticated link.
pub struct LinkReader {
    pub(super) reader: OwnedReadHalf,
    pub(super) transport: Arc<StatelessTransportState>,
    pub(super) nonce: u64,
    /// Octets read from the socket and not yet decrypted are `inbox[start..end]`.
    inbox: Vec<u8>,
    start: usize,
    end: usize,
    /// Plaintext octets delivered since the reader last yielded.
    since_yield: usize,
}

impl LinkReader {
    pub(super) fn new(reader: OwnedReadHalf, transport: Arc<StatelessTransportState>) -> LinkReader {
        LinkReader {
            reader,
            transport,
            nonce: 0,
            inbox: Vec::new(),
            start: 0,
            end: 0,
            since_yield: 0,
        }
    }

    /// Receives and decrypts the next Noise message, appending its plaintext to `out`; messages
    /// that already arrived behind it are decrypted and appended in the same call.
    ///
    /// An error (the socket failed or closed, or a message did not authenticate: tampered,
    /// replayed, reordered, foreign) ends the link. Plaintext of the messages before a bad one is
    /// returned first; the bad one fails the next call. Cancel-safe: nothing read is lost.
    ///
    /// After every `YIELD_AFTER` octets delivered, the next call first yields to the runtime.
    /// Handling bulk data queues replies and credit on this node's links and outboxes and wakes
    /// their writer tasks, which the runtime then runs on this thread only once this task yields;
    /// with a socket that always has more to read, that would be after tokio's budget (megaoctets
    /// later), so the other node's credit would come back in bursts and its sender would stall.
    pub async fn recv(&mut self, out: &mut BytesMut) -> Result<(), LinkError> {
        if self.since_yield >= YIELD_AFTER {
            self.since_yield = 0;
            tokio::task::yield_now().await;
        }
        let before = out.len();
        loop {
            if self.open_buffered(out)? {
                self.since_yield += out.len() - before;
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// The length of the message at the front of the inbox, if it arrived whole.
    fn complete_message(&self) -> Option<usize> {
        let buffered = &self.inbox[self.start..self.end];
        let len = usize::from(u16::from_be_bytes([*buffered.first()?, *buffered.get(1)?]));
        (buffered.len() >= 2 + len).then_some(len)
    }

    /// Decrypts every whole message in the inbox into `out`; whether there was at least one.
    fn open_buffered(&mut self, out: &mut BytesMut) -> Result<bool, LinkError> {
        let mut opened = false;
        out.reserve(self.end - self.start);
        while let Some(len) = self.complete_message() {
            let ciphertext = &self.inbox[self.start + 2..self.start + 2 + len];
            let at = out.len();
            out.resize(at + len, 0);
            match self.transport.read_message(self.nonce, ciphertext, &mut out[at..]) {
                Ok(n) => {
                    out.truncate(at + n);
                    self.nonce += 1;
                    self.start += 2 + len;
                    opened = true;
                }
                Err(e) => {
                    out.truncate(at);
                    return if opened { Ok(true) } else { Err(e.into()) };
                }
            }
        }
        Ok(opened)
    }

    /// Reads what the socket has (at least one octet) into the inbox.
    async fn fill(&mut self) -> Result<(), LinkError> {
        if self.inbox.is_empty() {
            self.inbox = vec![0; READ_BUFFER];
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.inbox.len() - self.end < 2 + MAX_NOISE_MESSAGE {
            // Too little room behind a partial message: move it to the front.
            self.inbox.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.reader.read(&mut self.inbox[self.end..]).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        self.end += n;
        Ok(())
    }
}

/// The sending half of an authenticated link.
pub struct LinkWriter {
    writer: OwnedWriteHalf,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    /// Sealed messages being written. Reused; its length only grows ([`LinkWriter::send`] needs
    /// [`WRITE_FRAMES`] messages' worth), so sealing never zero-fills or allocates in the steady
    /// state.
    sealed: Vec<u8>,
}

impl LinkWriter {
    pub(super) fn new(writer: OwnedWriteHalf, transport: Arc<StatelessTransportState>) -> LinkWriter {
        LinkWriter {
            writer,
            transport,
            nonce: 0,
            sealed: Vec::new(),
        }
    }

    /// Seals `plaintext` (split into as many Noise messages as needed) into `self.sealed`;
    /// returns the framed length.
    fn seal_into(&mut self, plaintext: &[u8]) -> Result<usize, LinkError> {
        let messages = plaintext.len().div_ceil(MAX_PLAINTEXT);
        let framed = plaintext.len() + messages * (2 + 16);
        if self.sealed.len() < framed {
            self.sealed.resize(framed, 0);
        }
        let mut at = 0;
        for chunk in plaintext.chunks(MAX_PLAINTEXT) {
            let body = &mut self.sealed[at + 2..at + 2 + chunk.len() + 16];
            let n = self.transport.write_message(self.nonce, chunk, body)?;
            self.nonce += 1;
            self.sealed[at..at + 2].copy_from_slice(&(n as u16).to_be_bytes());
            at += 2 + n;
        }
        Ok(at)
    }

    /// Encrypts `plaintext` (split into as many Noise messages as needed) into framed ciphertext,
    /// without sending it.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Bytes, LinkError> {
        let n = self.seal_into(plaintext)?;
        Ok(Bytes::copy_from_slice(&self.sealed[..n]))
    }

    /// Encrypts and sends `plaintext`, `WRITE_FRAMES` Noise messages per write. The messages
    /// are the same as [`LinkWriter::seal`] would make of the whole plaintext.
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<(), LinkError> {
        for piece in plaintext.chunks(WRITE_FRAMES * MAX_PLAINTEXT) {
            let n = self.seal_into(piece)?;
            self.writer.write_all(&self.sealed[..n]).await?;
        }
        Ok(())
    }

    /// Writes octets as they are (already sealed; tests use it to replay or tamper).
    pub async fn write_raw(&mut self, data: &[u8]) -> Result<(), LinkError> {
        self.writer.write_all(data).await?;
        Ok(())
    }

    /// Closes the sending direction.
    pub async fn shutdown(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// Linked halves for the tests and the benchmark.
#[cfg(test)]
mod tests_support {
    use super::*;
    use crate::overlay::link::NOISE_PARAMS;
    use tokio::net::{TcpListener, TcpStream};

    /// Both ends' transports after an in-memory Noise XX handshake.
    fn transports() -> (StatelessTransportState, StatelessTransportState) {
        let params: snow::params::NoiseParams = NOISE_PARAMS.parse().unwrap();
        let key = |p: &snow::params::NoiseParams| snow::Builder::new(p.clone()).generate_keypair().unwrap();
        let (ki, kr) = (key(&params), key(&params));
        let mut i = snow::Builder::new(params.clone())
            .local_private_key(&ki.private)
            .build_initiator()
            .unwrap();
        let mut r = snow::Builder::new(params)
            .local_private_key(&kr.private)
            .build_responder()
            .unwrap();
        let (mut msg, mut payload) = (vec![0u8; 1024], vec![0u8; 1024]);
        for turn in 0..3 {
            let (from, to) = if turn % 2 == 0 {
                (&mut i, &mut r)
            } else {
                (&mut r, &mut i)
            };
            let n = from.write_message(&[], &mut msg).unwrap();
            to.read_message(&msg[..n], &mut payload).unwrap();
        }
        (
            i.into_stateless_transport_mode().unwrap(),
            r.into_stateless_transport_mode().unwrap(),
        )
    }

    /// A writer and the reader at the other end of a loopback connection, plus the raw sockets'
    /// halves the tests do not use (kept open).
    pub(super) async fn link() -> (LinkWriter, LinkReader, OwnedReadHalf, OwnedWriteHalf) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dial = TcpStream::connect(listener.local_addr().unwrap());
        let (dialled, accepted) = tokio::join!(dial, listener.accept());
        let (i, r) = transports();
        let (dialled_read, dialled_write) = dialled.unwrap().into_split();
        let (accepted_read, accepted_write) = accepted.unwrap().0.into_split();
        (
            LinkWriter::new(dialled_write, Arc::new(i)),
            LinkReader::new(accepted_read, Arc::new(r)),
            dialled_read,
            accepted_write,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::link;
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Receives until `want` octets of plaintext arrived.
    async fn recv_exactly(reader: &mut LinkReader, want: usize) -> BytesMut {
        let mut out = BytesMut::new();
        while out.len() < want {
            reader.recv(&mut out).await.expect("recv");
        }
        assert_eq!(out.len(), want, "no more than was sent");
        out
    }

    #[tokio::test]
    async fn large_and_small_plaintexts_arrive_whole_and_in_order() {
        let (mut writer, mut reader, _r, _w) = link().await;
        let sizes = [
            1,
            0,
            100,
            MAX_PLAINTEXT,
            MAX_PLAINTEXT + 1,
            5 * MAX_PLAINTEXT + 7,
            3 << 20,
            17,
        ];
        let mut sent = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let p = pattern(size, i as u8);
            writer.send(&p).await.unwrap();
            sent.extend_from_slice(&p);
        }
        let got = recv_exactly(&mut reader, sent.len()).await;
        assert!(got[..] == sent[..]);
    }

    #[tokio::test]
    async fn send_writes_exactly_the_messages_seal_makes() {
        // Two writers over one transport make identical ciphertext for the same nonces: what
        // `send` puts on the wire (in pieces) equals `seal` of the whole plaintext, and both equal
        // the spec's framing (length, then Noise message of at most MAX_PLAINTEXT octets).
        let (mut writer, _reader, _r, _w) = link().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dialled, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (_, raw_write) = dialled.unwrap().into_split();
        let mut raw_read = accepted.unwrap().0;
        let mut twin = LinkWriter::new(raw_write, writer.transport.clone());
        let plaintext = pattern(7 * MAX_PLAINTEXT + 1234, 9);
        let sealed = writer.seal(&plaintext).unwrap();
        let mut expected = Vec::new();
        for (nonce, chunk) in plaintext.chunks(MAX_PLAINTEXT).enumerate() {
            let mut msg = vec![0u8; chunk.len() + 16];
            let n = writer.transport.write_message(nonce as u64, chunk, &mut msg).unwrap();
            expected.extend_from_slice(&(n as u16).to_be_bytes());
            expected.extend_from_slice(&msg[..n]);
        }
        assert!(sealed[..] == expected[..]);
        twin.send(&plaintext).await.unwrap();
        twin.shutdown().await;
        let mut on_wire = Vec::new();
        raw_read.read_to_end(&mut on_wire).await.unwrap();
        assert!(on_wire == expected);
    }

    #[tokio::test]
    async fn messages_split_across_reads_are_reassembled() {
        let (mut writer, mut reader, _r, _w) = link().await;
        let plaintext = pattern(6 * MAX_PLAINTEXT + 99, 3);
        let sealed = writer.seal(&plaintext).unwrap();
        let feed = tokio::spawn(async move {
            // Odd piece sizes: lengths and messages straddle reads.
            for piece in sealed.chunks(7919) {
                writer.write_raw(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            writer
        });
        let got = recv_exactly(&mut reader, plaintext.len()).await;
        assert!(got[..] == plaintext[..]);
        drop(feed.await.unwrap());
    }

    #[tokio::test]
    async fn a_tampered_message_fails_after_the_good_ones_before_it() {
        let (mut writer, mut reader, _r, _w) = link().await;
        let good = writer.seal(&pattern(2 * MAX_PLAINTEXT, 1)).unwrap();
        let mut bad = writer.seal(&pattern(10, 2)).unwrap().to_vec();
        bad[5] ^= 0x80;
        let after = writer.seal(&pattern(10, 3)).unwrap();
        // All in one write, so the reader holds them in one buffer.
        writer
            .write_raw(&[&good[..], &bad[..], &after[..]].concat())
            .await
            .unwrap();
        let got = recv_exactly(&mut reader, 2 * MAX_PLAINTEXT).await;
        assert!(got[..] == pattern(2 * MAX_PLAINTEXT, 1)[..]);
        let mut more = BytesMut::new();
        assert!(matches!(reader.recv(&mut more).await, Err(LinkError::Crypto(_))));
        assert!(more.is_empty());
        // Still refused: the link is to be dropped, nothing behind the bad message is delivered.
        assert!(matches!(reader.recv(&mut more).await, Err(LinkError::Crypto(_))));
    }

    #[tokio::test]
    async fn replayed_and_reordered_messages_fail() {
        let (mut writer, mut reader, _r, _w) = link().await;
        let first = writer.seal(b"first").unwrap();
        writer.write_raw(&first).await.unwrap();
        writer.write_raw(&first).await.unwrap();
        assert_eq!(&recv_exactly(&mut reader, 5).await[..], b"first");
        assert!(matches!(
            reader.recv(&mut BytesMut::new()).await,
            Err(LinkError::Crypto(_))
        ));

        let (mut writer, mut reader, _r, _w) = link().await;
        let first = writer.seal(b"first").unwrap();
        let second = writer.seal(b"second").unwrap();
        writer.write_raw(&second).await.unwrap();
        writer.write_raw(&first).await.unwrap();
        assert!(matches!(
            reader.recv(&mut BytesMut::new()).await,
            Err(LinkError::Crypto(_))
        ));
    }

    #[tokio::test]
    async fn empty_and_short_messages_fail() {
        for raw in [&[0u8, 0][..], &[0, 5, 1, 2, 3, 4, 5][..]] {
            let (mut writer, mut reader, _r, _w) = link().await;
            writer.write_raw(raw).await.unwrap();
            assert!(matches!(
                reader.recv(&mut BytesMut::new()).await,
                Err(LinkError::Crypto(_))
            ));
        }
    }

    #[tokio::test]
    async fn a_closed_socket_ends_the_reader() {
        let (mut writer, mut reader, _r, _w) = link().await;
        let sealed = writer.seal(&pattern(1000, 4)).unwrap();
        // A message cut short, then the end of the stream.
        writer.write_raw(&sealed[..500]).await.unwrap();
        writer.shutdown().await;
        match reader.recv(&mut BytesMut::new()).await {
            Err(LinkError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("expected the end of the stream, got {other:?}"),
        }
    }
}

/// Throughput of one encrypted link on its own (no relay, no clients): a writer task sealing
/// 1 MiB plaintexts and a reader task opening them, over one loopback TCP connection. A
/// benchmark, not a test: `cargo test --release -p iris-node --lib link_throughput -- --ignored
/// --nocapture`; figures in docs/benchmarks.md.
#[cfg(test)]
mod bench {
    use super::tests_support::link;
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    #[ignore = "benchmark; run with --release --ignored --nocapture"]
    fn link_throughput() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (mut writer, mut reader, _r, _w) = link().await;
            let seconds = 3;
            let receiver = tokio::spawn(async move {
                let mut out = BytesMut::with_capacity(8 << 20);
                let mut got = 0u64;
                while reader.recv(&mut out).await.is_ok() {
                    got += out.len() as u64;
                    out.clear();
                }
                got
            });
            let chunk = vec![7u8; 1 << 20];
            let start = Instant::now();
            let mut sent = 0u64;
            while start.elapsed() < Duration::from_secs(seconds) {
                writer.send(&chunk).await.unwrap();
                sent += chunk.len() as u64;
            }
            writer.shutdown().await;
            let got = receiver.await.unwrap();
            let took = start.elapsed();
            assert_eq!(got, sent, "every octet sent arrived");
            println!(
                "encrypted link alone: {:.2} GB/s (1 MiB plaintexts, {} MiB in {:?})",
                got as f64 / took.as_secs_f64() / 1e9,
                got >> 20,
                took
            );
        });
    }
}
