//! Ending a turn: the answer's citations, how the answer, the run and a refused question
//! end up (status, note, usage), and storing all of it. Running the agent is the driver's;
//! reporting the end is the turn's.

use super::driver::TurnState;
use super::events::{RunError, RunErrorKind, RunEvent};
use super::runs::{Run, RunStatus};
use super::{Orchestrator, TurnOutcome};
use crate::knowledge::cite::{self, SourceRef};
use crate::knowledge::retrieve::Hit;
use crate::runtime::types::Role;
use crate::sessions::{ChatMessage, MessageStatus, Session};
use crate::store::{now_micros, StoreError};

/// What a turn (or a resumed or forked run) ends with, besides the driver's state.
pub(super) struct Ending {
    pub(super) session: Session,
    pub(super) run: Run,
    pub(super) answer: ChatMessage,
    /// The session's messages the run answered (a refused question is marked in them).
    pub(super) history: Vec<ChatMessage>,
    /// The answer a regeneration replaces once the new one is complete.
    pub(super) replaced: Option<ChatMessage>,
    pub(super) retrieved: Option<Vec<Hit>>,
    pub(super) sources: Option<Vec<SourceRef>>,
}

impl Orchestrator {
    /// Ends a run: cites, settles and stores the answer and the run, reports `Finished`
    /// and returns the outcome. A storage failure here becomes the run's error (when it
    /// had none).
    pub(super) async fn conclude(
        &self,
        ending: Ending,
        state: TurnState,
        emit: &mut (impl FnMut(RunEvent) + Send),
    ) -> TurnOutcome {
        let Ending {
            mut session,
            mut run,
            mut answer,
            mut history,
            replaced,
            retrieved,
            mut sources,
        } = ending;
        // A paused run cites at its real end.
        if state.paused.is_none() {
            if let (Some(hits), Some(mut sources)) = (retrieved.as_ref(), sources.take()) {
                self.cite(&mut answer, hits, &mut sources).await;
                answer.sources = sources;
            }
        } else if let Some(sources) = sources.take() {
            answer.sources = sources;
        }
        settle(&mut answer, &mut run, &state);
        let blocked_prompt = checked_question(&mut history, &state);
        let stored = self.end_answer(
            &mut session,
            &run,
            &answer,
            blocked_prompt.as_ref(),
            replaced
                .as_ref()
                .filter(|_| answer.status == MessageStatus::Complete),
        );
        let error = match (state.error.clone(), stored) {
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
        TurnOutcome {
            run: run.id,
            answer,
            error,
            review: state.review,
            response: state.response,
            pending: state.paused,
        }
    }

    /// Marks the passages the answer cites (dropping markers that match none); an answer
    /// without markers is attributed by similarity.
    pub(super) async fn cite(
        &self,
        answer: &mut ChatMessage,
        hits: &[Hit],
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

    /// Stores how the run ended: the run, the answer, a blocked question, and removes the
    /// answer a regeneration replaced. Every part is tried even when one fails.
    pub(super) fn end_answer(
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

/// Sets how the answer and the run ended from what the turn accumulated: usage, status,
/// note, and the error as the answer's text when nothing else was written.
pub(super) fn settle(answer: &mut ChatMessage, run: &mut Run, state: &TurnState) {
    let error = state.error.as_ref();
    answer.usage = Some(state.usage);
    answer.usage_estimated = state.usage_estimated;
    answer.cost_usd = state.cost;
    answer.latency_ms = Some(state.latency_ms);
    answer.record_id = state.record_id;
    answer.status = match error.map(|e| e.kind) {
        None if state.paused.is_some() => MessageStatus::AwaitingApproval,
        None if state.review.is_some() => MessageStatus::AwaitingReview,
        None => MessageStatus::Complete,
        Some(RunErrorKind::Cancelled) => MessageStatus::Cancelled,
        Some(RunErrorKind::Blocked) => MessageStatus::Blocked,
        Some(RunErrorKind::BrokenStream) => MessageStatus::Incomplete,
        Some(_) if !answer.content.is_empty() => MessageStatus::Incomplete,
        Some(_) => MessageStatus::Error,
    };
    answer.note = match answer.status {
        MessageStatus::Blocked => error.map(|e| e.message.clone()),
        MessageStatus::AwaitingReview => state.review.clone(),
        MessageStatus::AwaitingApproval => state.paused.as_ref().map(|p| p.reason.clone()),
        _ => None,
    };
    if answer.status == MessageStatus::Error {
        if let Some(e) = error {
            answer.content = e.message.clone();
        }
    }
    run.pending = state.paused.clone();
    run.status = match error.map(|e| e.kind) {
        None if state.paused.is_some() => RunStatus::AwaitingApproval,
        None => RunStatus::Done,
        Some(RunErrorKind::Cancelled) => RunStatus::Cancelled,
        Some(RunErrorKind::Blocked) => RunStatus::Blocked,
        Some(_) => RunStatus::Failed,
    };
    run.error = error.map(|e| e.message.clone());
    run.ended_us = state.paused.is_none().then(now_micros);
    run.usage = state.usage;
}

/// The newest question as it must be stored again, if a check acted on it: a question
/// refused before the model was called stays visible, marked, and is not sent again (the
/// check refused the request; the newest question is what the user can change); one an
/// input check masked is stored as it was sent (masked), so the value is not kept, shown
/// or sent again as history.
pub(super) fn checked_question(
    history: &mut [ChatMessage],
    state: &TurnState,
) -> Option<ChatMessage> {
    (state.input_blocked || state.masked_question.is_some())
        .then(|| history.iter_mut().rev().find(|m| m.role == Role::User))
        .flatten()
        .map(|question| {
            if state.input_blocked {
                question.status = MessageStatus::Blocked;
                question.note = state.error.as_ref().map(|e| e.message.clone());
            } else if let Some(masked) = &state.masked_question {
                question.content = masked.clone();
            }
            question.clone()
        })
}

/// The run error of a conversation that could not be stored.
pub(super) fn storage_error(e: &StoreError) -> RunError {
    RunError {
        kind: RunErrorKind::Storage,
        message: format!("could not store the conversation: {e}"),
    }
}
