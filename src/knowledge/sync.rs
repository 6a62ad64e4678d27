//! Sync: bring a base's committed state up to date with its sources. Files whose bytes
//! (or recipe: chunking and model) did not change keep their chunks and vectors; changed
//! and new files are re-chunked and only chunks whose vectors are missing are embedded
//! (in batches, through the runtime); files gone from the sources drop out. Everything
//! is written as a new generation and committed in one write at the end, so a query
//! during or after an interrupted sync sees the last complete state, and the next sync
//! reuses every vector the interrupted one stored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::source::{self, Found, Skipped};
use super::store::{FileEntry, KbRecord, KbStore, StoredChunk, SyncMarker, SyncReport};
use super::{embed_text, KbError};
use crate::runtime::embeddings::Embedder;
use crate::runtime::Runtime;
use crate::store::now_micros;

/// How a sync runs.
#[derive(Clone)]
pub struct SyncOptions {
    /// Chunks per embedding call.
    pub batch: usize,
    /// Allow switching the base to another embedding model (everything is re-embedded).
    pub reembed: bool,
    /// Switch to this model (with `reembed`).
    pub embedding: Option<String>,
    pub cancel: CancellationToken,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            batch: 32,
            reembed: false,
            embedding: None,
            cancel: CancellationToken::new(),
        }
    }
}

/// Where a sync is, for progress bars.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    pub files_done: usize,
    pub files_total: usize,
    pub chunks_done: usize,
    /// Chunks this sync must embed.
    pub chunks_total: usize,
    pub chunks_per_s: f64,
    pub eta_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Reading,
    Embedding,
    Committing,
}

/// What decides whether an unchanged file keeps its chunks.
fn recipe(record: &KbRecord, model: &str) -> String {
    let c = &record.spec.chunking;
    format!("{:?}/{}/{}/{model}", c.strategy, c.size, c.overlap)
}

/// Runs a sync of `record`; `progress` sees each step.
pub async fn run(
    runtime: &Arc<Runtime>,
    kb: &KbStore,
    mut record: KbRecord,
    options: &SyncOptions,
    mut progress: impl FnMut(&Progress) + Send,
) -> Result<SyncReport, KbError> {
    let started = Instant::now();
    let name = record.spec.name.clone();
    if let Some(next) = &options.embedding {
        if *next != record.spec.embedding {
            if record.generation > 0 && !options.reembed {
                return Err(KbError::ModelChange {
                    name,
                    from: record.spec.embedding.clone(),
                    to: next.clone(),
                });
            }
            record.spec.embedding = next.clone();
        }
    }
    let model = record.spec.embedding.clone();
    if record.model.as_deref().is_some_and(|m| m != model) && !options.reembed {
        return Err(KbError::ModelChange {
            name,
            from: record.model.clone().unwrap_or_default(),
            to: model,
        });
    }
    runtime
        .catalog
        .get(&model)
        .map_err(|e| KbError::Embed(format!("{e}")))?;
    record.spec.check_sources()?;

    let mut report = SyncReport {
        model: model.clone(),
        ..SyncReport::default()
    };
    let next_generation = record.generation + 1;
    // Entries an interrupted sync left are rewritten below; its vectors are kept.
    let marker = SyncMarker {
        started_us: now_micros(),
        generation: next_generation,
        model: model.clone(),
        pid: std::process::id(),
    };
    let (kb2, rec2) = (kb.clone(), record.clone());
    let (resumed, previous) = blocking(move || {
        let resumed = kb2.marker(rec2.id)?.is_some();
        kb2.sweep_files(&rec2, false)?;
        kb2.set_marker(rec2.id, &marker)?;
        Ok((resumed, kb2.files(&rec2)?))
    })
    .await?;
    report.resumed = resumed;

    // Read: list the sources, keep unchanged files, chunk the rest.
    let spec = record.spec.clone();
    let (found, skipped) = tokio::task::spawn_blocking(move || source::discover(&spec))
        .await
        .map_err(|e| KbError::Io(e.to_string()))??;
    report.skipped = skipped;
    let previous: HashMap<String, FileEntry> =
        previous.into_iter().map(|e| (e.key.clone(), e)).collect();
    let recipe = recipe(&record, &model);
    let mut entries: Vec<FileEntry> = Vec::with_capacity(found.len());
    let mut state = Progress {
        files_total: found.len(),
        ..Progress::default()
    };
    for (i, doc) in found.iter().enumerate() {
        if options.cancel.is_cancelled() {
            report.interrupted = true;
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }
        state.files_done = i;
        progress(&state);
        let prior = previous.get(&doc.key);
        if let Some(p) = prior.filter(|p| {
            doc.path.is_some()
                && p.size == doc.size
                && p.mtime.is_some()
                && p.mtime == doc.mtime
                && p.recipe == recipe
        }) {
            report.unchanged += 1;
            entries.push(p.clone());
            continue;
        }
        let entry = match read(doc, &record).await {
            Ok(mut entry) => {
                entry.recipe = recipe.clone();
                entry
            }
            Err(reason) => {
                // A document that cannot be read now (a network error, a permission) keeps
                // what the base had of it.
                let kept = prior.is_some();
                report.skipped.push(Skipped {
                    key: doc.key.clone(),
                    reason: if kept {
                        format!("{reason}; kept the version from the last sync")
                    } else {
                        reason
                    },
                });
                if let Some(p) = prior {
                    report.unchanged += 1;
                    entries.push(p.clone());
                }
                continue;
            }
        };
        match prior {
            Some(p) if p.hash == entry.hash && p.recipe == recipe => {
                report.unchanged += 1;
                // Same bytes (touched): keep the stored chunks, note the new mtime.
                let mut kept = p.clone();
                kept.mtime = entry.mtime;
                entries.push(kept);
                continue;
            }
            Some(_) => report.changed.push(doc.key.clone()),
            None => report.added.push(doc.key.clone()),
        }
        if entry.lossy {
            report.lossy.push(doc.key.clone());
        }
        entries.push(entry);
    }
    // Which vectors are missing (new text, or never stored by an interrupted sync).
    let (kb2, id, m) = (kb.clone(), record.id, model.clone());
    let (entries, pending, chunks_total, reused) = blocking(move || {
        let mut entries = entries;
        let mut pending: Vec<([u8; 16], String)> = Vec::new();
        let mut queued: HashSet<[u8; 16]> = HashSet::new();
        let (mut total, mut reused) = (0, 0);
        for entry in entries.iter_mut() {
            for chunk in entry.chunks.iter_mut() {
                total += 1;
                let text = embed_text(&chunk.heading, entry.title.as_deref(), &chunk.text);
                chunk.vector = kb2.vector_key(&m, &text);
                if queued.contains(&chunk.vector) {
                    continue;
                }
                if kb2.has_vector(id, &chunk.vector)? {
                    reused += 1;
                } else {
                    queued.insert(chunk.vector);
                    pending.push((chunk.vector, text));
                }
            }
        }
        Ok((entries, pending, total, reused))
    })
    .await?;
    let mut pending = pending;
    report.reused = reused;
    let present: HashSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    report.removed = previous
        .keys()
        .filter(|k| !present.contains(k.as_str()))
        .cloned()
        .collect();
    report.removed.sort();

    // Embed what is missing, in batches of similar length (less padding); every batch is
    // stored (and flushed) at once.
    pending.sort_by_key(|(_, t)| t.len());
    state.phase = super::sync::Phase::Embedding;
    state.files_done = found.len();
    state.chunks_total = pending.len();
    progress(&state);
    let embed_started = Instant::now();
    let embedder = Embedder::new(runtime.clone(), model.clone());
    // Vectors of another model (a re-embed) may have other dimensions.
    let mut dims = if record.model.as_deref() == Some(model.as_str()) {
        record.dims
    } else {
        0
    };
    for batch in pending.chunks(options.batch.max(1)) {
        if options.cancel.is_cancelled() {
            report.interrupted = true;
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }
        let texts: Vec<String> = batch.iter().map(|(_, t)| t.clone()).collect();
        let unit = embedder
            .embed_unit(texts)
            .await
            .map_err(|e| KbError::Embed(e.to_string()))?;
        if unit.len() != batch.len() {
            return Err(KbError::Embed(format!(
                "{model} returned {} vectors for {} texts",
                unit.len(),
                batch.len()
            )));
        }
        let vectors: Vec<([u8; 16], Vec<f32>)> = batch
            .iter()
            .zip(unit)
            .map(|((key, _), v)| (*key, v))
            .collect();
        dims = vectors.first().map_or(dims, |(_, v)| v.len());
        let kb2 = kb.clone();
        let id = record.id;
        tokio::task::spawn_blocking(move || kb2.put_vectors(id, &vectors))
            .await
            .map_err(|e| KbError::Io(e.to_string()))??;
        report.embedded += batch.len();
        state.chunks_done = report.embedded;
        let secs = embed_started.elapsed().as_secs_f64().max(1e-6);
        state.chunks_per_s = report.embedded as f64 / secs;
        state.eta_s = Some((state.chunks_total - state.chunks_done) as f64 / state.chunks_per_s);
        progress(&state);
    }

    // Commit: write the new generation, then switch to it in one write.
    state.phase = Phase::Committing;
    progress(&state);
    if dims == 0 {
        let (kb2, rec2, e2) = (kb.clone(), record.clone(), entries.clone());
        dims = blocking(move || first_dims(&kb2, &rec2, &e2)).await?;
    }
    report.files = entries.len();
    report.chunks = chunks_total;
    report.seconds = started.elapsed().as_secs_f64();
    report.chunks_per_s = report.embedded as f64 / embed_started.elapsed().as_secs_f64().max(1e-6);
    let mut next = record.clone();
    next.generation = next_generation;
    next.model = Some(model.clone());
    next.dims = dims;
    next.files = entries.len();
    next.chunks = chunks_total;
    next.synced_us = Some(now_micros());
    next.last_report = Some(report.clone());
    let kb2 = kb.clone();
    tokio::task::spawn_blocking(move || -> Result<(), KbError> {
        for entry in &entries {
            kb2.put_file(next.id, next.generation, entry)?;
        }
        kb2.commit(&next)?;
        // The generation before stays until the next sync: a query loading it right now
        // in this process still finds all of it.
        kb2.sweep(&next, true)?;
        Ok(())
    })
    .await
    .map_err(|e| KbError::Io(e.to_string()))??;
    Ok(report)
}

/// Runs blocking storage work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KbError> + Send + 'static,
) -> Result<T, KbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KbError::Io(e.to_string()))?
}

fn first_dims(kb: &KbStore, record: &KbRecord, entries: &[FileEntry]) -> Result<usize, KbError> {
    for chunk in entries.iter().flat_map(|e| &e.chunks) {
        if let Some(v) = kb.vector(record.id, &chunk.vector)? {
            return Ok(v.len());
        }
    }
    Ok(0)
}

/// Reads one document into an entry (chunks without vector keys yet).
async fn read(doc: &Found, record: &KbRecord) -> Result<FileEntry, String> {
    let chunking = record.spec.chunking;
    let (parsed, kind, size) = match &doc.path {
        Some(_) => {
            let doc2 = doc.clone();
            let parsed = tokio::task::spawn_blocking(move || source::read_file(&doc2, &chunking))
                .await
                .map_err(|e| format!("reading failed: {e}"))??;
            (
                parsed,
                doc.kind.unwrap_or(super::chunk::DocKind::Text),
                doc.size,
            )
        }
        None => source::fetch_url(&doc.key, &chunking).await?,
    };
    Ok(FileEntry {
        key: doc.key.clone(),
        kind,
        title: parsed.title,
        hash: parsed.hash,
        size,
        mtime: doc.mtime,
        lossy: parsed.lossy,
        recipe: String::new(),
        chunks: parsed
            .chunks
            .into_iter()
            .map(|c| StoredChunk {
                hash: hex::encode(Sha256::digest(c.text.as_bytes())),
                text: c.text,
                start: c.bytes.start,
                end: c.bytes.end,
                line_start: c.lines.0,
                line_end: c.lines.1,
                heading: c.heading,
                vector: [0; 16],
            })
            .collect(),
    })
}
