//! The orchestrator: every conversation turn is a run of the session's agent on rig-agent's
//! sans-I/O state machine (`AgentRun`), with `Runtime::invoke` as the model behind every
//! step. It owns what clients used to do by hand: building the request from the session,
//! fitting the history into the context window, persisting the user message and the
//! answer (checkpointed as it grows), storing each step, and reporting typed events.
//! It knows nothing of terminals: the TUI and the CLI are its clients.

pub mod agent;
pub mod events;
pub mod fit;
pub mod oneshot;
pub mod rig_bridge;
pub mod runs;

use std::sync::Arc;
use std::time::Duration;

use rig_agent::run::{AgentRun, AgentRunStep, ModelTurn, PromptError};
use rig_core::message::{AssistantMessage, ToolResultContent, UserContent};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::guardrails::{Guardrail, GuardrailCheck, GuardrailUpdate, Guardrails};
use crate::knowledge::cite::{self, SourceRef, DEFAULT_TOP_K};
use crate::knowledge::retrieve::Query;
use crate::knowledge::Knowledge;
use crate::runtime::checks::{Action, Checks};
use crate::runtime::context::{CallContext, CallIds, Caller};
use crate::runtime::invoke::{InvokeError, InvokeRequest, InvokeResponse};
use crate::runtime::types::{ChatRequest, Role, StopReason, StreamEvent, ToolCall, Usage};
use crate::runtime::Runtime;
use crate::sessions::{AgentConfig, ChatMessage, MessageStatus, Session, SessionStore};
use crate::store::{now_micros, Id, StoreError};
use events::{RunError, RunErrorKind, RunEvent};
use runs::{Run, RunStatus, RunStore, Step, StepKind};

/// A session's guardrail setting that opts out of the config's default guardrail.
pub const NO_GUARDRAIL: &str = "none";

/// How often a growing answer is written to sled (a kill -9 keeps what was shown up to
/// the last checkpoint).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// What the user asks of a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnInput {
    /// A new user message.
    Ask(String),
    /// Answer the last user message again (the last answer, if any, is replaced).
    Regenerate,
}

/// One turn of a session, as a client starts it. The ids are the client's, so it can show
/// the messages before the run reports them.
#[derive(Clone)]
pub struct Turn {
    pub session: Id,
    pub input: TurnInput,
    pub caller: Caller,
    pub tags: Vec<String>,
    pub cancel: CancellationToken,
    pub prompt_id: Id,
    pub answer_id: Id,
    /// Override the config's response-cache setting.
    pub use_cache: Option<bool>,
    /// Checks for this turn on top of the runtime's and the agent's.
    pub checks: Checks,
    /// The agent settings for this run instead of the session's stored ones: the TUI's
    /// current settings (edited a moment ago), or a script's flags for one turn.
    pub agent: Option<AgentConfig>,
    /// Whether `agent` becomes the session's (the TUI) or serves this turn only (`-c`).
    pub save_agent: bool,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("session", &self.session)
            .field("input", &self.input)
            .field("caller", &self.caller)
            .field("answer_id", &self.answer_id)
            .finish_non_exhaustive()
    }
}

impl Turn {
    pub fn new(session: Id, input: TurnInput, caller: Caller) -> Turn {
        Turn {
            session,
            input,
            caller,
            tags: Vec::new(),
            cancel: CancellationToken::new(),
            prompt_id: Id::new(),
            answer_id: Id::new(),
            use_cache: None,
            checks: Vec::new(),
            agent: None,
            save_agent: false,
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub run: Id,
    /// The answer as stored.
    pub answer: ChatMessage,
    pub error: Option<RunError>,
    /// Why a guardrail held the answer for review (the answer awaits approval).
    pub review: Option<String>,
    /// The last model call's response (absent when no call produced one).
    pub response: Option<InvokeResponse>,
}

/// A turn that could not start.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("no session {0}; `strata sessions list` shows them")]
    NoSession(Id),
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Drives agent runs for sessions.
#[derive(Clone)]
pub struct Orchestrator {
    runtime: Arc<Runtime>,
    pub sessions: SessionStore,
    pub runs: RunStore,
    pub guardrails: Arc<Guardrails>,
    pub knowledge: Arc<Knowledge>,
}

impl Orchestrator {
    /// The orchestrator of a runtime. Answers and runs left streaming by a process that
    /// died are marked interrupted.
    pub fn new(runtime: Arc<Runtime>) -> Result<Orchestrator, StoreError> {
        let sessions = SessionStore::new(runtime.store.clone());
        let runs = RunStore::new(runtime.store.clone());
        let messages = sessions.mark_interrupted()?;
        let interrupted = runs.mark_interrupted()?;
        if messages + interrupted > 0 {
            tracing::info!("marked {messages} answer(s) and {interrupted} run(s) interrupted");
        }
        Ok(Orchestrator {
            guardrails: Arc::new(Guardrails::new(runtime.clone())),
            knowledge: Arc::new(Knowledge::new(runtime.clone())),
            runtime,
            sessions,
            runs,
        })
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Runs a turn on its own task, sending its events to `events`; the task's result
    /// is the outcome (also reported as the `Finished` event).
    pub fn spawn_turn(
        &self,
        turn: Turn,
        events: UnboundedSender<RunEvent>,
    ) -> tokio::task::JoinHandle<Result<TurnOutcome, TurnError>> {
        let this = self.clone();
        tokio::spawn(async move {
            this.run_turn(turn, move |e| {
                let _ = events.send(e);
            })
            .await
        })
    }

    /// Runs one turn: stores the user message, runs the agent, stores the answer and
    /// every step. `emit` sees the run's events in order, ending with `Finished` once the
    /// run has started (also when storing fails midway: the run and the answer are then
    /// ended best-effort, with the error of kind `storage`).
    pub async fn run_turn(
        &self,
        turn: Turn,
        mut emit: impl FnMut(RunEvent) + Send,
    ) -> Result<TurnOutcome, TurnError> {
        let mut session = self
            .sessions
            .get(turn.session)?
            .ok_or(TurnError::NoSession(turn.session))?;
        if let Some(agent) = turn.agent.as_ref().filter(|_| turn.save_agent) {
            if *agent != session.agent {
                session.agent = agent.clone();
                self.sessions.save(&session)?;
            }
        }
        let mut history = self.sessions.messages(session.id)?;
        // Regenerating replaces the last answer, but only once the new one is complete.
        let mut replaced = None;
        let prompt = match &turn.input {
            TurnInput::Ask(text) => {
                if text.trim().is_empty() {
                    return Err(TurnError::BadInput(
                        "the message is empty; type a question".into(),
                    ));
                }
                let mut m = ChatMessage::new(Role::User, text.clone());
                m.id = turn.prompt_id;
                Some(m)
            }
            TurnInput::Regenerate => {
                if history.last().is_some_and(|m| m.role == Role::Assistant) {
                    replaced = history.pop();
                }
                if !history.last().is_some_and(|m| m.role == Role::User) {
                    return Err(TurnError::BadInput(
                        "nothing to regenerate: the session has no question to answer".into(),
                    ));
                }
                None
            }
        };
        let agent = turn.agent.clone().unwrap_or_else(|| session.agent.clone());
        // The agent's guardrail, else the config's default; a guardrail that cannot be
        // loaded stops the turn before anything is stored (never run unguarded).
        let guardrail = match self.guardrail_of(&agent) {
            None => None,
            Some(reference) => Some(self.guardrails.load(&reference).await.map_err(|e| {
                let from = if agent.guardrail.is_some() {
                    "the session's guardrail"
                } else {
                    "the config's default `guardrail`"
                };
                TurnError::BadInput(format!(
                    "{from} {reference:?} cannot be used: {e}; attach another (Ctrl-G in the \
                     TUI, --guardrail NAME) or detach it (`none`)"
                ))
            })?),
        };
        // Knowledge bases: the passages for the newest question, retrieved before anything
        // is stored (a base that cannot be searched stops the turn, like a guardrail).
        let retrieved = if agent.knowledge_bases.is_empty() {
            None
        } else {
            let question = prompt
                .as_ref()
                .map(|p| p.content.clone())
                .or_else(|| {
                    history
                        .iter()
                        .rev()
                        .find(|m| m.role == Role::User)
                        .map(|m| m.content.clone())
                })
                .unwrap_or_default();
            match retrieval_query(guardrail.as_deref(), &question) {
                // The input check will refuse this question: nothing is searched for it.
                None => None,
                Some(text) => {
                    let query = Query::new(text, agent.knowledge_top_k.unwrap_or(DEFAULT_TOP_K));
                    let hits = self
                        .knowledge
                        .retrieve(&agent.knowledge_bases, &query)
                        .await
                        .map_err(|e| {
                            TurnError::BadInput(format!(
                                "the session's knowledge bases cannot be searched: {e}"
                            ))
                        })?;
                    Some(hits)
                }
            }
        };
        let mut sources = retrieved.as_deref().map(cite::sources);
        let mut answer = ChatMessage::new(Role::Assistant, "");
        answer.id = turn.answer_id;
        answer.model = Some(agent.model.clone());
        answer.status = MessageStatus::Streaming;
        let prompt_message = prompt
            .as_ref()
            .map(|p| p.id)
            .or_else(|| history.last().map(|m| m.id));
        let mut run = self
            .runs
            .start(session.id, &agent, prompt_message, answer.id)?;
        answer.run_id = Some(run.id);

        let mut state = TurnState {
            usage: Usage::default(),
            usage_estimated: false,
            cost: 0.0,
            latency_ms: 0.0,
            steps: 0,
            error: None,
            response: None,
            record_id: None,
            input_blocked: false,
            review: None,
            masked_question: None,
        };
        let started = self
            .start_answer(&mut session, &mut history, prompt, &answer)
            .map_err(|e| storage_error(&e));
        match started {
            Ok(prompt) => {
                emit(RunEvent::Started {
                    session: session.id,
                    run: run.id,
                    prompt,
                    answer: answer.clone(),
                });
                if let Some(sources) = &sources {
                    emit(RunEvent::Retrieved {
                        answer: answer.id,
                        sources: sources.clone(),
                    });
                }
                let conversation: Vec<_> = history
                    .iter()
                    .filter(|m| {
                        m.status.is_history() && (m.role == Role::User || !m.content.is_empty())
                    })
                    .map(ChatMessage::to_message)
                    .collect();
                let mut driver = Driver {
                    orchestrator: self,
                    turn: &turn,
                    session: &session,
                    agent: &agent,
                    run: &mut run,
                    answer: &mut answer,
                    emit: &mut emit,
                    state: &mut state,
                    guardrail: guardrail.clone(),
                    grounding: sources.as_deref(),
                };
                driver.drive(conversation).await;
            }
            Err(e) => state.error = Some(e),
        }

        if let (Some(hits), Some(mut sources)) = (retrieved.as_ref(), sources.take()) {
            self.cite(&mut answer, hits, &mut sources).await;
            answer.sources = sources;
        }
        let error = state.error.clone();
        answer.usage = Some(state.usage);
        answer.usage_estimated = state.usage_estimated;
        answer.cost_usd = state.cost;
        answer.latency_ms = Some(state.latency_ms);
        answer.record_id = state.record_id;
        answer.status = match error.as_ref().map(|e| e.kind) {
            None if state.review.is_some() => MessageStatus::AwaitingReview,
            None => MessageStatus::Complete,
            Some(RunErrorKind::Cancelled) => MessageStatus::Cancelled,
            Some(RunErrorKind::Blocked) => MessageStatus::Blocked,
            Some(RunErrorKind::BrokenStream) => MessageStatus::Incomplete,
            Some(_) if !answer.content.is_empty() => MessageStatus::Incomplete,
            Some(_) => MessageStatus::Error,
        };
        answer.note = match answer.status {
            MessageStatus::Blocked => error.as_ref().map(|e| e.message.clone()),
            MessageStatus::AwaitingReview => state.review.clone(),
            _ => None,
        };
        if answer.status == MessageStatus::Error {
            if let Some(e) = &error {
                answer.content = e.message.clone();
            }
        }
        run.status = match error.as_ref().map(|e| e.kind) {
            None => RunStatus::Done,
            Some(RunErrorKind::Cancelled) => RunStatus::Cancelled,
            Some(RunErrorKind::Blocked) => RunStatus::Blocked,
            Some(_) => RunStatus::Failed,
        };
        run.error = error.as_ref().map(|e| e.message.clone());
        run.ended_us = Some(now_micros());
        run.usage = state.usage;
        // A question refused before the model was called stays visible, marked, and is
        // not sent again. (The check refused the request; the newest question is what the
        // user can change.)
        // A question an input check masked is stored as it was sent (masked), so the
        // value is not kept, shown or sent again as history.
        let blocked_prompt = (state.input_blocked || state.masked_question.is_some())
            .then(|| history.iter_mut().rev().find(|m| m.role == Role::User))
            .flatten()
            .map(|question| {
                if state.input_blocked {
                    question.status = MessageStatus::Blocked;
                    question.note = error.as_ref().map(|e| e.message.clone());
                } else if let Some(masked) = &state.masked_question {
                    question.content = masked.clone();
                }
                question.clone()
            });
        let stored = self.end_answer(
            &mut session,
            &run,
            &answer,
            blocked_prompt.as_ref(),
            replaced
                .as_ref()
                .filter(|_| answer.status == MessageStatus::Complete),
        );
        let error = match (error, stored) {
            (error, Ok(())) => error,
            (None, Err(e)) => Some(storage_error(&e)),
            (Some(error), Err(e)) => {
                tracing::error!("could not store the end of run {}: {e}", run.id);
                Some(error)
            }
        };
        emit(RunEvent::Finished {
            session: session.id,
            run: run.id,
            answer: answer.clone(),
            prompt: blocked_prompt,
            error: error.clone(),
        });
        Ok(TurnOutcome {
            run: run.id,
            answer,
            error,
            review: state.review,
            response: state.response,
        })
    }

    /// Marks the passages the answer cites (dropping markers that match none); an answer
    /// without markers is attributed by similarity.
    async fn cite(
        &self,
        answer: &mut ChatMessage,
        hits: &[crate::knowledge::retrieve::Hit],
        sources: &mut [SourceRef],
    ) {
        if answer.content.trim().is_empty() {
            return;
        }
        answer.dropped_citations = cite::apply(&answer.content, sources);
        if !sources.iter().any(|s| s.cited) {
            if let Err(e) = self
                .knowledge
                .infer_citations(&answer.content, hits, sources)
                .await
            {
                tracing::warn!("could not attribute the answer to its sources: {e}");
            }
        }
    }

    /// The guardrail reference a run of `agent` uses: its own, else the config's default.
    /// `none` opts a session out of the default.
    pub fn guardrail_of(&self, agent: &AgentConfig) -> Option<String> {
        agent
            .guardrail
            .clone()
            .or_else(|| self.runtime.config.guardrail.clone())
            .filter(|g| g != NO_GUARDRAIL)
    }

    /// Approves or rejects an answer a guardrail held for review.
    pub fn review(
        &self,
        session: Id,
        message: Id,
        approve: bool,
    ) -> Result<ChatMessage, TurnError> {
        self.sessions
            .review(session, message, approve)
            .map_err(|e| match e {
                Some(e) => TurnError::Store(e),
                None => TurnError::BadInput("that answer is not awaiting review".into()),
            })
    }

    /// Stores the question (if new) and the empty answer; returns the stored question.
    fn start_answer(
        &self,
        session: &mut Session,
        history: &mut Vec<ChatMessage>,
        prompt: Option<ChatMessage>,
        answer: &ChatMessage,
    ) -> Result<Option<ChatMessage>, StoreError> {
        let prompt = prompt.map(|mut p| {
            p.run_id = answer.run_id;
            p
        });
        if let Some(p) = &prompt {
            self.sessions.put_message(session, p)?;
            history.push(p.clone());
        }
        self.sessions.checkpoint_message(session.id, answer)?;
        Ok(prompt)
    }

    /// Stores how the run ended: the run, the answer, a blocked question, and removes the
    /// answer a regeneration replaced. Every part is tried even when one fails.
    fn end_answer(
        &self,
        session: &mut Session,
        run: &Run,
        answer: &ChatMessage,
        blocked_prompt: Option<&ChatMessage>,
        replaced: Option<&ChatMessage>,
    ) -> Result<(), StoreError> {
        let gone = self.sessions.get(session.id)?.is_none();
        let results = [
            // A session deleted meanwhile keeps no run behind.
            if gone {
                self.runs.delete_run(run.id, session.id)
            } else {
                self.runs.save(run)
            },
            self.sessions.finish_message(session, answer),
            blocked_prompt.map_or(Ok(()), |q| self.sessions.put_message(session, q)),
            replaced.map_or(Ok(()), |old| {
                self.sessions.remove_message(session.id, old.id)
            }),
        ];
        results.into_iter().collect()
    }
}

/// The text a question is searched with: with a guardrail, what its patterns and words
/// would mask is masked first (the question is embedded, possibly by a remote model,
/// before the call's input check runs); `None` when they would block it.
pub fn retrieval_query(guardrail: Option<&Guardrail>, question: &str) -> Option<String> {
    let Some(g) = guardrail else {
        return Some(question.to_string());
    };
    let hits = g.deterministic(question);
    if hits
        .iter()
        .any(|h| h.action == crate::guardrails::policy::PolicyAction::Block)
    {
        return None;
    }
    Some(crate::guardrails::engine::mask(question, &hits))
}

fn storage_error(e: &StoreError) -> RunError {
    RunError {
        kind: RunErrorKind::Storage,
        message: format!("could not store the conversation: {e}"),
    }
}

/// What a turn accumulates over its steps.
struct TurnState {
    usage: Usage,
    usage_estimated: bool,
    cost: f64,
    latency_ms: f64,
    steps: u32,
    error: Option<RunError>,
    /// The last model call's response.
    response: Option<InvokeResponse>,
    /// The last model call's record (also when the call was refused before the model).
    record_id: Option<Id>,
    /// A check refused the question itself (it must not be sent again as history).
    input_blocked: bool,
    /// A guardrail held the answer for review, and why.
    review: Option<String>,
    /// The question as an input check masked it (what was sent instead).
    masked_question: Option<String>,
}

/// The state of one turn while rig's run asks for model calls and tool results.
struct Driver<'a, E: FnMut(RunEvent) + Send> {
    orchestrator: &'a Orchestrator,
    turn: &'a Turn,
    session: &'a Session,
    /// The agent of this run (the session's, or the turn's own settings).
    agent: &'a AgentConfig,
    run: &'a mut Run,
    answer: &'a mut ChatMessage,
    emit: &'a mut E,
    state: &'a mut TurnState,
    /// The run's guardrail: each model call gets its own check of it.
    guardrail: Option<Arc<Guardrail>>,
    /// Knowledge-base passages that ground every model call of the run.
    grounding: Option<&'a [SourceRef]>,
}

impl<E: FnMut(RunEvent) + Send> Driver<'_, E> {
    /// Runs rig's state machine until it is done or a step fails.
    async fn drive(&mut self, conversation: Vec<crate::runtime::types::Message>) {
        let mut rig_messages = rig_bridge::conversation_to_rig(&conversation);
        let Some(prompt) = rig_messages.pop() else {
            self.fail(RunErrorKind::Client, "nothing to answer".into());
            return;
        };
        let mut agent_run = AgentRun::new(prompt)
            .with_history(rig_messages)
            .max_turns(self.agent.turn_budget());
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
                    if let Err(e) = agent_run.model_response(turn) {
                        self.fail(RunErrorKind::Client, format!("agent run failed: {e}"));
                    }
                }
                AgentRunStep::CallTools { calls } => {
                    let results = self.call_tools(&calls);
                    if let Err(e) = agent_run.tool_results(results) {
                        self.fail(RunErrorKind::Client, format!("agent run failed: {e}"));
                    }
                }
                AgentRunStep::Done(_) => break,
            }
            self.save_state(&agent_run);
        }
        self.save_state(&agent_run);
    }

    fn save_state(&mut self, agent_run: &AgentRun) {
        self.run.steps = self.state.steps;
        self.run.usage = self.state.usage;
        self.run.state = serde_json::to_value(agent_run).ok();
        if let Err(e) = self.orchestrator.runs.save(self.run) {
            tracing::error!("could not store run {}: {e}", self.run.id);
        }
    }

    fn fail(&mut self, kind: RunErrorKind, message: String) {
        if self.state.error.is_none() {
            self.state.error = Some(RunError { kind, message });
        }
    }

    /// One model step: fit, invoke with this step's context, store the step. Returns the
    /// response when the call produced one (the error, if any, is in the state). The
    /// answer is checkpointed on a timer while it grows, also when text pauses.
    async fn call_model(
        &mut self,
        messages: Vec<crate::runtime::types::Message>,
    ) -> Option<InvokeResponse> {
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
            agent.instructions.clone(),
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
        };
        let fitted = fit::fit(&runtime, &spec, request).await;
        self.state.steps += 1;
        let index = self.state.steps;
        let mut step = Step {
            run: self.run.id,
            index,
            kind: StepKind::ModelCall,
            input: fitted.request.messages.clone(),
            system: fitted.request.system.clone(),
            output: String::new(),
            tool_calls: Vec::new(),
            usage: Usage::default(),
            usage_estimated: false,
            dropped_messages: fitted.dropped,
            prompt_tokens: fitted.prompt_tokens,
            prompt_tokens_estimated: fitted.estimated,
            started_us: now_micros(),
            latency_ms: 0.0,
            record_id: None,
            outcome: "running".into(),
            checks: Vec::new(),
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
        let updates = std::sync::Mutex::new(updates);
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

        // The answer grows here; a ticker beside the call writes it when it changed.
        let answer_id = self.answer.id;
        let live = std::sync::Mutex::new((std::mem::take(&mut self.answer.content), false));
        let result = {
            let emit = &mut *self.emit;
            let mut sink = |event: &StreamEvent| {
                // The guardrail's assessments so far come first: they explain the event.
                if let Ok(mut rx) = updates.lock() {
                    while let Ok(update) = rx.try_recv() {
                        emit(RunEvent::Guardrail {
                            answer: answer_id,
                            update,
                        });
                    }
                }
                match event {
                    StreamEvent::TextDelta { text } => {
                        if let Ok(mut live) = live.lock() {
                            live.0.push_str(text);
                            live.1 = true;
                        }
                        emit(RunEvent::TextDelta {
                            answer: answer_id,
                            text: text.clone(),
                        });
                    }
                    StreamEvent::ToolCallDelta {
                        id,
                        name,
                        arguments,
                        ..
                    } => emit(RunEvent::ToolCall {
                        answer: answer_id,
                        call: ToolCall {
                            id: id.clone().unwrap_or_default(),
                            name: name.clone().unwrap_or_default(),
                            arguments: arguments.clone(),
                        },
                    }),
                    StreamEvent::Intervention {
                        check,
                        action,
                        detail,
                    } => emit(RunEvent::Intervention {
                        answer: answer_id,
                        check: check.clone(),
                        action: *action,
                        detail: detail.clone(),
                    }),
                    // Usage is reported once per step, as the turn's running total (below).
                    StreamEvent::Usage(_) | StreamEvent::Stop { .. } => {}
                }
            };
            let call = runtime.invoke(request, &mut sink, self.turn.cancel.clone());
            tokio::pin!(call);
            let mut ticker = tokio::time::interval(CHECKPOINT_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let result = loop {
                tokio::select! {
                    result = &mut call => break result,
                    _ = ticker.tick() => {
                        let snapshot = match live.lock() {
                            Ok(mut live) if live.1 => {
                                live.1 = false;
                                Some(live.0.clone())
                            }
                            _ => None,
                        };
                        if let Some(content) = snapshot {
                            let mut answer = self.answer.clone();
                            answer.content = content;
                            checkpoint(&self.orchestrator.sessions, self.session.id, &answer);
                        }
                    }
                }
            };
            result
        };
        self.answer.content = live.into_inner().map(|l| l.0).unwrap_or_default();
        if let Ok(mut rx) = updates.lock() {
            while let Ok(update) = rx.try_recv() {
                (self.emit)(RunEvent::Guardrail {
                    answer: answer_id,
                    update,
                });
            }
        }

        let response = match result {
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
            answer: answer_id,
            usage: self.state.usage,
            estimated: self.state.usage_estimated,
        });
        self.store_step(&step);
        Some(response)
    }

    /// Tool calls: the agent has no tools yet (the agents issue fills the slot), so each
    /// call is answered with an error result the model can read.
    fn call_tools(&mut self, calls: &[rig_agent::run::PendingToolCall]) -> Vec<UserContent> {
        self.state.steps += 1;
        let mut output = Vec::new();
        let results = calls
            .iter()
            .map(|pending| {
                if let Some(pre) = &pending.preresolved_result {
                    return pre.clone();
                }
                let call = &pending.tool_call;
                let text = format!(
                    "tool `{}` is not available to this agent",
                    call.function.name
                );
                output.push(text.clone());
                UserContent::ToolResult(call.error_result(vec![ToolResultContent::text(text)]))
            })
            .collect();
        let step = Step {
            run: self.run.id,
            index: self.state.steps,
            kind: StepKind::ToolCall,
            input: Vec::new(),
            system: None,
            output: output.join("\n"),
            tool_calls: calls
                .iter()
                .map(|c| ToolCall {
                    id: c.tool_call.id.wire().into_owned(),
                    name: c.tool_call.function.name.to_string(),
                    arguments: serde_json::Value::Object(c.tool_call.function.arguments.clone())
                        .to_string(),
                })
                .collect(),
            usage: Usage::default(),
            usage_estimated: false,
            dropped_messages: 0,
            prompt_tokens: 0,
            prompt_tokens_estimated: false,
            started_us: now_micros(),
            latency_ms: 0.0,
            record_id: None,
            outcome: "unavailable".into(),
            checks: Vec::new(),
        };
        self.store_step(&step);
        results
    }

    fn store_step(&self, step: &Step) {
        if let Err(e) = self.orchestrator.runs.put_step(step) {
            tracing::error!(
                "could not store step {} of run {}: {e}",
                step.index,
                step.run
            );
        }
    }
}

/// Writes the answer as it stands and flushes it to disk off this task.
fn checkpoint(sessions: &SessionStore, session: Id, answer: &ChatMessage) {
    if let Err(e) = sessions.checkpoint_message(session, answer) {
        tracing::warn!("could not checkpoint the answer: {e}");
        return;
    }
    let sessions = sessions.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = sessions.flush() {
            tracing::warn!("could not flush the checkpoint: {e}");
        }
    });
}

/// The intervention a run event describes, for clients that show them.
pub fn describe_intervention(check: &str, action: Action, detail: &str) -> String {
    let verb = match action {
        Action::Allow => "allowed",
        Action::Hold => "held",
        Action::Mask => "masked",
        Action::Review => "held for review",
        Action::Block => "blocked",
    };
    format!("{check} {verb}: {detail}")
}
