//! `strata bench turn`: what the orchestrator costs per turn, everything but model time.
//! Each turn is answered from the response cache (greedy, same request), so the model
//! takes no time; the same cached call made directly through the pipeline is the
//! baseline, and the difference is the orchestrator's own work: loading the session,
//! fitting the history with the model's tokenizer, rig's run state machine, storing the
//! question, the answer, the run and its step.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::orchestrator::{Orchestrator, Turn, TurnInput};
use crate::runtime::context::{CallContext, Caller};
use crate::runtime::invoke::InvokeRequest;
use crate::runtime::types::{ChatRequest, Message, Params, Role};
use crate::runtime::Runtime;
use crate::sessions::ChatMessage;

/// Options of `strata bench turn`.
#[derive(Debug, Clone, clap::Args)]
pub struct TurnBenchArgs {
    /// Local model id (default: the default model).
    #[arg(short, long)]
    pub model: Option<String>,
    /// Measured turns (p50 and p99 are reported).
    #[arg(long, default_value_t = 50)]
    pub turns: usize,
    /// Earlier messages in each session (sent as history, fitted with the tokenizer).
    #[arg(long, default_value_t = 40)]
    pub history: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct TurnFigures {
    history: usize,
    turns: usize,
    pipeline_p50_us: f64,
    turn_p50_us: f64,
    turn_p99_us: f64,
    overhead_p50_us: f64,
}

/// Runs the benchmark on a temporary data dir (models come from the usual cache).
pub async fn run(model_dir: &std::path::Path, args: &TurnBenchArgs) -> Result<i32> {
    let dir = tempfile::tempdir().context("cannot make a temporary data dir")?;
    let mut paths = crate::config::Paths::under(dir.path());
    paths.model_dir = model_dir.to_path_buf();
    let runtime = Arc::new(Runtime::with_config(
        paths,
        crate::config::Config::default(),
    )?);
    let model = runtime.chat_model(args.model.as_deref())?.id.clone();
    let orchestrator = Orchestrator::new(runtime.clone())?;
    let params = Params {
        temperature: Some(0.0),
        max_tokens: Some(24),
        ..Params::default()
    };
    let history: Vec<Message> = (0..args.history)
        .map(|i| match i % 2 {
            0 => Message::user(format!("Question {i}: what is {i} plus {i}?")),
            _ => Message::assistant(format!("{i} plus {i} is {}.", 2 * i)),
        })
        .collect();
    let question = "Name three colours.";
    let mut messages = history.clone();
    messages.push(Message::user(question));
    // The baseline sends what a turn sends: the history fitted to the context window.
    let spec = runtime.chat_model(Some(&model))?.clone();
    let baseline = crate::orchestrator::fit::fit(
        &runtime,
        &spec,
        ChatRequest {
            model: String::new(),
            system: None,
            messages,
            params: params.clone(),
            tools: Vec::new(),
            tool_choice: Default::default(),
        },
    )
    .await
    .request;
    let direct = || {
        let mut r = InvokeRequest::new(model.clone(), baseline.clone());
        r.use_cache = Some(true);
        r.context = CallContext::new(Caller::Bench);
        r
    };
    // Fill the cache (the one real model call).
    runtime
        .invoke(direct(), |_| {}, CancellationToken::new())
        .await?;

    let mut pipeline = Vec::new();
    let mut turns = Vec::new();
    for _ in 0..args.turns {
        let t = Instant::now();
        let r = runtime
            .invoke(direct(), |_| {}, CancellationToken::new())
            .await?;
        pipeline.push(t.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(r.cached, "the baseline call missed the response cache");

        let mut session = orchestrator.sessions.create(&model)?;
        session.agent.params = params.clone();
        for m in &history {
            orchestrator
                .sessions
                .put_message(&mut session, &ChatMessage::new(m.role, m.content.clone()))?;
        }
        let mut turn = Turn::new(session.id, TurnInput::Ask(question.into()), Caller::Bench);
        turn.use_cache = Some(true);
        turn.agent = Some(session.agent.clone());
        let t = Instant::now();
        let outcome = orchestrator.run_turn(turn, |_| {}).await?;
        turns.push(t.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(
            outcome.response.as_ref().is_some_and(|r| r.cached),
            "the turn missed the response cache (its request differs from the baseline's)"
        );
        anyhow::ensure!(outcome.answer.role == Role::Assistant);
    }
    pipeline.sort_by(f64::total_cmp);
    turns.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let figures = TurnFigures {
        history: args.history,
        turns: args.turns,
        pipeline_p50_us: pct(&pipeline, 0.5),
        turn_p50_us: pct(&turns, 0.5),
        turn_p99_us: pct(&turns, 0.99),
        overhead_p50_us: pct(&turns, 0.5) - pct(&pipeline, 0.5),
    };
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        println!(
            "{} turns, {} messages of history, model time excluded (cached answers)",
            figures.turns, figures.history
        );
        println!(
            "pipeline call alone    p50 {:>8.0} µs",
            figures.pipeline_p50_us
        );
        println!(
            "orchestrator turn      p50 {:>8.0} µs   p99 {:>8.0} µs",
            figures.turn_p50_us, figures.turn_p99_us
        );
        println!(
            "orchestrator overhead  p50 {:>8.0} µs",
            figures.overhead_p50_us
        );
    }
    Ok(0)
}
