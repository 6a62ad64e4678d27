//! One-off runs: a question (with optional history) answered by an agent in a session of
//! its own, marked with its origin so it stays out of the chat list. Comparisons,
//! evaluations and batches make every model call this way, so guardrails, records, runs
//! and steps apply to them exactly as to a chat turn.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::events::RunEvent;
use super::{Orchestrator, Turn, TurnError, TurnInput, TurnOutcome};
use crate::runtime::context::Caller;
use crate::runtime::types::Message;
use crate::sessions::{AgentConfig, ChatMessage, Session};
use crate::store::Id;

/// A question for a one-off run.
#[derive(Debug, Clone)]
pub struct OneShot {
    pub agent: AgentConfig,
    /// Earlier turns, sent as the conversation before the question.
    pub history: Vec<Message>,
    pub question: String,
    /// What asked (`eval:JOB`, `batch:JOB`, `compare`); the session keeps it.
    pub origin: String,
    pub caller: Caller,
    pub tags: Vec<String>,
    /// Override the config's response-cache setting.
    pub use_cache: Option<bool>,
    pub cancel: CancellationToken,
}

/// How a one-off run ended.
#[derive(Debug, Clone)]
pub struct OneShotOutcome {
    /// The session the run lives in.
    pub session: Id,
    pub outcome: TurnOutcome,
    /// Time from the start of the run to its first answer text, as the caller saw it.
    pub ttft_ms: Option<f64>,
}

impl Orchestrator {
    /// Runs `shot` in a new session of its own origin; `emit` sees the run's events.
    pub async fn run_once(
        &self,
        shot: OneShot,
        emit: impl FnMut(RunEvent) + Send,
    ) -> Result<OneShotOutcome, TurnError> {
        let mut session = self
            .sessions
            .create_as(shot.agent.clone(), Some(shot.origin.clone()))?;
        self.put_history(&mut session, &shot.history)?;
        self.run_in(session.id, shot, emit).await
    }

    /// Runs `shot` in a copy of `from` holding its messages before `upto` (all of them
    /// when `upto` is none): a question asked against an existing conversation.
    pub async fn run_forked(
        &self,
        from: &Session,
        upto: Option<Id>,
        shot: OneShot,
        emit: impl FnMut(RunEvent) + Send,
    ) -> Result<OneShotOutcome, TurnError> {
        // A fresh id matches no message: without `upto` every message is copied.
        let upto = upto.unwrap_or_default();
        let mut fork = self
            .sessions
            .fork_as(from, upto, Some(shot.origin.clone()))?;
        fork.agent = shot.agent.clone();
        fork.title = from.title.clone();
        self.sessions.save(&fork)?;
        self.put_history(&mut fork, &shot.history)?;
        self.run_in(fork.id, shot, emit).await
    }

    fn put_history(&self, session: &mut Session, history: &[Message]) -> Result<(), TurnError> {
        for message in ChatMessage::from_conversation(history) {
            self.sessions.put_message(session, &message)?;
        }
        Ok(())
    }

    async fn run_in(
        &self,
        session: Id,
        shot: OneShot,
        mut emit: impl FnMut(RunEvent) + Send,
    ) -> Result<OneShotOutcome, TurnError> {
        let mut turn = Turn::new(session, TurnInput::Ask(shot.question), shot.caller);
        turn.tags = shot.tags;
        turn.cancel = shot.cancel;
        turn.use_cache = shot.use_cache;
        turn.agent = Some(shot.agent);
        let started = Instant::now();
        let mut first_text = None;
        let outcome = self
            .run_turn(turn, |event| {
                if first_text.is_none() && matches!(event, RunEvent::TextDelta { .. }) {
                    first_text = Some(started.elapsed().as_secs_f64() * 1000.0);
                }
                emit(event)
            })
            .await?;
        let ttft_ms = first_text.or_else(|| outcome.response.as_ref().and_then(|r| r.ttft_ms));
        Ok(OneShotOutcome {
            session,
            outcome,
            ttft_ms,
        })
    }
}
