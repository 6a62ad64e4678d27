//! A base's committed generation loaded for search: every chunk with its file, the
//! vectors as one matrix, a BM25 keyword index (the bm25 crate) over the same text the
//! vectors embed, and an HNSW graph built on first use when the base is large.

use std::sync::{Arc, OnceLock};

use bm25::{Document, Language, SearchEngine, SearchEngineBuilder};

use super::chunk::DocKind;
use super::embed_text;
use super::store::{KbRecord, KbStore, StoredChunk};
use super::vectors::{Ann, AnnParams, Vectors};
use super::KbError;

/// From this many chunks, `Search::Auto` uses the approximate index.
pub const APPROX_FROM: usize = 20_000;

/// The document a chunk comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMeta {
    pub key: String,
    pub title: Option<String>,
    pub kind: DocKind,
}

/// A chunk as search sees it.
#[derive(Debug, Clone)]
pub struct IndexedChunk {
    pub file: Arc<FileMeta>,
    pub chunk: StoredChunk,
}

/// A loaded base.
pub struct Index {
    pub name: String,
    pub generation: u64,
    pub model: String,
    pub chunks: Vec<IndexedChunk>,
    pub vectors: Vectors,
    keyword: SearchEngine<u32>,
    ann: OnceLock<Ann>,
}

impl Index {
    /// Loads a base's committed generation (blocking: run it off async tasks).
    pub fn load(kb: &KbStore, record: &KbRecord) -> Result<Index, KbError> {
        let model = record
            .model
            .clone()
            .ok_or_else(|| KbError::NotSynced(record.spec.name.clone()))?;
        let files = kb.files(record)?;
        let mut chunks = Vec::with_capacity(record.chunks);
        let mut vectors = Vectors::with_capacity(record.dims, record.chunks);
        let mut docs = Vec::with_capacity(record.chunks);
        for entry in files {
            let file = Arc::new(FileMeta {
                key: entry.key.clone(),
                title: entry.title.clone(),
                kind: entry.kind,
            });
            for chunk in entry.chunks {
                let Some(v) = kb.vector(record.id, &chunk.vector)? else {
                    tracing::warn!(
                        "{}: a chunk of {} has no vector",
                        record.spec.name,
                        entry.key
                    );
                    continue;
                };
                if !vectors.push(&v) {
                    continue;
                }
                docs.push(Document::new(
                    chunks.len() as u32,
                    embed_text(&chunk.heading, file.title.as_deref(), &chunk.text),
                ));
                chunks.push(IndexedChunk {
                    file: file.clone(),
                    chunk,
                });
            }
        }
        let keyword = SearchEngineBuilder::<u32>::with_documents(Language::English, docs).build();
        Ok(Index {
            name: record.spec.name.clone(),
            generation: record.generation,
            model,
            chunks,
            vectors,
            keyword,
            ann: OnceLock::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The HNSW graph (built on first call).
    pub fn ann(&self) -> &Ann {
        self.ann
            .get_or_init(|| self.vectors.build_ann(AnnParams::default()))
    }

    /// BM25 matches (chunk, score), best first.
    pub fn keyword(&self, query: &str, limit: usize, allow: Option<&[bool]>) -> Vec<(usize, f32)> {
        let all = self.keyword.search(query, None);
        all.into_iter()
            .map(|r| (r.document.id as usize, r.score))
            .filter(|(i, _)| allow.is_none_or(|a| a.get(*i).copied().unwrap_or(false)))
            .take(limit)
            .collect()
    }
}
