//! Starting agent runs, for every client (the CLI's `agent run/resume/fork`, the TUI's
//! Agents screen and the chat's approvals): an agent's tools bound with the calls that need
//! approval, the session and turn a run of it gets, a stored run's tools bound again from
//! its agent file, and the list of agent runs. Who approves and whether a debugger holds
//! the run are the client's to set on the returned `ToolAccess`.

use std::sync::Arc;

use anyhow::{bail, Context as _, Result};

use super::{AgentSpec, Catalog, Memory};
use crate::orchestrator::runs::Run;
use crate::orchestrator::{Orchestrator, ToolAccess, Turn, TurnInput};
use crate::runtime::context::Caller;

/// The origin of the sessions agent runs make (`agent:NAME`).
pub const ORIGIN_PREFIX: &str = "agent:";

/// An agent's tools, bound (its MCP servers started; they stop when the tools are dropped),
/// with the calls that need approval and the agent file they came from. Nobody approves
/// yet and no debugger holds the run: the caller sets `approver`, `auto_approve`, `gate`.
pub async fn bind(orchestrator: &Orchestrator, spec: &AgentSpec) -> Result<ToolAccess> {
    let tools = spec
        .connect(&orchestrator.knowledge)
        .await
        .with_context(|| format!("the tools of agent {}", spec.name))?;
    Ok(ToolAccess {
        tools: Some(Arc::new(tools.toolset)),
        needs_approval: tools.needs_approval,
        // Absolute, so a later process resumes it from any folder.
        agent_file: Some(
            std::fs::canonicalize(&spec.file)
                .unwrap_or_else(|_| spec.file.clone())
                .display()
                .to_string(),
        ),
        ..ToolAccess::default()
    })
}

/// A run of `spec` on `task`, ready for `Orchestrator::run_turn`: in the agent's session
/// (origin `agent:NAME`): its latest one under `memory = "session"` (the conversation
/// goes on), a new one under `memory = "fresh"` or when `fresh`; with the agent's
/// settings, every tool it has (MCP servers' included), and the tools bound. `model`
/// replaces the agent's; it must be usable now (a local one downloaded).
pub async fn start(
    orchestrator: &Orchestrator,
    spec: &AgentSpec,
    task: &str,
    model: Option<&str>,
    fresh: bool,
) -> Result<Turn> {
    check_task(spec, task)?;
    let runtime = orchestrator.runtime();
    let mut agent = spec.to_agent_config();
    if let Some(model) = model {
        agent.model = runtime.chat_model(Some(model))?.id.clone();
    }
    let access = bind(orchestrator, spec).await?;
    agent.tools = access.tools.as_ref().map(|t| t.defs()).unwrap_or_default();
    let sessions = orchestrator.sessions.clone();
    let origin = format!("{ORIGIN_PREFIX}{}", spec.name);
    let config = agent.clone();
    let keep = spec.memory == Memory::Session && !fresh;
    let session = tokio::task::spawn_blocking(move || {
        // Agent sessions are kept out of the chat's list: found by their origin.
        let latest = if keep {
            sessions
                .made_by(&origin)?
                .into_iter()
                .filter(|s| s.origin.as_deref() == Some(origin.as_str()))
                .max_by_key(|s| s.updated_us)
        } else {
            None
        };
        match latest {
            // The agent as the file says now (model, instructions, tools) goes on there.
            Some(mut session) => {
                session.agent = config;
                sessions.save(&session)?;
                Ok(session)
            }
            None => sessions.create_as(config, Some(origin)),
        }
    })
    .await?
    .map_err(|e: crate::store::StoreError| anyhow::anyhow!(e))?;
    let mut turn = Turn::new(session.id, TurnInput::Ask(task.to_string()), Caller::Agent);
    turn.agent = Some(agent);
    turn.access = access;
    Ok(turn)
}

/// A task an agent can be given: not empty.
pub fn check_task(spec: &AgentSpec, task: &str) -> Result<()> {
    if task.trim().is_empty() {
        bail!(
            "the task is empty: give the agent something to do, e.g. strata agent run {} \"…\"",
            spec.name
        );
    }
    Ok(())
}

/// The tools a stored run had, bound again from its agent file, and the agent's name (a
/// chat turn has neither: no tools to bind).
pub async fn rebind(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    run: &Run,
) -> Result<(ToolAccess, Option<String>)> {
    let Some(file) = &run.agent_file else {
        return Ok((ToolAccess::default(), None));
    };
    let spec = catalog.load(file).with_context(|| {
        format!(
            "run {} was made by the agent file {file}, which cannot be read now",
            run.id
        )
    })?;
    let access = bind(orchestrator, &spec).await?;
    Ok((access, Some(spec.name.clone())))
}

/// Runs of agents, newest first, each with its agent's name (blocking: reads sled).
pub fn agent_runs(orchestrator: &Orchestrator) -> Result<Vec<(Run, String)>> {
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
    Ok(rows)
}
