//! The AES-256-GCM of a Noise transport (`Noise_*_AESGCM_*`), applied in place.
//!
//! After the handshake, Noise's `Split()` gives one 32-octet key per direction. A transport
//! message is AES-256-GCM under that key with the 96-bit nonce "4 zero octets, then the message
//! counter as 8 big-endian octets" and empty associated data (the Noise specification, sections
//! 5.1 and 12.4). snow does exactly this, but through copies into its own output buffer
//! (zero-filled first when opening); sealing where the octets already are, and opening without
//! the zero-fill, saves one pass over every octet of bulk data on each side. The tests check the
//! octets against snow's.

use super::LinkError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Octets of the authentication tag behind each message.
pub const TAG: usize = 16;

/// One direction's key.
pub struct Cipher {
    key: LessSafeKey,
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Cipher {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("AES-256 takes a 32-octet key");
        Cipher {
            key: LessSafeKey::new(key),
        }
    }

    /// Noise reserves the largest counter; a link never gets near it (2^64 messages), but one
    /// that did must end rather than reuse a nonce.
    fn nonce(counter: u64) -> Result<Nonce, LinkError> {
        if counter == u64::MAX {
            return Err(LinkError::Crypto("nonces exhausted".into()));
        }
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Encrypts `data` in place as message number `counter`; returns the tag that follows it.
    pub fn seal(&self, counter: u64, data: &mut [u8]) -> Result<[u8; TAG], LinkError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(Self::nonce(counter)?, Aad::empty(), data)
            .map_err(|_| LinkError::Crypto("message too long to seal".into()))?;
        let mut out = [0u8; TAG];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts message number `counter` (ciphertext and tag) in place; returns the plaintext.
    /// Fails for a message that does not authenticate: altered, replayed, reordered, shorter
    /// than a tag, or sealed with another key. The octets are then unspecified.
    pub fn open<'a>(&self, counter: u64, message: &'a mut [u8]) -> Result<&'a mut [u8], LinkError> {
        self.key
            .open_in_place(Self::nonce(counter)?, Aad::empty(), message)
            .map_err(|_| LinkError::Crypto("message failed authentication".into()))
    }
}

/// Both directions of a link, from the handshake's split.
pub struct Ciphers {
    pub send: Cipher,
    pub recv: Cipher,
}

impl Ciphers {
    /// `split` is Noise's (initiator to responder, responder to initiator).
    pub fn from_split(split: ([u8; 32], [u8; 32]), initiator: bool) -> Ciphers {
        let (i2r, r2i) = (Cipher::new(&split.0), Cipher::new(&split.1));
        if initiator {
            Ciphers { send: i2r, recv: r2i }
        } else {
            Ciphers { send: r2i, recv: i2r }
        }
    }
}
