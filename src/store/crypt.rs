//! Sealing stored values: XChaCha20-Poly1305 under the data dir's data keys, each value
//! bound to the tree and key it is stored at (so a sealed value moved elsewhere does not
//! open), tagged with the generation of the data key that sealed it.
//!
//! A sealed value is `MAGIC | generation (u32, big-endian) | nonce (24) | ciphertext+tag`.
//! Records in clear are JSON (they start with `{`) or raw vectors; a value without the magic
//! is read as it is, which is how a data dir encrypted after it was first used keeps working
//! until `strata keys rotate-data-key` has sealed its older records.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The first bytes of every sealed value (no JSON record starts with a NUL).
pub const MAGIC: [u8; 4] = [0x00, b'S', b'E', 0x01];
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + 4 + NONCE_LEN;

/// A 256-bit key, wiped from memory when dropped.
pub type KeyBytes = Zeroizing<[u8; 32]>;

/// A fresh random key.
pub fn random_key() -> KeyBytes {
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key);
    out
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("it was sealed with data key {0}, which this data dir's keyring no longer holds")]
    UnknownGeneration(u32),
    #[error("it does not open with its data key: changed on disk, or moved from another place")]
    Forged,
    #[error("it is sealed, but this data dir is not encrypted (its keyring is missing)")]
    NoKeys,
    #[error("it is cut short ({0} bytes)")]
    Truncated(usize),
}

/// Whether `bytes` is a sealed value.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The generation of the data key that sealed `bytes`, or `None` for a value in clear.
pub fn generation(bytes: &[u8]) -> Option<u32> {
    if !is_sealed(bytes) || bytes.len() < MAGIC.len() + 4 {
        return None;
    }
    let at = MAGIC.len();
    Some(u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?))
}

/// What a value is bound to: its tree and its key.
fn binding(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(tree.len() + 1 + key.len());
    aad.extend_from_slice(tree.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

/// Seals `plain` with `key` (any context bytes as `aad`): nonce then ciphertext+tag.
pub fn seal_with(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    // Encryption into a Vec fails only on lengths beyond what a record can have.
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Opens what `seal_with` made; `None` when the key or the context is not the one used.
pub fn open_with(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .ok()
        .map(Zeroizing::new)
}

/// The hash behind a content-addressed key (a cache or a vector keyed by the text it holds):
/// plain SHA-256 in a data dir in clear; HMAC-SHA-256 under the keyring's index key in an
/// encrypted one, so a key in clear does not confirm a guessed text.
pub enum ContentHasher {
    Plain(Sha256),
    Keyed(Box<Hmac<Sha256>>),
}

impl ContentHasher {
    /// A hasher keyed with `key` (`None`: plain).
    pub fn new(key: Option<&[u8; 32]>) -> ContentHasher {
        match key.and_then(|k| <Hmac<Sha256> as Mac>::new_from_slice(k).ok()) {
            Some(mac) => ContentHasher::Keyed(Box::new(mac)),
            None => ContentHasher::Plain(Sha256::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            ContentHasher::Plain(h) => Digest::update(h, bytes),
            ContentHasher::Keyed(m) => Mac::update(&mut **m, bytes),
        }
    }

    pub fn finalize(self) -> [u8; 32] {
        match self {
            ContentHasher::Plain(h) => h.finalize().into(),
            ContentHasher::Keyed(m) => m.finalize().into_bytes().into(),
        }
    }
}

/// The unwrapped data keys of a data dir: the current one seals, every one opens.
pub struct DataKeys {
    current: u32,
    ciphers: BTreeMap<u32, XChaCha20Poly1305>,
}

impl DataKeys {
    /// Keys by generation; `current` must be among them.
    pub fn new(current: u32, keys: &BTreeMap<u32, KeyBytes>) -> DataKeys {
        let ciphers = keys
            .iter()
            .map(|(g, k)| (*g, XChaCha20Poly1305::new((&**k).into())))
            .collect();
        DataKeys { current, ciphers }
    }

    /// The generation new values are sealed with.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// `plain` sealed for `tree`/`key` with the current data key.
    pub fn seal(&self, tree: &str, key: &[u8], plain: &[u8]) -> Vec<u8> {
        let Some(cipher) = self.ciphers.get(&self.current) else {
            // `new`'s contract: the current generation is always present.
            return plain.to_vec();
        };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = binding(tree, key);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The value stored at `tree`/`key` in clear: opened when sealed, as it is otherwise.
    pub fn open(&self, tree: &str, key: &[u8], stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        open_value(Some(self), tree, key, stored)
    }
}

/// Opens a stored value with `keys` (`None`: the data dir is not encrypted).
pub fn open_value(
    keys: Option<&DataKeys>,
    tree: &str,
    key: &[u8],
    stored: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if !is_sealed(stored) {
        return Ok(stored.to_vec());
    }
    if stored.len() < HEADER_LEN {
        return Err(OpenError::Truncated(stored.len()));
    }
    let keys = keys.ok_or(OpenError::NoKeys)?;
    let generation = generation(stored).ok_or(OpenError::Truncated(stored.len()))?;
    let cipher = keys
        .ciphers
        .get(&generation)
        .ok_or(OpenError::UnknownGeneration(generation))?;
    let nonce = &stored[MAGIC.len() + 4..HEADER_LEN];
    let aad = binding(tree, key);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: &stored[HEADER_LEN..],
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Forged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(generations: &[u32], current: u32) -> DataKeys {
        let map = generations.iter().map(|g| (*g, random_key())).collect();
        DataKeys::new(current, &map)
    }

    #[test]
    fn a_sealed_value_opens_only_where_it_was_stored() {
        let k = keys(&[1], 1);
        let sealed = k.seal("messages", b"k1", b"the secret sentence");
        assert!(is_sealed(&sealed));
        assert_eq!(generation(&sealed), Some(1));
        assert!(!sealed
            .windows(b"secret".len())
            .any(|w| w == b"secret".as_slice()));
        assert_eq!(
            k.open("messages", b"k1", &sealed).unwrap(),
            b"the secret sentence"
        );
        assert_eq!(k.open("messages", b"k2", &sealed), Err(OpenError::Forged));
        assert_eq!(k.open("sessions", b"k1", &sealed), Err(OpenError::Forged));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(k.open("messages", b"k1", &flipped), Err(OpenError::Forged));
    }

    #[test]
    fn clear_values_pass_and_unknown_generations_are_named() {
        let k = keys(&[2], 2);
        assert_eq!(k.open("t", b"k", br#"{"v":1}"#).unwrap(), br#"{"v":1}"#);
        let old = keys(&[1], 1).seal("t", b"k", b"x");
        assert_eq!(
            k.open("t", b"k", &old),
            Err(OpenError::UnknownGeneration(1))
        );
        assert_eq!(open_value(None, "t", b"k", &old), Err(OpenError::NoKeys));
        assert_eq!(k.open("t", b"k", &old[..10]), Err(OpenError::Truncated(10)));
    }

    #[test]
    fn wrapping_needs_the_same_key_and_context() {
        let kek = random_key();
        let wrapped = seal_with(&kek, b"ctx", b"data key");
        assert_eq!(
            open_with(&kek, b"ctx", &wrapped).as_deref().map(|v| &v[..]),
            Some(b"data key".as_slice())
        );
        assert!(open_with(&random_key(), b"ctx", &wrapped).is_none());
        assert!(open_with(&kek, b"other", &wrapped).is_none());
    }
}
