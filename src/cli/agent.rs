//! `strata agent …`: agent files listed and shown, an agent run on a task from the command
//! line (tools included), the runs and traces it leaves, and the debugger's headless verbs:
//! resume a run that waits for an approval, fork a run from a step, replay it, diff two.
//! A thin client of `agents` (the files) and the orchestrator (runs); approvals are asked
//! on the terminal (`approve`), or the run stops and says how to resume it.

mod approve;

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::agents::{launch, AgentSpec, Catalog};
use crate::config::Paths;
use crate::orchestrator::approval::Decision;
use crate::orchestrator::diff::diff_steps;
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::runs::{Run, Step, StepKind};
use crate::orchestrator::{Fork, Orchestrator, Resume, ToolAccess, TurnOutcome};
use crate::runtime::context::Caller;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::Runtime;
use crate::store::{format_micros, Id};

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
        /// Start a new conversation even under `memory = "session"`.
        #[arg(long)]
        fresh: bool,
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
    /// Go on with a run that waits for an approval, with your decision on the call.
    #[command(group(clap::ArgGroup::new("decision").required(true)))]
    Resume {
        run: String,
        /// Run the call as the model made it.
        #[arg(long, group = "decision")]
        approve: bool,
        /// Run it, and this tool without asking for the rest of the session.
        #[arg(long, group = "decision")]
        approve_always: bool,
        /// Do not run it; the model reads the reason.
        #[arg(long, group = "decision", value_name = "REASON")]
        deny: Option<String>,
        /// Run it with these arguments (a JSON object) instead.
        #[arg(long, group = "decision", value_name = "JSON")]
        args: Option<String>,
        /// Do not run it; the model reads this as its result.
        #[arg(long, group = "decision", value_name = "JSON")]
        result: Option<String>,
        /// Approve every later call.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// A new run from step N of a run (steps 1..N shared), with changes.
    Fork {
        run: String,
        #[arg(long, value_name = "N")]
        from_step: u32,
        /// Another model from step N+1 on.
        #[arg(short, long)]
        model: Option<String>,
        /// Other instructions (system prompt) from step N+1 on.
        #[arg(long)]
        instructions: Option<String>,
        /// The result tool step N (of the batch in progress at --from-step) returns
        /// instead: N=JSON.
        #[arg(long, value_name = "N=JSON")]
        tool_result: Option<String>,
        /// Answer tool calls from the run's recorded results where they match.
        #[arg(long)]
        replay: bool,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run a run's task again: recorded tool results, live model calls.
    Replay {
        run: String,
        /// Another model.
        #[arg(short, long)]
        model: Option<String>,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Two runs side by side, the first divergence marked.
    Diff {
        a: String,
        b: String,
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
            fresh,
            json,
        } => {
            let spec = catalog.load(&agent)?;
            run_agent(runtime, spec, task, model, yes, fresh, json).await
        }
        AgentCommand::Runs { json } => {
            let orchestrator = Orchestrator::new(runtime)?;
            runs(&orchestrator, json)
        }
        AgentCommand::Trace { run, json } => {
            let orchestrator = Orchestrator::new(runtime)?;
            trace(&orchestrator, &run, json)
        }
        AgentCommand::Resume {
            run,
            approve,
            approve_always,
            deny,
            args,
            result,
            yes,
            json,
        } => {
            let decision = match (approve, approve_always, deny, args, result) {
                (true, ..) => Decision::Approve,
                (_, true, ..) => Decision::ApproveAlways,
                (_, _, Some(reason), ..) => Decision::Deny(reason),
                (_, _, _, Some(args), _) => Decision::EditArgs(args),
                (_, _, _, _, Some(result)) => Decision::Result(result),
                _ => {
                    bail!("say what to do: --approve, --deny REASON, --args JSON or --result JSON")
                }
            };
            if let Err(e) = decision.check() {
                bail!("{e}");
            }
            let orchestrator = Orchestrator::new(runtime)?;
            let run = find_run(&orchestrator, &run)?;
            let (access, name) = access_for(&catalog, &orchestrator, &run, yes, json).await?;
            let resume = Resume {
                run: run.id,
                decision,
                access,
                cancel: super::cancel_on_ctrl_c(),
                caller: Caller::Agent,
            };
            let outcome = orchestrator.resume(resume, printer(json)).await?;
            report(&orchestrator, outcome, name.as_deref(), json)
        }
        AgentCommand::Fork {
            run,
            from_step,
            model,
            instructions,
            tool_result,
            replay,
            yes,
            json,
        } => {
            let orchestrator = Orchestrator::new(runtime)?;
            let run = find_run(&orchestrator, &run)?;
            let mut fork = Fork::new(run.id, from_step);
            fork.model = model;
            fork.instructions = instructions;
            fork.replay = replay;
            fork.tool_result = tool_result.as_deref().map(parse_tool_result).transpose()?;
            fork_run(&catalog, &orchestrator, &run, fork, yes, json).await
        }
        AgentCommand::Replay {
            run,
            model,
            yes,
            json,
        } => {
            let orchestrator = Orchestrator::new(runtime)?;
            let run = find_run(&orchestrator, &run)?;
            let mut fork = Fork::new(run.id, 0);
            fork.model = model;
            fork.replay = true;
            fork_run(&catalog, &orchestrator, &run, fork, yes, json).await
        }
        AgentCommand::Diff { a, b, json } => {
            let orchestrator = Orchestrator::new(runtime)?;
            diff(&orchestrator, &a, &b, json)
        }
    }
}

/// A run by id (the error says where ids are listed).
fn find_run(orchestrator: &Orchestrator, id: &str) -> Result<Run> {
    let Some(parsed) = Id::parse(id) else {
        bail!("{id:?} is not a run id; strata agent runs lists them");
    };
    orchestrator
        .runs
        .get(parsed)?
        .with_context(|| format!("no run {id}; strata agent runs lists them"))
}

/// The tools a stored run had, bound again from its agent file, approved as `approvals`
/// says, and the agent's name.
async fn access_for(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    run: &Run,
    yes: bool,
    json: bool,
) -> Result<(ToolAccess, Option<String>)> {
    let (access, name) = launch::rebind(catalog, orchestrator, run).await?;
    Ok((approvals(access, yes, json), name))
}

/// Who approves the calls that need it: everything with `--yes`, the terminal when there
/// is one (and the output is not JSON), else nobody (the run stops at the first such call).
fn approvals(mut access: ToolAccess, yes: bool, json: bool) -> ToolAccess {
    let interactive = !json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    access.auto_approve = yes;
    access.approver = interactive.then(|| Arc::new(approve::TerminalApprover) as _);
    access
}

/// `N=JSON` of `--tool-result`.
fn parse_tool_result(text: &str) -> Result<(u32, String)> {
    let Some((n, json)) = text.split_once('=') else {
        bail!("--tool-result takes STEP=JSON, e.g. --tool-result 2='{{\"status\":\"shipped\"}}'");
    };
    let n = n
        .trim()
        .parse()
        .with_context(|| format!("--tool-result: {n:?} is not a step number"))?;
    Ok((n, json.to_string()))
}

async fn fork_run(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    run: &Run,
    mut fork: Fork,
    yes: bool,
    json: bool,
) -> Result<i32> {
    let (access, name) = access_for(catalog, orchestrator, run, yes, json).await?;
    let model = fork
        .model
        .clone()
        .unwrap_or_else(|| run.agent.model.clone());
    ensure_pulled(orchestrator.runtime(), &model).await?;
    fork.access = access;
    fork.cancel = super::cancel_on_ctrl_c();
    let outcome = orchestrator.fork(fork, printer(json)).await?;
    report(orchestrator, outcome, name.as_deref(), json)
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
    fresh: bool,
    json: bool,
) -> Result<i32> {
    launch::check_task(&spec, &task)?;
    let orchestrator = Orchestrator::new(runtime.clone())?;
    let model = runtime
        .chat_model(Some(model.as_deref().unwrap_or(&spec.model)))?
        .id
        .clone();
    ensure_pulled(&runtime, &model).await?;
    let mut turn = launch::start(&orchestrator, &spec, &task, Some(&model), fresh).await?;
    turn.cancel = super::cancel_on_ctrl_c();
    turn.access = approvals(turn.access, yes, json);
    let outcome = orchestrator.run_turn(turn, printer(json)).await?;
    report(&orchestrator, outcome, Some(&spec.name), json)
}

/// What a run shows while it runs: the answer on stdout, tool calls and results on
/// stderr; nothing with `--json` (the run is printed whole at the end).
fn printer(json: bool) -> impl FnMut(RunEvent) + Send {
    move |event| {
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
    }
}

/// Exit status of a run that stopped to wait for an approval.
pub const EXIT_AWAITING_APPROVAL: i32 = 3;

/// Prints how a run ended (the whole run with `--json`) and gives the exit status: 0 done,
/// 1 failed, 3 waiting for an approval.
fn report(
    orchestrator: &Orchestrator,
    outcome: TurnOutcome,
    agent: Option<&str>,
    json: bool,
) -> Result<i32> {
    let run = orchestrator
        .runs
        .get(outcome.run)?
        .context("the run was not stored")?;
    if json {
        let steps = orchestrator.runs.steps(run.id)?;
        let mut value = run_json(&run, agent);
        value["answer"] = serde_json::json!(outcome.answer.content);
        value["steps"] = serde_json::Value::Array(steps.iter().map(step_json).collect());
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!();
        if let Some(e) = &outcome.error {
            eprintln!("error: {}", e.message);
        }
        if let Some(pending) = &outcome.pending {
            eprintln!(
                "run {} waits for your approval of {}({}): {}",
                run.id, pending.call.name, pending.call.arguments, pending.reason
            );
            eprintln!(
                "  strata agent resume {} --approve | --approve-always | --deny \"REASON\" | --args JSON | --result JSON",
                run.id
            );
        }
        eprintln!(
            "run {} · {} · {} step(s) · strata agent trace {}",
            run.id,
            run.status_name(),
            run.step_count,
            run.id
        );
    }
    Ok(if outcome.pending.is_some() {
        EXIT_AWAITING_APPROVAL
    } else if outcome.error.is_some() {
        1
    } else {
        0
    })
}

fn runs(orchestrator: &Orchestrator, json: bool) -> Result<i32> {
    let rows = launch::agent_runs(orchestrator)?;
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
            run.status_name(),
            run.step_count,
            format_micros(run.started_us)
        )?;
    }
    Ok(0)
}

fn trace(orchestrator: &Orchestrator, id: &str, json: bool) -> Result<i32> {
    let run = find_run(orchestrator, id)?;
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
        run.status_name(),
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

/// A run as the `--json` outputs show it (one schema for run, runs and trace).
fn run_json(run: &Run, agent: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "id": run.id.to_string(),
        "agent": agent,
        "session": run.session.to_string(),
        "operation": "invoke_agent",
        "model": run.agent.model,
        "status": run.status_name(),
        "parent_run": run.parent.map(|p| p.run.to_string()),
        "parent_step": run.parent.map(|p| p.step),
        "pending": run.pending.as_ref().map(|p| serde_json::json!({
            "step": p.step, "reason": p.reason,
            "call": { "id": p.call.id, "name": p.call.name, "arguments": p.call.arguments },
        })),
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

fn diff(orchestrator: &Orchestrator, a: &str, b: &str, json: bool) -> Result<i32> {
    let (a, b) = (find_run(orchestrator, a)?, find_run(orchestrator, b)?);
    let diff = diff_steps(
        &orchestrator.runs.steps(a.id)?,
        &orchestrator.runs.steps(b.id)?,
    );
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "a": a.id.to_string(), "b": b.id.to_string(),
            "first_divergence": diff.first_divergence.map(|i| i + 1),
            "rows": diff.rows,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(0);
    }
    let width = 58;
    let heading = format!("A {}", a.id);
    writeln!(out, "  {heading:<width$} │ B {}", b.id)?;
    for (i, row) in diff.rows.iter().enumerate() {
        let side = |s: &Option<crate::orchestrator::diff::StepView>| match s {
            None => "—".to_string(),
            Some(s) => {
                let what = if s.calls.is_empty() {
                    s.output.clone()
                } else if s.kind == StepKind::ToolCall {
                    format!("{} → {}", s.calls.join(", "), s.output)
                } else {
                    format!("calls {}", s.calls.join(", "))
                };
                let kind = match s.kind {
                    StepKind::ModelCall => "chat",
                    StepKind::ToolCall => "tool",
                };
                clip(&format!("{}. {kind} {what}", s.index), width)
            }
        };
        let mark = if Some(i) == diff.first_divergence {
            "▶"
        } else if row.same {
            " "
        } else {
            "≠"
        };
        writeln!(out, "{mark} {:<width$} │ {}", side(&row.a), side(&row.b))?;
    }
    match diff.first_divergence {
        Some(i) => writeln!(out, "first divergence at step {}", i + 1)?,
        None => writeln!(out, "the runs match step for step")?,
    }
    Ok(0)
}

/// A text on one line, cut to `max` characters.
fn clip(text: &str, max: usize) -> String {
    crate::eval::clip(&text.replace('\n', " "), max)
}
