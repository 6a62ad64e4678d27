//! Going on from a stored checkpoint: a run paused for an approval resumed with the user's
//! decision (also by a later process), a fork from step N with another model, edited
//! instructions or an edited tool result (a new run that records its parent and shares its
//! steps 1..N), and a replay (a fork from step 0 whose tool calls are answered from the
//! parent's recorded results while the model calls are live).

use rig_agent::run::AgentRun;
use rig_core::message::{ToolResultContent, UserContent};
use tokio_util::sync::CancellationToken;

use super::approval::Decision;
use super::driver::{Driver, Recorded, TurnState};
use super::events::RunEvent;
use super::finish::Ending;
use super::runs::{Checkpoint, Run, RunParent, RunStatus, StepKind};
use super::tools::{canonical_arguments, result_observation};
use super::{Orchestrator, ToolAccess, Turn, TurnError, TurnInput, TurnOutcome};
use crate::runtime::context::Caller;
use crate::runtime::types::Role;
use crate::sessions::{ChatMessage, MessageStatus, Session, ToolResultEntry};
use crate::store::Id;

/// A paused run and the user's decision on the call it waits for.
pub struct Resume {
    pub run: Id,
    pub decision: Decision,
    pub access: ToolAccess,
    pub cancel: CancellationToken,
    pub caller: Caller,
}

/// A new run from step `step` of `from`, with changes.
pub struct Fork {
    pub from: Id,
    /// Steps 1..=step are shared (0: start over).
    pub step: u32,
    pub model: Option<String>,
    pub instructions: Option<String>,
    /// A tool step of the batch in progress at `step` and the result the model reads
    /// instead (JSON or text).
    pub tool_result: Option<(u32, String)>,
    /// Answer tool calls from the parent's recorded results where the call is the same.
    pub replay: bool,
    pub access: ToolAccess,
    pub cancel: CancellationToken,
    pub caller: Caller,
}

impl Fork {
    /// A fork of `from` at `step` with no changes yet.
    pub fn new(from: Id, step: u32) -> Fork {
        Fork {
            from,
            step,
            model: None,
            instructions: None,
            tool_result: None,
            replay: false,
            access: ToolAccess::default(),
            cancel: CancellationToken::new(),
            caller: Caller::Agent,
        }
    }
}

fn bad(message: String) -> TurnError {
    TurnError::BadInput(message)
}

impl Orchestrator {
    /// Goes on with a run that waits for an approval: the decision answers the pending
    /// call, and the run continues from that step's checkpoint until it ends (or waits
    /// again).
    pub async fn resume(
        &self,
        resume: Resume,
        mut emit: impl FnMut(RunEvent) + Send,
    ) -> Result<TurnOutcome, TurnError> {
        let mut run = self.runs.get(resume.run)?.ok_or_else(|| {
            bad(format!(
                "no run {}; strata agent runs lists them",
                resume.run
            ))
        })?;
        let pending = match (&run.status, &run.pending) {
            (RunStatus::AwaitingApproval, Some(pending)) => pending.clone(),
            _ => {
                return Err(bad(format!(
                    "run {} is {}, not awaiting approval; nothing to resume",
                    run.id,
                    run.status_name()
                )))
            }
        };
        resume.decision.check().map_err(bad)?;
        let session = self
            .sessions
            .get(run.session)?
            .ok_or(TurnError::NoSession(run.session))?;
        let mut answer = self
            .sessions
            .message(session.id, run.answer_message)?
            .ok_or_else(|| bad(format!("the answer of run {} is gone", run.id)))?;
        let (agent_run, checkpoint) = self.load_checkpoint(&run, pending.step)?;
        let mut state = state_from(&checkpoint, &session, pending.step - 1)?;
        // Everything that can refuse the resume is done before anything is written.
        let guardrail = self.load_guardrail(&run.agent).await?;
        state.usage = run.usage;
        state.cost = answer.cost_usd;
        state.latency_ms = answer.latency_ms.unwrap_or(0.0);
        state.record_id = answer.record_id;
        state.preset = Some((pending.call.id.clone(), resume.decision));

        run.status = RunStatus::Running;
        run.pending = None;
        self.runs.save(&run)?;
        answer.status = MessageStatus::Streaming;
        answer.note = None;
        self.sessions.checkpoint_message(session.id, &answer)?;
        let mut turn = Turn::new(session.id, TurnInput::Regenerate, resume.caller);
        turn.cancel = resume.cancel;
        turn.access = resume.access;
        self.go_on(
            session, run, answer, agent_run, state, turn, guardrail, &mut emit,
        )
        .await
    }

    /// Forks a run at a step: a new run (in a copy of the session up to the question)
    /// that shares steps 1..=step with its parent and goes on from there with the changes.
    pub async fn fork(
        &self,
        fork: Fork,
        mut emit: impl FnMut(RunEvent) + Send,
    ) -> Result<TurnOutcome, TurnError> {
        let parent = self.runs.get(fork.from)?.ok_or_else(|| {
            bad(format!(
                "no run {}; strata agent runs lists them",
                fork.from
            ))
        })?;
        if fork.step > parent.step_count {
            return Err(bad(format!(
                "run {} has {} step(s); there is no step {} to fork from",
                parent.id, parent.step_count, fork.step
            )));
        }
        let (agent_run, mut checkpoint) = self.load_checkpoint(&parent, fork.step)?;
        let steps = self.runs.steps(parent.id)?;
        if let Some((index, result)) = &fork.tool_result {
            edit_tool_result(&mut checkpoint, &steps, fork.step, *index, result)?;
        }
        let session = self
            .sessions
            .get(parent.session)?
            .ok_or(TurnError::NoSession(parent.session))?;
        let parent_answer = self.sessions.message(session.id, parent.answer_message)?;
        let mut agent = parent.agent.clone();
        if let Some(model) = &fork.model {
            agent.model = self
                .runtime
                .chat_model(Some(model))
                .map_err(|e| bad(e.to_string()))?
                .id
                .clone();
        }
        if let Some(instructions) = &fork.instructions {
            agent.instructions = Some(instructions.clone()).filter(|i| !i.trim().is_empty());
        }
        let guardrail = self.load_guardrail(&agent).await?;
        let mut copy =
            self.sessions
                .fork_as(&session, parent.answer_message, session.origin.clone())?;
        copy.agent = agent.clone();
        self.sessions.save(&copy)?;

        let mut answer = ChatMessage::new(Role::Assistant, checkpoint.answer_text.clone());
        answer.model = Some(agent.model.clone());
        answer.status = MessageStatus::Streaming;
        answer.tool_calls = checkpoint.answer_tool_calls.clone();
        answer.tool_results = checkpoint.tool_results.clone();
        answer.sources = parent_answer.map(|a| a.sources).unwrap_or_default();
        let agent_file = fork.access.agent_file.clone().or(parent.agent_file.clone());
        let run =
            self.runs
                .start_with(copy.id, &agent, parent.prompt_message, answer.id, |run| {
                    run.parent = Some(RunParent {
                        run: parent.id,
                        step: fork.step,
                    });
                    run.agent_file = agent_file;
                })?;
        answer.run_id = Some(run.id);
        let mut state = state_from(&checkpoint, &copy, fork.step)?;
        if fork.instructions.is_some() {
            // The fork's own instructions replace a debugger's edit of the parent.
            state.instructions = None;
        }
        // Steps 1..=step are the parent's: copied, with their checkpoints.
        for mut step in steps.into_iter().filter(|s| s.index <= fork.step) {
            state.usage.input_tokens += step.usage.input_tokens;
            state.usage.output_tokens += step.usage.output_tokens;
            step.run = run.id;
            if let Some((index, result)) = &fork.tool_result {
                if step.index == *index {
                    step.output = result.clone();
                    step.outcome = "edited".into();
                }
            }
            self.runs.put_step(&step)?;
        }
        for index in 0..fork.step {
            if let Some(c) = self.runs.checkpoint(parent.id, index)? {
                self.runs.put_checkpoint(run.id, index, &c)?;
            }
        }
        self.runs.put_checkpoint(run.id, fork.step, &checkpoint)?;
        if fork.replay {
            state.recorded = Some(self.recorded_calls(parent.id, fork.step)?);
        }
        self.sessions.checkpoint_message(copy.id, &answer)?;
        let mut turn = Turn::new(copy.id, TurnInput::Regenerate, fork.caller);
        turn.cancel = fork.cancel;
        turn.access = fork.access;
        turn.agent = Some(agent);
        self.go_on(
            copy, run, answer, agent_run, state, turn, guardrail, &mut emit,
        )
        .await
    }

    /// The checkpoint after step `index` of `run`, with rig's run read back.
    fn load_checkpoint(&self, run: &Run, index: u32) -> Result<(AgentRun, Checkpoint), TurnError> {
        let checkpoint = self.runs.checkpoint(run.id, index)?.ok_or_else(|| {
            bad(format!(
                "run {} has no checkpoint at step {index} (runs stored before checkpoints \
                 existed cannot be resumed or forked)",
                run.id
            ))
        })?;
        let agent_run = serde_json::from_value(checkpoint.agent_run.clone()).map_err(|e| {
            bad(format!(
                "the stored state of run {} at step {index} cannot be read: {e}",
                run.id
            ))
        })?;
        Ok((agent_run, checkpoint))
    }

    /// The tool results of `run`'s steps after `after`, for a replay.
    fn recorded_calls(&self, run: Id, after: u32) -> Result<Vec<Recorded>, TurnError> {
        Ok(self
            .runs
            .steps(run)?
            .into_iter()
            .filter(|s| s.index > after && s.kind == StepKind::ToolCall)
            .filter(|s| s.outcome != "awaiting_approval" && s.outcome != "running")
            .filter_map(|s| {
                let call = s.tool_calls.first()?;
                Some(Recorded {
                    name: call.name.clone(),
                    arguments: canonical_arguments(&call.arguments),
                    ok: !s.output.starts_with("error:"),
                    observation: s.output.clone(),
                    used: false,
                })
            })
            .collect())
    }

    /// Drives a run from a checkpoint to its end, then stores and reports how it ended.
    #[allow(clippy::too_many_arguments)]
    async fn go_on(
        &self,
        session: Session,
        mut run: Run,
        mut answer: ChatMessage,
        agent_run: AgentRun,
        mut state: TurnState,
        turn: Turn,
        guardrail: Option<std::sync::Arc<crate::guardrails::Guardrail>>,
        emit: &mut (impl FnMut(RunEvent) + Send),
    ) -> Result<TurnOutcome, TurnError> {
        let agent = run.agent.clone();
        emit(RunEvent::Started {
            session: session.id,
            run: run.id,
            prompt: None,
            answer: answer.clone(),
        });
        let grounding = answer.sources.clone();
        let mut driver = Driver {
            orchestrator: self,
            turn: &turn,
            session: &session,
            agent: &agent,
            run: &mut run,
            answer: &mut answer,
            emit: &mut *emit,
            state: &mut state,
            guardrail,
            grounding: (!grounding.is_empty()).then_some(grounding.as_slice()),
        };
        driver.drive_run(agent_run).await;
        let history = self.sessions.messages(session.id)?;
        Ok(self
            .conclude(
                Ending {
                    session,
                    run,
                    answer,
                    history,
                    replaced: None,
                    retrieved: None,
                    sources: None,
                },
                state,
                emit,
            )
            .await)
    }
}

/// A driver's state at a checkpoint.
fn state_from(
    checkpoint: &Checkpoint,
    session: &Session,
    step_count: u32,
) -> Result<TurnState, TurnError> {
    let answered = checkpoint
        .answered
        .iter()
        .map(|v| serde_json::from_value::<UserContent>(v.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("a stored tool result cannot be read: {e}")))?;
    Ok(TurnState {
        step_count,
        seen_calls: checkpoint.seen_calls.clone(),
        instructions: checkpoint.instructions.clone(),
        answered,
        approved_always: session.approved_tools.clone(),
        ..TurnState::default()
    })
}

/// Replaces the result of tool step `index` in the batch a checkpoint holds; only a
/// result the model has not read yet can change.
fn edit_tool_result(
    checkpoint: &mut Checkpoint,
    steps: &[super::runs::Step],
    at: u32,
    index: u32,
    result: &str,
) -> Result<(), TurnError> {
    let step = steps
        .iter()
        .find(|s| s.index == index && s.kind == StepKind::ToolCall && index <= at)
        .ok_or_else(|| {
            bad(format!(
                "step {index} is not a tool step at or before step {at}; `strata agent trace` \
                 lists the steps"
            ))
        })?;
    let call_id = step
        .tool_calls
        .first()
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let observation = result_observation(result.to_string());
    let mut found = false;
    for value in checkpoint.answered.iter_mut() {
        let Ok(UserContent::ToolResult(mut tool_result)) =
            serde_json::from_value::<UserContent>(value.clone())
        else {
            continue;
        };
        if tool_result.call.wire() == call_id {
            tool_result.content = vec![ToolResultContent::text(observation.clone())];
            tool_result.is_error = false;
            *value = serde_json::to_value(UserContent::ToolResult(tool_result))
                .map_err(|e| bad(e.to_string()))?;
            found = true;
        }
    }
    if !found {
        return Err(bad(format!(
            "the model already read step {index}'s result before step {at}; fork from step \
             {index} (--from-step {index}) to change it"
        )));
    }
    for entry in checkpoint.tool_results.iter_mut() {
        if entry.call_id == call_id {
            *entry = ToolResultEntry {
                call_id: call_id.clone(),
                content: observation.clone(),
                ok: true,
            };
        }
    }
    Ok(())
}
