//! `strata bench kb`: ingestion throughput of a corpus (default: the Rust Book that ships
//! with the toolchain) with the base's embedding model, optionally against the same model
//! run by sentence-transformers on the same chunk texts (`--sentence-transformers`, a venv
//! outside the clone); and query latency p50/p99 of exact and HNSW search on synthetic
//! clustered 384-dim vectors at several sizes, with the HNSW index's recall@10 against
//! exact search on the same queries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::percentile;
use crate::config::{Config, Paths};
use crate::knowledge::spec::{Chunking, KbSpec, DEFAULT_EMBEDDING};
use crate::knowledge::vectors::{AnnParams, Vectors};
use crate::knowledge::{embed_text, Knowledge, SyncOptions};
use crate::runtime::embeddings::normalized;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::Runtime;

/// Options of `strata bench kb`.
#[derive(Debug, Clone, clap::Args)]
pub struct KbBenchArgs {
    /// Folder to ingest (default: the toolchain's Rust Book, its chapter pages).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Skip the ingestion part.
    #[arg(long)]
    pub no_ingest: bool,
    /// Also embed the same chunks with sentence-transformers (sets up its venv once).
    #[arg(long)]
    pub sentence_transformers: bool,
    /// Synthetic base sizes for the query part (comma-separated; 0 skips it).
    #[arg(long, default_value = "10000,100000,1000000", value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Queries per size.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Sizes up to this also get an HNSW index (building one costs minutes at 1M).
    #[arg(long, default_value_t = 1_000_000)]
    pub ann_up_to: usize,
}

/// A base over the Rust Book that ships with the toolchain: the current edition's pages
/// (the older editions' folders hold redirect pages with the same names). The retrieval
/// test and this bench use the same definition.
pub fn rust_book_spec(name: &str) -> Result<KbSpec> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    let book =
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("share/doc/rust/html/book");
    if !book.join("ch01-00-getting-started.html").exists() {
        bail!(
            "the Rust Book is not at {}; `rustup component add rust-docs` installs it (the bench also takes --corpus DIR)",
            book.display()
        );
    }
    Ok(KbSpec {
        name: name.into(),
        sources: vec![book.display().to_string()],
        include: vec!["ch*.html".into(), "appendix-*.html".into()],
        exclude: vec!["*-edition/*".into()],
        chunking: Chunking::default(),
        embedding: DEFAULT_EMBEDDING.into(),
    })
}

pub async fn run(runtime: Arc<Runtime>, args: &KbBenchArgs) -> Result<i32> {
    if !args.no_ingest {
        ingest(&runtime, args).await?;
    }
    for &n in args.sizes.iter().filter(|&&n| n > 0) {
        latency(n, args.queries, n <= args.ann_up_to);
    }
    Ok(0)
}

async fn ingest(runtime: &Arc<Runtime>, args: &KbBenchArgs) -> Result<()> {
    ensure_pulled(runtime, DEFAULT_EMBEDDING).await?;
    let spec = match &args.corpus {
        Some(c) => KbSpec {
            name: "bench".into(),
            sources: vec![c.display().to_string()],
            include: vec![],
            exclude: vec![],
            chunking: Chunking::default(),
            embedding: DEFAULT_EMBEDDING.into(),
        },
        None => rust_book_spec("bench")?,
    };
    // A scratch database, so the bench never touches the user's bases.
    let scratch = tempfile::tempdir()?;
    let mut paths = Paths::under(scratch.path());
    paths.model_dir = runtime.paths.model_dir.clone();
    let bench_runtime = Arc::new(Runtime::with_config(paths, Config::default())?);
    let kb = Knowledge::new(bench_runtime);
    eprintln!(
        "ingesting {} with {DEFAULT_EMBEDDING}…",
        spec.sources.join(", ")
    );
    kb.create(spec)?;
    let report = kb.sync("bench", &SyncOptions::default(), |_| {}).await?;
    println!(
        "ingestion: {} files, {} chunks in {:.1}s: {:.1} chunks/s (embedding {:.1} chunks/s, batch 32, {} threads)",
        report.files,
        report.chunks,
        report.seconds,
        report.chunks as f64 / report.seconds,
        report.chunks_per_s,
        rayon::current_num_threads()
    );
    if args.sentence_transformers {
        let texts: Vec<String> = kb
            .files("bench")?
            .iter()
            .flat_map(|f| {
                f.chunks
                    .iter()
                    .map(|c| embed_text(&c.heading, f.title.as_deref(), &c.text))
                    .collect::<Vec<_>>()
            })
            .collect();
        let jsonl = scratch.path().join("chunks.jsonl");
        let body: String = texts
            .iter()
            .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
            .collect();
        std::fs::write(&jsonl, body)?;
        let setup = std::process::Command::new("bash")
            .arg("benches/sentence_transformers/setup.sh")
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running benches/sentence_transformers/setup.sh (from the repository root)")?;
        if !setup.status.success() {
            bail!("benches/sentence_transformers/setup.sh failed");
        }
        let python = String::from_utf8_lossy(&setup.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        let out = std::process::Command::new(&python)
            .arg("benches/sentence_transformers/embed.py")
            .arg(&jsonl)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running embed.py")?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!("embed.py printed {}", String::from_utf8_lossy(&out.stdout))
        })?;
        let st = v["chunks_per_s"].as_f64().unwrap_or(0.0);
        println!(
            "sentence-transformers {} (torch {}): {} chunks in {:.1}s: {st:.1} chunks/s; Strata/ST embedding ratio {:.2}",
            v["sentence_transformers"], v["torch"], v["chunks"], v["seconds"].as_f64().unwrap_or(0.0),
            report.chunks_per_s / st.max(1e-9)
        );
    }
    Ok(())
}

/// Clustered unit vectors: points around `centers` random centres (text embeddings are
/// far from uniform), the same generator for base and queries.
fn clustered(n: usize, dims: usize, centers: &[Vec<f32>], rng: &mut StdRng) -> Vectors {
    let mut v = Vectors::with_capacity(dims, n);
    for _ in 0..n {
        let c = &centers[rng.gen_range(0..centers.len())];
        let row: Vec<f32> = c.iter().map(|x| x + rng.gen_range(-0.6f32..0.6)).collect();
        v.push(&normalized(row));
    }
    v
}

fn latency(n: usize, queries: usize, ann: bool) {
    let dims = 384;
    let mut rng = StdRng::seed_from_u64(7);
    let centers: Vec<Vec<f32>> = (0..(n / 100).clamp(10, 2000))
        .map(|_| (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect();
    let started = Instant::now();
    let base = clustered(n, dims, &centers, &mut rng);
    let qs = clustered(queries, dims, &centers, &mut rng);
    let gen_s = started.elapsed().as_secs_f64();
    let mut exact_ms = Vec::with_capacity(queries);
    let mut truth = Vec::with_capacity(queries);
    for q in 0..queries {
        let t = Instant::now();
        let hits = base.exact(qs.row(q), 10, None);
        exact_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        truth.push(hits.into_iter().map(|h| h.0).collect::<Vec<_>>());
    }
    exact_ms.sort_by(f64::total_cmp);
    println!(
        "{n:>8} chunks  exact:  p50 {:7.2} ms  p99 {:7.2} ms  (data {gen_s:.1}s)",
        percentile(&exact_ms, 0.5),
        percentile(&exact_ms, 0.99)
    );
    if !ann {
        return;
    }
    let t = Instant::now();
    let params = AnnParams::default();
    let index = base.build_ann(params);
    let build_s = t.elapsed().as_secs_f64();
    let mut ann_ms = Vec::with_capacity(queries);
    let mut found = 0usize;
    for (q, exact) in truth.iter().enumerate() {
        let t = Instant::now();
        let hits = index.search(qs.row(q), 10);
        ann_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        found += hits.iter().filter(|(i, _)| exact.contains(i)).count();
    }
    ann_ms.sort_by(f64::total_cmp);
    println!(
        "{n:>8} chunks  HNSW:   p50 {:7.2} ms  p99 {:7.2} ms  recall@10 {:.3}  (M {}, ef_construction {}, ef_search {}; built in {build_s:.0}s)",
        percentile(&ann_ms, 0.5),
        percentile(&ann_ms, 0.99),
        found as f64 / (queries * 10) as f64,
        params.m,
        params.ef_construction,
        params.ef_search
    );
}
