//! Length-prefixed Noise messages on a TCP stream and the two halves of an established link.
//!
//! Each Noise message travels as a 2-octet big-endian length and the ciphertext (at most 65535
//! octets, 16 of them the AES-GCM tag). Larger plaintexts are split. The transport uses explicit
//! nonces (snow's stateless mode) so reading and writing run in separate tasks; each direction
//! counts its own nonces from 0, so a replayed, dropped, reordered or altered frame fails
//! decryption and the link is dropped.

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

/// Reads one length-prefixed message of at most `max` octets.
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
    pub(super) cipher: Vec<u8>,
}

impl LinkReader {
    /// Receives and decrypts the next Noise message, appending its plaintext to `out`.
    pub async fn recv(&mut self, out: &mut BytesMut) -> Result<(), LinkError> {
        read_message(&mut self.reader, MAX_NOISE_MESSAGE, &mut self.cipher).await?;
        let start = out.len();
        out.resize(start + self.cipher.len(), 0);
        let n = match self.transport.read_message(self.nonce, &self.cipher, &mut out[start..]) {
            Ok(n) => n,
            Err(e) => {
                out.truncate(start);
                return Err(e.into());
            }
        };
        out.truncate(start + n);
        self.nonce += 1;
        Ok(())
    }
}

/// The sending half of an authenticated link.
pub struct LinkWriter {
    pub(super) writer: OwnedWriteHalf,
    pub(super) transport: Arc<StatelessTransportState>,
    pub(super) nonce: u64,
}

impl LinkWriter {
    /// Encrypts `plaintext` (split into as many Noise messages as needed) into framed ciphertext,
    /// without sending it.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Bytes, LinkError> {
        let mut framed = Vec::with_capacity(plaintext.len() + plaintext.len() / MAX_PLAINTEXT * 18 + 18);
        for chunk in plaintext.chunks(MAX_PLAINTEXT) {
            let start = framed.len();
            framed.resize(start + 2 + chunk.len() + 16, 0);
            let n = self
                .transport
                .write_message(self.nonce, chunk, &mut framed[start + 2..])?;
            self.nonce += 1;
            framed[start..start + 2].copy_from_slice(&(n as u16).to_be_bytes());
            framed.truncate(start + 2 + n);
        }
        Ok(Bytes::from(framed))
    }

    /// Encrypts and sends `plaintext`.
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<(), LinkError> {
        let sealed = self.seal(plaintext)?;
        self.write_raw(&sealed).await
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
