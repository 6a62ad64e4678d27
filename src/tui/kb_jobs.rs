//! Knowledge-base work the UI asks for instead of doing it on its own task: listing
//! bases, making and deleting one, a sync or a re-embed with another model (its progress
//! streams back while other screens are in use; it stops with its cancel token), a
//! playground query, checking bases before a session uses them, and reading a cited
//! chunk's surroundings from its file. Answers go to an `Outbox<KbMsg>`.

use tokio_util::sync::CancellationToken;

use super::outbox::Outbox;
use crate::knowledge::cite::{self, SourceRef};
use crate::knowledge::retrieve::Query;
use crate::knowledge::store::KbRecord;
use crate::knowledge::{KbSpec, Progress, SyncOptions, SyncReport};
use crate::orchestrator::Orchestrator;
use crate::store::Id;

/// Lines shown above and below a cited chunk.
pub const CONTEXT_LINES: usize = 4;

/// One piece of knowledge-base work.
#[derive(Debug, Clone)]
pub enum KbJob {
    List,
    /// Sync a base; with `reembed`, switch it to that embeddings model first (every
    /// chunk is embedded again).
    Sync {
        name: String,
        cancel: CancellationToken,
        reembed: Option<String>,
    },
    /// Make a base (not synced yet).
    Create(Box<KbSpec>),
    /// Delete a base and its index.
    Delete {
        name: String,
    },
    Query {
        bases: Vec<String>,
        text: String,
        k: usize,
        seq: u64,
    },
    /// The bases a session should use exist and are synced.
    Check {
        session: Id,
        names: Vec<String>,
    },
    /// A cited chunk with the lines around it.
    Context(Box<SourceRef>),
}

/// A retrieved chunk as the playground shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultView {
    pub source: SourceRef,
    pub vector: Option<f32>,
    pub keyword: Option<f32>,
}

/// A cited chunk in its file: numbered lines (0: no number, for HTML and URLs), and
/// which of them are the chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkContext {
    pub source: SourceRef,
    pub lines: Vec<(usize, String, bool)>,
}

/// The answers.
#[derive(Debug, Clone)]
pub enum KbMsg {
    List(Result<Vec<KbRecord>, String>),
    Progress {
        name: String,
        progress: Progress,
    },
    Synced {
        name: String,
        result: Result<SyncReport, String>,
    },
    Results {
        seq: u64,
        result: Result<Vec<ResultView>, String>,
        ms: f64,
    },
    Checked {
        session: Id,
        names: Vec<String>,
        result: Result<(), String>,
    },
    Context(Result<ChunkContext, String>),
    Created {
        name: String,
        result: Result<(), String>,
    },
    Deleted {
        name: String,
        result: Result<(), String>,
    },
}

/// Starts a job on a task; its answers go to `tx`.
pub fn run(job: KbJob, orchestrator: &Orchestrator, tx: &Outbox<KbMsg>) {
    let knowledge = orchestrator.knowledge.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let send = |m: KbMsg| {
            let _ = tx.send(m);
        };
        match job {
            KbJob::List => {
                let k = knowledge.clone();
                let result = tokio::task::spawn_blocking(move || k.list())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                send(KbMsg::List(result));
            }
            KbJob::Create(spec) => {
                let k = knowledge.clone();
                let name = spec.name.clone();
                let result = tokio::task::spawn_blocking(move || k.create(*spec).map(|_| ()))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                send(KbMsg::Created { name, result });
            }
            KbJob::Delete { name } => {
                let (k, n) = (knowledge.clone(), name.clone());
                let result = tokio::task::spawn_blocking(move || k.delete(&n))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                send(KbMsg::Deleted { name, result });
            }
            KbJob::Sync {
                name,
                cancel,
                reembed,
            } => {
                let options = SyncOptions {
                    cancel,
                    reembed: reembed.is_some(),
                    embedding: reembed,
                    ..SyncOptions::default()
                };
                let progress_tx = tx.clone();
                let n = name.clone();
                let result = knowledge
                    .sync(&name, &options, move |p| {
                        let _ = progress_tx.send(KbMsg::Progress {
                            name: n.clone(),
                            progress: p.clone(),
                        });
                    })
                    .await
                    .map_err(|e| e.to_string());
                send(KbMsg::Synced { name, result });
            }
            KbJob::Query {
                bases,
                text,
                k,
                seq,
            } => {
                let started = std::time::Instant::now();
                let result = knowledge
                    .retrieve(&bases, &Query::new(text, k))
                    .await
                    .map(|hits| {
                        let sources = cite::sources(&hits);
                        hits.iter()
                            .zip(sources)
                            .map(|(h, source)| ResultView {
                                source,
                                vector: h.vector_score,
                                keyword: h.keyword_score,
                            })
                            .collect()
                    })
                    .map_err(|e| e.to_string());
                send(KbMsg::Results {
                    seq,
                    result,
                    ms: started.elapsed().as_secs_f64() * 1000.0,
                });
            }
            KbJob::Check { session, names } => {
                let mut result = Ok(());
                for n in &names {
                    if let Err(e) = knowledge.index(n).await {
                        result = Err(e.to_string());
                        break;
                    }
                }
                send(KbMsg::Checked {
                    session,
                    names,
                    result,
                });
            }
            KbJob::Context(source) => {
                let result = tokio::task::spawn_blocking(move || context(*source))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                send(KbMsg::Context(result));
            }
        }
    });
}

/// The chunk with `CONTEXT_LINES` around it from its file (HTML and URLs: the chunk's
/// own text, since the source lines are markup).
fn context(source: SourceRef) -> Result<ChunkContext, String> {
    let plain = !source.file.ends_with(".html") && !source.file.ends_with(".htm");
    let lines = match std::fs::read(&source.file) {
        Ok(bytes) if plain && !crate::knowledge::spec::is_url(&source.file) => {
            let text = String::from_utf8_lossy(&bytes);
            let first = source.line_start.saturating_sub(CONTEXT_LINES).max(1);
            let last = source.line_end + CONTEXT_LINES;
            text.lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l))
                .filter(|(n, _)| *n >= first && *n <= last)
                .map(|(n, l)| {
                    (
                        n,
                        l.to_string(),
                        n >= source.line_start && n <= source.line_end,
                    )
                })
                .collect()
        }
        _ => source
            .text
            .lines()
            .map(|l| (0, l.to_string(), true))
            .collect(),
    };
    Ok(ChunkContext { source, lines })
}
