//! Length-prefixed Noise messages on a TCP stream and the two halves of an established link.
//!
//! Each Noise message travels as a 2-octet big-endian length and the ciphertext (at most 65535
//! octets, 16 of them the AES-GCM tag). Larger plaintexts are split. Each direction has its own
//! key and counts its own nonces from 0 (see [`super::cipher`]), so reading and writing run in
//! separate tasks, and a replayed, dropped, reordered or altered frame fails decryption and the
//! link is dropped.
//!
//! Bulk data is what these halves are tuned for: the writer seals the plaintext where it lies
//! (the link's batch buffer) and writes every [`WRITE_FRAMES`] messages with one vectored write
//! (length, ciphertext, tag per message), so the other node starts decrypting while this one is
//! still sealing a large batch; the reader fills a fixed buffer with as much as the socket holds
//! (one system call for up to [`WRITE_FRAMES`] messages instead of two per message) and opens
//! every whole message in it, copied to the end of the caller's buffer and decrypted there.
//! Neither allocates per message. The octets on the wire are exactly those of sealing the whole
//! stream at once.

use super::cipher::{Cipher, TAG};
use super::LinkError;
use bytes::{Bytes, BytesMut};
use std::io::IoSlice;
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
    cipher: Cipher,
    nonce: u64,
    /// Octets read from the socket and not yet decrypted are `inbox[start..end]`.
    inbox: Vec<u8>,
    start: usize,
    end: usize,
    /// Plaintext octets delivered since the reader last yielded.
    since_yield: usize,
    /// A message failed to open: every later call fails too.
    failed: bool,
}

impl LinkReader {
    pub(super) fn new(reader: OwnedReadHalf, cipher: Cipher) -> LinkReader {
        LinkReader {
            reader,
            cipher,
            nonce: 0,
            inbox: Vec::new(),
            start: 0,
            end: 0,
            since_yield: 0,
            failed: false,
        }
    }

    /// Opens one message read by other means (the handshake's last step) as the next in order.
    pub(super) fn open_one<'a>(&mut self, message: &'a mut [u8]) -> Result<&'a mut [u8], LinkError> {
        let plain = self.cipher.open(self.nonce, message)?;
        self.nonce += 1;
        Ok(plain)
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

    /// Appends the plaintext of every whole message in the inbox to `out` (each copied there and
    /// decrypted in place); whether there was at least one.
    fn open_buffered(&mut self, out: &mut BytesMut) -> Result<bool, LinkError> {
        if self.failed {
            return Err(LinkError::Crypto("message failed authentication".into()));
        }
        let mut opened = false;
        out.reserve(self.end - self.start);
        while let Some(len) = self.complete_message() {
            let at = out.len();
            out.extend_from_slice(&self.inbox[self.start + 2..self.start + 2 + len]);
            match self.cipher.open(self.nonce, &mut out[at..]).map(|plain| plain.len()) {
                Ok(n) => {
                    out.truncate(at + n);
                    self.nonce += 1;
                    self.start += 2 + len;
                    opened = true;
                }
                Err(e) => {
                    out.truncate(at);
                    self.failed = true;
                    return if opened { Ok(true) } else { Err(e) };
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

/// A sealed message's length prefix and tag (the ciphertext lies between them).
type Frame = ([u8; 2], [u8; TAG]);

/// The sending half of an authenticated link.
pub struct LinkWriter {
    writer: OwnedWriteHalf,
    cipher: Cipher,
    nonce: u64,
    /// Plaintext copied by [`LinkWriter::send`] to be sealed in place; reused.
    scratch: Vec<u8>,
}

impl LinkWriter {
    pub(super) fn new(writer: OwnedWriteHalf, cipher: Cipher) -> LinkWriter {
        LinkWriter {
            writer,
            cipher,
            nonce: 0,
            scratch: Vec::new(),
        }
    }

    /// Seals `piece` (at most [`WRITE_FRAMES`] messages' worth, not empty) in place, message by
    /// message; returns each message's length prefix and tag, and how many messages there are.
    fn seal_piece(&mut self, piece: &mut [u8]) -> Result<([Frame; WRITE_FRAMES], usize), LinkError> {
        debug_assert!(!piece.is_empty() && piece.len() <= WRITE_FRAMES * MAX_PLAINTEXT);
        let mut frames = [([0u8; 2], [0u8; TAG]); WRITE_FRAMES];
        let mut count = 0;
        for chunk in piece.chunks_mut(MAX_PLAINTEXT) {
            let tag = self.cipher.seal(self.nonce, chunk)?;
            self.nonce += 1;
            frames[count] = (((chunk.len() + TAG) as u16).to_be_bytes(), tag);
            count += 1;
        }
        Ok((frames, count))
    }

    /// Encrypts `plaintext` (split into as many Noise messages as needed) into framed ciphertext,
    /// without sending it.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Bytes, LinkError> {
        let mut data = plaintext.to_vec();
        let mut out = Vec::with_capacity(data.len() + data.len().div_ceil(MAX_PLAINTEXT) * (2 + TAG));
        for piece in data.chunks_mut(WRITE_FRAMES * MAX_PLAINTEXT) {
            let (frames, count) = self.seal_piece(piece)?;
            for ((len, tag), chunk) in frames[..count].iter().zip(piece.chunks(MAX_PLAINTEXT)) {
                out.extend_from_slice(len);
                out.extend_from_slice(chunk);
                out.extend_from_slice(tag);
            }
        }
        Ok(out.into())
    }

    /// Encrypts and sends `plaintext` (copied first; see [`LinkWriter::send_in_place`]).
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<(), LinkError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(plaintext);
        let result = self.send_in_place(&mut scratch).await;
        self.scratch = scratch;
        result
    }

    /// Encrypts `data` where it is (it holds ciphertext afterwards) and sends it, split into
    /// Noise messages, [`WRITE_FRAMES`] of them per vectored write (length prefix, ciphertext,
    /// tag). The octets on the wire are those [`LinkWriter::seal`] makes of the same plaintext.
    pub async fn send_in_place(&mut self, data: &mut [u8]) -> Result<(), LinkError> {
        for piece in data.chunks_mut(WRITE_FRAMES * MAX_PLAINTEXT) {
            let (frames, count) = self.seal_piece(piece)?;
            let mut slices = [IoSlice::new(&[]); 3 * WRITE_FRAMES];
            for (i, ((len, tag), chunk)) in frames[..count].iter().zip(piece.chunks(MAX_PLAINTEXT)).enumerate() {
                slices[3 * i] = IoSlice::new(len);
                slices[3 * i + 1] = IoSlice::new(chunk);
                slices[3 * i + 2] = IoSlice::new(tag);
            }
            self.write_all_vectored(&mut slices[..3 * count]).await?;
        }
        Ok(())
    }

    async fn write_all_vectored(&mut self, mut slices: &mut [IoSlice<'_>]) -> Result<(), LinkError> {
        while !slices.is_empty() {
            let n = self.writer.write_vectored(slices).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
            }
            IoSlice::advance_slices(&mut slices, n);
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
    use crate::overlay::link::cipher::Ciphers;
    use crate::overlay::link::NOISE_PARAMS;
    use snow::StatelessTransportState;
    use tokio::net::{TcpListener, TcpStream};

    /// What an in-memory Noise XX handshake leaves: the split keys (initiator to responder,
    /// responder to initiator) and both ends' snow transports, to check our octets against.
    pub(super) struct Keys {
        pub split: ([u8; 32], [u8; 32]),
        pub initiator: StatelessTransportState,
        pub responder: StatelessTransportState,
    }

    fn handshake() -> Keys {
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
        let split = i.dangerously_get_raw_split();
        assert_eq!(split, r.dangerously_get_raw_split(), "both ends split alike");
        Keys {
            split,
            initiator: i.into_stateless_transport_mode().unwrap(),
            responder: r.into_stateless_transport_mode().unwrap(),
        }
    }

    /// A writer (the initiator's sending half) and the reader at the other end of a loopback
    /// connection, plus the raw sockets' halves the tests do not use (kept open).
    pub(super) async fn link() -> (LinkWriter, LinkReader, OwnedReadHalf, OwnedWriteHalf) {
        let (writer, reader, r, w, _) = link_and_keys().await;
        (writer, reader, r, w)
    }

    /// [`link`] and the keys behind it.
    pub(super) async fn link_and_keys() -> (LinkWriter, LinkReader, OwnedReadHalf, OwnedWriteHalf, Keys) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dial = TcpStream::connect(listener.local_addr().unwrap());
        let (dialled, accepted) = tokio::join!(dial, listener.accept());
        let keys = handshake();
        let i = Ciphers::from_split(keys.split, true);
        let r = Ciphers::from_split(keys.split, false);
        let (dialled_read, dialled_write) = dialled.unwrap().into_split();
        let (accepted_read, accepted_write) = accepted.unwrap().0.into_split();
        (
            LinkWriter::new(dialled_write, i.send),
            LinkReader::new(accepted_read, r.recv),
            dialled_read,
            accepted_write,
            keys,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{link, link_and_keys};
    use super::*;
    use crate::overlay::link::cipher::Ciphers;
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
    async fn send_writes_exactly_the_messages_snow_makes() {
        // What `send` puts on the wire (in pieces) equals `seal` of the whole plaintext, and both
        // equal snow's transport messages in the spec's framing (length, then Noise message of at
        // most MAX_PLAINTEXT octets): in-place AES-GCM is Noise's own cipher, byte for byte.
        let (mut writer, _reader, _r, _w, keys) = link_and_keys().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dialled, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (_, raw_write) = dialled.unwrap().into_split();
        let mut raw_read = accepted.unwrap().0;
        let mut twin = LinkWriter::new(raw_write, Ciphers::from_split(keys.split, true).send);
        let plaintext = pattern(17 * MAX_PLAINTEXT + 1234, 9);
        let sealed = writer.seal(&plaintext).unwrap();
        let mut expected = Vec::new();
        for (nonce, chunk) in plaintext.chunks(MAX_PLAINTEXT).enumerate() {
            let mut msg = vec![0u8; chunk.len() + 16];
            let n = keys.initiator.write_message(nonce as u64, chunk, &mut msg).unwrap();
            expected.extend_from_slice(&(n as u16).to_be_bytes());
            expected.extend_from_slice(&msg[..n]);
        }
        assert!(sealed[..] == expected[..]);
        twin.send(&plaintext).await.unwrap();
        twin.send(&[]).await.unwrap();
        twin.shutdown().await;
        let mut on_wire = Vec::new();
        raw_read.read_to_end(&mut on_wire).await.unwrap();
        assert!(on_wire == expected);
    }

    #[tokio::test]
    async fn the_reader_opens_what_snow_seals_and_snow_opens_what_the_writer_seals() {
        let (mut writer, _reader, _r, _w, keys) = link_and_keys().await;
        // Responder to initiator, sealed by snow, opened by our reader holding that key.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dialled, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (_, mut raw_write) = dialled.unwrap().into_split();
        let (accepted_read, _accepted_write) = accepted.unwrap().0.into_split();
        let mut back = LinkReader::new(accepted_read, Ciphers::from_split(keys.split, true).recv);
        let plaintext = pattern(3 * MAX_PLAINTEXT + 5, 4);
        for (nonce, chunk) in plaintext.chunks(MAX_PLAINTEXT).enumerate() {
            let mut msg = vec![0u8; chunk.len() + 16];
            let n = keys.responder.write_message(nonce as u64, chunk, &mut msg).unwrap();
            raw_write.write_all(&(n as u16).to_be_bytes()).await.unwrap();
            raw_write.write_all(&msg[..n]).await.unwrap();
        }
        assert!(recv_exactly(&mut back, plaintext.len()).await[..] == plaintext[..]);
        // Initiator to responder, sealed by our writer, opened by snow.
        let sealed = writer.seal(&plaintext).unwrap();
        let (mut at, mut opened) = (0, Vec::new());
        for nonce in 0u64.. {
            if at == sealed.len() {
                break;
            }
            let len = usize::from(u16::from_be_bytes([sealed[at], sealed[at + 1]]));
            let mut plain = vec![0u8; len];
            let n = keys
                .responder
                .read_message(nonce, &sealed[at + 2..at + 2 + len], &mut plain)
                .unwrap();
            opened.extend_from_slice(&plain[..n]);
            at += 2 + len;
        }
        assert!(opened == plaintext);
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
