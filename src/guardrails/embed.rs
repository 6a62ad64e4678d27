//! Sentence embeddings for the model-based policies: the `Embed` trait (the runtime's
//! `Embedder` behind it), a cache so exemplars and grounding sources are embedded once per
//! model and text (in memory, and in sled across runs), and a per-assessment memo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::runtime::embeddings::{vector_bytes, vector_from_bytes, Embedder};
use crate::store::Store;

/// The embeddings model guardrails use unless the config names another.
pub const DEFAULT_EMBEDDINGS_MODEL: &str = "local/all-minilm-l6-v2";

/// Tree of cached embeddings (exemplars, sources), keyed by sha256(model, text).
pub const EMBEDDINGS: &str = "guardrail_embeddings";

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
/// cached in memory and sled.
pub struct EmbeddingCache {
    embed: Arc<dyn Embed>,
    store: Option<Store>,
    memory: Mutex<HashMap<[u8; 32], Arc<Vec<f32>>>>,
}

impl EmbeddingCache {
    pub fn new(embed: Arc<dyn Embed>, store: Option<Store>) -> EmbeddingCache {
        EmbeddingCache {
            embed,
            store,
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub fn embedder(&self) -> &Arc<dyn Embed> {
        &self.embed
    }

    fn key(&self, text: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.embed.model().as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// Vectors for `texts`, computing only those never seen with this model.
    pub async fn vectors(&self, texts: &[String]) -> Result<Vec<Arc<Vec<f32>>>, String> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| self.key(t)).collect();
        let mut out: Vec<Option<Arc<Vec<f32>>>> = vec![None; texts.len()];
        {
            let memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
            for (i, k) in keys.iter().enumerate() {
                out[i] = memory.get(k).cloned();
            }
        }
        let tree = self.store.as_ref().and_then(|s| s.tree(EMBEDDINGS).ok());
        if let Some(tree) = &tree {
            for (i, k) in keys.iter().enumerate() {
                if out[i].is_none() {
                    if let Ok(Some(bytes)) = tree.get(k) {
                        out[i] = decode(&bytes).map(Arc::new);
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
                if let Some(tree) = &tree {
                    if let Err(e) = tree.insert(keys[*i], vector_bytes(&v)) {
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
            memory.insert(*k, v.clone());
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
