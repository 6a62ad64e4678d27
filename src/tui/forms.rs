//! The agent modals: the approval prompt a tool call that needs the user opens (approve,
//! approve for the session, edit the arguments, deny with a reason, give the result by
//! hand, or decide later) and the fork form (another model, edited instructions, an edited
//! tool result) that also edits a held step. `layers` stacks them and hands them keys;
//! what a decision does is the screen's.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::agent_jobs::ForkRequest;
use super::input::InputBox;
use super::keymap::{Action, Context};
use super::layers::{edit, Handled, Reply};
use super::msg::ScreenId;
use super::theme::Theme;
use super::view;
use crate::orchestrator::approval::{ApprovalRequest, Decision, GateAction};
use crate::orchestrator::runs::{Run, RunStatus};
use crate::runtime::types::ToolCall;
use crate::store::Id;

/// What the user is typing in the approval prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalField {
    Args,
    DenyReason,
    Result,
}

impl ApprovalField {
    fn title(self) -> &'static str {
        match self {
            ApprovalField::Args => "Arguments (a JSON object), Enter runs the call with them",
            ApprovalField::DenyReason => "Why not (the model reads it), Enter denies",
            ApprovalField::Result => "The result (JSON or text), Enter answers the call with it",
        }
    }
}

/// A tool call waiting for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPrompt {
    /// The screen whose run asks (the decision goes there, whichever screen is shown).
    pub owner: ScreenId,
    pub run: Id,
    pub step: u32,
    pub call: ToolCall,
    pub reason: String,
    /// A field being typed (edit, deny, result), with what is typed.
    pub typing: Option<(ApprovalField, InputBox)>,
    /// Why what was typed cannot be used.
    pub error: Option<String>,
}

impl ApprovalPrompt {
    pub fn new(
        owner: ScreenId,
        run: Id,
        step: u32,
        call: ToolCall,
        reason: String,
    ) -> ApprovalPrompt {
        ApprovalPrompt {
            owner,
            run,
            step,
            call,
            reason,
            typing: None,
            error: None,
        }
    }

    /// The prompt for the call `run` waits on, if it waits for one.
    pub fn for_run(owner: ScreenId, run: &Run) -> Option<ApprovalPrompt> {
        match (&run.status, &run.pending) {
            (RunStatus::AwaitingApproval, Some(p)) => Some(ApprovalPrompt::new(
                owner,
                run.id,
                p.step,
                p.call.clone(),
                p.reason.clone(),
            )),
            _ => None,
        }
    }

    /// The prompt for a live run's question.
    pub fn for_request(owner: ScreenId, request: ApprovalRequest) -> ApprovalPrompt {
        ApprovalPrompt::new(
            owner,
            request.run,
            request.step,
            request.call,
            request.reason,
        )
    }

    pub fn contexts(&self) -> Vec<Context> {
        match self.typing {
            Some(_) => vec![Context::Search],
            None => vec![Context::Approval],
        }
    }

    fn reply(&self, decision: Option<Decision>) -> Handled {
        Handled::Reply(Reply::Approval {
            owner: self.owner,
            run: self.run,
            decision,
        })
    }

    pub fn on_action(&mut self, action: Action) -> Handled {
        use Action as A;
        if let Some((field, input)) = &mut self.typing {
            return match action {
                A::Cancel => {
                    self.typing = None;
                    self.error = None;
                    Handled::Consumed
                }
                A::SearchSubmit => {
                    let text = input.text().to_string();
                    let decision = match field {
                        ApprovalField::Args => Decision::EditArgs(text),
                        ApprovalField::DenyReason => Decision::Deny(text),
                        ApprovalField::Result => Decision::Result(text),
                    };
                    match decision.check() {
                        Ok(()) => self.reply(Some(decision)),
                        Err(e) => {
                            self.error = Some(e);
                            Handled::Consumed
                        }
                    }
                }
                _ => Handled::Consumed,
            };
        }
        match action {
            A::ApproveCall => self.reply(Some(Decision::Approve)),
            A::ApproveCallAlways => self.reply(Some(Decision::ApproveAlways)),
            A::EditCallArgs => self.type_in(ApprovalField::Args, &self.call.arguments.clone()),
            A::DenyCall => self.type_in(ApprovalField::DenyReason, ""),
            A::GiveCallResult => self.type_in(ApprovalField::Result, ""),
            // Decide later: the run stops, awaiting approval.
            A::Cancel => self.reply(None),
            _ => Handled::Consumed,
        }
    }

    fn type_in(&mut self, field: ApprovalField, text: &str) -> Handled {
        self.typing = Some((field, InputBox::with_text(text)));
        self.error = None;
        Handled::Consumed
    }

    pub fn on_text_key(&mut self, key: KeyEvent) -> Handled {
        if let Some((_, input)) = &mut self.typing {
            edit(input, key);
        }
        Handled::Consumed
    }

    pub fn on_paste(&mut self, text: &str) {
        if let Some((_, input)) = &mut self.typing {
            input.insert_str(&text.replace('\n', " "));
        }
    }

    pub fn draw(&self, frame: &mut Frame, r: Rect, t: &Theme) {
        let mut lines = vec![
            Line::from(vec![
                Span::styled(
                    format!("step {} · ", self.step),
                    Style::default().fg(t.muted),
                ),
                Span::styled(
                    self.call.name.clone(),
                    Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
                ),
            ]),
            Line::from(Span::styled(
                self.call.arguments.clone(),
                Style::default().fg(t.accent),
            )),
            Line::from(Span::styled(
                self.reason.clone(),
                Style::default().fg(t.muted),
            )),
            Line::from(""),
        ];
        match &self.typing {
            None => lines.push(Line::from(
                "y approve · a approve for the session · e edit arguments · n deny · r give the result · Esc later",
            )),
            Some((field, input)) => {
                lines.push(Line::from(Span::styled(
                    field.title(),
                    Style::default().fg(t.heading),
                )));
                lines.push(Line::from(format!("> {}▏", input.text())));
            }
        }
        if let Some(e) = &self.error {
            lines.push(Line::from(Span::styled(
                e.clone(),
                Style::default().fg(t.error),
            )));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(view::modal_block(t, "Approve tool call?")),
            r,
        );
    }
}

/// What a form field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Model,
    Instructions,
    /// The result tool step N returns.
    ToolResult(u32),
}

impl FieldKind {
    fn label(self) -> String {
        match self {
            FieldKind::Model => "model".into(),
            FieldKind::Instructions => "instructions".into(),
            FieldKind::ToolResult(n) => format!("result of step {n}"),
        }
    }
}

/// What the form is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// A fork of a stored run at a step.
    Fork,
    /// The step the debugger holds, taken with a change.
    EditHeld,
}

/// A form of text fields: the fork form, or the edit of a held step.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub purpose: FormPurpose,
    pub run: Id,
    pub step: u32,
    /// Each field with what it held at first (a fork changes only what was edited).
    pub fields: Vec<(FieldKind, String, InputBox)>,
    pub focus: usize,
}

impl Form {
    /// A form over `fields` (kind, first value), the first field focused.
    pub fn new(purpose: FormPurpose, run: Id, step: u32, fields: Vec<(FieldKind, String)>) -> Form {
        Form {
            purpose,
            run,
            step,
            fields: fields
                .into_iter()
                .map(|(kind, value)| {
                    let input = InputBox::with_text(&value);
                    (kind, value, input)
                })
                .collect(),
            focus: 0,
        }
    }

    pub fn contexts(&self) -> Vec<Context> {
        vec![Context::Search]
    }

    /// The field of `kind`, if it was edited.
    fn changed(&self, kind: FieldKind) -> Option<String> {
        self.fields
            .iter()
            .find(|(k, _, _)| *k == kind)
            .filter(|(_, first, input)| input.text() != first)
            .map(|(_, _, input)| input.text().to_string())
    }

    /// The fork the form asks for (only what was changed).
    pub fn fork_request(&self) -> ForkRequest {
        ForkRequest {
            run: self.run,
            step: self.step,
            model: self
                .changed(FieldKind::Model)
                .filter(|m| !m.trim().is_empty()),
            instructions: self.changed(FieldKind::Instructions),
            tool_result: self.fields.iter().find_map(|(k, first, input)| match k {
                FieldKind::ToolResult(n) if input.text() != first => {
                    Some((*n, input.text().to_string()))
                }
                _ => None,
            }),
            replay: false,
        }
    }

    /// What the held step is taken with (the form's one field, as typed).
    pub fn gate_action(&self) -> GateAction {
        match self.fields.first() {
            Some((FieldKind::ToolResult(_), _, input)) => {
                GateAction::Result(input.text().to_string())
            }
            Some((FieldKind::Instructions, _, input)) => {
                GateAction::Instructions(input.text().to_string())
            }
            _ => GateAction::Go,
        }
    }

    pub fn on_action(&mut self, action: Action) -> Handled {
        let n = self.fields.len().max(1);
        match action {
            Action::Cancel => Handled::Close,
            Action::SearchSubmit => Handled::Reply(Reply::Form(Box::new(self.clone()))),
            Action::SearchNext => {
                self.focus = (self.focus + 1) % n;
                Handled::Consumed
            }
            Action::SearchPrev => {
                self.focus = (self.focus + n - 1) % n;
                Handled::Consumed
            }
            _ => Handled::Consumed,
        }
    }

    pub fn on_text_key(&mut self, key: KeyEvent) -> Handled {
        let n = self.fields.len().max(1);
        match key.code {
            KeyCode::Tab => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab => self.focus = (self.focus + n - 1) % n,
            _ => {
                if let Some((_, _, input)) = self.fields.get_mut(self.focus) {
                    edit(input, key);
                }
            }
        }
        Handled::Consumed
    }

    pub fn on_paste(&mut self, text: &str) {
        if let Some((_, _, input)) = self.fields.get_mut(self.focus) {
            input.insert_str(&text.replace('\n', " "));
        }
    }

    /// Rows the form needs: a label and a value per field, a blank and the key line.
    pub fn height(&self) -> u16 {
        self.fields.len() as u16 * 2 + 4
    }

    pub fn draw(&self, frame: &mut Frame, r: Rect, t: &Theme) {
        let title = match self.purpose {
            FormPurpose::Fork if self.step == 0 => "Fork: the whole run again".to_string(),
            FormPurpose::Fork => format!(
                "Fork after step {} (steps 1-{} shared, the rest done again)",
                self.step, self.step
            ),
            FormPurpose::EditHeld => format!("Edit step {} before it runs", self.step),
        };
        let mut lines = Vec::new();
        for (i, (kind, _, input)) in self.fields.iter().enumerate() {
            let focused = i == self.focus;
            let style = if focused {
                Style::default().fg(t.heading).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(t.muted)
            };
            lines.push(Line::from(Span::styled(kind.label(), style)));
            let cursor = if focused { "▏" } else { "" };
            lines.push(Line::from(format!(
                "  {}{cursor}",
                input.text().replace('\n', " ")
            )));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "Tab next field · Enter go · Esc cancel",
            Style::default().fg(t.muted),
        )));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(view::modal_block(t, &title)),
            r,
        );
    }
}
