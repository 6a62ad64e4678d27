//! Embeddings as their users see them: `Embedder` (one embeddings model on the runtime,
//! recorded or not), vector similarity (cosine, dot, unit length) and the byte form of a
//! vector in sled. Not responsible for caching vectors or deciding what to embed (the
//! guardrails, knowledge bases and eval metrics do that).

use std::sync::Arc;

use super::invoke::InvokeError;
use super::Runtime;

/// One embeddings model on the runtime.
#[derive(Clone)]
pub struct Embedder {
    runtime: Arc<Runtime>,
    model: String,
    /// Whether each call writes an invocation record of its own.
    recorded: bool,
}

impl Embedder {
    /// An embedder whose calls are recorded like every other call.
    pub fn new(runtime: Arc<Runtime>, model: impl Into<String>) -> Embedder {
        Embedder {
            runtime,
            model: model.into(),
            recorded: true,
        }
    }

    /// An embedder whose calls write no invocation record of their own (a guardrail's: the
    /// call it runs inside already records its time).
    pub fn unrecorded(runtime: Arc<Runtime>, model: impl Into<String>) -> Embedder {
        Embedder {
            recorded: false,
            ..Embedder::new(runtime, model)
        }
    }

    /// The model's catalog id.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One vector per text, in order, as the model returns them.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InvokeError> {
        let response = if self.recorded {
            self.runtime.embed(&self.model, texts).await
        } else {
            self.runtime.embed_unrecorded(&self.model, texts).await
        };
        response.map(|r| r.vectors)
    }

    /// `embed`, each vector scaled to unit length (so cosine is a `dot`).
    pub async fn embed_unit(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InvokeError> {
        Ok(self
            .embed(texts)
            .await?
            .into_iter()
            .map(normalized)
            .collect())
    }
}

/// Cosine similarity of any two vectors; 0 for empty or zero vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Dot product with eight accumulators, so the compiler vectorizes it: the cosine of two
/// unit vectors (see `normalized`), for searches over many rows.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Vectors scaled to unit length (a zero vector stays zero).
pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = dot(&v, &v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// A vector as stored in sled: little-endian f32s.
pub fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A stored vector read back (trailing bytes short of a float are ignored).
pub fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
