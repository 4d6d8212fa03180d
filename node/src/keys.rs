//! The network's RSA key: loading (PKCS#1, PEM or DER), validation and generation.
//!
//! Every node of one network holds the same private key; the overlay will use it to authenticate
//! peers. The relay server does not need it, which is why `--dev` boots without one.

use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use std::path::{Path, PathBuf};

/// The smallest modulus (bits) a network key may have.
pub const MIN_KEY_BITS: usize = 2048;

/// Why a key could not be loaded, generated or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read (missing, unreadable).
    #[error("cannot read RSA key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file holds neither a PKCS#1 PEM nor a PKCS#1 DER RSA private key.
    #[error("{path} is not a PKCS#1 RSA private key in PEM or DER form (expected \"-----BEGIN RSA PRIVATE KEY-----\"; create one with `iris keygen --out {path}`)")]
    NotAKey { path: PathBuf },
    /// The key parsed but is mathematically inconsistent.
    #[error("{path} holds an invalid RSA key: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// The modulus is below [`MIN_KEY_BITS`].
    #[error("RSA key {path} has {bits} bits, at least {min} are required")]
    TooSmall { path: PathBuf, bits: usize, min: usize },
    /// A requested key size below [`MIN_KEY_BITS`] or unreasonably large.
    #[error("cannot generate a {bits}-bit key: choose between {MIN_KEY_BITS} and 16384 bits")]
    BadSize { bits: usize },
    /// Key generation or encoding failed inside the RSA library.
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    /// The key file could not be written.
    #[error("cannot write RSA key file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Loads and validates a PKCS#1 RSA private key from a PEM or DER file.
pub fn load_private_key(path: &Path) -> Result<RsaPrivateKey, KeyError> {
    let data = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.into(),
        source,
    })?;
    let key = parse_private_key(&data).ok_or_else(|| KeyError::NotAKey { path: path.into() })?;
    check_key(&key, path)?;
    Ok(key)
}

/// Parses PEM when the data is text with a PEM armour, DER otherwise.
fn parse_private_key(data: &[u8]) -> Option<RsaPrivateKey> {
    if let Ok(text) = std::str::from_utf8(data) {
        if text.contains("-----BEGIN") {
            return RsaPrivateKey::from_pkcs1_pem(text.trim()).ok();
        }
    }
    RsaPrivateKey::from_pkcs1_der(data).ok()
}

/// Rejects keys that are too small or inconsistent.
pub fn check_key(key: &RsaPrivateKey, path: &Path) -> Result<(), KeyError> {
    let bits = key.n().bits();
    if bits < MIN_KEY_BITS {
        return Err(KeyError::TooSmall {
            path: path.into(),
            bits,
            min: MIN_KEY_BITS,
        });
    }
    key.validate().map_err(|e| KeyError::Invalid {
        path: path.into(),
        reason: e.to_string(),
    })
}

/// Generates a fresh private key of `bits` bits from the operating system's random source.
pub fn generate_private_key(bits: usize) -> Result<RsaPrivateKey, KeyError> {
    if !(MIN_KEY_BITS..=16384).contains(&bits) {
        return Err(KeyError::BadSize { bits });
    }
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).map_err(|e| KeyError::Generate(e.to_string()))
}

/// Writes `key` as PKCS#1 PEM, readable by its owner only (mode 0600 on Unix).
///
/// Refuses to overwrite an existing file: losing a network key is not recoverable.
pub fn write_private_key_pem(key: &RsaPrivateKey, path: &Path) -> Result<(), KeyError> {
    use std::io::Write;
    let pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write_err = |source| KeyError::Write {
        path: path.into(),
        source,
    };
    let mut file = options.open(path).map_err(write_err)?;
    file.write_all(pem.as_bytes()).map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("iris-keys-{}-{name}", std::process::id()))
    }

    #[test]
    fn small_keys_are_rejected() {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("keygen");
        let err = check_key(&key, Path::new("k.pem")).unwrap_err();
        assert!(matches!(err, KeyError::TooSmall { bits: 1024, .. }), "{err}");
    }

    #[test]
    fn garbage_is_not_a_key() {
        let path = temp_path("garbage");
        std::fs::write(&path, b"hello").expect("write");
        let err = load_private_key(&path).unwrap_err();
        std::fs::remove_file(&path).ok();
        assert!(matches!(err, KeyError::NotAKey { .. }), "{err}");
    }

    #[test]
    fn missing_file_is_reported() {
        let err = load_private_key(Path::new("/nonexistent/iris/key.pem")).unwrap_err();
        assert!(matches!(err, KeyError::Read { .. }), "{err}");
    }

    #[test]
    fn generated_key_round_trips_as_pem_and_der() {
        let key = generate_private_key(2048).expect("keygen");
        let pem_path = temp_path("rt.pem");
        std::fs::remove_file(&pem_path).ok();
        write_private_key_pem(&key, &pem_path).expect("write");
        assert_eq!(load_private_key(&pem_path).expect("load pem"), key);
        let der_path = temp_path("rt.der");
        std::fs::write(&der_path, key.to_pkcs1_der().expect("der").as_bytes()).expect("write der");
        assert_eq!(load_private_key(&der_path).expect("load der"), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&pem_path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_file(&pem_path).ok();
        std::fs::remove_file(&der_path).ok();
    }
}
