//! The command line: clap definitions and dispatch to the subcommands. Every subcommand is
//! a thin client of the library API (the TUI is the other client).

mod agent;
mod eval;
mod guardrail;
mod invoke;
mod kb;
mod keys;
mod models;
mod sessions;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::config::Paths;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::Runtime;
use crate::tui::theme::ColorDepth;
use crate::tui::TuiOptions;

/// Strata: a terminal workbench for foundation models.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/strata/config.toml; env STRATA_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default: $XDG_DATA_HOME/strata; env STRATA_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Ask once without the full screen (reads stdin when piped).
    #[arg(short = 'p', long = "prompt", value_name = "QUESTION")]
    pub prompt: Option<String>,
    /// With -p: which session the answer goes to.
    #[command(flatten)]
    pub target: SessionTarget,
    /// With -p: the guardrail (NAME, NAME@VERSION or NAME@draft) on this call.
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub guardrail: Option<String>,
    /// Colour depth: truecolor, 256, 16 or none (default: detected; NO_COLOR is honoured).
    #[arg(long, global = true, value_name = "DEPTH", value_parser = parse_color)]
    pub color: Option<ColorDepth>,
    /// Theme: dark, light, high-contrast, sixteen, or one of yours.
    #[arg(long, global = true)]
    pub theme: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

fn parse_color(s: &str) -> Result<ColorDepth, String> {
    ColorDepth::parse(s)
        .ok_or_else(|| format!("`{s}` is not a colour depth; use truecolor, 256, 16 or none"))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the full-screen chat (the default with no arguments).
    Chat {
        /// Start a new session on this model.
        #[arg(short, long)]
        model: Option<String>,
    },
    /// List, inspect and download models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Call a model and stream its answer to stdout.
    Invoke(InvokeArgs),
    /// List, show, export and delete chat sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Guardrails: create from a policy file, version, diff, export, apply to a text.
    #[command(subcommand)]
    Guardrail(guardrail::GuardrailCommand),
    /// Knowledge bases: create from folders, files and URLs, sync, query, ask with citations.
    #[command(subcommand)]
    Kb(kb::KbCommand),
    /// Evaluation jobs: run a TOML job file, list, show, export and compare jobs.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Batch inference: run a JSONL file of prompts through a model.
    #[command(subcommand)]
    Batch(eval::BatchCommand),
    /// Agents: list and show agent files, run one on a task (with its tools), runs, traces.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Set up the data dir; `--encrypt` encrypts it at rest (and what it holds already).
    Init(keys::InitArgs),
    /// The data dir's encryption keys: status, rotate the data key, change the key that
    /// wraps it.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Measure performance.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the catalog (built-in models plus those in your config).
    List {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show one model.
    Get {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Download a local model's files into the model cache.
    Pull {
        id: String,
        /// Use this file (or a directory holding the model's files) before other sources.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
    },
}

/// Which session a one-shot question goes to (`invoke` and `-p`): a new one by default.
#[derive(Debug, Args, Clone, Default)]
pub struct SessionTarget {
    /// Continue the most recent session (its history is sent).
    #[arg(short = 'c', long = "continue")]
    pub continue_last: bool,
    /// Continue this session (id, or a unique start or end of it).
    #[arg(long, value_name = "ID", conflicts_with = "continue_last")]
    pub session: Option<String>,
    /// Keep this call out of history: no session, one plain pipeline call.
    #[arg(long, conflicts_with_all = ["continue_last", "session"])]
    pub ephemeral: bool,
}

impl SessionTarget {
    fn is_set(&self) -> bool {
        self.continue_last || self.session.is_some() || self.ephemeral
    }
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// All sessions, most recent first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A session's messages (model, tokens, cost, latency, status, record id) and runs.
    Show {
        /// Session id (or a unique start or end of it).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// A session as Markdown or JSON.
    Export {
        id: String,
        /// md or json.
        #[arg(long, default_value = "md")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete a session, its messages and its runs.
    Delete { id: String },
    /// Delete the hidden sessions comparisons made (`compare`), or a job's (`eval:ID`,
    /// `batch:ID`; `eval delete` also removes its results).
    Prune {
        /// What made them: `compare`, `eval:ID`, `batch:ID`.
        #[arg(long, value_name = "ORIGIN")]
        origin: String,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct InvokeArgs {
    /// Model id (default: the configured default, else local/smollm2-135m).
    #[arg(short, long)]
    pub model: Option<String>,
    /// System prompt.
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature; 0 is greedy and deterministic.
    #[arg(long)]
    pub temperature: Option<f32>,
    #[arg(long)]
    pub top_p: Option<f32>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repetition penalty for local models (default 1.1 when sampling, off when greedy).
    #[arg(long)]
    pub repeat_penalty: Option<f32>,
    /// Stop sequence (repeatable).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// A Converse-style message list (JSON); PROMPT, if given, is added as the last user turn.
    #[arg(long, value_name = "FILE")]
    pub messages: Option<PathBuf>,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    pub json: bool,
    /// Answer identical deterministic requests from the response cache.
    #[arg(long)]
    pub cache: bool,
    #[command(flatten)]
    pub target: SessionTarget,
    /// Guardrail (NAME, NAME@VERSION or NAME@draft) on this call; a new session keeps it.
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub guardrail: Option<String>,
    /// The prompt; `-` or nothing with piped stdin reads stdin.
    pub prompt: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Local generation: load time, prompt and generation tokens/s, first token, memory.
    Local(crate::bench::BenchArgs),
    /// The TUI: frame time with a big session, bytes per streamed token, first frame.
    Tui(crate::tui::bench::TuiBenchArgs),
    /// The orchestrator's cost per turn, model time excluded.
    Turn(crate::bench::turn::TurnBenchArgs),
    /// The orchestrator's cost per agent step (model and tool time excluded) at 10 and
    /// 100 steps per run, steps per second, the size of a step's checkpoint.
    Agent(crate::bench::agent::AgentBenchArgs),
    /// What encryption at rest costs: put, get and list per record in clear and encrypted,
    /// and the data-key rotation's pace.
    Store(crate::bench::store::StoreBenchArgs),
    /// ApplyGuardrail per KB (deterministic and model-based policies), the streaming
    /// check's throughput, and PII precision/recall (optionally against Presidio).
    Guardrail(crate::bench::guardrail::GuardrailBenchArgs),
    /// Knowledge bases: ingestion chunks/s (optionally against sentence-transformers),
    /// query latency p50/p99 exact vs HNSW at 10k–1M chunks, HNSW recall@10.
    Kb(crate::bench::kb::KbBenchArgs),
    /// Evaluation jobs: items/s on the local model, the scheduler's overhead per item
    /// (against plain calls), the compare view's frame cost with 2 and 4 streams.
    Eval(crate::bench::eval::EvalBenchArgs),
    /// The CPU engine's kernels: GB/s and GOPS of each weight format's mat-vec per
    /// instruction set, against the machine's measured memory bandwidth.
    Kernels(crate::bench::kernels::KernelBenchArgs),
}

/// Parses arguments and runs the command; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let paths = Paths::resolve(cli.config.as_deref(), cli.data_dir.as_deref());
    let _log = init_logging(&paths);
    let tui = |model: Option<String>| TuiOptions {
        model,
        color: cli.color,
        theme: cli.theme.clone(),
    };
    match cli.command {
        Some(Command::Chat { model }) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            crate::tui::run(runtime, tui(model)).await?;
            // The terminal is restored by now: a last write that cannot finish is reported.
            settle(&store);
            Ok(0)
        }
        None if cli.prompt.is_none() && std::io::stdin().is_terminal() && cli.target.is_set() => {
            anyhow::bail!(
                "-c, --session and --ephemeral go with -p QUESTION (or a question piped on stdin); \
                 the full-screen chat resumes your last session by itself"
            )
        }
        None if cli.prompt.is_none()
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal() =>
        {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            ensure_pulled(&runtime, &runtime.default_model()?.id.clone()).await?;
            let store = runtime.store.clone();
            crate::tui::run(runtime, tui(None)).await?;
            settle(&store);
            Ok(0)
        }
        Some(Command::Models(cmd)) => {
            let runtime = Runtime::open(paths)?;
            models::run(&runtime, cmd).await
        }
        Some(Command::Invoke(args)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            let code = invoke::run(runtime, args).await;
            settle(&store);
            code
        }
        Some(Command::Guardrail(cmd)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let guardrails = crate::guardrails::Guardrails::new(runtime.clone());
            let code = guardrail::run(&guardrails, cmd).await;
            settle(&runtime.store);
            code
        }
        Some(Command::Agent(cmd)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths.clone())?);
            let store = runtime.store.clone();
            let code = agent::run(paths, runtime, cmd).await;
            settle(&store);
            code
        }
        Some(Command::Kb(cmd)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            let code = kb::run(runtime, cmd).await;
            settle(&store);
            code
        }
        Some(Command::Eval(cmd)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            let code = eval::run(runtime, cmd).await;
            settle(&store);
            code
        }
        Some(Command::Batch(cmd)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            let code = eval::batch(runtime, cmd).await;
            settle(&store);
            code
        }
        Some(Command::Sessions(cmd)) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            let orchestrator = crate::orchestrator::Orchestrator::new(runtime)?;
            let code = sessions::run(&orchestrator, cmd);
            settle(&store);
            code
        }
        Some(Command::Init(args)) => keys::init(&paths, args).await,
        Some(Command::Keys(cmd)) => keys::run(&paths, cmd).await,
        Some(Command::Bench(BenchCommand::Tui(args))) => crate::tui::bench::run(&args),
        Some(Command::Bench(BenchCommand::Turn(args))) => {
            crate::bench::turn::run(&paths.model_dir, &args).await
        }
        Some(Command::Bench(BenchCommand::Agent(args))) => crate::bench::agent::run(&args).await,
        Some(Command::Bench(BenchCommand::Kernels(args))) => {
            tokio::task::spawn_blocking(move || crate::bench::kernels::run(&args)).await?
        }
        Some(Command::Bench(BenchCommand::Store(args))) => {
            tokio::task::spawn_blocking(move || crate::bench::store::run(&args)).await?
        }
        Some(Command::Bench(BenchCommand::Guardrail(args))) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            crate::bench::guardrail::run(runtime, &args).await
        }
        Some(Command::Bench(BenchCommand::Kb(args))) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            crate::bench::kb::run(runtime, &args).await
        }
        Some(Command::Bench(BenchCommand::Eval(args))) => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            crate::bench::eval::run(runtime, &args, crate::tui::bench::compare_frame_times).await
        }
        Some(Command::Bench(BenchCommand::Local(args))) => {
            let runtime = Runtime::open(paths)?;
            crate::bench::run_local(&runtime, &args).await
        }
        None => {
            let runtime = std::sync::Arc::new(Runtime::open(paths)?);
            let store = runtime.store.clone();
            let args = InvokeArgs {
                prompt: cli.prompt,
                target: cli.target,
                guardrail: cli.guardrail,
                ..InvokeArgs::default()
            };
            let code = invoke::run(runtime, args).await;
            settle(&store);
            code
        }
    }
}

/// Logs go to a file under the state dir, never to the terminal.
fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    std::fs::create_dir_all(&paths.state_dir).ok()?;
    let appender = tracing_appender::rolling::never(&paths.state_dir, "strata.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_openai=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// A token cancelled when the user presses Ctrl-C (the command then stops cleanly).
/// How long the last flush of a command may take (`STRATA_FLUSH_TIMEOUT_SECS`; default 30).
fn flush_limit() -> std::time::Duration {
    let secs = std::env::var("STRATA_FLUSH_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    std::time::Duration::from_secs(secs)
}

/// Writes what the command stored to disk before the process ends. When that fails (for
/// want of room sled 0.34 would then hang for ever, in this flush or in its drop), the
/// error is printed and the process ends at once; what was written before is intact.
pub(crate) fn settle(store: &crate::store::Store) {
    if let Err(e) = store.flush_within(flush_limit()) {
        eprintln!(
            "error: {}",
            crate::store::StoreError::full_or(store.path(), e)
        );
        std::process::exit(1);
    }
}

/// A token cancelled when the user presses Ctrl-C (the command then stops cleanly).
pub(crate) fn cancel_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    cancel
}
