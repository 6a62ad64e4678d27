//! Knowledge bases in sled. A base's record points at its committed *generation*; the
//! file entries (with each chunk's text, range, heading path and vector key) are stored
//! per generation, and vectors by content (model + embedded text), so a sync writes a
//! whole new generation beside the old one and commits by switching the pointer in one
//! write. Readers only ever see a complete generation; what an interrupted sync wrote is
//! either reused by the next one (vectors) or swept (stale entries).
//!
//! Trees: `kb_bases` (name → record), `kb_files` (base id + generation + file key →
//! entry), `kb_vectors` (base id + vector key → little-endian f32s), `kb_sync` (base id →
//! the marker of a sync in progress).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::chunk::DocKind;
use super::source::Skipped;
use super::spec::KbSpec;
use crate::runtime::embeddings::{vector_bytes, vector_from_bytes};
use crate::store::{Id, Store, StoreError};

pub const BASES: &str = "kb_bases";
pub const FILES: &str = "kb_files";
pub const VECTORS: &str = "kb_vectors";
pub const SYNCS: &str = "kb_sync";

/// A knowledge base as stored: its definition and its committed state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KbRecord {
    pub id: Id,
    pub spec: KbSpec,
    pub created_us: u64,
    /// The committed generation (0: never synced).
    #[serde(default)]
    pub generation: u64,
    /// The model whose vectors the committed generation holds.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub dims: usize,
    #[serde(default)]
    pub files: usize,
    #[serde(default)]
    pub chunks: usize,
    #[serde(default)]
    pub synced_us: Option<u64>,
    /// The last completed sync's report.
    #[serde(default)]
    pub last_report: Option<SyncReport>,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    pub removed: Vec<String>,
    /// Binary, unreadable or unfetchable documents, with the reason.
    pub skipped: Vec<Skipped>,
    /// Documents with invalid UTF-8 (decoded lossily).
    pub lossy: Vec<String>,
    pub files: usize,
    pub chunks: usize,
    /// Chunks embedded by this sync.
    pub embedded: usize,
    /// Chunks whose vectors were already stored (unchanged text, or left by an
    /// interrupted sync).
    pub reused: usize,
    /// It picked up after an interrupted sync.
    pub resumed: bool,
    /// It was interrupted (nothing committed).
    pub interrupted: bool,
    pub seconds: f64,
    pub chunks_per_s: f64,
    pub model: String,
}

/// One file (or URL) of a generation, with its chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path or URL.
    pub key: String,
    pub kind: DocKind,
    pub title: Option<String>,
    /// sha256 of the bytes.
    pub hash: String,
    pub size: u64,
    #[serde(default)]
    pub mtime: Option<i64>,
    /// Invalid UTF-8 was replaced while reading.
    #[serde(default)]
    pub lossy: bool,
    /// The chunking and model its chunks were made with (a change re-chunks it).
    #[serde(default)]
    pub recipe: String,
    pub chunks: Vec<StoredChunk>,
}

/// A chunk as stored in its file's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredChunk {
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub line_start: usize,
    pub line_end: usize,
    #[serde(default)]
    pub heading: Vec<String>,
    /// sha256 of the text (its content hash).
    pub hash: String,
    /// Key of its vector in `kb_vectors` (model + embedded text).
    pub vector: [u8; 16],
}

/// The marker of a sync that started and has not committed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncMarker {
    pub started_us: u64,
    pub generation: u64,
    pub model: String,
    pub pid: u32,
}

/// Access to the knowledge base trees.
#[derive(Clone)]
pub struct KbStore {
    store: Store,
}

fn file_prefix(base: Id, generation: u64) -> Vec<u8> {
    let mut k = base.as_bytes().to_vec();
    k.extend_from_slice(&generation.to_be_bytes());
    k
}

fn vector_key(base: Id, key: &[u8; 16]) -> Vec<u8> {
    let mut k = base.as_bytes().to_vec();
    k.extend_from_slice(key);
    k
}

impl KbStore {
    pub fn new(store: Store) -> KbStore {
        KbStore { store }
    }

    pub fn get(&self, name: &str) -> Result<Option<KbRecord>, StoreError> {
        self.store.get(BASES, name.as_bytes(), "knowledge base")
    }

    pub fn list(&self) -> Result<Vec<KbRecord>, StoreError> {
        self.store.scan_prefix(BASES, b"", "knowledge base")
    }

    pub fn put(&self, record: &KbRecord) -> Result<(), StoreError> {
        self.store.put(BASES, record.spec.name.as_bytes(), record)?;
        self.store.flush()
    }

    /// The committed file entries of a base.
    pub fn files(&self, record: &KbRecord) -> Result<Vec<FileEntry>, StoreError> {
        if record.generation == 0 {
            return Ok(Vec::new());
        }
        self.store.scan_prefix(
            FILES,
            &file_prefix(record.id, record.generation),
            "knowledge base file",
        )
    }

    /// Writes a file entry into a (not yet committed) generation.
    pub fn put_file(&self, base: Id, generation: u64, entry: &FileEntry) -> Result<(), StoreError> {
        let mut key = file_prefix(base, generation);
        key.extend_from_slice(entry.key.as_bytes());
        let value = self.store.encode_at(FILES, &key, entry);
        self.store.tree(FILES)?.insert(key, value)?;
        Ok(())
    }

    /// Key of a chunk's vector: the model and exactly what it embeds (keyed in an
    /// encrypted data dir).
    pub fn vector_key(&self, model: &str, text: &str) -> [u8; 16] {
        let mut hasher = self.store.content_hasher();
        hasher.update(model.as_bytes());
        hasher.update(&[0]);
        hasher.update(text.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&hasher.finalize()[..16]);
        key
    }

    pub fn has_vector(&self, base: Id, key: &[u8; 16]) -> Result<bool, StoreError> {
        Ok(self
            .store
            .tree(VECTORS)?
            .contains_key(vector_key(base, key))?)
    }

    pub fn vector(&self, base: Id, key: &[u8; 16]) -> Result<Option<Vec<f32>>, StoreError> {
        let key = vector_key(base, key);
        match self.store.tree(VECTORS)?.get(&key)? {
            Some(stored) => {
                let bytes = self.store.unseal(VECTORS, &key, &stored, "vector")?;
                Ok(Some(vector_from_bytes(&bytes)))
            }
            None => Ok(None),
        }
    }

    pub fn put_vectors(
        &self,
        base: Id,
        vectors: &[([u8; 16], Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, v) in vectors {
            let key = vector_key(base, key);
            let value = self.store.seal(VECTORS, &key, vector_bytes(v));
            batch.insert(key, value);
        }
        self.store.tree(VECTORS)?.apply_batch(batch)?;
        // On disk before the next batch: a killed sync's next run reuses them.
        self.store.flush()
    }

    pub fn marker(&self, base: Id) -> Result<Option<SyncMarker>, StoreError> {
        self.store.get(SYNCS, base.as_bytes(), "sync marker")
    }

    pub fn set_marker(&self, base: Id, marker: &SyncMarker) -> Result<(), StoreError> {
        self.store.put(SYNCS, base.as_bytes(), marker)?;
        self.store.flush()
    }

    /// Makes `next` the committed generation (one write: readers see the old state or the
    /// new one, never a mix) and clears the sync marker.
    pub fn commit(&self, next: &KbRecord) -> Result<(), StoreError> {
        self.store.flush()?;
        let bases = self.store.tree(BASES)?;
        let syncs = self.store.tree(SYNCS)?;
        let name = next.spec.name.as_bytes().to_vec();
        let id = next.id.as_bytes().to_vec();
        let value = self.store.encode_at(BASES, &name, next);
        use sled::Transactional;
        (&bases, &syncs)
            .transaction(|(b, s)| {
                b.insert(name.clone(), value.clone())?;
                s.remove(id.clone())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Corrupt {
                what: "knowledge base commit",
                detail: format!("{e:?}"),
            })?;
        self.store.flush()
    }

    /// Removes file entries of every generation but the committed one (and, with
    /// `keep_previous`, the one before it): what an interrupted sync or an old generation
    /// left.
    pub fn sweep_files(&self, record: &KbRecord, keep_previous: bool) -> Result<(), StoreError> {
        let files = self.store.tree(FILES)?;
        let keep = file_prefix(record.id, record.generation);
        let before = file_prefix(record.id, record.generation.saturating_sub(1));
        for item in files.scan_prefix(record.id.as_bytes()) {
            let (key, _) = item?;
            let kept = key.starts_with(&keep) || (keep_previous && key.starts_with(&before));
            if !kept {
                files.remove(key)?;
            }
        }
        Ok(())
    }

    /// `sweep_files`, then removes vectors no kept chunk uses. Returns how many vectors
    /// went.
    pub fn sweep(&self, record: &KbRecord, keep_previous: bool) -> Result<usize, StoreError> {
        self.sweep_files(record, keep_previous)?;
        let mut used: HashSet<[u8; 16]> = HashSet::new();
        for item in self.store.tree(FILES)?.scan_prefix(record.id.as_bytes()) {
            let (key, bytes) = item?;
            if let Ok(entry) =
                self.store
                    .decode_at::<FileEntry>(FILES, &key, &bytes, "knowledge base file")
            {
                used.extend(entry.chunks.iter().map(|c| c.vector));
            }
        }
        let vectors = self.store.tree(VECTORS)?;
        let mut removed = 0;
        for item in vectors.scan_prefix(record.id.as_bytes()) {
            let (key, _) = item?;
            let Ok(vkey) = <[u8; 16]>::try_from(&key[12..]) else {
                continue;
            };
            if !used.contains(&vkey) {
                vectors.remove(key)?;
                removed += 1;
            }
        }
        self.store.flush()?;
        Ok(removed)
    }

    /// Deletes a base with everything stored for it.
    pub fn delete(&self, record: &KbRecord) -> Result<(), StoreError> {
        for tree in [FILES, VECTORS] {
            let t = self.store.tree(tree)?;
            for item in t.scan_prefix(record.id.as_bytes()) {
                t.remove(item?.0)?;
            }
        }
        self.store.tree(SYNCS)?.remove(record.id.as_bytes())?;
        self.store
            .tree(BASES)?
            .remove(record.spec.name.as_bytes())?;
        self.store.flush()
    }

    /// How many vectors are stored for a base (committed or left by a sync).
    pub fn vector_count(&self, base: Id) -> Result<usize, StoreError> {
        Ok(self
            .store
            .tree(VECTORS)?
            .scan_prefix(base.as_bytes())
            .count())
    }
}
