//! Streaming one model call of a run: the pipeline's events become run events (the
//! guardrail's assessments first), and the growing answer is checkpointed on a timer.
//! What the call's response means for the run is the driver's.

use tokio::sync::mpsc::UnboundedReceiver;

use super::driver::Driver;
use super::events::RunEvent;
use super::CHECKPOINT_EVERY;
use crate::guardrails::GuardrailUpdate;
use crate::runtime::invoke::{InvokeError, InvokeRequest, InvokeResponse};
use crate::runtime::types::StreamEvent;
use crate::sessions::{ChatMessage, SessionStore};
use crate::store::Id;

impl<E: FnMut(RunEvent) + Send> Driver<'_, E> {
    /// Invokes the model, passing its events on as they come; the answer grows in
    /// `self.answer.content` and is written whenever it changed, every `CHECKPOINT_EVERY`.
    /// `updates` are the run guardrail's assessments of this call.
    pub(super) async fn stream(
        &mut self,
        request: InvokeRequest,
        updates: UnboundedReceiver<GuardrailUpdate>,
    ) -> Result<InvokeResponse, InvokeError> {
        let runtime = self.orchestrator.runtime.clone();
        let updates = std::sync::Mutex::new(updates);
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
                    StreamEvent::ToolCall(call) => emit(RunEvent::ToolCall {
                        answer: answer_id,
                        call: call.clone(),
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
                    // Usage is reported once per step, as the turn's running total (by
                    // the driver); pieces of tool calls never reach the caller.
                    StreamEvent::Usage(_)
                    | StreamEvent::Stop { .. }
                    | StreamEvent::ToolCallDelta { .. } => {}
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
        result
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
