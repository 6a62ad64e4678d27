//! Knowledge bases: CreateKnowledgeBase, sync (incremental, resumable ingestion), Retrieve
//! (hybrid vector + BM25 search with filters and optional reranking) and the pieces of
//! RetrieveAndGenerate (grounded prompt, citations) that the orchestrator uses when a
//! session's agent has bases attached. Headless: the CLI and the TUI are its clients.
//! Embeddings go through the runtime (recorded like every call).

pub mod chunk;
pub mod cite;
pub mod index;
pub mod retrieve;
pub mod source;
pub mod spec;
pub mod store;
pub mod sync;
pub mod vectors;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::runtime::catalog::Capability;
use crate::runtime::context::{CallContext, Caller};
use crate::runtime::embeddings::{dot, Embedder};
use crate::runtime::invoke::InvokeRequest;
use crate::runtime::types::{ChatRequest, Message, Params, Role};
use crate::runtime::Runtime;
use crate::store::{now_micros, Id, StoreError};
pub use cite::SourceRef;
use index::Index;
use retrieve::{Hit, Query};
pub use spec::KbSpec;
use spec::SpecError;
pub use store::SyncReport;
use store::{KbRecord, KbStore};
pub use sync::{Progress, SyncOptions};

/// What went wrong, naming the base or input and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("no knowledge base `{0}`; `strata kb list` shows them")]
    NotFound(String),
    #[error(
        "a knowledge base `{0}` already exists; pick another name or `strata kb delete {0}` first"
    )]
    Exists(String),
    #[error("knowledge base `{0}` has no synced content yet; run `strata kb sync {0}`")]
    NotSynced(String),
    #[error("knowledge base `{name}` holds vectors of {from}; switching to {to} means re-embedding every chunk: run `strata kb sync {name} --embedding {to} --reembed`")]
    ModelChange {
        name: String,
        from: String,
        to: String,
    },
    #[error("`{0}` is not an embeddings model; pick one from `strata models list` (default: local/all-minilm-l6-v2)")]
    NotEmbeddings(String),
    #[error("knowledge base `{0}` is already syncing")]
    Busy(String),
    #[error("embedding failed: {0}")]
    Embed(String),
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The text a chunk is embedded and keyword-indexed as: its heading path (or its
/// document's title) above its text, so a passage is found by the section it is in.
pub fn embed_text(heading: &[String], title: Option<&str>, text: &str) -> String {
    if !heading.is_empty() {
        format!("{}\n{}", heading.join(" > "), text)
    } else if let Some(t) = title {
        format!("{t}\n{text}")
    } else {
        text.to_string()
    }
}

/// The knowledge-base service: definitions, syncs and searches over the runtime's
/// database, with loaded bases cached per committed generation.
pub struct Knowledge {
    runtime: Arc<Runtime>,
    pub store: KbStore,
    loaded: Mutex<HashMap<String, Arc<Index>>>,
    syncing: Mutex<HashSet<String>>,
}

impl Knowledge {
    pub fn new(runtime: Arc<Runtime>) -> Knowledge {
        Knowledge {
            store: KbStore::new(runtime.store.clone()),
            runtime,
            loaded: Mutex::new(HashMap::new()),
            syncing: Mutex::new(HashSet::new()),
        }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Creates a base (not yet synced). Source paths are made absolute.
    pub fn create(&self, mut spec: KbSpec) -> Result<KbRecord, KbError> {
        spec.sources = spec
            .sources
            .iter()
            .map(|s| spec::absolute_source(s))
            .collect();
        // Sources are stored and shown: a URL must not carry credentials.
        if let Some(url) = spec
            .sources
            .iter()
            .find(|s| spec::is_url(s) && has_userinfo(s))
        {
            return Err(KbError::BadQuery(format!(
                "a source URL has credentials in it (user:password@…{}); they would be stored with the base: use a URL without them",
                url.rsplit('@').next().unwrap_or("")
            )));
        }
        spec.validate()?;
        spec.check_sources()?;
        self.check_embedding_model(&spec.embedding)?;
        if self.store.get(&spec.name)?.is_some() {
            return Err(KbError::Exists(spec.name));
        }
        let record = KbRecord {
            id: Id::new(),
            spec,
            created_us: now_micros(),
            generation: 0,
            model: None,
            dims: 0,
            files: 0,
            chunks: 0,
            synced_us: None,
            last_report: None,
        };
        self.store.put(&record)?;
        Ok(record)
    }

    fn check_embedding_model(&self, model: &str) -> Result<(), KbError> {
        let spec = self
            .runtime
            .catalog
            .get(model)
            .map_err(|e| KbError::BadQuery(e.to_string()))?;
        if !spec.has(Capability::Embeddings) {
            return Err(KbError::NotEmbeddings(spec.id.clone()));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<KbRecord, KbError> {
        self.store
            .get(name)?
            .ok_or_else(|| KbError::NotFound(name.to_string()))
    }

    pub fn list(&self) -> Result<Vec<KbRecord>, KbError> {
        Ok(self.store.list()?)
    }

    /// The committed files of a base.
    pub fn files(&self, name: &str) -> Result<Vec<store::FileEntry>, KbError> {
        let record = self.get(name)?;
        Ok(self.store.files(&record)?)
    }

    /// Whether a sync of the base was interrupted (it will resume).
    pub fn interrupted(&self, name: &str) -> Result<bool, KbError> {
        let record = self.get(name)?;
        Ok(self.store.marker(record.id)?.is_some())
    }

    pub fn delete(&self, name: &str) -> Result<(), KbError> {
        let record = self.get(name)?;
        if self.is_syncing(name) {
            return Err(KbError::Busy(name.to_string()));
        }
        self.store.delete(&record)?;
        self.forget(name);
        Ok(())
    }

    pub fn is_syncing(&self, name: &str) -> bool {
        self.syncing
            .lock()
            .map(|s| s.contains(name))
            .unwrap_or(false)
    }

    fn forget(&self, name: &str) {
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.remove(name);
        }
    }

    /// Syncs a base with its sources (see `sync`); one sync per base at a time.
    pub async fn sync(
        &self,
        name: &str,
        options: &SyncOptions,
        progress: impl FnMut(&Progress) + Send,
    ) -> Result<SyncReport, KbError> {
        let record = self.get(name)?;
        if let Some(model) = &options.embedding {
            self.check_embedding_model(model)?;
        }
        {
            let mut syncing = self
                .syncing
                .lock()
                .map_err(|_| KbError::Io("sync registry poisoned".into()))?;
            if !syncing.insert(name.to_string()) {
                return Err(KbError::Busy(name.to_string()));
            }
        }
        let result = sync::run(&self.runtime, &self.store, record, options, progress).await;
        if let Ok(mut syncing) = self.syncing.lock() {
            syncing.remove(name);
        }
        if result.as_ref().is_ok_and(|r| !r.interrupted) {
            self.forget(name);
        }
        result
    }

    /// A base's committed state, loaded (cached until the next commit).
    pub async fn index(&self, name: &str) -> Result<Arc<Index>, KbError> {
        let record = self.get(name)?;
        if record.generation == 0 {
            return Err(KbError::NotSynced(name.to_string()));
        }
        if let Some(index) = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.get(name).cloned())
            .filter(|i| i.generation == record.generation)
        {
            return Ok(index);
        }
        let store = self.store.clone();
        let index = tokio::task::spawn_blocking(move || Index::load(&store, &record))
            .await
            .map_err(|e| KbError::Io(e.to_string()))??;
        let index = Arc::new(index);
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(name.to_string(), index.clone());
        }
        Ok(index)
    }

    /// Unit vectors of `texts` by `model` (the call is recorded).
    async fn embed(&self, model: &str, texts: Vec<String>) -> Result<Vec<Vec<f32>>, KbError> {
        Embedder::new(self.runtime.clone(), model)
            .embed_unit(texts)
            .await
            .map_err(|e| KbError::Embed(e.to_string()))
    }

    /// Retrieve: the `query.k` best chunks over `bases` (merged by score), optionally
    /// reranked.
    pub async fn retrieve(&self, bases: &[String], query: &Query) -> Result<Vec<Hit>, KbError> {
        if query.text.trim().is_empty() {
            return Err(KbError::BadQuery(
                "the query is empty; give some text to search for".into(),
            ));
        }
        let mut hits = Vec::new();
        let mut query_vectors: HashMap<String, Vec<f32>> = HashMap::new();
        for name in bases {
            let index = self.index(name).await?;
            let q = if query.mode == retrieve::Mode::Keyword {
                None
            } else {
                if !query_vectors.contains_key(&index.model) {
                    let v = self.embed(&index.model, vec![query.text.clone()]).await?;
                    query_vectors.insert(
                        index.model.clone(),
                        v.into_iter().next().unwrap_or_default(),
                    );
                }
                query_vectors.get(&index.model).cloned()
            };
            let q2 = query.clone();
            let index2 = index.clone();
            let found =
                tokio::task::spawn_blocking(move || retrieve::search(&index2, q.as_deref(), &q2))
                    .await
                    .map_err(|e| KbError::Io(e.to_string()))??;
            hits.extend(found);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        if let Some(model) = &query.rerank {
            hits.truncate((query.k * 4).max(20));
            hits = self.rerank(model, &query.text, hits).await?;
        }
        hits.truncate(query.k);
        Ok(hits)
    }

    /// Reorders candidates with a model: an embeddings model scores each by its best
    /// sentence's similarity to the query; a chat model is asked to rank them.
    async fn rerank(
        &self,
        model: &str,
        query: &str,
        mut hits: Vec<Hit>,
    ) -> Result<Vec<Hit>, KbError> {
        let spec = self
            .runtime
            .catalog
            .get(model)
            .map_err(|e| KbError::BadQuery(e.to_string()))?
            .clone();
        if spec.has(Capability::Embeddings) {
            let mut texts = vec![query.to_string()];
            let mut owner = Vec::new();
            for (i, h) in hits.iter().enumerate() {
                for (a, b) in crate::text::pieces(&h.chunk.chunk.text) {
                    texts.push(h.chunk.chunk.text[a..b].to_string());
                    owner.push(i);
                }
            }
            let vectors = self.embed(&spec.id, texts).await?;
            let (q, rest) = vectors
                .split_first()
                .ok_or_else(|| KbError::Embed("no vectors".into()))?;
            let mut best = vec![f32::MIN; hits.len()];
            for (v, &i) in rest.iter().zip(&owner) {
                best[i] = best[i].max(dot(q, v));
            }
            for (h, s) in hits.iter_mut().zip(best) {
                h.score = s;
            }
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        } else {
            let order = self.rank_with_chat(&spec.id, query, &hits).await?;
            let mut ranked: Vec<Hit> = Vec::with_capacity(hits.len());
            for i in order {
                if i < hits.len() && !ranked.iter().any(|h| same(h, &hits[i])) {
                    ranked.push(hits[i].clone());
                }
            }
            for h in hits {
                if !ranked.iter().any(|r| same(r, &h)) {
                    ranked.push(h);
                }
            }
            hits = ranked;
            let n = hits.len() as f32;
            for (i, h) in hits.iter_mut().enumerate() {
                h.score = (n - i as f32) / n;
            }
        }
        for (i, h) in hits.iter_mut().enumerate() {
            h.rerank_rank = Some(i + 1);
        }
        Ok(hits)
    }

    /// Asks a chat model for the passages' order of relevance; returns indices.
    async fn rank_with_chat(
        &self,
        model: &str,
        query: &str,
        hits: &[Hit],
    ) -> Result<Vec<usize>, KbError> {
        let mut prompt = format!(
            "Question: {query}\n\nRank these passages by how well they answer the question. \
             Reply with the passage numbers only, most relevant first, separated by commas.\n"
        );
        for (i, h) in hits.iter().enumerate() {
            let text: String = h.chunk.chunk.text.chars().take(400).collect();
            prompt.push_str(&format!("\n[{}] {}\n", i + 1, text));
        }
        let request = InvokeRequest {
            model: model.to_string(),
            chat: ChatRequest {
                model: String::new(),
                system: None,
                messages: vec![Message::new(Role::User, prompt)],
                params: Params {
                    temperature: Some(0.0),
                    max_tokens: Some(64),
                    ..Params::default()
                },
                tools: Vec::new(),
                tool_choice: Default::default(),
            },
            use_cache: None,
            context: CallContext::new(Caller::Cli),
        };
        let response = self
            .runtime
            .invoke(request, |_| {}, tokio_util::sync::CancellationToken::new())
            .await
            .map_err(|e| KbError::Embed(format!("reranking with {model} failed: {e}")))?;
        Ok(regex_numbers(&response.text)
            .into_iter()
            .filter(|n| *n >= 1)
            .map(|n| n - 1)
            .collect())
    }

    /// Attributes an answer without citation markers to the passages its sentences are
    /// closest to: the sentences are embedded once per model among the hits' bases, and
    /// compared only with passages of that model.
    pub async fn infer_citations(
        &self,
        answer: &str,
        hits: &[Hit],
        sources: &mut [SourceRef],
    ) -> Result<(), KbError> {
        let sentences: Vec<String> = crate::text::pieces(answer)
            .into_iter()
            .map(|(a, b)| answer[a..b].to_string())
            .filter(|s| s.split_whitespace().count() >= 3)
            .collect();
        if sentences.is_empty() {
            return Ok(());
        }
        let mut models = Vec::with_capacity(hits.len());
        for h in hits {
            models.push(self.index(&h.base).await?.model.clone());
        }
        let mut distinct = models.clone();
        distinct.dedup();
        distinct.sort();
        distinct.dedup();
        for model in distinct {
            let vectors = self.embed(&model, sentences.clone()).await?;
            let passages: Vec<Vec<f32>> = hits
                .iter()
                .zip(&models)
                .map(|(h, m)| {
                    if *m == model {
                        h.vector.clone()
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            cite::infer(&vectors, &passages, sources);
        }
        Ok(())
    }
}

/// Whether a URL has `user[:password]@` before its host.
fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

fn same(a: &Hit, b: &Hit) -> bool {
    a.base == b.base
        && a.chunk.file.key == b.chunk.file.key
        && a.chunk.chunk.start == b.chunk.chunk.start
}

fn regex_numbers(text: &str) -> Vec<usize> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}
