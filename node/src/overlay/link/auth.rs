//! The Noise XX handshake and the RSA proof bound to it.
//!
//! Prologue: `PROTOCOL_LABEL || 0x00 || network name`, so nodes of different networks (or
//! protocol versions) fail the handshake itself. After XX completes, each side sends, as its first
//! transport message, its 16-octet node id and an RSA PKCS#1 v1.5 SHA-256 signature, made with
//! the network key, over `PROTOCOL_LABEL || " auth" || role || handshake_hash || node id`. The
//! role octet (0 initiator, 1 responder) stops a peer without the key from reflecting the other
//! side's signature back. The handshake hash covers both ephemeral keys, so a signature is worth
//! nothing on any other connection.

use super::cipher::Ciphers;
use super::frames::{read_message, write_message, LinkReader, LinkWriter};
use super::{LinkError, Role, MAX_PREAUTH_MESSAGE, NOISE_PARAMS, PROTOCOL_LABEL};
use crate::overlay::membership::NodeId;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::RsaPrivateKey;
use sha2::Sha256;
use tokio::net::TcpStream;

/// What a node needs to open links: the network name and key, and its own identity.
pub struct Credentials {
    network: String,
    signing: SigningKey<Sha256>,
    verifying: VerifyingKey<Sha256>,
    /// This process's Noise static key (random per run: the RSA proof, not this key, is what
    /// authenticates a node).
    static_private: Vec<u8>,
    /// This node's id.
    pub node: NodeId,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("network", &self.network)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials for `network` with its key, for node `node`.
    pub fn new(network: &str, key: &RsaPrivateKey, node: NodeId) -> Result<Credentials, LinkError> {
        let params = NOISE_PARAMS
            .parse()
            .map_err(|e: snow::Error| LinkError::Crypto(e.to_string()))?;
        let keypair = snow::Builder::new(params).generate_keypair()?;
        Ok(Credentials {
            network: network.to_string(),
            signing: SigningKey::<Sha256>::new(key.clone()),
            verifying: VerifyingKey::<Sha256>::new(key.to_public_key()),
            static_private: keypair.private,
            node,
        })
    }

    fn prologue(&self) -> Vec<u8> {
        let mut p = PROTOCOL_LABEL.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(self.network.as_bytes());
        p
    }
}

fn signed_message(role: Role, hash: &[u8], node: NodeId) -> Vec<u8> {
    let mut m = PROTOCOL_LABEL.as_bytes().to_vec();
    m.extend_from_slice(b" auth");
    m.push(match role {
        Role::Initiator => 0,
        Role::Responder => 1,
    });
    m.extend_from_slice(hash);
    m.extend_from_slice(&node.0.to_be_bytes());
    m
}

pub(super) async fn run(
    stream: TcpStream,
    role: Role,
    creds: &Credentials,
) -> Result<(LinkReader, LinkWriter, NodeId), LinkError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|e: snow::Error| LinkError::Crypto(e.to_string()))?;
    let prologue = creds.prologue();
    let builder = snow::Builder::new(params)
        .local_private_key(&creds.static_private)
        .prologue(&prologue);
    let mut hs = match role {
        Role::Initiator => builder.build_initiator()?,
        Role::Responder => builder.build_responder()?,
    };
    let (mut reader, mut writer) = stream.into_split();
    let mut msg = vec![0u8; MAX_PREAUTH_MESSAGE];
    let mut payload = vec![0u8; MAX_PREAUTH_MESSAGE];
    let mut inbound = Vec::new();
    // XX: -> e; <- e, ee, s, es; -> s, se
    let my_turns: &[bool] = match role {
        Role::Initiator => &[true, false, true],
        Role::Responder => &[false, true, false],
    };
    for &mine in my_turns {
        if mine {
            let n = hs.write_message(&[], &mut msg)?;
            write_message(&mut writer, &msg[..n]).await?;
        } else {
            read_message(&mut reader, MAX_PREAUTH_MESSAGE, &mut inbound).await?;
            hs.read_message(&inbound, &mut payload)?;
        }
    }
    let hash = hs.get_handshake_hash().to_vec();
    // Noise's split, used in place (see `cipher`); the handshake state is done with.
    let ciphers = Ciphers::from_split(hs.dangerously_get_raw_split(), role == Role::Initiator);
    let mut link_writer = LinkWriter::new(writer, ciphers.send);
    let mut link_reader = LinkReader::new(reader, ciphers.recv);

    // Proof of the network key, bound to this handshake and this node id.
    let signature = creds.signing.sign(&signed_message(role, &hash, creds.node)).to_vec();
    let mut auth = creds.node.0.to_be_bytes().to_vec();
    auth.extend_from_slice(&signature);
    if auth.len() > super::frames::MAX_PLAINTEXT {
        return Err(LinkError::TooLong(auth.len()));
    }
    link_writer.send(&auth).await?;

    read_message(&mut link_reader.reader, MAX_PREAUTH_MESSAGE, &mut inbound).await?;
    let plain = link_reader.open_one(&mut inbound)?;
    if plain.len() < 16 {
        return Err(LinkError::BadAuth);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&plain[..16]);
    let peer = NodeId(u128::from_be_bytes(id));
    let peer_role = match role {
        Role::Initiator => Role::Responder,
        Role::Responder => Role::Initiator,
    };
    let signature = Signature::try_from(&plain[16..]).map_err(|_| LinkError::BadSignature)?;
    creds
        .verifying
        .verify(&signed_message(peer_role, &hash, peer), &signature)
        .map_err(|_| LinkError::BadSignature)?;
    Ok((link_reader, link_writer, peer))
}
