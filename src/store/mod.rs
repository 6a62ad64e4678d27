//! Persistence on sled: one database per data dir, a tree per domain, time-ordered ids
//! as keys, and versioned JSON records as values — sealed with the data dir's data key
//! when it is encrypted (`crypt`, `keyring`, `rotate`).

pub mod crypt;
pub mod keyring;
pub mod rotate;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Tree names, one per domain.
pub mod trees {
    pub const INVOCATIONS: &str = "invocations";
    pub const RESPONSE_CACHE: &str = "response_cache";
    /// Guardrail exemplar and grounding embeddings, keyed by model and text.
    pub const GUARDRAIL_EMBEDDINGS: &str = "guardrail_embeddings";
    /// Caches keyed by a hash of what they hold: emptied when a data dir is encrypted, as
    /// their keys were made without the index key.
    pub const CACHES: [&str; 2] = [RESPONSE_CACHE, GUARDRAIL_EMBEDDINGS];
    /// Keys of records still being written, per tree (`tree/key`): found there at the next
    /// start, they were cut off by a crash.
    pub const IN_FLIGHT: &str = "in_flight";
}

fn in_flight_key(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut k = tree.as_bytes().to_vec();
    k.push(b'/');
    k.extend_from_slice(key);
    k
}

/// A storage failure, with the path of the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is in use by another strata process; close it or use --data-dir to pick another")]
    Locked { path: PathBuf },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    /// Writing did not finish in time (sled waits for ever once a write failed).
    #[error("the database {path} did not finish writing within {secs} s (is the disk full, or a file-size limit hit?): free some space and run again; what was written before is intact")]
    Stuck { path: PathBuf, secs: u64 },
    /// The disk (or a file-size limit) has no room for the database to grow.
    #[error("no room to write the database {path} ({source}): free some disk space (or raise the file-size limit) and run again; what is stored is unchanged")]
    Full { path: PathBuf, source: sled::Error },
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored {what} record could not be read ({detail}); it was left as it is")]
    Corrupt { what: &'static str, detail: String },
    #[error(transparent)]
    Key(#[from] keyring::KeyError),
}

/// Whether sled failed for want of room: the disk is full (ENOSPC) or a file-size limit
/// was hit (EFBIG).
fn is_full(error: &sled::Error) -> bool {
    const EFBIG: i32 = 27;
    const ENOSPC: i32 = 28;
    matches!(error, sled::Error::Io(e) if matches!(e.raw_os_error(), Some(EFBIG | ENOSPC)))
}

impl StoreError {
    /// `error` as `Full` when it is for want of room at `path`, else as it is.
    pub fn full_or(path: &Path, error: StoreError) -> StoreError {
        match error {
            StoreError::Sled(source) if is_full(&source) => StoreError::Full {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        }
    }
}

/// The unwrapped keys of an encrypted data dir, with its keyring and the key that wraps
/// them (kept for rotations).
pub(crate) struct Unlocked {
    pub(crate) ring: keyring::Keyring,
    pub(crate) keys: std::collections::BTreeMap<u32, crypt::KeyBytes>,
    pub(crate) kek: keyring::Kek,
    pub(crate) data: Arc<crypt::DataKeys>,
    /// The key of content-addressed keys.
    pub(crate) index: crypt::KeyBytes,
}

impl Unlocked {
    fn new(
        ring: keyring::Keyring,
        keys: std::collections::BTreeMap<u32, crypt::KeyBytes>,
        index: crypt::KeyBytes,
        kek: keyring::Kek,
    ) -> Unlocked {
        let data = Arc::new(ring.data_keys(&keys));
        Unlocked {
            ring,
            keys,
            kek,
            data,
            index,
        }
    }

    /// Rebuilds the sealing keys after the ring changed.
    pub(crate) fn refresh(&mut self) {
        self.data = Arc::new(self.ring.data_keys(&self.keys));
    }
}

/// The database handle (cheap to clone; sled shares it).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    data_dir: PathBuf,
    /// `None` while the data dir is not encrypted.
    crypt: Arc<RwLock<Option<Unlocked>>>,
}

impl Store {
    /// Opens (creating) the database under `data_dir`; an encrypted one is opened with the
    /// key source its keyring names.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(data_dir, &keyring::KeyAccess::default())
    }

    /// Opens (creating) the database under `data_dir` with `access` to its keys: an
    /// encrypted data dir is unlocked (a wrong key is refused before anything is read or
    /// written), and one not encrypted yet is encrypted when `access.enable` says so.
    pub fn open_with(data_dir: &Path, access: &keyring::KeyAccess) -> Result<Store, StoreError> {
        let store = Store::open_db(data_dir)?;
        let ring = keyring::Keyring::load(&store.db, &store.path)?;
        match (ring, &access.enable) {
            (Some(ring), _) => {
                ring.check(&store.path)?;
                let source = access.source.clone().unwrap_or_else(|| ring.source.clone());
                let kek = keyring::Kek::load(&source, Some(&ring), data_dir)?;
                let (keys, index) = ring
                    .unwrap_all(&kek)
                    .zip(ring.unwrap_index(&kek))
                    .ok_or_else(|| keyring::KeyError::Wrong {
                        origin: source.to_string(),
                        path: store.path.clone(),
                    })?;
                *store.crypt.write().unwrap_or_else(|e| e.into_inner()) =
                    Some(Unlocked::new(ring, keys, index, kek));
            }
            (None, Some(source)) => store.encrypt(source)?,
            (None, None) => {}
        }
        Ok(store)
    }

    fn open_db(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join("strata.db");
        if let Err(source) = std::fs::create_dir_all(data_dir) {
            return Err(StoreError::Open {
                path,
                source: sled::Error::Io(source),
            });
        }
        match sled::open(&path) {
            Ok(db) => Ok(Store {
                db,
                path,
                data_dir: data_dir.to_path_buf(),
                crypt: Arc::new(RwLock::new(None)),
            }),
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock") =>
            {
                Err(StoreError::Locked { path })
            }
            Err(source) if is_full(&source) => Err(StoreError::Full { path, source }),
            Err(source) => Err(StoreError::Open { path, source }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Whether the data dir is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.data_keys().is_some()
    }

    /// Whether every value of this encrypted data dir is sealed (values in clear refused).
    fn all_sealed(&self) -> bool {
        self.crypt
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|u| u.ring.all_sealed)
    }

    fn data_keys(&self) -> Option<Arc<crypt::DataKeys>> {
        self.crypt
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|u| u.data.clone())
    }

    /// The hasher for a content-addressed key (a cache or vector keyed by its text): keyed
    /// when the data dir is encrypted, so the key does not confirm a guessed text.
    pub fn content_hasher(&self) -> crypt::ContentHasher {
        let guard = self.crypt.read().unwrap_or_else(|e| e.into_inner());
        crypt::ContentHasher::new(guard.as_ref().map(|u| &*u.index))
    }

    /// `plain` as it is stored at `tree`/`key`: sealed when the data dir is encrypted.
    pub fn seal(&self, tree: &str, key: &[u8], plain: Vec<u8>) -> Vec<u8> {
        match self.data_keys() {
            Some(keys) => keys.seal(tree, key, &plain),
            None => plain,
        }
    }

    /// The value stored at `tree`/`key` in clear (`what` names it in errors).
    pub fn unseal<'a>(
        &self,
        tree: &str,
        key: &[u8],
        stored: &'a [u8],
        what: &'static str,
    ) -> Result<std::borrow::Cow<'a, [u8]>, StoreError> {
        if !crypt::is_sealed(stored) {
            if !stored.is_empty() && self.all_sealed() {
                return Err(StoreError::Corrupt {
                    what,
                    detail: "it is in clear in an encrypted data dir, so strata did not write it; it was not used".into(),
                });
            }
            return Ok(std::borrow::Cow::Borrowed(stored));
        }
        crypt::open_value(self.data_keys().as_deref(), tree, key, stored)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| StoreError::Corrupt {
                what,
                detail: e.to_string(),
            })
    }

    /// A record as stored at `tree`/`key` (for writes inside sled transactions).
    pub fn encode_at<T: Serialize>(&self, tree: &str, key: &[u8], value: &T) -> Vec<u8> {
        self.seal(tree, key, encode(value))
    }

    /// A record stored at `tree`/`key`, read back (for reads inside sled transactions).
    pub fn decode_at<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &[u8],
        stored: &[u8],
        what: &'static str,
    ) -> Result<T, StoreError> {
        decode(&self.unseal(tree, key, stored, what)?, what)
    }

    /// Writes a versioned record.
    pub fn put<T: Serialize>(&self, tree: &str, key: &[u8], value: &T) -> Result<(), StoreError> {
        let bytes = self.encode_at(tree, key, value);
        self.tree(tree)?.insert(key, bytes)?;
        Ok(())
    }

    /// Reads a versioned record.
    pub fn get<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.tree(tree)?.get(key)? {
            Some(bytes) => self.decode_at(tree, key, &bytes, what).map(Some),
            None => Ok(None),
        }
    }

    /// Records of a tree, newest first; unreadable ones are skipped (and counted in the log).
    pub fn latest<T: DeserializeOwned>(
        &self,
        tree: &str,
        limit: usize,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(tree)?.iter().rev() {
            let (key, bytes) = item?;
            match self.decode_at(tree, &key, &bytes, what) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!("{e}"),
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Records whose keys start with `prefix`, in key order; unreadable ones are skipped.
    pub fn scan_prefix<T: DeserializeOwned>(
        &self,
        tree: &str,
        prefix: &[u8],
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(tree)?.scan_prefix(prefix) {
            let (key, bytes) = item?;
            match self.decode_at(tree, &key, &bytes, what) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok(out)
    }

    /// Marks `key` of `tree` as in flight (a call or an answer still being written).
    pub fn mark_in_flight(&self, tree: &str, key: &[u8]) -> Result<(), StoreError> {
        self.tree(trees::IN_FLIGHT)?
            .insert(in_flight_key(tree, key), &[])?;
        Ok(())
    }

    /// Clears an in-flight mark.
    pub fn clear_in_flight(&self, tree: &str, key: &[u8]) -> Result<(), StoreError> {
        self.tree(trees::IN_FLIGHT)?
            .remove(in_flight_key(tree, key))?;
        Ok(())
    }

    /// Settles the records of `tree` still marked in flight (at start-up, when no call of
    /// this process can be running yet): `settle` rewrites a record cut off by a crash and
    /// says whether it changed it. Each mark is cleared only after its record is rewritten,
    /// so a crash in between finds it again. Returns how many records changed.
    pub fn settle_in_flight<T: Serialize + DeserializeOwned>(
        &self,
        tree: &str,
        what: &'static str,
        mut settle: impl FnMut(&mut T) -> bool,
    ) -> Result<usize, StoreError> {
        let prefix = in_flight_key(tree, b"");
        let mut changed = 0;
        for mark in self.tree(trees::IN_FLIGHT)?.scan_prefix(&prefix).keys() {
            let key = mark?[prefix.len()..].to_vec();
            match self.get::<T>(tree, &key, what) {
                Ok(Some(mut record)) => {
                    if settle(&mut record) {
                        self.put(tree, &key, &record)?;
                        changed += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}"),
            }
            self.clear_in_flight(tree, &key)?;
        }
        Ok(changed)
    }

    /// Flushes to disk, waiting at most `limit`: after a write failed for want of room,
    /// sled 0.34's flush waits for ever for data that will never be written (seen with a
    /// file-size limit); that wait is reported as `Stuck` instead.
    pub fn flush_within(&self, limit: std::time::Duration) -> Result<(), StoreError> {
        let (done, waited) = std::sync::mpsc::channel();
        let db = self.db.clone();
        // A thread of its own: if sled never answers, the process can still end.
        std::thread::Builder::new()
            .name("strata-flush".into())
            .spawn(move || {
                let _ = done.send(db.flush().map(|_| ()));
            })
            .map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        match waited.recv_timeout(limit) {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Stuck {
                path: self.path.clone(),
                secs: limit.as_secs(),
            }),
        }
    }

    /// Flushes to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Flushes to disk without blocking the async task.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

/// The current record format version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    data: T,
}

/// A record in clear, as JSON (`Store::encode_at` seals it for its place).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own plain structs to JSON cannot fail.
    serde_json::to_vec(&Envelope {
        v: VERSION,
        data: value,
    })
    .unwrap_or_default()
}

/// A record in clear read back (`Store::decode_at` opens a sealed one first).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, StoreError> {
    let envelope: Envelope<T> = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })?;
    if envelope.v > VERSION {
        return Err(StoreError::Corrupt {
            what,
            detail: format!("written by a newer strata (format v{})", envelope.v),
        });
    }
    Ok(envelope.data)
}

/// A time-ordered id: 8 bytes of big-endian microseconds since the epoch, 4 random bytes.
/// Byte order is time order, so range scans list records chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u8; 12]);

impl Id {
    /// A new id, later than every id made before it in this process.
    pub fn new() -> Id {
        use std::sync::atomic::{AtomicU64, Ordering};
        static LAST: AtomicU64 = AtomicU64::new(0);
        let now = now_micros();
        let micros = match LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        }) {
            Ok(last) | Err(last) => now.max(last + 1),
        };
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&micros.to_be_bytes());
        rand::thread_rng().fill(&mut bytes[8..]);
        Id(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// An id from its 12 stored bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Id> {
        Some(Id(bytes.try_into().ok()?))
    }

    pub fn parse(text: &str) -> Option<Id> {
        let bytes = hex::decode(text).ok()?;
        Some(Id(bytes.try_into().ok()?))
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let text = String::deserialize(d)?;
        Id::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("bad id `{text}`")))
    }
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A stored timestamp as `YYYY-MM-DD HH:MM` (UTC), for lists.
pub fn format_micros(us: u64) -> String {
    chrono::DateTime::from_timestamp_micros(us as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ids: Vec<Id> = (0..3)
            .map(|i| {
                let id = Id::new();
                store.put("t", id.as_bytes(), &format!("rec{i}")).unwrap();
                id
            })
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids made in a row are ordered"
        );
        let got: Option<String> = store.get("t", ids[1].as_bytes(), "test").unwrap();
        assert_eq!(got.as_deref(), Some("rec1"));
        let latest: Vec<String> = store.latest("t", 2, "test").unwrap();
        assert_eq!(latest, vec!["rec2", "rec1"]);
        assert_eq!(Id::parse(&ids[0].to_string()), Some(ids[0]));
    }

    #[test]
    fn newer_versions_are_refused_not_misread() {
        let err = decode::<String>(br#"{"v":99,"data":"x"}"#, "test").unwrap_err();
        assert!(err.to_string().contains("newer strata"));
    }
}
