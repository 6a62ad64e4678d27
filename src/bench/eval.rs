//! `strata bench eval`: evaluation jobs' throughput and the compare view's frame cost.
//! (1) Items per second of a job with deterministic metrics on the local model, and the
//! time per item spent outside the model call. (2) The scheduler's overhead per item,
//! against an instant OpenAI-compatible server on loopback (a few lines of SSE served
//! from this process), next to plain `Runtime::invoke` calls on the same server (the
//! named peer: the same HTTP calls without runs, sessions, scoring and storage).
//! (3) The compare view's frame cost (layout + draw) with two and with four streams,
//! timed by the TUI's frame bench that the caller hands in (bench never imports the TUI).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Paths, ProviderKind, ProviderProfile};
use crate::eval::spec::{EvalSpec, MetricEntry};
use crate::eval::store::JobKind;
use crate::eval::Evals;
use crate::orchestrator::Orchestrator;
use crate::runtime::catalog::{Capability, ModelSpec};
use crate::runtime::invoke::InvokeRequest;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::types::{ChatRequest, Message, Params};
use crate::runtime::Runtime;

/// Options of `strata bench eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalBenchArgs {
    /// Items of the local-model job.
    #[arg(long, default_value_t = 24)]
    pub items: usize,
    /// Answer length cap of the local-model job.
    #[arg(long, default_value_t = 16)]
    pub max_tokens: u32,
    /// Items of each instant-server job.
    #[arg(long, default_value_t = 400)]
    pub instant_items: usize,
    /// Frames of the compare view timed per case.
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Skip the local-model job (no model download needed).
    #[arg(long)]
    pub no_local: bool,
    #[arg(long)]
    pub json: bool,
}

/// The measured figures.
#[derive(Debug, Default, Serialize)]
pub struct EvalFigures {
    pub local_items: usize,
    pub local_items_per_s: f64,
    /// Mean model time per item (the calls' latency).
    pub local_model_ms_per_item: f64,
    /// Wall time per item minus model time: runs, sessions, scoring, storage.
    pub local_overhead_ms_per_item: f64,
    pub instant_items: usize,
    /// Plain `Runtime::invoke` calls, one at a time (the peer).
    pub invoke_ms_per_call: f64,
    /// The job runner, concurrency 1: wall time per item.
    pub runner_ms_per_item_c1: f64,
    /// The runner's overhead per item over a plain call (concurrency 1).
    pub scheduler_overhead_ms_per_item: f64,
    pub runner_items_per_s_c8: f64,
    pub compare_frame_p50_us_2: f64,
    pub compare_frame_p99_us_2: f64,
    pub compare_frame_p50_us_4: f64,
    pub compare_frame_p99_us_4: f64,
}

/// Runs the benchmark and prints the figures. `compare_frames(columns, frames)` times
/// that many frames of the compare view with that many streams, in µs per frame (the
/// CLI passes `tui::bench::compare_frame_times`).
pub async fn run(
    runtime: Arc<Runtime>,
    args: &EvalBenchArgs,
    compare_frames: impl Fn(usize, usize) -> Result<Vec<f64>>,
) -> Result<i32> {
    let mut figures = EvalFigures::default();
    if !args.no_local {
        local(&runtime, args, &mut figures).await?;
    }
    instant(&runtime, args, &mut figures).await?;
    frames(args, &mut figures, compare_frames)?;
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        print(&figures, args);
    }
    Ok(0)
}

/// A runtime on a scratch database (the user's is never touched), models from the
/// user's cache, with `config`.
fn scratch(runtime: &Runtime, config: Config) -> Result<(tempfile::TempDir, Arc<Runtime>)> {
    let dir = tempfile::tempdir()?;
    let mut paths = Paths::under(dir.path());
    paths.model_dir = runtime.paths.model_dir.clone();
    let rt = Arc::new(Runtime::with_config(paths, config)?);
    Ok((dir, rt))
}

fn spec(
    dir: &std::path::Path,
    models: Vec<String>,
    items: usize,
    max_tokens: u32,
) -> Result<EvalSpec> {
    let dataset = dir.join("bench.jsonl");
    let lines: String = (0..items)
        .map(|i| {
            format!(
                "{{\"prompt\": \"What is {i} plus {i}? Answer with a number.\", \"reference\": \"{}\", \"tags\": [\"math\"]}}\n",
                i * 2
            )
        })
        .collect();
    std::fs::write(&dataset, lines)?;
    Ok(EvalSpec {
        name: "bench".into(),
        dataset,
        models,
        template: None,
        system: None,
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
        top_p: None,
        seed: None,
        concurrency: Some(1),
        guardrail: None,
        cache: false,
        judge: None,
        embedding_model: None,
        metrics: [
            "exact_match",
            "contains",
            "token_f1",
            "rouge_l",
            "bleu",
            "latency",
        ]
        .iter()
        .map(|m| MetricEntry::Name(m.to_string()))
        .collect(),
    })
}

/// Runs a job; returns (wall seconds, mean model ms per item).
async fn job(rt: &Arc<Runtime>, spec: EvalSpec) -> Result<(f64, f64)> {
    let evals = Evals::new(Orchestrator::new(rt.clone())?);
    let prepared = evals.prepare(JobKind::Eval, spec, true)?;
    let started = Instant::now();
    let job = evals
        .run(prepared, CancellationToken::new(), |_| {})
        .await?;
    let wall = started.elapsed().as_secs_f64();
    let results = evals.jobs.results(job.id)?;
    anyhow::ensure!(
        results.iter().all(|r| !r.failed()),
        "bench items failed: {:?}",
        results.iter().find_map(|r| r.error.clone())
    );
    let model_ms = results.iter().map(|r| r.latency_ms).sum::<f64>() / results.len().max(1) as f64;
    Ok((wall, model_ms))
}

async fn local(runtime: &Runtime, args: &EvalBenchArgs, f: &mut EvalFigures) -> Result<()> {
    let (dir, rt) = scratch(runtime, Config::default())?;
    let model = rt.default_model()?.id.clone();
    ensure_pulled(&rt, &model).await?;
    // Load the model first: its load time is not the runner's.
    rt.invoke(
        plain_call(&model, "Hello"),
        |_| {},
        CancellationToken::new(),
    )
    .await?;
    eprintln!("local job: {} items on {model}…", args.items);
    let spec = spec(dir.path(), vec![model], args.items, args.max_tokens)?;
    let (wall, model_ms) = job(&rt, spec).await?;
    f.local_items = args.items;
    f.local_items_per_s = args.items as f64 / wall;
    f.local_model_ms_per_item = model_ms;
    f.local_overhead_ms_per_item = wall * 1000.0 / args.items as f64 - model_ms;
    Ok(())
}

async fn instant(runtime: &Runtime, args: &EvalBenchArgs, f: &mut EvalFigures) -> Result<()> {
    let url = serve_instant().await?;
    let mut config = Config {
        max_retries: Some(0),
        ..Config::default()
    };
    config.providers.insert(
        "instant".into(),
        ProviderProfile {
            kind: ProviderKind::Openai,
            base_url: Some(url),
            api_key_env: None,
            api_key_file: None,
            timeout_secs: Some(30),
        },
    );
    config.models.push(ModelSpec {
        id: "instant/m".into(),
        name: String::new(),
        provider: "instant".into(),
        family: None,
        context_window: 4096,
        input_price: 1.0,
        output_price: 1.0,
        capabilities: vec![Capability::Chat],
        default: false,
        remote_name: Some("m".into()),
        files: vec![],
    });
    let (dir, rt) = scratch(runtime, config)?;
    let n = args.instant_items;
    eprintln!("instant server: {n} plain calls, then jobs of {n} items…");
    // The peer: the same calls through the runtime alone.
    let started = Instant::now();
    for i in 0..n {
        let request = plain_call("instant/m", &format!("What is {i} plus {i}?"));
        rt.invoke(request, |_| {}, CancellationToken::new()).await?;
    }
    f.invoke_ms_per_call = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let (wall, _) = job(&rt, spec(dir.path(), vec!["instant/m".into()], n, 16)?).await?;
    f.instant_items = n;
    f.runner_ms_per_item_c1 = wall * 1000.0 / n as f64;
    f.scheduler_overhead_ms_per_item = f.runner_ms_per_item_c1 - f.invoke_ms_per_call;
    let mut wide = spec(dir.path(), vec!["instant/m".into()], n, 16)?;
    wide.concurrency = Some(8);
    let (wall, _) = job(&rt, wide).await?;
    f.runner_items_per_s_c8 = n as f64 / wall;
    Ok(())
}

/// One greedy call of `model`, straight through the runtime.
fn plain_call(model: &str, question: &str) -> InvokeRequest {
    InvokeRequest {
        model: model.into(),
        chat: ChatRequest {
            model: String::new(),
            system: None,
            messages: vec![Message::user(question)],
            params: Params {
                temperature: Some(0.0),
                max_tokens: Some(16),
                ..Params::default()
            },
            tools: vec![],
            tool_choice: Default::default(),
        },
        use_cache: Some(false),
        context: Default::default(),
    }
}

/// An OpenAI-compatible server on loopback that answers every chat call at once with a
/// fixed short stream (keep-alive, so the client reuses its connection).
async fn serve_instant() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let body = format!(
        "{}{}data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}}}\n\ndata: [DONE]\n\n",
        chunk("{\"content\":\"4\"}", "null"),
        chunk("{}", "\"stop\"")
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    // One request: headers, then a body of content-length bytes.
                    let Some(end) = find(&buf, b"\r\n\r\n") else {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + 4 + length);
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(format!("http://{addr}/v1"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn frames(
    args: &EvalBenchArgs,
    f: &mut EvalFigures,
    compare_frames: impl Fn(usize, usize) -> Result<Vec<f64>>,
) -> Result<()> {
    let two = compare_frames(2, args.frames)?;
    let four = compare_frames(4, args.frames)?;
    let p = |v: &[f64], q: f64| crate::eval::stats::percentile(v, q).unwrap_or(0.0);
    f.compare_frame_p50_us_2 = p(&two, 50.0);
    f.compare_frame_p99_us_2 = p(&two, 99.0);
    f.compare_frame_p50_us_4 = p(&four, 50.0);
    f.compare_frame_p99_us_4 = p(&four, 99.0);
    Ok(())
}

fn print(f: &EvalFigures, args: &EvalBenchArgs) {
    if !args.no_local {
        println!(
            "local job ({} items, deterministic metrics, concurrency 1): {:.2} items/s; model {:.0} ms/item, everything else {:.1} ms/item",
            f.local_items, f.local_items_per_s, f.local_model_ms_per_item, f.local_overhead_ms_per_item
        );
    }
    println!(
        "instant server ({} items): plain invoke {:.2} ms/call; runner {:.2} ms/item at concurrency 1 (overhead {:.2} ms/item); {:.0} items/s at concurrency 8",
        f.instant_items,
        f.invoke_ms_per_call,
        f.runner_ms_per_item_c1,
        f.scheduler_overhead_ms_per_item,
        f.runner_items_per_s_c8
    );
    println!(
        "compare view frame (layout + draw, 160x48, {} frames): 2 streams p50 {:.0} µs p99 {:.0} µs; 4 streams p50 {:.0} µs p99 {:.0} µs",
        args.frames,
        f.compare_frame_p50_us_2,
        f.compare_frame_p99_us_2,
        f.compare_frame_p50_us_4,
        f.compare_frame_p99_us_4
    );
}
