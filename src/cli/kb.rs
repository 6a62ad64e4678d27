//! `strata kb …`: create a knowledge base from folders, files and URLs, sync it (with a
//! progress bar; Ctrl-C stops and the next sync resumes), list and show bases, query
//! them (Retrieve), ask them (RetrieveAndGenerate through the orchestrator, with
//! citations), and delete them.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::knowledge::cite::{SourceRef, DEFAULT_TOP_K};
use crate::knowledge::retrieve::{Filter, Fusion, Hit, Mode, Query, Search};
use crate::knowledge::spec::{Chunking, Strategy, DEFAULT_EMBEDDING};
use crate::knowledge::store::KbRecord;
use crate::knowledge::sync::Phase;
use crate::knowledge::{KbSpec, Knowledge, Progress, SyncOptions, SyncReport};
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::{Orchestrator, Turn, TurnInput};
use crate::runtime::context::Caller;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::Runtime;
use crate::sessions::AgentConfig;
use crate::store::format_micros;

/// Exit code of a sync that was interrupted (resume with `kb sync`).
const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Create a knowledge base (then `kb sync NAME` ingests it).
    Create {
        name: String,
        /// A folder, a file or an http(s) URL (repeatable).
        #[arg(long = "source", value_name = "PATH|URL", required = true)]
        sources: Vec<String>,
        /// Embeddings model (default local/all-minilm-l6-v2).
        #[arg(long, value_name = "MODEL")]
        embedding: Option<String>,
        /// Only files matching this glob (by relative path or name; repeatable).
        #[arg(long = "include", value_name = "GLOB")]
        include: Vec<String>,
        /// Leave out files matching this glob (repeatable).
        #[arg(long = "exclude", value_name = "GLOB")]
        exclude: Vec<String>,
        /// structure (headings, code items, paragraphs) or fixed (windows).
        #[arg(long, value_enum, default_value = "structure")]
        chunking: Strategy,
        /// Target chunk size in bytes.
        #[arg(long, default_value_t = Chunking::default().size)]
        chunk_size: usize,
        /// Bytes a chunk repeats from the previous one.
        #[arg(long, default_value_t = Chunking::default().overlap)]
        overlap: usize,
        /// Sync right away.
        #[arg(long)]
        sync: bool,
    },
    /// Bring a base up to date with its sources (incremental; resumes an interrupted one).
    Sync {
        name: String,
        /// Switch to another embeddings model (with --reembed).
        #[arg(long, value_name = "MODEL")]
        embedding: Option<String>,
        /// Re-embed everything with the new --embedding model.
        #[arg(long)]
        reembed: bool,
        /// Chunks per embedding call.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// All knowledge bases.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A base's sources, settings, counts, last sync and files.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Retrieve: the chunks that best match a text.
    Query(QueryArgs),
    /// RetrieveAndGenerate: an answer grounded in the base, with citations.
    Ask {
        /// A base, or several separated by commas.
        name: String,
        question: String,
        /// Chat model (default: the configured default).
        #[arg(short, long)]
        model: Option<String>,
        /// Passages to retrieve.
        #[arg(short, default_value_t = DEFAULT_TOP_K)]
        k: usize,
        /// Sampling temperature (0: greedy, repeatable answers).
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        max_tokens: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a base and everything stored for it.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A base, or several separated by commas.
    pub name: String,
    pub text: String,
    #[arg(short, default_value_t = DEFAULT_TOP_K)]
    pub k: usize,
    /// path=GLOB or heading=TEXT (repeatable).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    #[arg(long, value_enum, default_value = "hybrid")]
    pub mode: Mode,
    /// Hybrid fusion: rrf, or weighted with --alpha.
    #[arg(long, default_value = "rrf", value_parser = ["rrf", "weighted"])]
    pub fusion: String,
    /// Weight of the vector score in weighted fusion.
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f32,
    /// auto (approximate on large bases), exact or approximate.
    #[arg(long, value_enum, default_value = "auto")]
    pub search: Search,
    /// Rerank candidates with this model (embeddings or chat).
    #[arg(long, value_name = "MODEL")]
    pub rerank: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn bases(name: &str) -> Vec<String> {
    name.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub async fn run(runtime: Arc<Runtime>, cmd: KbCommand) -> Result<i32> {
    match cmd {
        KbCommand::Create {
            name,
            sources,
            embedding,
            include,
            exclude,
            chunking,
            chunk_size,
            overlap,
            sync,
        } => {
            let knowledge = Knowledge::new(runtime.clone());
            let spec = KbSpec {
                name: name.clone(),
                sources,
                include,
                exclude,
                chunking: Chunking {
                    strategy: chunking,
                    size: chunk_size,
                    overlap,
                },
                embedding: embedding.unwrap_or_else(|| DEFAULT_EMBEDDING.to_string()),
            };
            let record = knowledge.create(spec)?;
            eprintln!(
                "created knowledge base {} ({} source(s), {} chunks of ~{} bytes, embedded with {})",
                record.spec.name,
                record.spec.sources.len(),
                match record.spec.chunking.strategy {
                    Strategy::Structure => "structure-aware",
                    Strategy::Fixed => "fixed",
                },
                record.spec.chunking.size,
                record.spec.embedding
            );
            if !sync {
                eprintln!("run `strata kb sync {name}` to ingest it");
                return Ok(0);
            }
            let options = SyncOptions {
                cancel: super::cancel_on_ctrl_c(),
                ..SyncOptions::default()
            };
            sync_base(&knowledge, &name, options, false).await
        }
        KbCommand::Sync {
            name,
            embedding,
            reembed,
            batch,
            json,
        } => {
            let knowledge = Knowledge::new(runtime.clone());
            let options = SyncOptions {
                batch,
                reembed,
                embedding,
                cancel: super::cancel_on_ctrl_c(),
            };
            sync_base(&knowledge, &name, options, json).await
        }
        KbCommand::List { json } => {
            let knowledge = Knowledge::new(runtime);
            let list = knowledge.list()?;
            if json {
                let rows: Vec<_> = list.iter().map(summary).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if list.is_empty() {
                println!(
                    "no knowledge bases; create one with `strata kb create NAME --source PATH`"
                );
            } else {
                println!(
                    "{:<20} {:>6} {:>8}  {:<24} LAST SYNC",
                    "NAME", "FILES", "CHUNKS", "EMBEDDING"
                );
                for r in &list {
                    println!(
                        "{:<20} {:>6} {:>8}  {:<24} {}",
                        r.spec.name,
                        r.files,
                        r.chunks,
                        r.spec.embedding,
                        r.synced_us.map_or("never".into(), format_micros)
                    );
                }
            }
            Ok(0)
        }
        KbCommand::Show { name, json } => {
            let knowledge = Knowledge::new(runtime);
            let record = knowledge.get(&name)?;
            let files = knowledge.files(&name)?;
            let interrupted = knowledge.interrupted(&name)?;
            if json {
                let mut v = summary(&record);
                v["interrupted_sync"] = interrupted.into();
                v["last_report"] = serde_json::to_value(&record.last_report)?;
                v["documents"] = files
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "path": f.key, "kind": f.kind, "title": f.title, "bytes": f.size,
                            "chunks": f.chunks.len(), "lossy": f.lossy, "sha256": f.hash,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            print_show(&record, &files, interrupted);
            Ok(0)
        }
        KbCommand::Query(args) => query(runtime, args).await,
        KbCommand::Ask {
            name,
            question,
            model,
            k,
            temperature,
            max_tokens,
            json,
        } => {
            ask(
                runtime,
                &bases(&name),
                question,
                model,
                k,
                temperature,
                max_tokens,
                json,
            )
            .await
        }
        KbCommand::Delete { name } => {
            let knowledge = Knowledge::new(runtime);
            let record = knowledge.get(&name)?;
            knowledge.delete(&name)?;
            eprintln!(
                "deleted knowledge base {} ({} files, {} chunks)",
                name, record.files, record.chunks
            );
            Ok(0)
        }
    }
}

fn summary(r: &KbRecord) -> serde_json::Value {
    serde_json::json!({
        "name": r.spec.name,
        "sources": r.spec.sources,
        "include": r.spec.include,
        "exclude": r.spec.exclude,
        "chunking": {
            "strategy": r.spec.chunking.strategy,
            "size": r.spec.chunking.size,
            "overlap": r.spec.chunking.overlap,
        },
        "embedding": r.spec.embedding,
        "model": r.model,
        "dims": r.dims,
        "files": r.files,
        "chunks": r.chunks,
        "generation": r.generation,
        "synced": r.synced_us.map(format_micros),
    })
}

fn print_show(r: &KbRecord, files: &[crate::knowledge::store::FileEntry], interrupted: bool) {
    println!("{}", r.spec.name);
    for s in &r.spec.sources {
        println!("  source     {s}");
    }
    if !r.spec.include.is_empty() {
        println!("  include    {}", r.spec.include.join(", "));
    }
    if !r.spec.exclude.is_empty() {
        println!("  exclude    {}", r.spec.exclude.join(", "));
    }
    println!(
        "  chunking   {:?}, ~{} bytes, overlap {}",
        r.spec.chunking.strategy, r.spec.chunking.size, r.spec.chunking.overlap
    );
    println!("  embedding  {} ({} dims)", r.spec.embedding, r.dims);
    println!("  content    {} files, {} chunks", r.files, r.chunks);
    println!(
        "  last sync  {}",
        r.synced_us.map_or("never".into(), format_micros)
    );
    if interrupted {
        println!(
            "  a sync was interrupted; `strata kb sync {}` resumes it",
            r.spec.name
        );
    }
    if let Some(report) = &r.last_report {
        for s in &report.skipped {
            println!("  skipped    {} ({})", s.key, s.reason);
        }
    }
    if !files.is_empty() {
        println!("\n  {:>6} {:>8}  PATH", "CHUNKS", "BYTES");
        for f in files {
            let flag = if f.lossy {
                "  (invalid UTF-8 replaced)"
            } else {
                ""
            };
            println!("  {:>6} {:>8}  {}{flag}", f.chunks.len(), f.size, f.key);
        }
    }
}

/// Runs a sync with a progress bar on stderr (its options carry the Ctrl-C token).
async fn sync_base(
    knowledge: &Knowledge,
    name: &str,
    options: SyncOptions,
    json: bool,
) -> Result<i32> {
    let record = knowledge.get(name)?;
    let model = options
        .embedding
        .as_deref()
        .unwrap_or(&record.spec.embedding);
    ensure_pulled(knowledge.runtime(), model).await?;
    if knowledge.interrupted(name)? {
        eprintln!("resuming an interrupted sync of {name} (vectors it stored are reused)");
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let b = bar.clone();
    // Without a terminal (logs, CI, scripts) progress is a line per embedded batch.
    let plain = !std::io::stderr().is_terminal();
    let report = knowledge
        .sync(name, &options, move |p: &Progress| {
            if plain {
                if p.phase == Phase::Embedding && p.chunks_done > 0 {
                    eprintln!(
                        "embedded {}/{} chunks, {:.1} chunks/s",
                        p.chunks_done, p.chunks_total, p.chunks_per_s
                    );
                }
            } else {
                draw(&b, p)
            }
        })
        .await;
    bar.finish_and_clear();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(name, &report);
    }
    Ok(if report.interrupted {
        EXIT_INTERRUPTED
    } else {
        0
    })
}

fn draw(bar: &ProgressBar, p: &Progress) {
    let (done, total, what) = match p.phase {
        Phase::Reading => (p.files_done, p.files_total, "files read".to_string()),
        Phase::Embedding => (
            p.chunks_done,
            p.chunks_total,
            format!(
                "chunks embedded ({} files), {:.1} chunks/s{}",
                p.files_total,
                p.chunks_per_s,
                p.eta_s.map_or(String::new(), |s| format!(", eta {s:.0}s"))
            ),
        ),
        Phase::Committing => (p.chunks_total, p.chunks_total, "committing".to_string()),
    };
    bar.set_length(total as u64);
    bar.set_position(done as u64);
    bar.set_message(what);
}

fn print_report(name: &str, r: &SyncReport) {
    if r.interrupted {
        eprintln!(
            "sync of {name} interrupted: nothing changed in the base; {} chunk(s) embedded so far are kept, and `strata kb sync {name}` resumes",
            r.embedded
        );
        return;
    }
    println!(
        "synced {name}: {} files ({} added, {} changed, {} unchanged, {} removed), {} chunks ({} embedded, {} reused) in {:.1}s, {:.1} chunks/s{}",
        r.files,
        r.added.len(),
        r.changed.len(),
        r.unchanged,
        r.removed.len(),
        r.chunks,
        r.embedded,
        r.reused,
        r.seconds,
        r.chunks_per_s,
        if r.resumed { " (resumed)" } else { "" }
    );
    for s in &r.skipped {
        println!("  skipped {} ({})", s.key, s.reason);
    }
    for l in &r.lossy {
        println!("  invalid UTF-8 replaced in {l}");
    }
}

fn hit_json(rank: usize, h: &Hit) -> serde_json::Value {
    serde_json::json!({
        "rank": rank,
        "base": h.base,
        "source": h.chunk.file.key,
        "title": h.chunk.file.title,
        "heading": h.chunk.chunk.heading,
        "bytes": [h.chunk.chunk.start, h.chunk.chunk.end],
        "lines": [h.chunk.chunk.line_start, h.chunk.chunk.line_end],
        "score": h.score,
        "vector_score": h.vector_score,
        "keyword_score": h.keyword_score,
        "vector_rank": h.vector_rank,
        "keyword_rank": h.keyword_rank,
        "rerank_rank": h.rerank_rank,
        "text": h.chunk.chunk.text,
    })
}

/// Makes bases ready to search: their embedding models downloaded (with a progress bar)
/// and their committed state loaded (an unsynced base is an error naming it).
async fn prepare(knowledge: &Knowledge, names: &[String]) -> Result<()> {
    for n in names {
        if let Some(m) = knowledge.get(n)?.model.as_deref() {
            ensure_pulled(knowledge.runtime(), m).await?;
        }
        knowledge.index(n).await?;
    }
    Ok(())
}

async fn query(runtime: Arc<Runtime>, args: QueryArgs) -> Result<i32> {
    let knowledge = Knowledge::new(runtime.clone());
    let names = bases(&args.name);
    prepare(&knowledge, &names).await?;
    let mut filter = Filter::default();
    for f in &args.filter {
        filter.add(f).map_err(anyhow::Error::msg)?;
    }
    let query = Query {
        text: args.text.clone(),
        k: args.k,
        mode: args.mode,
        fusion: if args.fusion == "weighted" {
            Fusion::Weighted(args.alpha.clamp(0.0, 1.0))
        } else {
            Fusion::Rrf
        },
        filter,
        search: args.search,
        rerank: args.rerank.clone(),
    };
    let started = std::time::Instant::now();
    let hits = knowledge.retrieve(&names, &query).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if args.json {
        let v = serde_json::json!({
            "query": args.text,
            "mode": args.mode,
            "ms": ms,
            "results": hits.iter().enumerate().map(|(i, h)| hit_json(i + 1, h)).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if hits.is_empty() {
        println!("no matches");
    }
    for (i, h) in hits.iter().enumerate() {
        let c = &h.chunk.chunk;
        let scores = [
            h.vector_score.map(|s| format!("cos {s:.3}")),
            h.keyword_score.map(|s| format!("bm25 {s:.2}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "[{}] {:.4}  {}:{}-{}  ({scores})",
            i + 1,
            h.score,
            h.chunk.file.key,
            c.line_start,
            c.line_end
        );
        if !c.heading.is_empty() {
            println!("    {}", c.heading.join(" > "));
        }
        let preview: String = c.text.chars().take(240).collect();
        println!("    {}\n", preview.replace('\n', " "));
    }
    eprintln!("{} result(s) in {ms:.1} ms", hits.len());
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
async fn ask(
    runtime: Arc<Runtime>,
    names: &[String],
    question: String,
    model: Option<String>,
    k: usize,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    json: bool,
) -> Result<i32> {
    if question.trim().is_empty() {
        bail!("the question is empty");
    }
    let orchestrator = Orchestrator::new(runtime.clone())?;
    // Loading first means a base that cannot answer leaves no empty session behind.
    prepare(&orchestrator.knowledge, names).await?;
    let model = runtime.chat_model(model.as_deref())?.id.clone();
    ensure_pulled(&runtime, &model).await?;
    let mut agent = AgentConfig::default_for(&model);
    agent.knowledge_bases = names.to_vec();
    agent.knowledge_top_k = Some(k);
    agent.params.temperature = temperature.or(agent.params.temperature);
    agent.params.max_tokens = max_tokens
        .or(runtime.config.max_tokens)
        .or(agent.params.max_tokens);
    let session = orchestrator.sessions.create_with(agent.clone())?;
    let mut turn = Turn::new(session.id, TurnInput::Ask(question.clone()), Caller::Cli);
    turn.cancel = super::cancel_on_ctrl_c();
    let outcome = orchestrator
        .run_turn(turn, move |event| {
            if let (RunEvent::TextDelta { text, .. }, false) = (&event, json) {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        })
        .await?;
    let answer = &outcome.answer;
    let cited: Vec<&SourceRef> = answer.sources.iter().filter(|s| s.cited).collect();
    if json {
        let v = serde_json::json!({
            "session_id": session.id.to_string(),
            "run_id": outcome.run.to_string(),
            "model": model,
            "answer": answer.content,
            "status": answer.status.as_str(),
            "citations": cited,
            "dropped_citations": answer.dropped_citations,
            "retrieved": answer.sources,
            "error": outcome.error.as_ref().map(|e| e.message.clone()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if !answer.content.ends_with('\n') {
            println!();
        }
        println!("\nSources:");
        for s in &answer.sources {
            let mark = match (s.cited, s.inferred) {
                (true, false) => "cited",
                (true, true) => "matched",
                _ => "",
            };
            println!("  [{}] {}  {}  {mark}", s.number, s.location(), s.label());
        }
        if !answer.dropped_citations.is_empty() {
            eprintln!(
                "dropped citation(s) {:?}: they match none of the {} retrieved passages",
                answer.dropped_citations,
                answer.sources.len()
            );
        }
        if cited.iter().all(|s| s.inferred) && !cited.is_empty() {
            eprintln!("(the model gave no citation markers; sources matched by similarity)");
        }
    }
    Ok(match &outcome.error {
        None => 0,
        Some(e) => {
            eprintln!("error: {}", e.message);
            1
        }
    })
}
