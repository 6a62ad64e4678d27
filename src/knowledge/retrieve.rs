//! Retrieve: hybrid search over one loaded base. Vector search (exact, or HNSW on large
//! bases) and BM25 each bring candidates; they are fused by reciprocal rank (default)
//! or a weighted sum of cosine and normalized BM25. Metadata filters (a path glob, a
//! heading substring) restrict both sides before ranking.

use super::index::{Index, IndexedChunk, APPROX_FROM};
use super::spec::{glob_matches, glob_set};
use super::KbError;
use crate::runtime::embeddings::dot;

/// Which signals rank the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Vector,
    Keyword,
}

/// How hybrid scores combine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: Σ 1/(60 + rank).
    Rrf,
    /// alpha × cosine + (1 − alpha) × BM25 / best BM25.
    Weighted(f32),
}

/// Exact or approximate vector search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Search {
    /// Approximate from `APPROX_FROM` chunks (and never with a filter).
    #[default]
    Auto,
    Exact,
    Approximate,
}

/// Metadata filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// A glob on the document's path or URL (or its file name).
    pub path: Option<String>,
    /// Case-insensitive text in the heading path.
    pub heading: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.path.is_none() && self.heading.is_none()
    }

    /// Parses `path=GLOB` or `heading=TEXT` (repeatable on the command line).
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        match spec.split_once('=') {
            Some(("path", v)) => self.path = Some(v.to_string()),
            Some(("heading", v)) => self.heading = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "filter `{spec}` is not understood; use path=GLOB or heading=TEXT"
                ))
            }
        }
        Ok(())
    }
}

/// A retrieval request.
#[derive(Debug, Clone)]
pub struct Query {
    pub text: String,
    pub k: usize,
    pub mode: Mode,
    pub fusion: Fusion,
    pub filter: Filter,
    pub search: Search,
    /// Rerank the candidates with this model (an embeddings model or a chat model).
    pub rerank: Option<String>,
}

impl Query {
    pub fn new(text: impl Into<String>, k: usize) -> Query {
        Query {
            text: text.into(),
            k,
            mode: Mode::Hybrid,
            fusion: Fusion::Rrf,
            filter: Filter::default(),
            search: Search::Auto,
            rerank: None,
        }
    }

    /// Candidates each side brings before fusion.
    fn candidates(&self) -> usize {
        (self.k * 4).max(40)
    }
}

/// A retrieved chunk with its scores.
#[derive(Debug, Clone)]
pub struct Hit {
    pub base: String,
    pub chunk: IndexedChunk,
    /// The fused (or reranked) score that ordered it.
    pub score: f32,
    /// Cosine similarity to the query.
    pub vector_score: Option<f32>,
    pub keyword_score: Option<f32>,
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
    /// Its place after reranking (1-based), when reranked.
    pub rerank_rank: Option<usize>,
    /// Its vector (for citation attribution).
    pub vector: Vec<f32>,
}

const RRF_K: f32 = 60.0;

/// Searches one base; `query_vector` is the query embedded with the base's model (absent
/// for keyword-only search).
pub fn search(
    index: &Index,
    query_vector: Option<&[f32]>,
    query: &Query,
) -> Result<Vec<Hit>, KbError> {
    let allow = mask(index, &query.filter)?;
    let n = query.candidates();
    let vector_hits: Vec<(usize, f32)> = match (query.mode, query_vector) {
        (Mode::Keyword, _) | (_, None) => Vec::new(),
        (_, Some(q)) => {
            let approximate = match query.search {
                Search::Exact => false,
                Search::Approximate => allow.is_none(),
                Search::Auto => allow.is_none() && index.len() >= APPROX_FROM,
            };
            if approximate {
                index.ann().search(q, n)
            } else {
                let a = allow.as_deref();
                let f = |i: usize| a.is_none_or(|a| a[i]);
                index.vectors.exact(q, n, Some(&f))
            }
        }
    };
    let keyword_hits = match query.mode {
        Mode::Vector => Vec::new(),
        _ => index.keyword(&query.text, n, allow.as_deref()),
    };
    let mut fused: std::collections::HashMap<usize, Hit> = std::collections::HashMap::new();
    let best_keyword = keyword_hits.first().map_or(1.0, |h| h.1.max(1e-6));
    for (rank, (i, s)) in vector_hits.iter().enumerate() {
        let hit = fused
            .entry(*i)
            .or_insert_with(|| new_hit(index, *i, query_vector));
        hit.vector_score = Some(*s);
        hit.vector_rank = Some(rank + 1);
    }
    for (rank, (i, s)) in keyword_hits.iter().enumerate() {
        let hit = fused
            .entry(*i)
            .or_insert_with(|| new_hit(index, *i, query_vector));
        hit.keyword_score = Some(*s);
        hit.keyword_rank = Some(rank + 1);
    }
    let mut hits: Vec<Hit> = fused.into_values().collect();
    for hit in &mut hits {
        hit.score = match query.mode {
            Mode::Vector => hit.vector_score.unwrap_or(0.0),
            Mode::Keyword => hit.keyword_score.unwrap_or(0.0),
            Mode::Hybrid => match query.fusion {
                Fusion::Rrf => {
                    hit.vector_rank.map_or(0.0, |r| 1.0 / (RRF_K + r as f32))
                        + hit.keyword_rank.map_or(0.0, |r| 1.0 / (RRF_K + r as f32))
                }
                Fusion::Weighted(alpha) => {
                    alpha * hit.vector_score.unwrap_or(0.0)
                        + (1.0 - alpha) * hit.keyword_score.unwrap_or(0.0) / best_keyword
                }
            },
        };
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.chunk.file.key.cmp(&b.chunk.file.key))
            .then_with(|| a.chunk.chunk.start.cmp(&b.chunk.chunk.start))
    });
    Ok(hits)
}

fn new_hit(index: &Index, i: usize, query_vector: Option<&[f32]>) -> Hit {
    Hit {
        base: index.name.clone(),
        chunk: index.chunks[i].clone(),
        score: 0.0,
        vector_score: query_vector.map(|q| dot(index.vectors.row(i), q)),
        keyword_score: None,
        vector_rank: None,
        keyword_rank: None,
        rerank_rank: None,
        vector: index.vectors.row(i).to_vec(),
    }
}

/// Which chunks pass the filter (`None`: all).
fn mask(index: &Index, filter: &Filter) -> Result<Option<Vec<bool>>, KbError> {
    if filter.is_empty() {
        return Ok(None);
    }
    // A relative glob matches anywhere below the sources (`guide/*.md`).
    let glob = match filter.path.as_deref() {
        Some(g) if g.starts_with('/') || g.starts_with('*') || g.contains("://") => {
            glob_set(&[g.to_string()])
        }
        Some(g) => glob_set(&[format!("**/{g}")]),
        None => Ok(None),
    }
    .map_err(|e| KbError::BadQuery(format!("path filter: {e}")))?;
    let heading = filter.heading.as_deref().map(str::to_lowercase);
    Ok(Some(
        index
            .chunks
            .iter()
            .map(|c| {
                let path_ok = glob
                    .as_ref()
                    .is_none_or(|g| glob_matches(g, std::path::Path::new(&c.file.key)));
                let heading_ok = heading.as_ref().is_none_or(|h| {
                    c.chunk.heading.join(" > ").to_lowercase().contains(h)
                        || c.file
                            .title
                            .as_deref()
                            .is_some_and(|t| t.to_lowercase().contains(h))
                });
                path_ok && heading_ok
            })
            .collect(),
    ))
}
