//! The orchestrator: every conversation turn is a run of the session's agent on rig-agent's
//! sans-I/O state machine (`AgentRun`), with `Runtime::invoke` as the model behind every
//! step. It owns what clients used to do by hand: building the request from the session,
//! fitting the history into the context window, persisting the user message and the
//! answer (checkpointed as it grows), storing each step, and reporting typed events.
//! It knows nothing of terminals: the TUI and the CLI are its clients.
//!
//! This file holds the public types and the `Orchestrator`; a turn is put in order in
//! `turn`, from `prepare` through `driver` (with `stream` and `tools`) to `finish`.

pub mod approval;
pub mod diff;
mod driver;
pub mod events;
mod finish;
pub mod fit;
pub mod oneshot;
mod prepare;
mod resume;
pub mod rig_bridge;
pub mod runs;
mod stream;
mod tools;
mod turn;

pub use events::describe_intervention;
pub use prepare::retrieval_query;
pub use resume::{Fork, Resume};
pub use runs::delete_session;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::guardrails::Guardrails;
use crate::knowledge::Knowledge;
use crate::runtime::checks::Checks;
use crate::runtime::context::Caller;
use crate::runtime::invoke::InvokeResponse;
use crate::runtime::Runtime;
use crate::sessions::{AgentConfig, ChatMessage, SessionStore};
use crate::store::{Id, StoreError};
use events::RunError;
use runs::RunStore;

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
    /// The tools the run may call and how their calls are approved.
    pub access: ToolAccess,
}

/// The tools a run may call, and who approves the calls that need it.
#[derive(Clone, Default)]
pub struct ToolAccess {
    /// The agent's tools, bound; without them every tool call is answered "not available".
    pub tools: Option<Arc<crate::tools::Toolset>>,
    /// Tools whose calls need the user's approval (`confirm = true`, the agent's approval
    /// policy, an MCP server's destructive hint).
    pub needs_approval: std::collections::BTreeSet<String>,
    /// Approve every call (`--yes`).
    pub auto_approve: bool,
    /// Who is asked; without one, a call that needs approval stops the run as
    /// `awaiting_approval`.
    pub approver: Option<Arc<dyn approval::Approver>>,
    /// Holds the run before each step (the debugger).
    pub gate: Option<Arc<dyn approval::StepGate>>,
    /// The agent file the tools came from (stored with the run, to bind them again on
    /// resume or fork).
    pub agent_file: Option<String>,
}

impl std::fmt::Debug for ToolAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolAccess")
            .field("tools", &self.tools.as_ref().map(|t| t.tools().len()))
            .field("needs_approval", &self.needs_approval)
            .field("auto_approve", &self.auto_approve)
            .field("approver", &self.approver.is_some())
            .field("agent_file", &self.agent_file)
            .finish()
    }
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
            access: ToolAccess::default(),
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
    /// The tool call the run stopped at, waiting for the user (`Orchestrator::resume`).
    pub pending: Option<runs::PendingApproval>,
}

/// A turn that could not start.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("no session {0}; `strata sessions list` shows them")]
    NoSession(Id),
    /// The user's input cannot be acted on (an empty message, nothing to regenerate, an
    /// answer that is not awaiting review).
    #[error("{0}")]
    BadInput(String),
    /// Something the turn depends on cannot be used: the guardrail does not load, the
    /// knowledge bases cannot be searched (the message says which and what to do).
    #[error("{0}")]
    Unavailable(String),
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

    /// Deletes a session with its messages, runs and steps, atomically.
    pub fn delete_session(&self, id: Id) -> Result<(), StoreError> {
        delete_session(&self.sessions, id)
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
}
