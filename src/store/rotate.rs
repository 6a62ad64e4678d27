//! Key changes on an open store: encrypting a data dir, re-wrapping its data keys under
//! another key-encryption key (no data rewritten), and rotating the data key — a new key
//! seals every new write at once, and a resumable pass seals the older values again,
//! saving its place as it goes; the old key is dropped only when no value needs it.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::crypt;
use super::keyring::{self, Kek, KeySource, Keyring, Rotation};
use super::{Store, StoreError, Unlocked};

/// How many values are sealed again between saves of the pass's place.
const CHECKPOINT_EVERY: u64 = 256;

/// Where a data dir's encryption stands (`strata keys status`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    pub encrypted: bool,
    /// The key-encryption key's source (a path or a variable's name; never the key).
    pub source: Option<String>,
    pub current: Option<u32>,
    /// Generations of the data keys the keyring holds, oldest first.
    pub generations: Vec<u32>,
    /// A re-encryption that has not finished.
    pub rotation: Option<Rotation>,
    /// Every value sealed: one in clear is refused.
    pub all_sealed: bool,
    /// Stored values per data key generation (0: in clear).
    pub values_by_generation: std::collections::BTreeMap<u32, u64>,
}

/// The end of a re-encryption pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassEnd {
    /// Every value is sealed with the current key; older keys were dropped.
    Finished { resealed: u64 },
    /// Stopped on request; running the pass again resumes it.
    Stopped { resealed: u64 },
}

fn not_encrypted(store: &Store) -> StoreError {
    StoreError::Corrupt {
        what: "keyring",
        detail: format!(
            "{} is not encrypted: run `strata init --encrypt` first",
            store.path.display()
        ),
    }
}

impl Store {
    fn with_unlocked<R>(
        &self,
        f: impl FnOnce(&mut Unlocked) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut guard = self.crypt.write().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(unlocked) => f(unlocked),
            None => Err(not_encrypted(self)),
        }
    }

    /// Whether the database holds any record outside the keyring.
    fn holds_records(&self) -> bool {
        self.db.tree_names().iter().any(|name| {
            name.as_ref() != keyring::TREE.as_bytes()
                && self
                    .db
                    .open_tree(name)
                    .map(|t| !t.is_empty())
                    .unwrap_or(false)
        })
    }

    /// Encrypts this data dir with a new data key wrapped by the key from `source` (a key
    /// file is created when missing). New values are sealed from now on; records already
    /// stored are left for the re-encryption pass (`continue_rotation`), which the keyring
    /// marks as pending. Does nothing on a data dir already encrypted.
    pub fn encrypt(&self, source: &KeySource) -> Result<(), StoreError> {
        if self.is_encrypted() {
            return Ok(());
        }
        if let KeySource::File { path } = source {
            keyring::create_key_file(path, &self.data_dir)?;
        }
        let kek = Kek::load(source, None, &self.data_dir)?;
        let (mut ring, keys, index) = Keyring::create(&kek);
        for cache in super::trees::CACHES {
            self.tree(cache)?.clear()?;
        }
        ring.all_sealed = !self.holds_records();
        if !ring.all_sealed {
            ring.rotation = Some(Rotation {
                to: ring.current,
                tree: None,
                after: None,
                done: 0,
            });
        }
        ring.save(&self.db)?;
        *self.crypt.write().unwrap_or_else(|e| e.into_inner()) =
            Some(Unlocked::new(ring, keys, index, kek));
        Ok(())
    }

    /// Wraps the data keys with the key from `source` instead (a key file is created when
    /// missing); the data itself is not rewritten. The old key no longer opens the store.
    pub fn rewrap(&self, source: &KeySource) -> Result<(), StoreError> {
        if let KeySource::File { path } = source {
            keyring::create_key_file(path, &self.data_dir)?;
        }
        let fresh = Kek::load(source, None, &self.data_dir)?;
        self.with_unlocked(|u| {
            let ring = u.ring.rewrapped(&u.keys, &u.index, &fresh);
            ring.save(&self.db)?;
            u.ring = ring;
            u.kek = fresh;
            Ok(())
        })
    }

    /// Starts a data-key rotation: a new data key seals every write from now on. A rotation
    /// already under way is kept (its pass resumes) and no key is added. Returns the
    /// generation the pass seals to.
    pub fn start_rotation(&self) -> Result<u32, StoreError> {
        self.with_unlocked(|u| {
            if let Some(rotation) = &u.ring.rotation {
                return Ok(rotation.to);
            }
            let mut ring = u.ring.clone();
            let mut keys = u.keys.clone();
            let to = ring.add_key(&mut keys, &u.kek);
            ring.rotation = Some(Rotation {
                to,
                tree: None,
                after: None,
                done: 0,
            });
            ring.save(&self.db)?;
            u.ring = ring;
            u.keys = keys;
            u.refresh();
            Ok(to)
        })
    }

    /// Where the key-encryption key comes from (`None`: not encrypted).
    pub fn key_source(&self) -> Option<KeySource> {
        self.crypt
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|u| u.ring.source.clone())
    }

    /// Whether a re-encryption is pending.
    pub fn rotation_pending(&self) -> bool {
        self.crypt
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|u| u.ring.rotation.is_some())
    }

    fn save_rotation(&self, rotation: &Rotation) -> Result<(), StoreError> {
        self.with_unlocked(|u| {
            let mut ring = u.ring.clone();
            ring.rotation = Some(rotation.clone());
            ring.save(&self.db)?;
            u.ring = ring;
            Ok(())
        })
    }

    /// Runs the pending re-encryption pass from where it stopped until every value is
    /// sealed with the current key or `stop` is set; `progress` hears the running count.
    /// A value that does not open is left as it is (and logged). Safe against a crash at
    /// any point: the place is saved after the values before it, and the old keys are
    /// dropped only after everything was written.
    pub fn continue_rotation(
        &self,
        stop: &AtomicBool,
        mut progress: impl FnMut(u64),
    ) -> Result<PassEnd, StoreError> {
        let Some(mut rotation) = self.with_unlocked(|u| Ok(u.ring.rotation.clone()))? else {
            return Ok(PassEnd::Finished { resealed: 0 });
        };
        let started = rotation.done;
        let mut names: Vec<String> = self
            .db
            .tree_names()
            .iter()
            .filter_map(|n| String::from_utf8(n.to_vec()).ok())
            .filter(|n| n != keyring::TREE && n != "__sled__default")
            .collect();
        names.sort();
        let mut since_save = 0u64;
        // Values that did not open keep their old keys in the keyring.
        let mut unreadable = 0u64;
        for name in names {
            if rotation.tree.as_ref().is_some_and(|t| *t > name) {
                continue;
            }
            let after = match &rotation.tree {
                Some(t) if *t == name => rotation.after.as_ref().and_then(|a| hex::decode(a).ok()),
                _ => None,
            };
            rotation.tree = Some(name.clone());
            rotation.after = None;
            let tree = self.tree(&name)?;
            let range = match &after {
                Some(a) => tree.range::<&[u8], _>((
                    std::ops::Bound::Excluded(a.as_slice()),
                    std::ops::Bound::Unbounded,
                )),
                None => tree.iter(),
            };
            for item in range {
                if stop.load(Ordering::Relaxed) {
                    self.save_rotation(&rotation)?;
                    return Ok(PassEnd::Stopped {
                        resealed: rotation.done - started,
                    });
                }
                let (key, value) = item?;
                rotation.after = Some(hex::encode(&key));
                if value.is_empty() || crypt::generation(&value) == Some(rotation.to) {
                    continue;
                }
                let plain = match self.unseal(&name, &key, &value, "stored") {
                    Ok(plain) => plain,
                    Err(e) => {
                        unreadable += 1;
                        tracing::warn!(
                            "re-encryption left {name}/{} as it is: {e}",
                            hex::encode(&key)
                        );
                        continue;
                    }
                };
                let sealed = self.seal(&name, &key, plain.into_owned());
                // A value written meanwhile is already sealed with the new key.
                let _ = tree.compare_and_swap(&key, Some(value), Some(sealed))?;
                rotation.done += 1;
                since_save += 1;
                if since_save >= CHECKPOINT_EVERY {
                    since_save = 0;
                    self.save_rotation(&rotation)?;
                    progress(rotation.done);
                }
            }
        }
        // Everything re-sealed is on disk before the old keys go.
        self.db.flush()?;
        self.with_unlocked(|u| {
            let mut ring = u.ring.clone();
            let mut keys = u.keys.clone();
            ring.rotation = None;
            if unreadable == 0 {
                ring.all_sealed = true;
                ring.keep_current_only(&mut keys);
            } else {
                tracing::warn!("{unreadable} values did not open: the older data keys are kept");
            }
            ring.save(&self.db)?;
            u.ring = ring;
            u.keys = keys;
            u.refresh();
            Ok(())
        })?;
        progress(rotation.done);
        Ok(PassEnd::Finished {
            resealed: rotation.done - started,
        })
    }

    /// Where the data dir's encryption stands, with a count of values per data key.
    pub fn key_status(&self) -> Result<KeyStatus, StoreError> {
        let mut status = {
            let guard = self.crypt.read().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                None => KeyStatus {
                    encrypted: false,
                    source: None,
                    current: None,
                    generations: vec![],
                    rotation: None,
                    all_sealed: false,
                    values_by_generation: Default::default(),
                },
                Some(u) => KeyStatus {
                    encrypted: true,
                    source: Some(u.ring.source.to_string()),
                    current: Some(u.ring.current),
                    generations: u.ring.keys.iter().map(|k| k.generation).collect(),
                    rotation: u.ring.rotation.clone(),
                    all_sealed: u.ring.all_sealed,
                    values_by_generation: Default::default(),
                },
            }
        };
        for name in self.db.tree_names() {
            if name.as_ref() == keyring::TREE.as_bytes() {
                continue;
            }
            for value in self.db.open_tree(&name)?.iter().values() {
                let value = value?;
                if value.is_empty() {
                    continue;
                }
                let generation = crypt::generation(&value).unwrap_or(0);
                *status.values_by_generation.entry(generation).or_default() += 1;
            }
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyring::KeyAccess;

    fn file_source(dir: &std::path::Path) -> KeySource {
        KeySource::File {
            path: dir.join("keys/data.key"),
        }
    }

    /// Access that encrypts a new data dir with a key file under `dir`.
    fn encrypting(dir: &std::path::Path) -> KeyAccess {
        KeyAccess {
            enable: Some(file_source(dir)),
            source: None,
        }
    }

    /// Opens again after a drop: sled's flusher thread may hold the lock a moment longer.
    fn reopen(data: &std::path::Path, access: &KeyAccess) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open_with(data, access) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other,
            }
        }
    }

    fn raw_values(store: &Store, tree: &str) -> Vec<Vec<u8>> {
        store
            .tree(tree)
            .unwrap()
            .iter()
            .values()
            .map(|v| v.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn records_in_clear_are_sealed_by_the_pass_and_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data).unwrap();
        for i in 0..600u32 {
            store
                .put("notes", &i.to_be_bytes(), &format!("clear note {i}"))
                .unwrap();
        }
        store.encrypt(&file_source(dir.path())).unwrap();
        assert!(store.rotation_pending(), "older records wait for the pass");
        store
            .put("notes", b"new", &"sealed at once".to_string())
            .unwrap();
        let raw = store.tree("notes").unwrap().get(b"new").unwrap().unwrap();
        assert!(crypt::is_sealed(&raw));

        // Stopped after the first checkpoint, then resumed: nothing done twice or missed.
        let stop = AtomicBool::new(false);
        let end = store
            .continue_rotation(&stop, |done| {
                if done >= CHECKPOINT_EVERY {
                    stop.store(true, Ordering::Relaxed)
                }
            })
            .unwrap();
        let PassEnd::Stopped { resealed } = end else {
            panic!("{end:?}")
        };
        assert!((CHECKPOINT_EVERY..600).contains(&resealed), "{resealed}");
        drop(store);
        let store = reopen(&data, &KeyAccess::default()).unwrap();
        assert!(store.rotation_pending(), "the place survives a restart");
        let end = store
            .continue_rotation(&AtomicBool::new(false), |_| {})
            .unwrap();
        assert_eq!(
            end,
            PassEnd::Finished {
                resealed: 600 - resealed
            }
        );
        assert!(raw_values(&store, "notes")
            .iter()
            .all(|v| crypt::is_sealed(v)));
        let status = store.key_status().unwrap();
        assert_eq!(status.values_by_generation.get(&0), None, "{status:?}");
        let got: Option<String> = store.get("notes", &7u32.to_be_bytes(), "note").unwrap();
        assert_eq!(got.as_deref(), Some("clear note 7"));
        // Once every value is sealed, one planted in clear is refused, not read.
        assert!(status.all_sealed);
        let planted = crate::store::encode(&"planted".to_string());
        store
            .tree("notes")
            .unwrap()
            .insert(b"planted", planted)
            .unwrap();
        let err = store
            .get::<String>("notes", b"planted", "note")
            .unwrap_err();
        assert!(err.to_string().contains("in clear"), "{err}");
        let listed: Vec<String> = store.latest("notes", 1000, "note").unwrap();
        assert!(!listed.iter().any(|n| n == "planted"));
    }

    #[test]
    fn a_rotation_drops_the_old_key_only_after_every_value_moved() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let access = encrypting(dir.path());
        let store = Store::open_with(&data, &access).unwrap();
        for i in 0..50u32 {
            store.put("notes", &i.to_be_bytes(), &i).unwrap();
        }
        let content_key = |store: &Store| {
            let mut h = store.content_hasher();
            h.update(b"a guessable text");
            h.finalize()
        };
        let keyed = content_key(&store);
        let mut plain = crypt::ContentHasher::new(None);
        plain.update(b"a guessable text");
        assert_ne!(
            keyed,
            plain.finalize(),
            "keys do not confirm a guessed text"
        );
        assert_eq!(store.start_rotation().unwrap(), 2);
        assert_eq!(
            store.start_rotation().unwrap(),
            2,
            "a pending one is resumed"
        );
        assert_eq!(store.key_status().unwrap().generations, vec![1, 2]);
        store
            .continue_rotation(&AtomicBool::new(false), |_| {})
            .unwrap();
        let status = store.key_status().unwrap();
        assert_eq!(status.generations, vec![2]);
        assert_eq!(status.values_by_generation.get(&2), Some(&50));
        drop(store);
        let store = reopen(&data, &KeyAccess::default()).unwrap();
        let got: Option<u32> = store.get("notes", &49u32.to_be_bytes(), "n").unwrap();
        assert_eq!(got, Some(49));
        assert_eq!(
            content_key(&store),
            keyed,
            "caches keep their keys across rotations"
        );
    }

    #[test]
    fn a_keyring_edited_to_fail_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let access = encrypting(dir.path());
        drop(Store::open_with(&data, &access).unwrap());
        // sled's flusher may hold the lock a moment after a drop.
        let raw_open = || loop {
            match sled::open(data.join("strata.db")) {
                Ok(db) => break db,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        for edit in ["keys", "current"] {
            let db = raw_open();
            let tree = db.open_tree(keyring::TREE).unwrap();
            let mut ring: serde_json::Value =
                serde_json::from_slice(&tree.get(b"keyring").unwrap().unwrap()).unwrap();
            let original = ring.clone();
            match edit {
                "keys" => ring["keys"] = serde_json::json!([]),
                _ => ring["current"] = serde_json::json!(99),
            }
            tree.insert(b"keyring", serde_json::to_vec(&ring).unwrap())
                .unwrap();
            db.flush().unwrap();
            drop((tree, db));
            let err = reopen(&data, &KeyAccess::default()).err().unwrap();
            assert!(err.to_string().contains("missing"), "{edit}: {err}");
            let db = raw_open();
            db.open_tree(keyring::TREE)
                .unwrap()
                .insert(b"keyring", serde_json::to_vec(&original).unwrap())
                .unwrap();
            db.flush().unwrap();
        }
    }

    #[test]
    fn rewrapping_changes_the_key_not_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = file_source(dir.path());
        let access = encrypting(dir.path());
        let store = Store::open_with(&data, &access).unwrap();
        store.put("notes", b"k", &"kept".to_string()).unwrap();
        let before = raw_values(&store, "notes");
        let second = KeySource::File {
            path: dir.path().join("other.key"),
        };
        store.rewrap(&second).unwrap();
        assert_eq!(raw_values(&store, "notes"), before, "no value rewritten");
        drop(store);
        let old = KeyAccess {
            enable: None,
            source: Some(first),
        };
        let err = reopen(&data, &old).err().unwrap();
        assert!(err.to_string().contains("does not open"), "{err}");
        let store = reopen(&data, &KeyAccess::default()).unwrap();
        let got: Option<String> = store.get("notes", b"k", "n").unwrap();
        assert_eq!(got.as_deref(), Some("kept"));
    }
}
