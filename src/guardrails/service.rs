//! The guardrails service the rest of Strata uses: stored policies resolved by reference
//! (`NAME`, `NAME@3`, `NAME@draft`), compiled once per exact revision (exemplar embeddings
//! cached), turned into a call's checks, and ApplyGuardrail as a library call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use super::check::{GuardrailCheck, GuardrailUpdate};
use super::embed::{EmbeddingCache, DEFAULT_EMBEDDINGS_MODEL};
use super::engine::{ApplyContext, Assessment, Guardrail, Source};
use super::store::{GuardrailError, GuardrailRef, GuardrailStore};
use crate::runtime::embeddings::Embedder;
use crate::runtime::Runtime;

/// Guardrails on one runtime.
pub struct Guardrails {
    runtime: Arc<Runtime>,
    store: GuardrailStore,
    cache: Arc<EmbeddingCache>,
    /// Compiled guardrails by label and policy digest (a draft can change under its label).
    compiled: Mutex<HashMap<String, Arc<Guardrail>>>,
}

impl Guardrails {
    pub fn new(runtime: Arc<Runtime>) -> Guardrails {
        let embedder = Arc::new(Embedder::unrecorded(
            runtime.clone(),
            DEFAULT_EMBEDDINGS_MODEL,
        ));
        Guardrails {
            store: GuardrailStore::new(runtime.store.clone()),
            cache: Arc::new(EmbeddingCache::new(embedder, Some(runtime.store.clone()))),
            runtime,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &GuardrailStore {
        &self.store
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The compiled guardrail a reference means (compiled once per exact revision).
    pub async fn load(&self, reference: &str) -> Result<Arc<Guardrail>, GuardrailError> {
        let r = GuardrailRef::parse(reference)?;
        // sled reads are quick but blocking: keep them off the async workers' hot path.
        let store = self.store.clone();
        let resolved = tokio::task::spawn_blocking(move || store.resolve(&r))
            .await
            .map_err(|e| GuardrailError::Compile {
                label: reference.to_string(),
                message: format!("the lookup failed: {e}"),
            })??;
        let label = resolved.label();
        let key = format!(
            "{label}#{}",
            hex::encode(Sha256::digest(resolved.toml.as_bytes()))
        );
        if let Some(g) = self.lock().get(&key) {
            return Ok(g.clone());
        }
        let compiled = Guardrail::compile(&label, resolved.policy, Some(self.cache.clone()))
            .await
            .map_err(|message| GuardrailError::Compile {
                label: label.clone(),
                message,
            })?;
        let compiled = Arc::new(compiled);
        self.lock().insert(key, compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Guardrail>>> {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The check of one call for a guardrail reference.
    pub async fn check(
        &self,
        reference: &str,
        updates: Option<UnboundedSender<GuardrailUpdate>>,
    ) -> Result<GuardrailCheck, GuardrailError> {
        Ok(GuardrailCheck::new(self.load(reference).await?, updates))
    }

    /// ApplyGuardrail: every policy of the referenced guardrail on `text`.
    pub async fn apply(
        &self,
        reference: &str,
        source: Source,
        text: &str,
        ctx: &ApplyContext,
    ) -> Result<Assessment, GuardrailError> {
        let g = self.load(reference).await?;
        g.apply(source, text, ctx)
            .await
            .map_err(|message| GuardrailError::Compile {
                label: g.label.clone(),
                message,
            })
    }
}
