//! The agent loop of one turn: rig-agent's `AgentRun` asks for model calls and tool
//! results and the driver answers each, storing every step and a checkpoint after it (so a
//! run can stop for an approval and go on later, or be forked from any step). Preparing and
//! ending the turn are `prepare`'s and `finish`'s; streaming one call is `stream`'s, tool
//! calls `tools`'; going on from a checkpoint is `resume`'s.

use std::sync::Arc;

use rig_agent::run::{
    AgentRun, AgentRunStep, InvalidToolCallAction, ModelTurn, ModelTurnOutcome, PromptError,
};
use rig_core::message::{AssistantMessage, UserContent};

use super::approval::{Decision, GateAction, NextStep};
use super::events::{RunError, RunErrorKind, RunEvent};
use super::runs::{Checkpoint, PendingApproval, Run, Step, StepKind};
use super::{fit, rig_bridge, Orchestrator, Turn};
use crate::guardrails::{Guardrail, GuardrailCheck, GuardrailUpdate};
use crate::knowledge::cite::{self, SourceRef};
use crate::runtime::context::{CallContext, CallIds};
use crate::runtime::invoke::{InvokeError, InvokeRequest, InvokeResponse};
use crate::runtime::types::{ChatRequest, Message, Role, StopReason, Usage};
use crate::sessions::{AgentConfig, ChatMessage, Session};
use crate::store::Id;

/// What a turn accumulates over its steps.
#[derive(Default)]
pub(super) struct TurnState {
    pub(super) usage: Usage,
    pub(super) usage_estimated: bool,
    pub(super) cost: f64,
    pub(super) latency_ms: f64,
    /// Steps taken so far (the index of the latest).
    pub(super) step_count: u32,
    pub(super) error: Option<RunError>,
    /// The last model call's response.
    pub(super) response: Option<InvokeResponse>,
    /// The last model call's record (also when the call was refused before the model).
    pub(super) record_id: Option<Id>,
    /// A check refused the question itself (it must not be sent again as history).
    pub(super) input_blocked: bool,
    /// A guardrail held the answer for review, and why.
    pub(super) review: Option<String>,
    /// The question as an input check masked it (what was sent instead).
    pub(super) masked_question: Option<String>,
    /// Tool calls run so far, by (tool, arguments), with what each returned.
    pub(super) seen_calls: Vec<((String, String), String)>,
    /// Results of the tool batch in progress (rig takes a batch's results at once); a
    /// resumed or forked run starts with the ones its checkpoint holds.
    pub(super) answered: Vec<UserContent>,
    /// The user's decision on one pending call (by call id), for a resumed run.
    pub(super) preset: Option<(String, Decision)>,
    /// A replay's recorded tool results, used in order by (tool, arguments).
    pub(super) recorded: Option<Vec<Recorded>>,
    /// Tools approved for the rest of the session.
    pub(super) approved_always: std::collections::BTreeSet<String>,
    /// The call the run stopped at, waiting for the user.
    pub(super) paused: Option<PendingApproval>,
    /// Instructions a debugger set for this model call and the later ones.
    pub(super) instructions: Option<String>,
}

/// A tool result recorded by an earlier run, for a replay.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) name: String,
    /// Canonical JSON arguments.
    pub(super) arguments: String,
    pub(super) ok: bool,
    pub(super) observation: String,
    pub(super) used: bool,
}

/// The state of one turn while rig's run asks for model calls and tool results.
pub(super) struct Driver<'a, E: FnMut(RunEvent) + Send> {
    pub(super) orchestrator: &'a Orchestrator,
    pub(super) turn: &'a Turn,
    pub(super) session: &'a Session,
    /// The agent of this run (the session's, or the turn's own settings).
    pub(super) agent: &'a AgentConfig,
    pub(super) run: &'a mut Run,
    pub(super) answer: &'a mut ChatMessage,
    pub(super) emit: &'a mut E,
    pub(super) state: &'a mut TurnState,
    /// The run's guardrail: each model call gets its own check of it.
    pub(super) guardrail: Option<Arc<Guardrail>>,
    /// Knowledge-base passages that ground every model call of the run.
    pub(super) grounding: Option<&'a [SourceRef]>,
}

impl<E: FnMut(RunEvent) + Send> Driver<'_, E> {
    /// Runs rig's state machine until it is done or a step fails.
    pub(super) async fn drive(&mut self, conversation: Vec<Message>) {
        let mut rig_messages = rig_bridge::conversation_to_rig(&conversation);
        let Some(prompt) = rig_messages.pop() else {
            self.fail(RunErrorKind::Client, "nothing to answer".into());
            return;
        };
        let agent_run = AgentRun::new(prompt)
            .with_history(rig_messages)
            .max_turns(self.agent.turn_budget());
        self.checkpoint(&agent_run);
        self.drive_run(agent_run).await;
    }

    /// Runs rig's state machine from where `agent_run` stands (a new run, or a checkpoint)
    /// until it is done, a step fails or a call waits for approval.
    pub(super) async fn drive_run(&mut self, mut agent_run: AgentRun) {
        let tools: std::collections::BTreeSet<String> =
            self.agent.tools.iter().map(|t| t.name.clone()).collect();
        loop {
            if self.turn.cancel.is_cancelled() {
                self.fail(RunErrorKind::Cancelled, "cancelled".into());
            }
            if self.state.error.is_some() {
                break;
            }
            let step = match agent_run.next_step() {
                Ok(step) => step,
                // The agent used its turns (a model asked for tools it does not have):
                // the answer so far stands.
                Err(PromptError::MaxTurns { .. }) => break,
                Err(e) => {
                    self.fail(RunErrorKind::Client, format!("agent run failed: {e}"));
                    break;
                }
            };
            match step {
                AgentRunStep::CallModel {
                    prompt, history, ..
                } => {
                    match self.gate(StepKind::ModelCall, None).await {
                        Some(GateAction::Instructions(text)) if !text.trim().is_empty() => {
                            self.state.instructions = Some(text)
                        }
                        Some(_) => {}
                        // Cancelled while held: the step is not taken.
                        None => {
                            self.fail(RunErrorKind::Cancelled, "cancelled".into());
                            continue;
                        }
                    }
                    let messages = history
                        .iter()
                        .chain(std::iter::once(&prompt))
                        .flat_map(rig_bridge::from_rig)
                        .collect();
                    let Some(response) = self.call_model(messages).await else {
                        continue;
                    };
                    let turn = ModelTurn::new(
                        AssistantMessage::default(),
                        rig_bridge::answer_content(&response.text, &response.tool_calls),
                        rig_bridge::usage_to_rig(response.usage),
                        tools.clone(),
                        tools.clone(),
                        serde_json::json!({ "record_id": response.record_id.to_string() }),
                    );
                    self.state.response = Some(response);
                    if self.state.error.is_some() || self.state.review.is_some() {
                        break;
                    }
                    let outcome = agent_run.model_response(turn);
                    self.resolve(&mut agent_run, outcome);
                    self.checkpoint(&agent_run);
                }
                AgentRunStep::CallTools { calls } => {
                    let Some(results) = self.call_tools(&calls, &agent_run).await else {
                        // A call waits for the user: the run stops here, resumable.
                        break;
                    };
                    if let Err(e) = agent_run.tool_results(results) {
                        self.fail(RunErrorKind::Client, format!("agent run failed: {e}"));
                    }
                }
                AgentRunStep::Done(_) => break,
            }
            self.save_run();
        }
        self.save_run();
    }

    /// Waits at the debugger's gate, if any, before the next step; what it lets the step
    /// do, or `None` when the run was cancelled while it waited.
    pub(super) async fn gate(
        &self,
        kind: StepKind,
        call: Option<crate::runtime::types::ToolCall>,
    ) -> Option<GateAction> {
        let Some(gate) = &self.turn.access.gate else {
            return Some(GateAction::Go);
        };
        let instructions = (kind == StepKind::ModelCall)
            .then(|| self.instructions())
            .flatten();
        tokio::select! {
            action = gate.before(NextStep {
                run: self.run.id,
                index: self.state.step_count + 1,
                kind,
                call,
                instructions,
            }) => Some(action),
            // A run held by the debugger can still be cancelled.
            _ = self.turn.cancel.cancelled() => None,
        }
    }

    /// The instructions model calls are sent with: a debugger's edit, else the agent's.
    fn instructions(&self) -> Option<String> {
        self.state
            .instructions
            .clone()
            .or_else(|| self.agent.instructions.clone())
    }

    /// Follows rig's answer to a model turn: a call to a tool the agent does not have (or
    /// with arguments that are not JSON) is answered with an observation the model reads
    /// in place of a result, never left pending; a retried turn simply goes on.
    fn resolve(
        &mut self,
        agent_run: &mut AgentRun,
        mut outcome: Result<ModelTurnOutcome, PromptError>,
    ) {
        loop {
            match outcome {
                Ok(ModelTurnOutcome::Continue { .. }) | Ok(ModelTurnOutcome::TurnRetried) => return,
                Ok(ModelTurnOutcome::NeedsResolution(context)) => {
                    let reason = invalid_call_observation(
                        &context.tool_name,
                        context.args.as_deref(),
                        &context.available_tools,
                    );
                    outcome =
                        agent_run.resolve_invalid_tool_call(InvalidToolCallAction::skip(reason));
                }
                Err(e) => {
                    self.fail(RunErrorKind::Client, format!("agent run failed: {e}"));
                    return;
                }
            }
        }
    }

    fn save_run(&mut self) {
        self.run.step_count = self.state.step_count;
        self.run.usage = self.state.usage;
        if let Err(e) = self.orchestrator.runs.save(self.run) {
            tracing::error!("could not store run {}: {e}", self.run.id);
        }
    }

    /// Stores the checkpoint after the latest step: rig's state, the batch's results so
    /// far, the answer so far and the calls made.
    pub(super) fn checkpoint(&self, agent_run: &AgentRun) {
        let checkpoint = match serde_json::to_value(agent_run) {
            Ok(agent_run) => Checkpoint {
                agent_run,
                answered: self
                    .state
                    .answered
                    .iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect(),
                answer_text: self.answer.content.clone(),
                answer_tool_calls: self.answer.tool_calls.clone(),
                tool_results: self.answer.tool_results.clone(),
                seen_calls: self.state.seen_calls.clone(),
                instructions: self.state.instructions.clone(),
            },
            Err(e) => {
                tracing::error!("could not serialize run {}: {e}", self.run.id);
                return;
            }
        };
        if let Err(e) =
            self.orchestrator
                .runs
                .put_checkpoint(self.run.id, self.state.step_count, &checkpoint)
        {
            tracing::error!(
                "could not store the checkpoint of step {} of run {}: {e}",
                self.state.step_count,
                self.run.id
            );
        }
    }

    pub(super) fn fail(&mut self, kind: RunErrorKind, message: String) {
        if self.state.error.is_none() {
            self.state.error = Some(RunError { kind, message });
        }
    }

    /// One model step: fit, invoke with this step's context, store the step. Returns the
    /// response when the call produced one (the error, if any, is in the state). The
    /// answer is checkpointed on a timer while it grows, also when text pauses.
    async fn call_model(&mut self, messages: Vec<Message>) -> Option<InvokeResponse> {
        let runtime = self.orchestrator.runtime.clone();
        let agent = self.agent;
        let spec = match runtime.chat_model(Some(&agent.model)) {
            Ok(spec) => spec.clone(),
            Err(e) => {
                self.fail(RunErrorKind::from_invoke(&e), e.to_string());
                return None;
            }
        };
        let system = match (
            self.instructions(),
            self.grounding.map(cite::grounding_prompt),
        ) {
            (Some(instructions), Some(grounding)) => Some(format!("{instructions}\n\n{grounding}")),
            (instructions, None) => instructions,
            (None, grounding) => grounding,
        };
        let request = ChatRequest {
            model: String::new(),
            system,
            messages,
            params: agent.params.clone(),
            tools: agent.tools.clone(),
            tool_choice: agent.tool_choice.for_step(self.state.step_count + 1),
        };
        let fitted = fit::fit(&runtime, &spec, request).await;
        self.state.step_count += 1;
        let index = self.state.step_count;
        let mut step = Step {
            input: fitted.request.messages.clone(),
            system: fitted.request.system.clone(),
            dropped_messages: fitted.dropped,
            prompt_tokens: fitted.prompt_tokens,
            prompt_tokens_estimated: fitted.estimated,
            ..Step::start(self.run.id, index, StepKind::ModelCall)
        };
        self.store_step(&step);
        let mut checks = self.turn.checks.clone();
        let (updates_tx, updates) = tokio::sync::mpsc::unbounded_channel::<GuardrailUpdate>();
        if let Some(g) = &self.guardrail {
            let passages = self
                .grounding
                .map(|s| s.iter().map(|p| p.text.clone()).collect())
                .unwrap_or_default();
            checks.push(Arc::new(
                GuardrailCheck::new(g.clone(), Some(updates_tx)).with_sources(passages),
            ));
        }
        let request = InvokeRequest {
            model: spec.id.clone(),
            chat: fitted.request,
            use_cache: self.turn.use_cache,
            context: CallContext {
                ids: CallIds {
                    caller: self.turn.caller,
                    session: Some(self.session.id),
                    run: Some(self.run.id),
                    step: Some(index),
                    tags: self.turn.tags.clone(),
                },
                checks,
            },
        };

        let response = match self.stream(request, updates).await {
            Ok(response) => response,
            Err(e) => {
                let kind = RunErrorKind::from_invoke(&e);
                let mut message = e.to_string();
                if let InvokeError::Blocked {
                    record_id,
                    message: shown,
                    hook,
                    reason,
                } = &e
                {
                    step.record_id = Some(*record_id);
                    self.state.record_id = Some(*record_id);
                    // Only the first call's input is the user's question; later calls are
                    // refused for what tools returned.
                    self.state.input_blocked = index == 1;
                    if let Some(shown) = shown {
                        message = format!("{shown} (blocked by `{hook}`: {reason})");
                    }
                }
                step.outcome = kind.as_str().to_string();
                self.fail(kind, message);
                self.store_step(&step);
                return None;
            }
        };
        if let Some(sent) = &response.masked_request {
            // An input check rewrote the request: the step keeps what was really sent.
            step.input = sent.messages.clone();
            step.system = sent.system.clone();
            if index == 1 {
                self.state.masked_question = sent
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == Role::User)
                    .map(|m| m.content.clone());
            }
        }
        step.output = response.text.clone();
        step.tool_calls = response.tool_calls.clone();
        step.checks = response.checks.clone();
        step.usage = response.usage;
        step.usage_estimated = response.usage_estimated;
        step.latency_ms = response.latency_ms;
        step.record_id = Some(response.record_id);
        let state = &mut *self.state;
        state.record_id = Some(response.record_id);
        state.usage.input_tokens += response.usage.input_tokens;
        state.usage.output_tokens += response.usage.output_tokens;
        state.usage_estimated |= response.usage_estimated;
        state.cost += response.cost_usd;
        state.latency_ms += response.latency_ms;
        self.answer.tool_calls.extend(response.tool_calls.clone());
        step.outcome = if response.blocked {
            let check = response.guardrail.clone().unwrap_or_default();
            let reason = response.error.clone().unwrap_or_default();
            self.fail(
                RunErrorKind::Blocked,
                match &response.blocked_message {
                    Some(shown) => format!("{shown} (blocked by `{check}`: {reason})"),
                    None => format!("blocked by guardrail `{check}`: {reason}"),
                },
            );
            "blocked".into()
        } else if let Some(reason) = &response.needs_review {
            // The held answer is stored, awaiting approval; nothing of it was streamed, and
            // the run stops here (no tools run for an answer nobody approved yet).
            self.answer.content.push_str(&response.text);
            self.state.review = Some(reason.clone());
            "needs_review".into()
        } else if response.stop_reason == StopReason::Cancelled {
            self.fail(RunErrorKind::Cancelled, "cancelled".into());
            "cancelled".into()
        } else if let Some(error) = &response.error {
            self.fail(RunErrorKind::BrokenStream, error.clone());
            "broken_stream".into()
        } else {
            "ok".into()
        };
        (self.emit)(RunEvent::Usage {
            answer: self.answer.id,
            usage: self.state.usage,
            estimated: self.state.usage_estimated,
        });
        self.store_step(&step);
        Some(response)
    }

    pub(super) fn store_step(&self, step: &Step) {
        if let Err(e) = self.orchestrator.runs.put_step(step) {
            tracing::error!(
                "could not store step {} of run {}: {e}",
                step.index,
                step.run
            );
        }
    }
}

/// What the model reads when it called a tool it does not have, or sent arguments that are
/// not a JSON object.
pub(super) fn invalid_call_observation(name: &str, args: Option<&str>, tools: &[String]) -> String {
    let known = if tools.is_empty() {
        "this agent has no tools; answer directly".to_string()
    } else {
        format!("the tools are: {}", tools.join(", "))
    };
    if tools.iter().any(|t| t == name) {
        format!(
            "error: the arguments of `{name}` are not a JSON object ({}); call it again with \
             valid JSON arguments",
            args.unwrap_or("none")
        )
    } else {
        format!("error: there is no tool `{name}`; {known}")
    }
}
