//! `strata bench agent`: the orchestrator's cost per agent step, model and tool time
//! excluded. An in-process model answers instantly (a calculator call until the run has
//! taken its steps, then a one-line answer) and the calculator is the tool, so what is
//! timed is the orchestrator's own work per step: rig's state machine, fitting the growing
//! history, the invoke pipeline's bookkeeping, storing each step and its checkpoint (rig's
//! whole run state, which grows with the run). Runs of 10 and 100 steps show how that cost
//! grows with the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;

use crate::config::{Config, ProviderKind, ProviderProfile};
use crate::orchestrator::{Orchestrator, ToolAccess, Turn, TurnInput};
use crate::runtime::catalog::{Capability, ModelSpec};
use crate::runtime::context::Caller;
use crate::runtime::provider::{EventStream, Provider, ProviderError};
use crate::runtime::types::{
    ChatRequest, EmbedRequest, EmbedResponse, Params, Role, StopReason, StreamEvent, Usage,
};
use crate::runtime::Runtime;
use crate::sessions::AgentConfig;
use crate::tools::{Binding, Tool, Toolset};

/// Options of `strata bench agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentBenchArgs {
    /// Steps per run to measure (each a model call or a tool call).
    #[arg(long, value_delimiter = ',', default_values_t = [10u32, 100])]
    pub steps: Vec<u32>,
    /// Runs per size (the median run is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct StepFigures {
    steps_per_run: u32,
    runs: usize,
    run_ms_p50: f64,
    per_step_us: f64,
    steps_per_s: f64,
    /// The last step's checkpoint (rig's state and the driver's), serialized.
    last_checkpoint_bytes: usize,
}

/// A model that answers at once: calls `calculator` until the run has `calls` tool
/// results after the question, then answers.
struct InstantModel {
    calls: u32,
    served: AtomicU64,
}

#[async_trait]
impl Provider for InstantModel {
    fn name(&self) -> &str {
        "bench"
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        self.served.fetch_add(1, Ordering::Relaxed);
        let done = request
            .messages
            .iter()
            .rev()
            .take_while(|m| m.role != Role::User)
            .filter(|m| m.role == Role::Tool)
            .count() as u32;
        let mut events = Vec::new();
        let reason = if done < self.calls {
            events.push(StreamEvent::ToolCallDelta {
                index: 0,
                id: Some(format!("call_{done}")),
                name: Some("calculator".into()),
                arguments: format!(r#"{{"expression": "{done} + 1"}}"#),
            });
            StopReason::ToolUse
        } else {
            events.push(StreamEvent::TextDelta {
                text: format!("Done after {done} calls."),
            });
            StopReason::EndTurn
        };
        events.push(StreamEvent::Usage(Usage {
            input_tokens: 10,
            output_tokens: 5,
        }));
        events.push(StreamEvent::Stop { reason });
        Ok(futures::stream::iter(events.into_iter().map(Ok)).boxed())
    }

    async fn embed(&self, _request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::new(
            crate::runtime::provider::ErrorKind::Client,
            "the bench model does not embed",
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        Ok(vec!["instant".into()])
    }
}

/// Runs the benchmark on a temporary data dir.
pub async fn run(args: &AgentBenchArgs) -> Result<i32> {
    let mut figures = Vec::new();
    for &steps in &args.steps {
        figures.push(measure(steps.max(2), args.runs.max(1)).await?);
    }
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
        return Ok(0);
    }
    println!("agent steps, model and tool time excluded (instant model, calculator tool)");
    for f in &figures {
        println!(
            "{:>4} steps/run  run p50 {:>8.2} ms  {:>7.0} µs/step  {:>7.0} steps/s  last checkpoint {:>8} bytes",
            f.steps_per_run, f.run_ms_p50, f.per_step_us, f.steps_per_s, f.last_checkpoint_bytes
        );
    }
    Ok(0)
}

async fn measure(steps: u32, runs: usize) -> Result<StepFigures> {
    let dir = tempfile::tempdir().context("cannot make a temporary data dir")?;
    let paths = crate::config::Paths::under(dir.path());
    let runtime = Arc::new(Runtime::with_config(paths, config())?);
    // A run of `steps` steps: `calls` model calls that each call the tool, then the answer.
    let calls = (steps - 1) / 2;
    runtime.set_provider(
        "bench",
        Arc::new(InstantModel {
            calls,
            served: AtomicU64::new(0),
        }),
    );
    let orchestrator = Orchestrator::new(runtime)?;
    let tools = Arc::new(Toolset::new(vec![Tool::builtin(Binding::calculator())?])?);
    let mut agent = AgentConfig::default_for("bench/instant");
    agent.params = Params {
        temperature: Some(0.0),
        ..Params::default()
    };
    agent.tools = tools.defs();
    agent.max_turns = Some(calls as usize + 2);
    let mut times = Vec::new();
    let mut taken = 0;
    let mut last_checkpoint_bytes = 0;
    for _ in 0..runs {
        let session = orchestrator.sessions.create_with(agent.clone())?;
        let mut turn = Turn::new(
            session.id,
            TurnInput::Ask("Count with the calculator.".into()),
            Caller::Bench,
        );
        turn.agent = Some(agent.clone());
        turn.access = ToolAccess {
            tools: Some(tools.clone()),
            ..ToolAccess::default()
        };
        let t = Instant::now();
        let outcome = orchestrator.run_turn(turn, |_| {}).await?;
        times.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            outcome.error.is_none(),
            "the bench run failed: {:?}",
            outcome.error
        );
        let run = orchestrator
            .runs
            .get(outcome.run)?
            .context("the run was not stored")?;
        taken = run.step_count;
        last_checkpoint_bytes = orchestrator
            .runs
            .checkpoint(run.id, run.step_count)?
            .map(|c| crate::store::encode(&c).len())
            .unwrap_or(0);
    }
    times.sort_by(f64::total_cmp);
    let p50 = times[times.len() / 2];
    Ok(StepFigures {
        steps_per_run: taken,
        runs,
        run_ms_p50: p50 * 1000.0,
        per_step_us: p50 * 1e6 / taken.max(1) as f64,
        steps_per_s: taken as f64 / p50,
        last_checkpoint_bytes,
    })
}

/// A config whose `bench` profile serves `bench/instant` (the provider is replaced by the
/// in-process model; the URL is never used).
fn config() -> Config {
    let mut config = Config::default();
    config.providers.insert(
        "bench".into(),
        ProviderProfile {
            kind: ProviderKind::Openai,
            base_url: Some("http://127.0.0.1:9/v1".into()),
            api_key_env: None,
            api_key_file: None,
            timeout_secs: None,
        },
    );
    config.models.push(ModelSpec {
        id: "bench/instant".into(),
        name: String::new(),
        provider: "bench".into(),
        family: None,
        context_window: 1_000_000,
        input_price: 0.0,
        output_price: 0.0,
        capabilities: vec![Capability::Chat],
        default: false,
        remote_name: Some("instant".into()),
        files: vec![],
    });
    config
}
