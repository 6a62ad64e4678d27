//! `strata bench local`: load time, prompt-processing and generation tokens/s, time to first
//! token and peak memory of a local model on Strata's engine and on kalosm (each in a
//! process of its own, so peak memory is its own), optionally beside llama.cpp on the same
//! GGUF. `kernels` holds `strata bench kernels` (each kernel's GB/s and GOPS against the
//! machine's memory bandwidth).
//! `turn` holds `strata bench turn` (the orchestrator's cost per turn), `agent` `strata
//! bench agent` (its cost per agent step).

pub mod agent;
pub mod eval;
pub mod guardrail;
pub mod kb;
pub mod kernels;
pub mod store;
pub mod turn;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::runtime::provider::Provider;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::types::{ChatRequest, Message, Params, StreamEvent};
use crate::runtime::Runtime;
use crate::telemetry::process::peak_rss_mb;

/// Options of `strata bench local`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Local model id (default: the default model).
    #[arg(short, long)]
    pub model: Option<String>,
    /// Tokens to generate per run.
    #[arg(long, default_value_t = 128)]
    pub tokens: u32,
    /// Measured runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Also run llama.cpp (llama-cpp-python) with this Python on the same GGUF.
    #[arg(long, value_name = "PYTHON")]
    pub llama_cpp: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Which engines to measure: `strata`, `kalosm`, or `both` (each in its own process).
    #[arg(long, default_value = "both")]
    pub engine: String,
}

/// Figures of one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub engine: String,
    pub load_ms: f64,
    /// Time to first token of a short chat prompt.
    pub ttft_ms: f64,
    /// Of the first token: tokenizing the prompt and running it through the model (the
    /// engine's own figures; absent for the others).
    #[serde(default)]
    pub tokenize_ms: Option<f64>,
    #[serde(default)]
    pub prefill_ms: Option<f64>,
    /// Prompt tokens/s on a 512-token prompt (pp512; the engine's own figure).
    #[serde(default)]
    pub pp512_tokens_per_s: Option<f64>,
    pub prompt_tokens_per_s: f64,
    pub gen_tokens_per_s: f64,
    pub peak_rss_mb: f64,
}

const SHORT_PROMPT: &str =
    "Write a short story about a lighthouse keeper who finds a message in a bottle.";

fn long_prompt() -> String {
    let paragraph = "Rust is a systems programming language that runs fast, prevents segfaults and guarantees thread safety. Ownership, borrowing and lifetimes let the compiler check memory safety without a garbage collector. ";
    format!(
        "Summarize the following text in one sentence.\n\n{}",
        paragraph.repeat(12)
    )
}

/// Runs the benchmark and prints the figures.
pub async fn run_local(runtime: &Runtime, args: &BenchArgs) -> Result<i32> {
    let spec = runtime.chat_model(args.model.as_deref())?.clone();
    if !spec.is_local() {
        bail!(
            "{} is not a local model; `strata bench local` measures in-process models",
            spec.id
        );
    }
    ensure_pulled(runtime, &spec.id).await?;
    let mut all = match args.engine.as_str() {
        // One engine, in this process (what the parent runs in a child).
        "strata" | "kalosm" => vec![measure_strata(runtime, &spec.id, args).await?],
        "both" => {
            let mut all = Vec::new();
            for engine in ["strata", "kalosm"] {
                all.extend(measure_in_child(engine, &spec.id, args).await?);
            }
            all
        }
        other => bail!("--engine {other:?}: use strata, kalosm or both"),
    };
    if let Some(python) = &args.llama_cpp {
        let gguf = spec
            .files
            .iter()
            .find(|f| f.name.ends_with(".gguf"))
            .map(|f| spec.dir(&runtime.paths.model_dir).join(&f.name))
            .context("the model has no GGUF file")?;
        all.push(measure_llama_cpp(python, &gguf, args).await?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(0);
    }
    println!(
        "model {}  ({} runs, {} generated tokens, median)",
        spec.id, args.runs, args.tokens
    );
    println!(
        "{:<12} {:>10} {:>10} {:>14} {:>12} {:>10}",
        "engine", "load ms", "ttft ms", "prompt tok/s", "gen tok/s", "peak MB"
    );
    for f in &all {
        println!(
            "{:<12} {:>10.0} {:>10.1} {:>14.1} {:>12.1} {:>10.0}",
            f.engine,
            f.load_ms,
            f.ttft_ms,
            f.prompt_tokens_per_s,
            f.gen_tokens_per_s,
            f.peak_rss_mb
        );
    }
    for f in &all {
        if let (Some(t), Some(p), Some(pp)) = (f.tokenize_ms, f.prefill_ms, f.pp512_tokens_per_s) {
            println!(
                "{}: first token = tokenize {t:.2} ms + prefill {p:.1} ms + the first decode; pp512 {pp:.1} tok/s",
                f.engine
            );
        }
    }
    let by = |name: &str| all.iter().find(|f| f.engine == name);
    if let Some(s) = by("strata") {
        for other in ["kalosm", "llama.cpp"] {
            if let Some(o) = by(other) {
                println!(
                    "strata / {other}: generation {:.2}x, prompt {:.2}x, first token {:.2}x the time, peak memory {:.2}x",
                    s.gen_tokens_per_s / o.gen_tokens_per_s,
                    s.prompt_tokens_per_s / o.prompt_tokens_per_s,
                    s.ttft_ms / o.ttft_ms,
                    s.peak_rss_mb / o.peak_rss_mb
                );
            }
        }
    }
    Ok(0)
}

struct Run {
    ttft_ms: f64,
    total_ms: f64,
    input_tokens: u32,
    output_tokens: u32,
}

async fn one_run(
    provider: &dyn Provider,
    model: &str,
    prompt: &str,
    max_tokens: u32,
) -> Result<Run> {
    let request = ChatRequest {
        model: model.to_string(),
        system: None,
        messages: vec![Message::user(prompt)],
        params: Params {
            temperature: Some(0.0),
            max_tokens: Some(max_tokens),
            ..Params::default()
        },
        tools: Vec::new(),
        tool_choice: Default::default(),
    };
    let start = Instant::now();
    let mut stream = provider.chat_stream(request).await?;
    let mut first = None;
    let mut usage = None;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta { .. } => {
                first.get_or_insert_with(|| start.elapsed());
            }
            StreamEvent::Usage(u) => usage = Some(u),
            _ => {}
        }
    }
    let total = start.elapsed();
    let usage = usage.unwrap_or_default();
    Ok(Run {
        ttft_ms: first.unwrap_or(total).as_secs_f64() * 1000.0,
        total_ms: total.as_secs_f64() * 1000.0,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    })
}

/// Runs `strata bench local --engine ENGINE --json` in a child process (its own peak
/// memory) and reads its figures.
async fn measure_in_child(engine: &str, id: &str, args: &BenchArgs) -> Result<Vec<Figures>> {
    let exe = std::env::current_exe().context("cannot find the strata executable")?;
    // Its own data dir: this process holds the database (models come from the same cache).
    let data = tempfile::tempdir().context("cannot make a temporary data dir")?;
    let output = tokio::process::Command::new(exe)
        .env(crate::config::DATA_DIR_ENV, data.path())
        .args([
            "bench", "local", "--json", "--engine", engine, "--model", id,
        ])
        .arg("--tokens")
        .arg(args.tokens.to_string())
        .arg("--runs")
        .arg(args.runs.to_string())
        .env("STRATA_LOCAL_ENGINE", engine)
        .output()
        .await
        .context("cannot run the benchmark's child process")?;
    if !output.status.success() {
        bail!(
            "the {engine} benchmark failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "unexpected output of the {engine} benchmark: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

async fn measure_strata(runtime: &Runtime, id: &str, args: &BenchArgs) -> Result<Figures> {
    let spec = runtime.catalog.get(id)?;
    let name = spec.remote_name().to_string();
    let start = Instant::now();
    let loaded = runtime.local().chat_model(&name).await?;
    let load_ms = start.elapsed().as_secs_f64() * 1000.0;
    let (tokenize_ms, prefill_ms, pp512) = match &loaded.backend {
        crate::runtime::providers::local::Backend::Engine(chat) => {
            let engine = chat.engine.clone();
            let (t, p, pp) =
                tokio::task::spawn_blocking(move || engine_prompt_figures(&engine)).await??;
            (Some(t), Some(p), Some(pp))
        }
        crate::runtime::providers::local::Backend::Kalosm(_) => (None, None, None),
    };
    let provider: &dyn Provider = runtime.local().as_ref();
    // Warm-up, then measured runs.
    one_run(provider, &name, SHORT_PROMPT, 4).await?;
    let long = long_prompt();
    let mut ttft = Vec::new();
    let mut gen = Vec::new();
    let mut pp = Vec::new();
    for _ in 0..args.runs.max(1) {
        let r = one_run(provider, &name, SHORT_PROMPT, args.tokens).await?;
        ttft.push(r.ttft_ms);
        if r.output_tokens > 1 {
            gen.push((r.output_tokens - 1) as f64 / ((r.total_ms - r.ttft_ms) / 1000.0));
        }
        let p = one_run(provider, &name, &long, 1).await?;
        pp.push(p.input_tokens as f64 / (p.ttft_ms / 1000.0));
    }
    Ok(Figures {
        engine: loaded.engine_name().into(),
        tokenize_ms,
        prefill_ms,
        pp512_tokens_per_s: pp512,
        load_ms,
        ttft_ms: median(&mut ttft),
        prompt_tokens_per_s: median(&mut pp),
        gen_tokens_per_s: median(&mut gen),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// The engine's own split of the first token (tokenize and prefill of the short chat
/// prompt, median of 5) and its pp512 (a 512-token prompt, median of 3).
fn engine_prompt_figures(engine: &crate::engine::Engine) -> Result<(f64, f64, f64)> {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let (mut tok, mut pre) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let ids = engine.encode(SHORT_PROMPT).map_err(anyhow::Error::msg)?;
        tok.push(ms(start.elapsed()));
        let mut session = engine.model.new_session();
        let start = Instant::now();
        engine.model.forward(&mut session, &ids);
        pre.push(ms(start.elapsed()));
    }
    let mut ids = engine
        .encode(&long_prompt().repeat(3))
        .map_err(anyhow::Error::msg)?;
    ids.truncate(512);
    let mut pp = Vec::new();
    for _ in 0..3 {
        let mut session = engine.model.new_session();
        let start = Instant::now();
        engine.model.forward(&mut session, &ids);
        pp.push(ids.len() as f64 / start.elapsed().as_secs_f64());
    }
    Ok((median(&mut tok), median(&mut pre), median(&mut pp)))
}

/// Runs `benches/llama_cpp_bench.py` (shipped in the binary) with the given Python.
async fn measure_llama_cpp(
    python: &std::path::Path,
    gguf: &std::path::Path,
    args: &BenchArgs,
) -> Result<Figures> {
    let script = include_str!("../benches/llama_cpp_bench.py");
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(gguf)
        .arg(args.tokens.to_string())
        .arg(args.runs.max(1).to_string())
        .arg(SHORT_PROMPT)
        .arg(long_prompt())
        .output()
        .await
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "the llama.cpp benchmark failed (is llama-cpp-python installed for {}?):\n{}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("unexpected llama.cpp benchmark output: {line}"))
}

/// The median of `v` (the upper middle one of an even count; 0 for none), sorting it.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(v, 0.5)
}

/// The `p` quantile (0 to 1) of sorted values by nearest rank; 0 for none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
