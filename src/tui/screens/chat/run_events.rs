//! Runs in the chat: sending a question, starting and cancelling an answer, applying the
//! orchestrator's run events and streamed text to the conversation, pulls, regenerating.
//! Not responsible for running turns (the runner's) or drawing them (see `view`).

use super::*;

impl ChatScreen {
    /// Cancels the running generation; false when nothing was running.
    pub(super) fn cancel_generation(&mut self, cx: &mut Shared) -> bool {
        match &self.streaming {
            Some(s) => {
                s.cancel.cancel();
                cx.flash = Some("cancelling…".into());
                true
            }
            None => false,
        }
    }

    /// Keeps the unsent input and the settings with the session (saved off the UI task).
    pub fn save_draft(&mut self) {
        self.session.draft = self.composer.input.text().to_string();
        self.jobs
            .push(StoreJob::Save(Box::new(self.session.clone())));
    }

    pub(super) fn send(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        if self.streaming.is_some() {
            cx.flash = Some("still answering; Esc cancels".into());
            return;
        }
        if self.composer.input.is_blank() {
            return;
        }
        let text = self.composer.input.take();
        self.composer.history.push(text.clone());
        self.composer.history_pos = None;
        let mut turn = Turn::new(self.session.id, TurnInput::Ask(text.clone()), Caller::Tui);
        turn.agent = Some(self.session.agent.clone());
        turn.save_agent = true;
        // Shown at once; the orchestrator stores both (off this task) under the same ids.
        // The orchestrator names the stored session the same way; keep this copy in step.
        if self.session.title == crate::sessions::NEW_TITLE {
            self.session.title = crate::sessions::title_from(&text);
            // The sidebar's copy too, before the store is listed again.
            let id = self.session.id;
            if let Some(listed) = self.sidebar.sessions.iter_mut().find(|s| s.id == id) {
                listed.title = self.session.title.clone();
            }
        }
        let mut user = ChatMessage::new(Role::User, text);
        user.id = turn.prompt_id;
        self.messages.push(user);
        self.session.draft.clear();
        self.start_answer(cx, turn, fx);
    }

    /// Shows an empty answer and asks the orchestrator to run the turn.
    pub(super) fn start_answer(&mut self, cx: &mut Shared, turn: Turn, fx: &mut Vec<Effect>) {
        let mut answer = ChatMessage::new(Role::Assistant, "");
        answer.id = turn.answer_id;
        answer.model = Some(self.session.agent.model.clone());
        answer.status = MessageStatus::Streaming;
        self.streaming = Some(Streaming {
            message: answer.id,
            session: self.session.id,
            cancel: turn.cancel.clone(),
            started: Instant::now(),
        });
        fx.push(Effect::Turn(ScreenId::Chat, Box::new(turn)));
        self.messages.push(answer);
        self.follow = true;
        self.selected_message = None;
        self.refresh_views(cx);
    }

    pub(super) fn on_stream(&mut self, message: Id, event: StreamEvent) {
        if let StreamEvent::TextDelta { text } = event {
            if let Some(m) = self.messages.iter_mut().rev().find(|m| m.id == message) {
                m.content.push_str(&text);
            }
        }
    }

    pub(super) fn on_run_event(&mut self, cx: &mut Shared, event: RunEvent) {
        match event {
            RunEvent::Intervention {
                check,
                action,
                detail,
                ..
            } => {
                cx.flash = Some(format!(
                    "guardrail: {}",
                    describe_intervention(&check, action, &detail)
                ))
            }
            RunEvent::Guardrail { update, .. } => self.guard.note(update),
            RunEvent::ToolCall { call, .. } => {
                cx.flash = Some(format!("tool call: {}({})", call.name, call.arguments))
            }
            RunEvent::ToolResult {
                call, observation, ..
            } => cx.flash = Some(format!("tool {}: {observation}", call.name)),
            RunEvent::Finished {
                session,
                answer,
                prompt,
                error,
                ..
            } => self.on_finished(cx, session, answer, prompt, error),
            RunEvent::Started { .. } => self.guard.reset(),
            RunEvent::Retrieved { answer, sources } => {
                if let Some(m) = self.messages.iter_mut().rev().find(|m| m.id == answer) {
                    m.sources = sources;
                }
            }
            RunEvent::TextDelta { .. } | RunEvent::Usage { .. } => {}
        }
    }

    /// The run stored its answer: show it as stored, say how it ended.
    pub(super) fn on_finished(
        &mut self,
        cx: &mut Shared,
        session: Id,
        answer: ChatMessage,
        prompt: Option<ChatMessage>,
        error: Option<crate::orchestrator::events::RunError>,
    ) {
        if self
            .streaming
            .as_ref()
            .is_some_and(|s| s.message == answer.id)
        {
            self.streaming = None;
        }
        cx.flash = error.map(|e| match e.kind {
            RunErrorKind::Cancelled => "cancelled; the partial answer is kept".to_string(),
            RunErrorKind::Blocked => e.message,
            RunErrorKind::BrokenStream => format!("the stream broke: {}", e.message),
            RunErrorKind::Auth => format!("authentication failed: {}", e.message),
            RunErrorKind::Throttled => format!("throttled by the provider: {}", e.message),
            RunErrorKind::Unreachable => format!("unreachable: {}", e.message),
            _ => format!("error: {}", e.message),
        });
        if session == self.session.id {
            // The run may have changed the question too (a check refused it).
            for stored in prompt.into_iter().chain(std::iter::once(answer)) {
                if let Some(m) = self.messages.iter_mut().rev().find(|m| m.id == stored.id) {
                    *m = stored;
                }
            }
            self.refresh_views(cx);
        }
        self.reload_sidebar();
    }

    pub(super) fn on_pulled(&mut self, cx: &mut Shared, model: String, result: Result<(), String>) {
        cx.pull = None;
        match result {
            Ok(()) => {
                if let Some(entry) = cx.catalog.iter_mut().find(|e| e.id == model) {
                    entry.downloaded = true;
                }
                if let Some((session, _)) = self.pending_model.take_if(|(_, m)| *m == model) {
                    if session == self.session.id {
                        self.set_model(cx, &model);
                    } else {
                        // Picked in a session the user has left: update it there.
                        self.jobs.push(StoreJob::SetModel {
                            id: session,
                            model: model.clone(),
                        });
                    }
                }
                cx.flash = Some(format!("{model} downloaded"));
            }
            Err(e) => cx.flash = Some(format!("pull of {model} failed: {e}")),
        }
    }

    pub(super) fn regenerate(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        if self.streaming.is_some() {
            return;
        }
        let last_answer = self
            .messages
            .last()
            .is_some_and(|m| m.role == Role::Assistant);
        let question = self.messages.len() - usize::from(last_answer);
        if !self.messages[..question]
            .last()
            .is_some_and(|m| m.role == Role::User)
        {
            cx.flash = Some("nothing to regenerate".into());
            return;
        }
        if last_answer {
            // The orchestrator removes it from the store and writes the new one.
            self.messages.pop();
        }
        let mut turn = Turn::new(self.session.id, TurnInput::Regenerate, Caller::Tui);
        turn.agent = Some(self.session.agent.clone());
        turn.save_agent = true;
        self.start_answer(cx, turn, fx);
    }
}
