//! `strata agent …`: agent files listed and shown, an agent run on a task from the command
//! line (tools included), and the runs and traces it leaves. A thin client of `agents`
//! (the files) and the orchestrator (the run); approvals are asked of no one here yet.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::agents::{AgentSpec, Catalog};
use crate::config::Paths;
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::runs::{Run, Step, StepKind};
use crate::orchestrator::{Orchestrator, Turn, TurnInput};
use crate::runtime::context::Caller;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::Runtime;
use crate::store::{format_micros, Id};

/// The origin of the sessions agent runs make (`agent:NAME`).
const ORIGIN_PREFIX: &str = "agent:";

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// The agents: shipped examples and your files in the config dir's `agents/`.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One agent's definition: model, instructions, tools.
    Show {
        /// A name, or a path to an agent TOML file.
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Run an agent on a task; the answer streams to stdout, tool calls to stderr.
    Run {
        /// A name, or a path to an agent TOML file.
        agent: String,
        task: String,
        /// Use this model instead of the agent's.
        #[arg(short, long)]
        model: Option<String>,
        /// Approve every tool call, `confirm = true` tools included.
        #[arg(long)]
        yes: bool,
        /// One JSON object on stdout: the run (see README, "Agents").
        #[arg(long)]
        json: bool,
    },
    /// Runs of agents, newest first.
    Runs {
        #[arg(long)]
        json: bool,
    },
    /// A run's steps: model calls and tool calls with their inputs, outputs and times.
    Trace {
        run: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(paths: Paths, runtime: Arc<Runtime>, cmd: AgentCommand) -> Result<i32> {
    let catalog = Catalog::new(&paths);
    // The shipped examples are there to run by name from the first command on.
    if let Err(e) = catalog.install_examples() {
        eprintln!("warning: the example agents could not be installed: {e}");
    }
    match cmd {
        AgentCommand::List { json } => list(&catalog, json),
        AgentCommand::Show { name, json } => show(&catalog.load(&name)?, json),
        AgentCommand::Run {
            agent,
            task,
            model,
            yes,
            json,
        } => {
            let spec = catalog.load(&agent)?;
            run_agent(runtime, spec, task, model, yes, json).await
        }
        AgentCommand::Runs { json } => {
            let orchestrator = Orchestrator::new(runtime)?;
            runs(&orchestrator, json)
        }
        AgentCommand::Trace { run, json } => {
            let orchestrator = Orchestrator::new(runtime)?;
            trace(&orchestrator, &run, json)
        }
    }
}

fn list(catalog: &Catalog, json: bool) -> Result<i32> {
    let entries = catalog.list()?;
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name, "description": e.description, "model": e.model,
                    "tools": e.tools, "mcp_servers": e.mcp_servers,
                    "path": e.path, "problems": e.problems,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    if entries.is_empty() {
        writeln!(out, "no agents in {}", catalog.dir().display())?;
    }
    for e in &entries {
        writeln!(
            out,
            "{:<20} {:<24} {} tool(s)  {}",
            e.name, e.model, e.tools, e.description
        )?;
        for p in &e.problems {
            writeln!(out, "    problem: {p}")?;
        }
    }
    Ok(0)
}

fn show(spec: &AgentSpec, json: bool) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(spec)?)?;
        return Ok(0);
    }
    writeln!(out, "{} ({})", spec.name, spec.file.display())?;
    writeln!(out, "  {}", spec.description)?;
    writeln!(
        out,
        "  model: {}   max steps: {}",
        spec.model, spec.max_steps
    )?;
    if let Some(instructions) = &spec.instructions {
        writeln!(out, "  instructions: {}", instructions.trim())?;
    }
    if !spec.knowledge_bases.is_empty() {
        writeln!(
            out,
            "  knowledge bases: {}",
            spec.knowledge_bases.join(", ")
        )?;
    }
    for tool in &spec.tools {
        let how = match (&tool.builtin, tool.command.is_empty()) {
            (Some(b), _) => format!("builtin {}", b.as_str()),
            (None, false) => format!("command {}", tool.command.join(" ")),
            (None, true) => "?".into(),
        };
        let confirm = if tool.confirm { "  [asks first]" } else { "" };
        writeln!(out, "  tool {}: {how}{confirm}", tool.name)?;
        writeln!(out, "      {}", tool.description)?;
    }
    for server in &spec.mcp_servers {
        writeln!(
            out,
            "  mcp server {}: {}",
            server.name,
            server.command.join(" ")
        )?;
    }
    Ok(0)
}

async fn run_agent(
    runtime: Arc<Runtime>,
    spec: AgentSpec,
    task: String,
    model: Option<String>,
    yes: bool,
    json: bool,
) -> Result<i32> {
    if task.trim().is_empty() {
        bail!(
            "the task is empty: give the agent something to do, e.g. strata agent run {} \"…\"",
            spec.name
        );
    }
    let orchestrator = Orchestrator::new(runtime.clone())?;
    let mut agent = spec.to_agent_config();
    if let Some(model) = model {
        agent.model = runtime.chat_model(Some(&model))?.id.clone();
    }
    ensure_pulled(&runtime, &agent.model).await?;
    // Starts the agent's MCP servers; they stop when the tools are dropped.
    let tools = spec
        .connect(&orchestrator.knowledge)
        .await
        .with_context(|| format!("the tools of agent {} ({})", spec.name, spec.file.display()))?;
    agent.tools = tools.toolset.defs();
    let session = orchestrator
        .sessions
        .create_as(agent.clone(), Some(format!("{ORIGIN_PREFIX}{}", spec.name)))?;
    let mut turn = Turn::new(session.id, TurnInput::Ask(task), Caller::Agent);
    turn.cancel = super::cancel_on_ctrl_c();
    turn.agent = Some(agent);
    turn.tools = Some(Arc::new(tools.toolset));
    turn.auto_approve = yes;
    turn.needs_approval = tools.needs_approval;
    let outcome = orchestrator
        .run_turn(turn, move |event| {
            if json {
                return;
            }
            match event {
                RunEvent::TextDelta { text, .. } => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(text.as_bytes());
                    let _ = out.flush();
                }
                RunEvent::ToolCall { call, .. } => {
                    eprintln!("→ {}({})", call.name, call.arguments);
                }
                RunEvent::ToolResult {
                    ok,
                    observation,
                    duration_ms,
                    ..
                } => {
                    let mark = if ok { "←" } else { "✗" };
                    eprintln!("{mark} {} ({duration_ms:.0} ms)", clip(&observation, 200));
                }
                _ => {}
            }
        })
        .await?;
    let run = orchestrator
        .runs
        .get(outcome.run)?
        .context("the run was not stored")?;
    if json {
        let steps = orchestrator.runs.steps(run.id)?;
        let mut value = run_json(&run, Some(&spec.name));
        value["answer"] = serde_json::json!(outcome.answer.content);
        value["steps"] = serde_json::Value::Array(steps.iter().map(step_json).collect());
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!();
        if let Some(e) = &outcome.error {
            eprintln!("error: {}", e.message);
        }
        eprintln!(
            "run {} · {} step(s) · strata agent trace {}",
            run.id, run.step_count, run.id
        );
    }
    Ok(if outcome.error.is_some() { 1 } else { 0 })
}

fn runs(orchestrator: &Orchestrator, json: bool) -> Result<i32> {
    let mut rows = Vec::new();
    for run in orchestrator.runs.list()?.into_iter().rev() {
        let origin = orchestrator
            .sessions
            .get(run.session)?
            .and_then(|s| s.origin);
        if let Some(name) = origin
            .as_deref()
            .and_then(|o| o.strip_prefix(ORIGIN_PREFIX))
        {
            rows.push((run, name.to_string()));
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let values: Vec<_> = rows.iter().map(|(r, n)| run_json(r, Some(n))).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?;
        return Ok(0);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "no agent runs yet; strata agent run NAME \"task\" starts one"
        )?;
    }
    for (run, name) in &rows {
        writeln!(
            out,
            "{}  {:<16} {:<18} {:>3} step(s)  {}",
            run.id,
            name,
            status_name(run),
            run.step_count,
            format_micros(run.started_us)
        )?;
    }
    Ok(0)
}

fn trace(orchestrator: &Orchestrator, id: &str, json: bool) -> Result<i32> {
    let Some(id) = Id::parse(id) else {
        bail!("{id:?} is not a run id; strata agent runs lists them");
    };
    let Some(run) = orchestrator.runs.get(id)? else {
        bail!("no run {id}; strata agent runs lists them");
    };
    let steps = orchestrator.runs.steps(run.id)?;
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = run_json(&run, None);
        value["steps"] = serde_json::Value::Array(steps.iter().map(step_json).collect());
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(0);
    }
    writeln!(
        out,
        "run {} · {} · model {} · {} step(s)",
        run.id,
        status_name(&run),
        run.agent.model,
        run.step_count
    )?;
    for step in &steps {
        match step.kind {
            StepKind::ModelCall => {
                writeln!(
                    out,
                    "{:>3}. chat            {:>7.0} ms  {} in / {} out tokens  [{}]",
                    step.index,
                    step.latency_ms,
                    step.usage.input_tokens,
                    step.usage.output_tokens,
                    step.outcome
                )?;
                if !step.output.is_empty() {
                    writeln!(out, "       text: {}", clip(&step.output, 160))?;
                }
                for call in &step.tool_calls {
                    writeln!(out, "       calls {}({})", call.name, call.arguments)?;
                }
            }
            StepKind::ToolCall => {
                for call in &step.tool_calls {
                    writeln!(
                        out,
                        "{:>3}. execute_tool    {:>7.0} ms  {}({})  [{}]",
                        step.index, step.latency_ms, call.name, call.arguments, step.outcome
                    )?;
                }
                writeln!(out, "       result: {}", clip(&step.output, 160))?;
            }
        }
    }
    if let Some(e) = &run.error {
        writeln!(out, "error: {e}")?;
    }
    Ok(0)
}

fn status_name(run: &Run) -> String {
    serde_json::to_value(run.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", run.status))
}

/// A run as the `--json` outputs show it (one schema for run, runs and trace).
fn run_json(run: &Run, agent: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "id": run.id.to_string(),
        "agent": agent,
        "session": run.session.to_string(),
        "model": run.agent.model,
        "status": status_name(run),
        "parent_run": serde_json::Value::Null,
        "parent_step": serde_json::Value::Null,
        "started_us": run.started_us,
        "ended_us": run.ended_us,
        "step_count": run.step_count,
        "usage": { "input_tokens": run.usage.input_tokens, "output_tokens": run.usage.output_tokens },
        "error": run.error,
    })
}

fn step_json(step: &Step) -> serde_json::Value {
    serde_json::json!({
        "index": step.index,
        "kind": step.kind,
        "outcome": step.outcome,
        "latency_ms": step.latency_ms,
        "output": step.output,
        "tool_calls": step.tool_calls.iter().map(|c| serde_json::json!({
            "id": c.id, "name": c.name, "arguments": c.arguments,
        })).collect::<Vec<_>>(),
        "usage": { "input_tokens": step.usage.input_tokens, "output_tokens": step.usage.output_tokens },
        "checks": step.checks.len(),
    })
}

/// A text on one line, cut to `max` characters.
fn clip(text: &str, max: usize) -> String {
    crate::eval::clip(&text.replace('\n', " "), max)
}
