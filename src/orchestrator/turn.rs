//! One turn of a session from start to end: prepare it, start the run and the answer,
//! drive the agent, end it and report `Finished`. The steps themselves live in `prepare`,
//! `driver` and `finish`; this file only puts them in order.

use tokio::sync::mpsc::UnboundedSender;

use super::driver::{Driver, TurnState};
use super::events::RunEvent;
use super::finish::{storage_error, Ending};
use super::prepare::Prepared;
use super::{Orchestrator, Turn, TurnError, TurnOutcome};
use crate::knowledge::cite;
use crate::runtime::types::Role;
use crate::sessions::{ChatMessage, MessageStatus};

impl Orchestrator {
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
    /// every step (the run stops early, resumable, at a tool call that waits for the
    /// user's approval: `TurnOutcome::pending`). `emit` sees the run's events in order, ending with `Finished` once the
    /// run has started (also when storing fails midway: the run and the answer are then
    /// ended best-effort, with the error of kind `storage`).
    pub async fn run_turn(
        &self,
        turn: Turn,
        mut emit: impl FnMut(RunEvent) + Send,
    ) -> Result<TurnOutcome, TurnError> {
        let Prepared {
            mut session,
            mut history,
            prompt,
            replaced,
            agent,
            guardrail,
            retrieved,
        } = self.prepare(&turn).await?;
        let sources = retrieved.as_deref().map(cite::sources);
        let mut answer = ChatMessage::new(Role::Assistant, "");
        answer.id = turn.answer_id;
        answer.model = Some(agent.model.clone());
        answer.status = MessageStatus::Streaming;
        let prompt_message = prompt
            .as_ref()
            .map(|p| p.id)
            .or_else(|| history.last().map(|m| m.id));
        let agent_file = turn.access.agent_file.clone();
        let mut run =
            self.runs
                .start_with(session.id, &agent, prompt_message, answer.id, |run| {
                    run.agent_file = agent_file;
                })?;
        answer.run_id = Some(run.id);

        let mut state = TurnState {
            approved_always: session.approved_tools.clone(),
            ..TurnState::default()
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
                        m.status.is_history()
                            && (m.role == Role::User
                                || !m.content.is_empty()
                                || !m.tool_results.is_empty())
                    })
                    .flat_map(ChatMessage::to_messages)
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
                    guardrail,
                    grounding: sources.as_deref(),
                };
                driver.drive(conversation).await;
            }
            Err(e) => state.error = Some(e),
        }

        Ok(self
            .conclude(
                Ending {
                    session,
                    run,
                    answer,
                    history,
                    replaced,
                    retrieved,
                    sources,
                },
                state,
                &mut emit,
            )
            .await)
    }
}
