//! The data dir's keyring: its data keys, each wrapped (sealed) by a key-encryption key
//! that never enters the data dir — a key file outside it, an environment variable, or a
//! passphrase stretched with Argon2id. The keyring itself holds only wrapped keys, the
//! source's description (a path or a variable's name, never a secret), the passphrase's
//! salt, and the progress of a re-encryption.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::crypt::{self, DataKeys, KeyBytes};

/// The sled tree (and key) the keyring is stored at, in clear.
pub const TREE: &str = "keyring";
const KEY: &[u8] = b"keyring";
/// Environment variable with the passphrase (else it is asked for on the terminal).
pub const PASSPHRASE_ENV: &str = "STRATA_PASSPHRASE";
/// Environment variable with the new passphrase when the key changes to a passphrase.
pub const NEW_PASSPHRASE_ENV: &str = "STRATA_NEW_PASSPHRASE";
/// Environment variable that names another key source than the keyring's (`file:PATH`,
/// `env:VAR`, `passphrase`): for a key file that moved.
pub const KEY_SOURCE_ENV: &str = "STRATA_KEY_SOURCE";

/// Where the key-encryption key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySource {
    /// A file of 64 hex digits, readable by its owner only, outside the data dir.
    File { path: PathBuf },
    /// An environment variable holding 64 hex digits.
    Env { var: String },
    /// A passphrase (`STRATA_PASSPHRASE`, or asked on the terminal), through Argon2id.
    Passphrase,
}

impl std::str::FromStr for KeySource {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<KeySource, KeyError> {
        let bad = || KeyError::BadSource(text.to_string());
        match text.split_once(':') {
            Some(("file", path)) if !path.is_empty() => Ok(KeySource::File {
                path: crate::tilde::expand_home(path),
            }),
            Some(("env", var)) if !var.is_empty() => Ok(KeySource::Env {
                var: var.to_string(),
            }),
            None if text == "passphrase" => Ok(KeySource::Passphrase),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File { path } => write!(f, "file:{}", path.display()),
            KeySource::Env { var } => write!(f, "env:{var}"),
            KeySource::Passphrase => f.write_str("passphrase"),
        }
    }
}

/// Why the data dir's keys could not be had. None of these names a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("`{0}` is not a key source: use file:PATH, env:VAR or passphrase")]
    BadSource(String),
    #[error("the key file {path} cannot be read ({detail}); point {KEY_SOURCE_ENV}=file:PATH at it if it moved")]
    FileUnreadable { path: PathBuf, detail: String },
    #[error("the key file {path} can be read by other users: run `chmod 600 {path}`")]
    FileOpen { path: PathBuf },
    #[error("the key file {path} is inside the data dir {data_dir}: a key kept with the data protects nothing; put it elsewhere")]
    FileInDataDir { path: PathBuf, data_dir: PathBuf },
    #[error(
        "{origin} must hold 64 hex digits (a 256-bit key), as `strata init --encrypt` writes them"
    )]
    Malformed { origin: String },
    #[error("the data dir is encrypted with the key in ${var}, which is not set")]
    EnvMissing { var: String },
    #[error("the data dir is encrypted with a passphrase: set {PASSPHRASE_ENV} or run from a terminal to be asked")]
    NoPassphrase,
    #[error("the key from {origin} does not open the data keys of {path} (wrong key or passphrase?); nothing was read or changed")]
    Wrong { origin: String, path: PathBuf },
    #[error("the keyring of {path} cannot be read ({detail}); it was left as it is")]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot write the key file {path}: {detail}")]
    FileWrite { path: PathBuf, detail: String },
    #[error("the passphrases typed do not match")]
    Mismatch,
}

/// Argon2id's cost, stored with the salt so a later, stronger default still opens old dirs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl Default for KdfParams {
    /// OWASP's first Argon2id setting (19 MiB, 2 passes, 1 lane).
    fn default() -> KdfParams {
        KdfParams {
            memory_kib: 19 * 1024,
            passes: 2,
            lanes: 1,
        }
    }
}

/// One data key, wrapped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrappedKey {
    pub generation: u32,
    pub created_us: u64,
    /// Nonce and ciphertext, hex.
    pub wrapped: String,
}

/// A re-encryption under way: every value not sealed with `to` is sealed again, tree by
/// tree in name order, key by key; the cursor is saved as it goes, so a stopped pass
/// resumes where it was.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rotation {
    pub to: u32,
    /// The tree being worked on (`None`: not started).
    pub tree: Option<String>,
    /// The last key done in that tree, hex.
    pub after: Option<String>,
    /// Values sealed again so far.
    pub done: u64,
}

/// The keyring as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keyring {
    pub format: u32,
    pub source: KeySource,
    /// Argon2id salt (hex) and cost, for a passphrase source.
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub kdf: Option<KdfParams>,
    pub current: u32,
    pub keys: Vec<WrappedKey>,
    /// The key of content-addressed keys (HMAC), wrapped; kept across data-key rotations
    /// so caches and vectors keep their places.
    #[serde(default)]
    pub index_key: Option<WrappedKey>,
    #[serde(default)]
    pub rotation: Option<Rotation>,
    /// Every value is sealed: from then on a value in clear is refused, not read (it was
    /// not written by strata).
    #[serde(default)]
    pub all_sealed: bool,
}

/// The generation the index key is wrapped under (data keys start at 1).
const INDEX_GENERATION: u32 = 0;

/// What opens a data dir's keys, or sets them up.
#[derive(Debug, Clone, Default)]
pub struct KeyAccess {
    /// Encrypt a data dir that is not encrypted yet, with this source (the config's switch).
    pub enable: Option<KeySource>,
    /// Use this source instead of the keyring's (`STRATA_KEY_SOURCE`).
    pub source: Option<KeySource>,
}

impl KeyAccess {
    /// The access the environment gives: `STRATA_KEY_SOURCE` when set.
    pub fn from_env() -> Result<KeyAccess, KeyError> {
        let source = match std::env::var(KEY_SOURCE_ENV) {
            Ok(text) if !text.trim().is_empty() => Some(text.trim().parse()?),
            _ => None,
        };
        Ok(KeyAccess {
            enable: None,
            source,
        })
    }
}

fn wrap_context(generation: u32) -> Vec<u8> {
    let mut aad = b"strata data key ".to_vec();
    aad.extend_from_slice(&generation.to_be_bytes());
    aad
}

fn hex_key(text: &str, source: &str) -> Result<KeyBytes, KeyError> {
    let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| KeyError::Malformed {
        origin: source.to_string(),
    })?);
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(KeyError::Malformed {
            origin: source.to_string(),
        });
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Refuses a key file inside `data_dir` (both made absolute as far as they exist).
fn outside_data_dir(path: &Path, data_dir: &Path) -> Result<(), KeyError> {
    let canon = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            p.parent()
                .and_then(|d| d.canonicalize().ok())
                .map(|d| d.join(p.file_name().unwrap_or_default()))
                .unwrap_or_else(|| p.to_path_buf())
        })
    };
    if canon(path).starts_with(canon(data_dir)) {
        return Err(KeyError::FileInDataDir {
            path: path.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
        });
    }
    Ok(())
}

fn read_key_file(path: &Path, data_dir: &Path) -> Result<KeyBytes, KeyError> {
    outside_data_dir(path, data_dir)?;
    let unreadable = |e: std::io::Error| KeyError::FileUnreadable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyError::FileOpen {
                path: path.to_path_buf(),
            });
        }
    }
    if meta.len() > 1024 {
        return Err(KeyError::Malformed {
            origin: format!("the key file {}", path.display()),
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(unreadable)?);
    hex_key(&text, &format!("the key file {}", path.display()))
}

/// Writes a new random key file (readable by its owner only) unless one is there.
pub fn create_key_file(path: &Path, data_dir: &Path) -> Result<bool, KeyError> {
    outside_data_dir(path, data_dir)?;
    if path.exists() {
        return Ok(false);
    }
    let failed = |e: std::io::Error| KeyError::FileWrite {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write as _;
    let mut file = options.open(path).map_err(failed)?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(*crypt::random_key())));
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(true)
}

/// The passphrase: `STRATA_PASSPHRASE` (a new one: `STRATA_NEW_PASSPHRASE` first), else
/// asked on the terminal (twice for a new one).
fn passphrase(new: bool) -> Result<Zeroizing<String>, KeyError> {
    let vars: &[&str] = if new {
        &[NEW_PASSPHRASE_ENV, PASSPHRASE_ENV]
    } else {
        &[PASSPHRASE_ENV]
    };
    for var in vars {
        if let Ok(p) = std::env::var(var) {
            if !p.is_empty() {
                return Ok(Zeroizing::new(p));
            }
        }
    }
    let confirm = new;
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(KeyError::NoPassphrase);
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("Passphrase for the data dir: ")
            .map_err(|_| KeyError::NoPassphrase)?,
    );
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Once more: ").map_err(|_| KeyError::NoPassphrase)?,
        );
        if *again != *first {
            return Err(KeyError::Mismatch);
        }
    }
    if first.is_empty() {
        return Err(KeyError::NoPassphrase);
    }
    Ok(first)
}

fn stretch(pass: &str, salt: &[u8], params: KdfParams) -> Result<KeyBytes, KeyError> {
    let bad = |e: String| KeyError::Corrupt {
        path: PathBuf::from("(keyring)"),
        detail: format!("passphrase settings: {e}"),
    };
    let params = argon2::Params::new(params.memory_kib, params.passes, params.lanes, Some(32))
        .map_err(|e| bad(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(pass.as_bytes(), salt, &mut *key)
        .map_err(|e| bad(e.to_string()))?;
    Ok(key)
}

/// A key-encryption key with what the keyring must record to find it again.
pub struct Kek {
    key: KeyBytes,
    pub source: KeySource,
    pub salt: Option<String>,
    pub kdf: Option<KdfParams>,
}

impl Kek {
    /// The key from `source` for an existing keyring (its salt and cost for a passphrase).
    pub fn load(
        source: &KeySource,
        ring: Option<&Keyring>,
        data_dir: &Path,
    ) -> Result<Kek, KeyError> {
        let key = match source {
            KeySource::File { path } => read_key_file(path, data_dir)?,
            KeySource::Env { var } => match std::env::var(var) {
                Ok(text) => hex_key(&Zeroizing::new(text), &format!("${var}"))?,
                Err(_) => return Err(KeyError::EnvMissing { var: var.clone() }),
            },
            KeySource::Passphrase => {
                let salt_hex = ring.and_then(|r| r.salt.clone());
                let params = ring.and_then(|r| r.kdf).unwrap_or_default();
                let (salt, confirm) = match &salt_hex {
                    Some(s) => (
                        hex::decode(s).map_err(|e| KeyError::Corrupt {
                            path: data_dir.to_path_buf(),
                            detail: format!("salt: {e}"),
                        })?,
                        false,
                    ),
                    None => (crypt::random_key()[..16].to_vec(), true),
                };
                let pass = passphrase(confirm)?;
                return Ok(Kek {
                    key: stretch(&pass, &salt, params)?,
                    source: KeySource::Passphrase,
                    salt: Some(hex::encode(&salt)),
                    kdf: Some(params),
                });
            }
        };
        Ok(Kek {
            key,
            source: source.clone(),
            salt: None,
            kdf: None,
        })
    }

    fn wrap(&self, generation: u32, key: &KeyBytes, created_us: u64) -> WrappedKey {
        WrappedKey {
            generation,
            created_us,
            wrapped: hex::encode(crypt::seal_with(
                &self.key,
                &wrap_context(generation),
                &**key,
            )),
        }
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Option<KeyBytes> {
        let bytes = hex::decode(&wrapped.wrapped).ok()?;
        let plain = crypt::open_with(&self.key, &wrap_context(wrapped.generation), &bytes)?;
        let mut key = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return None;
        }
        key.copy_from_slice(&plain);
        Some(key)
    }
}

impl Keyring {
    /// A keyring with one new data key (generation 1) and a new index key, wrapped by
    /// `kek`; returns them unwrapped too.
    pub fn create(kek: &Kek) -> (Keyring, BTreeMap<u32, KeyBytes>, KeyBytes) {
        let key = crypt::random_key();
        let index = crypt::random_key();
        let ring = Keyring {
            index_key: Some(kek.wrap(INDEX_GENERATION, &index, super::now_micros())),
            format: 1,
            source: kek.source.clone(),
            salt: kek.salt.clone(),
            kdf: kek.kdf,
            current: 1,
            keys: vec![kek.wrap(1, &key, super::now_micros())],
            rotation: None,
            all_sealed: false,
        };
        (ring, BTreeMap::from([(1, key)]), index)
    }

    /// Every data key, unwrapped with `kek`; `None` when `kek` is not the one that wrapped
    /// them.
    pub fn unwrap_all(&self, kek: &Kek) -> Option<BTreeMap<u32, KeyBytes>> {
        self.keys
            .iter()
            .map(|w| Some((w.generation, kek.unwrap(w)?)))
            .collect()
    }

    /// Whether the keyring is whole: its current key among its keys, and an index key
    /// (a keyring edited to fail open — no keys, a missing current one — is refused).
    pub fn check(&self, path: &Path) -> Result<(), KeyError> {
        let has_current = self.keys.iter().any(|w| w.generation == self.current);
        if self.keys.is_empty() || !has_current || self.index_key.is_none() {
            return Err(KeyError::Corrupt {
                path: path.to_path_buf(),
                detail: "its current data key or its index key is missing".into(),
            });
        }
        Ok(())
    }

    /// The index key, unwrapped with `kek`.
    pub fn unwrap_index(&self, kek: &Kek) -> Option<KeyBytes> {
        kek.unwrap(self.index_key.as_ref()?)
    }

    /// The same data keys (and index key) wrapped by `kek` instead (the data is not
    /// touched).
    pub fn rewrapped(
        &self,
        keys: &BTreeMap<u32, KeyBytes>,
        index: &KeyBytes,
        kek: &Kek,
    ) -> Keyring {
        let mut ring = self.clone();
        let created = self.index_key.as_ref().map_or(0, |w| w.created_us);
        ring.index_key = Some(kek.wrap(INDEX_GENERATION, index, created));
        ring.source = kek.source.clone();
        ring.salt = kek.salt.clone();
        ring.kdf = kek.kdf;
        ring.keys = self
            .keys
            .iter()
            .filter_map(|w| Some(kek.wrap(w.generation, keys.get(&w.generation)?, w.created_us)))
            .collect();
        ring
    }

    /// A new data key, made current, wrapped by `kek`.
    pub fn add_key(&mut self, keys: &mut BTreeMap<u32, KeyBytes>, kek: &Kek) -> u32 {
        let generation = self.keys.iter().map(|w| w.generation).max().unwrap_or(0) + 1;
        let key = crypt::random_key();
        self.keys
            .push(kek.wrap(generation, &key, super::now_micros()));
        keys.insert(generation, key);
        self.current = generation;
        generation
    }

    /// Drops every data key but the current one (after a finished re-encryption).
    pub fn keep_current_only(&mut self, keys: &mut BTreeMap<u32, KeyBytes>) {
        let current = self.current;
        self.keys.retain(|w| w.generation == current);
        keys.retain(|g, _| *g == current);
    }

    /// The keyring stored in `db`, if the data dir is encrypted.
    pub fn load(db: &sled::Db, path: &Path) -> Result<Option<Keyring>, KeyError> {
        let corrupt = |detail: String| KeyError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let tree = db.open_tree(TREE).map_err(|e| corrupt(e.to_string()))?;
        match tree.get(KEY).map_err(|e| corrupt(e.to_string()))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// Stores the keyring in `db` and flushes it (a keyring must never be lost).
    pub fn save(&self, db: &sled::Db) -> Result<(), sled::Error> {
        // Never an empty keyring: a path that is not UTF-8 fails here, before anything.
        let bytes = serde_json::to_vec(self)
            .map_err(|e| sled::Error::Unsupported(format!("the keyring cannot be saved: {e}")))?;
        db.open_tree(TREE)?.insert(KEY, bytes)?;
        db.flush()?;
        Ok(())
    }

    /// The data keys for sealing and opening.
    pub fn data_keys(&self, keys: &BTreeMap<u32, KeyBytes>) -> DataKeys {
        DataKeys::new(self.current, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_back() {
        for text in ["file:/k/data.key", "env:MY_KEY", "passphrase"] {
            let source: KeySource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
        }
        for bad in ["file:", "env", "pass", "s3:bucket"] {
            assert!(bad.parse::<KeySource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn key_files_are_checked_before_use() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let inside = data.join("k");
        assert!(matches!(
            create_key_file(&inside, &data),
            Err(KeyError::FileInDataDir { .. })
        ));
        let file = dir.path().join("keys/data.key");
        assert!(create_key_file(&file, &data).unwrap());
        assert!(
            !create_key_file(&file, &data).unwrap(),
            "kept, not replaced"
        );
        let source = KeySource::File { path: file.clone() };
        let kek = Kek::load(&source, None, &data).unwrap();
        let (ring, keys, _) = Keyring::create(&kek);
        assert_eq!(ring.unwrap_all(&kek).unwrap().len(), keys.len());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Kek::load(&source, None, &data).err().unwrap();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&file, "not hex").unwrap();
        let err = Kek::load(&source, None, &data).err().unwrap();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
    }

    #[test]
    fn a_rewrapped_ring_opens_with_the_new_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (a, b) = (dir.path().join("a.key"), dir.path().join("b.key"));
        create_key_file(&a, &data).unwrap();
        create_key_file(&b, &data).unwrap();
        let kek_a = Kek::load(&KeySource::File { path: a }, None, &data).unwrap();
        let kek_b = Kek::load(&KeySource::File { path: b }, None, &data).unwrap();
        let (ring, keys, index) = Keyring::create(&kek_a);
        assert!(
            ring.unwrap_all(&kek_b).is_none(),
            "the wrong key opens nothing"
        );
        assert_eq!(*ring.unwrap_index(&kek_a).unwrap(), *index);
        let moved = ring.rewrapped(&keys, &index, &kek_b);
        assert!(moved.unwrap_all(&kek_a).is_none());
        let again = moved.unwrap_all(&kek_b).unwrap();
        assert_eq!(*again[&1], *keys[&1], "the data key itself is unchanged");
        assert_eq!(*moved.unwrap_index(&kek_b).unwrap(), *index);
    }
}
