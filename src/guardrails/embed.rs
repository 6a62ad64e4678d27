//! Sentence embeddings for the model-based policies: the `Embed` trait (the runtime's
//! `Embedder` behind it), a cache so exemplars and grounding sources are embedded once per
//! model and text (in memory, the most recently used `MEMORY_ENTRIES`, and in sled across
//! runs, at most `DISK_ENTRIES`), and a per-assessment memo.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lru::LruCache;

use crate::runtime::embeddings::{vector_bytes, vector_from_bytes, Embedder};
use crate::store::Store;

/// The embeddings model guardrails use unless the config names another.
pub const DEFAULT_EMBEDDINGS_MODEL: &str = "local/all-minilm-l6-v2";

/// Tree of cached embeddings (exemplars, sources), keyed by sha256(model, text).
pub const EMBEDDINGS: &str = crate::store::trees::GUARDRAIL_EMBEDDINGS;

/// How many vectors the in-memory cache keeps (the least recently used go first): about
/// 6 MB of 384-dimension vectors. Compiled guardrails keep their exemplars' vectors
/// themselves; this spares re-reading or re-embedding texts that come back.
pub const MEMORY_ENTRIES: usize = 4096;

/// How many vectors sled keeps across runs: about 100 MB of 384-dimension vectors. Grounding
/// passages change from call to call; past the bound, entries go in key (hash) order, which
/// is as good as random for a cache.
pub const DISK_ENTRIES: usize = 65_536;

/// Turns texts into vectors.
#[async_trait]
pub trait Embed: Send + Sync {
    /// The model's catalog id (part of cache keys and digests).
    fn model(&self) -> &str;
    /// One vector per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String>;
}

/// The runtime's embeddings model (`Embedder::unrecorded`: the call a guardrail runs
/// inside already records the guardrail's time).
#[async_trait]
impl Embed for Embedder {
    fn model(&self) -> &str {
        Embedder::model(self)
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        Embedder::embed(self, texts).await.map_err(|e| {
            let model = Embedder::model(self);
            format!(
                "the guardrail's embeddings model {model} failed: {e} (download it with `strata models pull {model}`)"
            )
        })
    }
}

/// Embeddings of texts that come back (exemplars, topic definitions, grounding sources)
/// cached in memory (bounded, least recently used out first) and sled.
pub struct EmbeddingCache {
    embed: Arc<dyn Embed>,
    store: Option<Store>,
    memory: Mutex<LruCache<[u8; 32], Arc<Vec<f32>>>>,
    /// The most vectors kept in sled, and how many are there (counted once, then kept).
    disk_entries: usize,
    on_disk: Mutex<Option<usize>>,
}

impl EmbeddingCache {
    /// A cache keeping `MEMORY_ENTRIES` vectors in memory.
    pub fn new(embed: Arc<dyn Embed>, store: Option<Store>) -> EmbeddingCache {
        EmbeddingCache::with_capacity(embed, store, MEMORY_ENTRIES)
    }

    /// A cache keeping at most `entries` vectors (at least one) in memory.
    pub fn with_capacity(
        embed: Arc<dyn Embed>,
        store: Option<Store>,
        entries: usize,
    ) -> EmbeddingCache {
        let entries = NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN);
        EmbeddingCache {
            embed,
            store,
            memory: Mutex::new(LruCache::new(entries)),
            disk_entries: DISK_ENTRIES,
            on_disk: Mutex::new(None),
        }
    }

    /// The cache with at most `entries` vectors (at least one) kept in sled.
    pub fn with_disk_capacity(mut self, entries: usize) -> EmbeddingCache {
        self.disk_entries = entries.max(1);
        self
    }

    /// Keeps a new vector in sled, evicting past `disk_entries`.
    fn remember(
        &self,
        store: &Store,
        tree: &sled::Tree,
        key: [u8; 32],
        vector: &[f32],
    ) -> sled::Result<()> {
        let mut on_disk = self.on_disk.lock().unwrap_or_else(|p| p.into_inner());
        let count = match *on_disk {
            Some(count) => count,
            None => tree.len(),
        };
        let sealed = store.seal(EMBEDDINGS, &key, vector_bytes(vector));
        let added = tree.insert(key, sealed)?.is_none();
        let mut count = count + usize::from(added);
        while count > self.disk_entries {
            if tree.pop_min()?.is_none() {
                break;
            }
            count -= 1;
        }
        *on_disk = Some(count);
        Ok(())
    }

    /// How many vectors are in memory now.
    pub fn in_memory(&self) -> usize {
        self.memory.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn embedder(&self) -> &Arc<dyn Embed> {
        &self.embed
    }

    fn key(&self, text: &str) -> [u8; 32] {
        let mut h = self.store.as_ref().map_or_else(
            || crate::store::crypt::ContentHasher::new(None),
            Store::content_hasher,
        );
        h.update(self.embed.model().as_bytes());
        h.update(&[0]);
        h.update(text.as_bytes());
        h.finalize()
    }

    /// Vectors for `texts`, computing only those never seen with this model.
    pub async fn vectors(&self, texts: &[String]) -> Result<Vec<Arc<Vec<f32>>>, String> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| self.key(t)).collect();
        let mut out: Vec<Option<Arc<Vec<f32>>>> = vec![None; texts.len()];
        {
            let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
            for (i, k) in keys.iter().enumerate() {
                out[i] = memory.get(k).cloned();
            }
        }
        let tree = self
            .store
            .as_ref()
            .and_then(|s| Some((s, s.tree(EMBEDDINGS).ok()?)));
        if let Some((store, tree)) = &tree {
            for (i, k) in keys.iter().enumerate() {
                if out[i].is_none() {
                    if let Ok(Some(stored)) = tree.get(k) {
                        out[i] = store
                            .unseal(EMBEDDINGS, k, &stored, "cached embedding")
                            .ok()
                            .and_then(|bytes| decode(&bytes))
                            .map(Arc::new);
                    }
                }
            }
        }
        let missing: Vec<usize> = (0..texts.len()).filter(|i| out[*i].is_none()).collect();
        if !missing.is_empty() {
            let fresh = self
                .embed
                .embed(missing.iter().map(|i| texts[*i].clone()).collect())
                .await?;
            for (i, v) in missing.iter().zip(fresh) {
                if let Some((store, tree)) = &tree {
                    if let Err(e) = self.remember(store, tree, keys[*i], &v) {
                        tracing::warn!("could not cache an exemplar embedding: {e}");
                    }
                }
                out[*i] = Some(Arc::new(v));
            }
        }
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let mut result = Vec::with_capacity(texts.len());
        for (k, v) in keys.iter().zip(out) {
            let v = v.ok_or("the embeddings model returned too few vectors")?;
            memory.put(*k, v.clone());
            result.push(v);
        }
        Ok(result)
    }
}

/// A cached vector read back; None for bytes that are no vector.
fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    (bytes.len().is_multiple_of(4) && !bytes.is_empty()).then(|| vector_from_bytes(bytes))
}

/// The vectors one assessment has embedded, so a sentence is embedded once however many
/// policies (categories, topics, grounding, relevance) score it.
#[derive(Default)]
pub struct Memo(HashMap<String, Arc<Vec<f32>>>);

impl Memo {
    /// Vectors for `texts`, embedding (in one batch) only those not seen yet.
    pub async fn vectors(
        &mut self,
        embed: &dyn Embed,
        texts: &[String],
    ) -> Result<Vec<Arc<Vec<f32>>>, String> {
        let mut missing: Vec<String> = texts
            .iter()
            .filter(|t| !self.0.contains_key(*t))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let fresh = embed.embed(missing.clone()).await?;
            if fresh.len() != missing.len() {
                return Err(format!(
                    "the embeddings model returned {} vectors for {} texts",
                    fresh.len(),
                    missing.len()
                ));
            }
            for (t, v) in missing.into_iter().zip(fresh) {
                self.0.insert(t, Arc::new(v));
            }
        }
        texts
            .iter()
            .map(|t| {
                self.0
                    .get(t)
                    .cloned()
                    .ok_or_else(|| "an embedding went missing".to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A model that counts the texts it embeds; a text's vector is its length.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Embed for Counting {
        fn model(&self) -> &str {
            "test/counting"
        }

        async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[tokio::test]
    async fn the_memory_cache_stays_bounded_and_keeps_the_recent_texts() {
        let model = Arc::new(Counting::default());
        let cache = EmbeddingCache::with_capacity(model.clone(), None, 3);
        for i in 0..100 {
            let text = "x".repeat(i + 1);
            let v = cache.vectors(&[text]).await.unwrap();
            assert_eq!(*v[0], [(i + 1) as f32]);
            assert!(
                cache.in_memory() <= 3,
                "{} vectors after {i}",
                cache.in_memory()
            );
        }
        assert_eq!(model.0.load(Ordering::SeqCst), 100);
        // The three most recent texts are answered from memory; an old one is embedded again.
        let recent: Vec<String> = (98..=100).map(|n| "x".repeat(n)).collect();
        cache.vectors(&recent).await.unwrap();
        assert_eq!(model.0.load(Ordering::SeqCst), 100);
        cache.vectors(&["x".to_string()]).await.unwrap();
        assert_eq!(model.0.load(Ordering::SeqCst), 101);
        assert_eq!(cache.in_memory(), 3);
        // A batch larger than the cache still gets every vector, in order.
        let batch: Vec<String> = (1..=10).map(|n| "y".repeat(n)).collect();
        let vectors = cache.vectors(&batch).await.unwrap();
        let lengths: Vec<f32> = vectors.iter().map(|v| v[0]).collect();
        assert_eq!(lengths, (1..=10).map(|n| n as f32).collect::<Vec<_>>());
        assert_eq!(cache.in_memory(), 3);
        assert_eq!(
            EmbeddingCache::new(model, None)
                .memory
                .lock()
                .unwrap()
                .cap()
                .get(),
            MEMORY_ENTRIES
        );
    }

    #[tokio::test]
    async fn the_sled_cache_stays_bounded_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let model = Arc::new(Counting::default());
        let texts = |from: usize, to: usize| -> Vec<String> {
            (from..to).map(|n| format!("passage {n}")).collect()
        };
        let cache = EmbeddingCache::with_capacity(model.clone(), Some(store.clone()), 2)
            .with_disk_capacity(5);
        for text in texts(0, 20) {
            cache.vectors(&[text]).await.unwrap();
        }
        let tree = store.tree(EMBEDDINGS).unwrap();
        assert_eq!(tree.len(), 5);
        // A later process (a new cache on the same store) counts what is there and keeps
        // the bound; what is kept is answered without the model.
        let again = EmbeddingCache::with_capacity(model.clone(), Some(store.clone()), 2)
            .with_disk_capacity(5);
        let before = model.0.load(Ordering::SeqCst);
        let kept: Vec<String> = texts(0, 20)
            .into_iter()
            .filter(|t| tree.get(again.key(t)).unwrap().is_some())
            .collect();
        assert_eq!(kept.len(), 5);
        again.vectors(&kept).await.unwrap();
        assert_eq!(
            model.0.load(Ordering::SeqCst),
            before,
            "kept ones come from sled"
        );
        again.vectors(&texts(20, 30)).await.unwrap();
        assert_eq!(tree.len(), 5);
    }
}
