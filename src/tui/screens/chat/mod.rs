//! The chat screen: the session list (`sidebar`), the conversation and the input box
//! (`composer`), with what they do: send and stream turns, regenerate, edit by forking,
//! search, copy, session management, the model picker's choice and the prompts' answers.
//! It owns the chat data (the open session and its messages) and the conversation's view
//! state (laid-out views, scroll, follow, selection), and draws the conversation; the
//! sidebar and the input box keep and draw their own state. It never waits on storage:
//! sidebar reloads, session switches, saves, renames, deletes, forks and exports go out as
//! `Effect::Store` jobs and the state changes when their answer arrives (stale answers are
//! dropped by sequence number). Key routing, the layer stack, the status bar frame and
//! global keys are `App`'s; the modals themselves are in `layers`.

use std::time::Instant;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use tokio_util::sync::CancellationToken;

pub mod composer;
pub mod guard_panel;
mod run_events;
mod scroll;
mod sessions;
pub mod sidebar;
pub mod tool_approvals;
mod view;

use super::{Event, Screen, ScreenId, Shared};
use crate::orchestrator::events::{RunErrorKind, RunEvent};
use crate::orchestrator::{describe_intervention, Turn, TurnInput};
use crate::runtime::context::Caller;
use crate::runtime::types::{Role, StreamEvent};
use crate::sessions::{ChatMessage, MessageStatus, Session, UiState};
use crate::store::Id;
use crate::tui::editor::{EditPurpose, EditRequest};
use crate::tui::guard_jobs::{GuardJob, GuardMsg};
use crate::tui::incremental::{content_hash, Incremental};
use crate::tui::input::InputBox;
use crate::tui::jobs::{OpenTarget, Opened, StoreJob, StoreMsg};
use crate::tui::kb_jobs::{KbJob, KbMsg};
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::{
    self, Choice, ChoiceKind, Confirm, Destroy, Layer, ModelEntry, Picker, PromptKind, PullState,
    Reply,
};
use crate::tui::layout::{self, Areas};
use crate::tui::markdown::{self, Rendered};
use crate::tui::msg::{Effect, ScreenMsg};
use composer::Composer;
use guard_panel::GuardPanel;
use sessions::Opening;
use sidebar::Sidebar;
use view::{gauge, pane};

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sidebar,
    Chat,
    Input,
}

/// The generation in progress.
#[derive(Debug)]
pub struct Streaming {
    pub message: Id,
    /// The session the answer belongs to (the user may switch away meanwhile).
    pub session: Id,
    pub cancel: CancellationToken,
    pub started: Instant,
}

/// Rendered lines of one message, cached per width; only messages that have been on
/// screen or near it are laid out, the others have an estimated height.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub id: Id,
    /// The laid-out lines (stale or empty unless `fresh`).
    pub rendered: Rendered,
    /// Body height in lines: exact when `fresh`, else estimated.
    pub height: usize,
    /// Whether `rendered` is laid out for the current text, status and width.
    pub fresh: bool,
    /// What the cache was made from: content hash and length, status, width.
    key: (u64, usize, MessageStatus, u16),
    /// How much of a growing answer is laid out for good.
    incremental: Incremental,
}

/// The chat screen's state.
pub struct ChatScreen {
    /// The terminal size the panes are laid out for.
    pub size: (u16, u16),
    pub focus: Focus,
    /// The session list.
    pub sidebar: Sidebar,
    /// Effects raised deep inside an update, returned with its others.
    deferred: Vec<Effect>,
    /// The knowledge bases asked for and not yet checked (toggles from the Knowledge
    /// screen build on them, not on what is attached).
    pending_knowledge: Option<Vec<String>>,
    /// Storage work asked for during this update, returned as one `Effect::Store`.
    jobs: Vec<StoreJob>,
    /// Number of the latest session list asked for (older answers are ignored).
    list_seq: u64,
    /// Number of the latest session switch asked for.
    open_seq: u64,
    /// The switch waiting for its answer.
    opening: Option<Opening>,
    pub session: Session,
    pub messages: Vec<ChatMessage>,
    pub views: Vec<MessageView>,
    /// First visible chat line.
    pub scroll: usize,
    /// Keep the newest line in view while streaming.
    pub follow: bool,
    pub selected_message: Option<usize>,
    /// The message whose sources `o` cycles through, how many, and which is next.
    citation_cursor: Option<(Id, usize, usize)>,
    /// The input box and its history.
    pub composer: Composer,
    pub streaming: Option<Streaming>,
    /// Model to switch to once its pull finishes.
    pub pending_model: Option<(Id, String)>,
    pub search: Option<(String, Vec<usize>, usize)>,
    pub code_block_cursor: usize,
    /// Scroll position to restore once the terminal size is known.
    pub resume_scroll: Option<usize>,
    /// The live guardrail panel.
    pub guard: GuardPanel,
    /// The config's default guardrail (for sessions that name none).
    pub default_guardrail: Option<String>,
    /// A run resumed from here after a tool call's approval.
    pub approvals: tool_approvals::ToolApprovals,
}

impl ChatScreen {
    /// The chat screen on `session` (already loaded, with its messages), `sessions` in the
    /// sidebar, focus and scroll restored from the last run.
    pub fn new(
        sessions: Vec<Session>,
        session: Session,
        messages: Vec<ChatMessage>,
        ui: &UiState,
    ) -> ChatScreen {
        let history = messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.clone())
            .collect();
        let input = InputBox::with_text(&session.draft);
        ChatScreen {
            size: (80, 24),
            focus: match ui.focus.as_str() {
                "sidebar" => Focus::Sidebar,
                "chat" => Focus::Chat,
                _ => Focus::Input,
            },
            sidebar: Sidebar::new(sessions, session.id),
            deferred: Vec::new(),
            pending_knowledge: None,
            jobs: Vec::new(),
            list_seq: 0,
            open_seq: 0,
            opening: None,
            session,
            messages,
            views: Vec::new(),
            scroll: 0,
            follow: true,
            selected_message: None,
            citation_cursor: None,
            composer: Composer {
                input,
                history,
                history_pos: None,
                history_stash: String::new(),
            },
            streaming: None,
            pending_model: None,
            search: None,
            code_block_cursor: 0,
            resume_scroll: ui.scroll,
            guard: GuardPanel::default(),
            default_guardrail: None,
            approvals: Default::default(),
        }
    }

    /// The panes' rectangles for the current size and focus.
    pub fn areas(&self) -> Areas {
        let areas = layout::areas(
            self.size.0,
            self.size.1,
            self.focus == Focus::Sidebar,
            &self.composer.input,
            self.input_rows(),
        );
        if self.guard.visible(self.guardrail().is_some(), self.size.0) {
            areas.with_panel(GuardPanel::width(self.size.0))
        } else {
            areas
        }
    }

    /// The guardrail this session's turns run with: its own, else the config's default;
    /// None when detached (`none`).
    pub fn guardrail(&self) -> Option<&str> {
        self.session
            .agent
            .guardrail
            .as_deref()
            .or(self.default_guardrail.as_deref())
            .filter(|g| *g != crate::orchestrator::NO_GUARDRAIL)
    }

    fn input_rows(&self) -> u16 {
        let width = layout::input_inner_width(self.size.0, self.focus == Focus::Sidebar);
        let (rows, _) = self.composer.input.layout(width);
        u16::try_from(rows.len()).unwrap_or(u16::MAX).clamp(1, 6)
    }

    /// Width available to message text in the chat pane.
    pub fn chat_width(&self) -> u16 {
        self.areas().chat.width.saturating_sub(2).max(4)
    }

    /// Session totals for the status bar: tokens and cost.
    pub fn session_usage(&self) -> (u64, f64) {
        self.messages.iter().fold((0, 0.0), |(t, c), m| {
            let u = m
                .usage
                .map_or(0, |u| u64::from(u.input_tokens + u.output_tokens));
            (t + u, c + m.cost_usd)
        })
    }

    pub fn last_latency(&self) -> Option<f64> {
        self.messages.iter().rev().find_map(|m| m.latency_ms)
    }

    /// The pane contexts a key is resolved in.
    fn pane_contexts(&self) -> Vec<Context> {
        vec![match self.focus {
            Focus::Sidebar => Context::Sidebar,
            Focus::Chat => Context::Chat,
            Focus::Input => Context::Input,
        }]
    }

    /// Keeps the layout for a new terminal size (restoring the scroll of the last run
    /// the first time).
    fn on_resize(&mut self, cx: &mut Shared, w: u16, h: u16) {
        self.size = (w, h);
        self.refresh_views(cx);
        if let Some(scroll) = self.resume_scroll.take() {
            self.follow = false;
            self.scroll = scroll.min(self.max_scroll());
        }
    }

    /// Applies one message addressed to the chat (answers of its work, other screens'
    /// requests).
    fn on_msg(&mut self, cx: &mut Shared, msg: ScreenMsg) {
        match msg {
            ScreenMsg::Stream { message, event } => self.on_stream(message, event),
            ScreenMsg::Run(event) => self.on_run_event(cx, *event),
            ScreenMsg::TurnFailed(error) => {
                if let Some(s) = self.streaming.take() {
                    if let Some(m) = self.messages.iter_mut().find(|m| m.id == s.message) {
                        m.status = MessageStatus::Error;
                        m.content = error.clone();
                    }
                }
                cx.flash = Some(format!("could not answer: {error}"));
            }
            ScreenMsg::PullProgress { model, done, total } => {
                cx.pull = Some(PullState { model, done, total })
            }
            ScreenMsg::Pulled { model, result } => self.on_pulled(cx, model, result),
            ScreenMsg::EditorDone(EditPurpose::Compose, Ok(text)) => {
                self.composer.input.set(text.trim_end_matches('\n'))
            }
            ScreenMsg::EditorDone(_, Err(e)) => cx.flash = Some(format!("editor: {e}")),
            ScreenMsg::EditorDone(_, Ok(_)) => {}
            ScreenMsg::UseGuardrail(reference) => {
                self.submit_prompt(cx, PromptKind::Guardrail, InputBox::with_text(&reference))
            }
            ScreenMsg::ToggleKnowledge(name) => {
                let mut names = self
                    .pending_knowledge
                    .clone()
                    .unwrap_or_else(|| self.session.agent.knowledge_bases.clone());
                match names.iter().position(|n| *n == name) {
                    Some(i) => {
                        names.remove(i);
                    }
                    None => names.push(name),
                }
                self.submit_prompt(
                    cx,
                    PromptKind::Knowledge,
                    InputBox::with_text(&names.join(", ")),
                )
            }
            ScreenMsg::Kb(KbMsg::List(result)) => self.choose_knowledge(cx, result),
            ScreenMsg::Store(StoreMsg::Sessions { seq, result }) => {
                self.on_sessions(cx, seq, result)
            }
            ScreenMsg::Store(StoreMsg::Opened {
                seq,
                list_seq,
                result,
            }) => self.on_opened(cx, seq, list_seq, result),
            ScreenMsg::Store(StoreMsg::Deleted { id, title, result }) => {
                self.on_deleted(cx, id, title, result)
            }
            ScreenMsg::Guard(GuardMsg::List(result)) => self.choose_guardrail(cx, result),
            ScreenMsg::Guard(GuardMsg::Attached {
                session,
                reference,
                result,
            }) => match result {
                Ok(label) => {
                    if session == self.session.id {
                        self.session.agent.guardrail = Some(reference);
                        self.guard.reset();
                        self.save_draft();
                        self.refresh_views(cx);
                    }
                    cx.flash = Some(format!("guardrail {label} attached"));
                }
                Err(e) => cx.flash = Some(format!("cannot attach the guardrail: {e}")),
            },
            ScreenMsg::Kb(KbMsg::Checked {
                session,
                names,
                result,
            }) => match result {
                // Only the newest request counts (toggles in a row build on each other).
                Ok(()) if self.pending_knowledge.as_ref().is_some_and(|p| *p != names) => {}
                Ok(()) if session == self.session.id => {
                    self.pending_knowledge = None;
                    self.session.agent.knowledge_bases = names.clone();
                    self.save_draft();
                    cx.flash = Some(format!(
                        "answers now draw on {} and cite them",
                        names.join(", ")
                    ));
                }
                // The user moved to another session meanwhile: nothing was attached.
                Ok(()) => self.pending_knowledge = None,
                Err(e) => {
                    self.pending_knowledge = None;
                    cx.flash = Some(format!("cannot attach: {e}"))
                }
            },
            ScreenMsg::Guard(GuardMsg::Reviewed(result)) => match result {
                Ok(m) => {
                    cx.flash = Some(format!("answer {}", m.status.as_str()));
                    if let Some(old) = self.messages.iter_mut().find(|x| x.id == m.id) {
                        *old = m;
                    }
                    self.refresh_views(cx);
                }
                Err(e) => cx.flash = Some(format!("review failed: {e}")),
            },
            ScreenMsg::ShowSession(id) => {
                cx.flash = Some("the chosen answer is in the conversation".into());
                self.open(
                    cx,
                    OpenTarget::Existing(id),
                    Opening::new("open the session"),
                );
            }
            ScreenMsg::Agent(msg) => self.on_agent_msg(cx, msg),
            ScreenMsg::Guard(_)
            | ScreenMsg::Kb(_)
            | ScreenMsg::Compare(_)
            | ScreenMsg::Eval(_)
            | ScreenMsg::Attach { .. }
            | ScreenMsg::Reask { .. }
            | ScreenMsg::OpenRun { .. } => {}
            ScreenMsg::Store(StoreMsg::Exported(result)) => {
                cx.flash = Some(match result {
                    Ok(path) => format!("exported to {}", path.display()),
                    Err(e) => format!("export failed: {e}"),
                })
            }
            ScreenMsg::Store(StoreMsg::Failed(e)) => cx.flash = Some(e),
            ScreenMsg::SessionHits { seq, result } => {
                if let Some(e) = self.sidebar.on_hits(seq, result) {
                    cx.flash = Some(e);
                }
            }
        }
    }

    fn on_paste(&mut self, text: &str) {
        // A paste is text, never keys: it goes into the input box.
        self.focus = Focus::Input;
        self.composer.input.insert_str(text);
    }

    /// Keys with no binding: typing into the input box when it has focus.
    fn on_text_key(&mut self, key: KeyEvent) {
        if self.focus == Focus::Input {
            layers::edit(&mut self.composer.input, key);
        }
    }

    fn on_action(&mut self, cx: &mut Shared, action: Action, fx: &mut Vec<Effect>) {
        use Action as A;
        match action {
            A::Cancel => {
                if !self.cancel_generation(cx) && self.search.take().is_none() {
                    self.selected_message = None;
                }
                cx.keys.reset();
            }
            A::FocusNext => self.cycle_focus(cx, 1),
            A::FocusPrev => self.cycle_focus(cx, -1),
            A::FocusSidebar => self.focus = Focus::Sidebar,
            A::FocusChat => self.focus = Focus::Chat,
            A::FocusInput => self.focus = Focus::Input,
            A::Send => self.send(cx, fx),
            A::Newline => self.composer.input.insert_char('\n'),
            A::HistoryPrev => self.composer.recall(-1),
            A::HistoryNext => self.composer.recall(1),
            A::ComposeInEditor => fx.push(Effect::OpenEditor(EditRequest {
                suffix: ".md",
                ..EditRequest::new(
                    ScreenId::Chat,
                    EditPurpose::Compose,
                    self.composer.input.text().to_string(),
                )
            })),
            A::Regenerate => self.regenerate(cx, fx),
            A::EditMessage => self.edit_selected(cx),
            A::ScrollUp => self.scroll_by(-1),
            A::ScrollDown => self.scroll_by(1),
            A::PageUp | A::PageDown => self.page(action == A::PageDown),
            A::Top | A::Bottom => self.jump(action == A::Bottom),
            A::Search => cx.open(Layer::Prompt(PromptKind::SearchChat, InputBox::default())),
            A::SearchNext | A::SearchPrev => {
                self.search_step(if action == A::SearchNext { 1 } else { -1 })
            }
            A::CopyLastAnswer => self.copy_last_answer(cx, fx),
            A::CopyMessage => self.copy_selected(cx, fx),
            A::CopyCodeBlock => self.copy_code_block(cx, fx),
            A::SelectPrevMessage => self.select_message(-1),
            A::SelectNextMessage => self.select_message(1),
            A::PickModel => {
                let picker = Picker::new(&cx.catalog, &self.session.agent.model);
                cx.open(Layer::Picker(picker));
            }
            A::AttachGuardrail => {
                // The list of what exists comes from sled, off the UI task.
                cx.flash = Some("loading guardrails…".into());
                fx.push(Effect::Guard(ScreenId::Chat, GuardJob::List));
            }
            A::AttachKnowledge => {
                // The list of what exists comes from sled, off the UI task.
                cx.flash = Some("loading knowledge bases…".into());
                fx.push(Effect::Kb(ScreenId::Chat, KbJob::List));
            }
            A::OpenCitation => self.open_citation(cx, fx),
            A::ToggleGuardrailPanel => {
                let now = self.guard.visible(self.guardrail().is_some(), self.size.0);
                self.guard.shown = Some(!now);
                self.refresh_views(cx);
            }
            // The guardrails screen's own.
            // The selected (else the last) question, again, side by side.
            A::CompareMessage => {
                fx.push(Effect::Show(ScreenId::Compare));
                fx.push(Effect::Send(
                    ScreenId::Compare,
                    ScreenMsg::Reask {
                        session: Box::new(self.session.clone()),
                        messages: self.messages.clone(),
                        selected: self.selected_message,
                    },
                ));
            }
            // Other screens' actions.
            A::ToggleSandboxSource
            | A::SyncKnowledgeBase
            | A::NextColumn
            | A::PrevColumn
            | A::VoteWinner
            | A::VoteTie
            | A::KeepColumn
            | A::AddColumn
            | A::RemoveColumn
            | A::ToggleConversation
            | A::RunEval
            | A::NextChart
            | A::PauseRun
            | A::StepRun
            | A::ContinueRun
            | A::EditStep
            | A::ForkRun
            | A::ReplayRun
            | A::DiffRuns => {}
            A::OpenRun => self.open_run(cx, fx),
            // An answer waiting for a tool call's approval is decided first.
            A::ApproveAnswer | A::RejectAnswer if self.ask_tool_approval(fx) => {}
            A::ApproveAnswer | A::RejectAnswer => {
                let held = self
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.status == MessageStatus::AwaitingReview);
                match held {
                    Some(m) => fx.push(Effect::Guard(
                        ScreenId::Chat,
                        GuardJob::Review {
                            session: self.session.id,
                            message: m.id,
                            approve: action == A::ApproveAnswer,
                        },
                    )),
                    None => cx.flash = Some("no answer is awaiting review".into()),
                }
            }
            A::NewSession => self.new_session(cx),
            A::RenameSession => {
                let title = self
                    .sidebar
                    .selected_session()
                    .map(|s| s.title.clone())
                    .unwrap_or_default();
                cx.open(Layer::Prompt(
                    PromptKind::Rename,
                    InputBox::with_text(&title),
                ));
            }
            A::DeleteSession => {
                if let Some(s) = self.sidebar.selected_session() {
                    cx.open(Layer::Confirm(Box::new(Confirm {
                        what: Destroy::Session {
                            id: s.id,
                            title: s.title.clone(),
                        },
                        question: format!("Delete the session “{}”?", s.title),
                        lost: vec![
                            "all its messages, with their citations and guardrail notes".into(),
                            "the runs of its answers (the Agents debugger's steps)".into(),
                        ],
                        kept: Vec::new(),
                    })));
                }
            }
            A::SearchSessions => cx.open(Layer::Prompt(
                PromptKind::SearchSessions,
                InputBox::default(),
            )),
            A::ExportMarkdown => self.export(cx, false),
            A::ExportJson => self.export(cx, true),
            A::EditSystemPrompt => {
                let current = self.session.agent.instructions.clone().unwrap_or_default();
                cx.open(Layer::Prompt(
                    PromptKind::SystemPrompt,
                    InputBox::with_text(&current),
                ));
            }
            A::EditParams => {
                let p = &self.session.agent.params;
                let text = format!(
                    "temperature={} max_tokens={} repeat_penalty={}",
                    p.temperature.map_or("default".into(), |t| t.to_string()),
                    p.max_tokens.map_or("default".into(), |t| t.to_string()),
                    p.repetition_penalty
                        .map_or("default".into(), |t| t.to_string())
                );
                cx.open(Layer::Prompt(
                    PromptKind::Params,
                    InputBox::with_text(&text),
                ));
            }
            A::ListUp | A::ListDown => {
                self.sidebar
                    .move_by(if action == A::ListDown { 1 } else { -1 })
            }
            A::OpenSession => self.open_sidebar_session(cx),
            // The router's and the layers' actions.
            A::Quit
            | A::CancelOrQuit
            | A::Help
            | A::CommandPalette
            | A::NextScreen
            | A::ToggleMouse
            | A::ConfirmYes
            | A::ConfirmNo
            | A::SearchSubmit
            | A::PickerUp
            | A::PickerDown
            | A::PickerSelect
            | A::ApproveCall
            | A::ApproveCallAlways
            | A::EditCallArgs
            | A::DenyCall
            | A::GiveCallResult
            | A::ToggleChoice
            | A::NewItem
            | A::NewFromForm
            | A::EditItem
            | A::VersionItem
            | A::DeleteItem
            | A::AttachItem
            | A::ReembedKnowledgeBase
            | A::ShowReport
            | A::ResumeEval
            | A::CompareJobs => {}
        }
    }

    /// What a layer this screen opened answered.
    fn on_reply(&mut self, cx: &mut Shared, reply: Reply, fx: &mut Vec<Effect>) {
        match reply {
            Reply::Destroy(Destroy::Session { id, title }) => self.delete_session(id, &title),
            Reply::Choices(ChoiceKind::Knowledge, names) => self.submit_prompt(
                cx,
                PromptKind::Knowledge,
                InputBox::with_text(&names.join(", ")),
            ),
            Reply::Model(entry) => self.choose_model(cx, entry, fx),
            Reply::Prompt(kind, input) => self.submit_prompt(cx, kind, input),
            Reply::Choice(ChoiceKind::Guardrail, value) => {
                self.submit_prompt(cx, PromptKind::Guardrail, InputBox::with_text(&value))
            }
            Reply::Approval { run, decision, .. } => self.on_tool_decision(cx, run, decision, fx),
            Reply::Quit
            | Reply::Palette(_)
            | Reply::OpenFile { .. }
            | Reply::Form(_)
            | Reply::Fields(_)
            | Reply::Destroy(_)
            | Reply::Choice(..)
            | Reply::Choices(..) => {}
        }
    }

    fn cycle_focus(&mut self, cx: &mut Shared, dir: i32) {
        let order = [Focus::Sidebar, Focus::Chat, Focus::Input];
        let pos = order.iter().position(|f| *f == self.focus).unwrap_or(2) as i32;
        self.focus = order[(pos + dir).rem_euclid(3) as usize];
        cx.keys.reset();
    }

    /// Forks the session before the selected user message and puts its text in the input.
    fn edit_selected(&mut self, cx: &mut Shared) {
        let Some(i) = self
            .selected_message
            .or_else(|| self.messages.iter().rposition(|m| m.role == Role::User))
        else {
            return;
        };
        let Some(m) = self
            .messages
            .get(i)
            .filter(|m| m.role == Role::User)
            .cloned()
        else {
            cx.flash = Some("select one of your messages to edit ([ and ])".into());
            return;
        };
        let target = OpenTarget::Fork {
            from: Box::new(self.session.clone()),
            upto: m.id,
        };
        let mut opening = Opening::new("fork");
        opening.input = Some(m.content);
        opening.focus_input = true;
        opening.flash = Some("editing in a fork; Enter resends".into());
        self.open(cx, target, opening);
    }

    fn page(&mut self, down: bool) {
        if self.focus == Focus::Sidebar {
            self.sidebar.move_by(if down { 10 } else { -10 });
            return;
        }
        let rows = self.chat_rows().max(2) as isize - 1;
        self.scroll_by(if down { rows } else { -rows });
    }

    fn jump(&mut self, bottom: bool) {
        if self.focus == Focus::Sidebar {
            self.sidebar.jump(bottom);
            return;
        }
        if bottom {
            self.follow = true;
            self.scroll_to_bottom();
        } else {
            self.follow = false;
            self.scroll = 0;
        }
    }

    /// Opens the guardrail list (none, each guardrail, its versions newest first, its
    /// draft) with the session's choice highlighted; when the list cannot be read, the
    /// prompt to type a reference instead.
    fn choose_guardrail(
        &mut self,
        cx: &mut Shared,
        result: Result<Vec<crate::guardrails::store::GuardrailEntry>, String>,
    ) {
        let current = self
            .guardrail()
            .unwrap_or(crate::orchestrator::NO_GUARDRAIL);
        let current = current.to_string();
        cx.flash = None;
        let entries = match result {
            Ok(entries) => entries,
            Err(e) => {
                cx.flash = Some(format!("cannot list guardrails: {e}"));
                cx.open(Layer::Prompt(
                    PromptKind::Guardrail,
                    InputBox::with_text(&current),
                ));
                return;
            }
        };
        cx.open(Layer::Choose(Choice::new(
            ChoiceKind::Guardrail,
            guardrail_choices(&entries),
            &current,
        )));
    }

    /// Opens the list of knowledge bases (none, then each base with its size), the
    /// session's marked; when the list cannot be read, the prompt to type names instead.
    fn choose_knowledge(
        &mut self,
        cx: &mut Shared,
        result: Result<Vec<crate::knowledge::store::KbRecord>, String>,
    ) {
        cx.flash = None;
        let current = self.session.agent.knowledge_bases.clone();
        let records = match result {
            Ok(records) => records,
            Err(e) => {
                cx.flash = Some(format!("cannot list knowledge bases: {e}"));
                cx.open(Layer::Prompt(
                    PromptKind::Knowledge,
                    InputBox::with_text(&current.join(", ")),
                ));
                return;
            }
        };
        let mut items = vec![layers::ChoiceItem {
            value: "none".into(),
            detail: "no knowledge base on this session".into(),
        }];
        items.extend(records.iter().map(|r| layers::ChoiceItem {
            value: r.spec.name.clone(),
            detail: match r.synced_us {
                Some(_) => format!(
                    "{} files, {} chunks · {}",
                    r.files, r.chunks, r.spec.embedding
                ),
                None => "never synced: sync it on the Knowledge screen".into(),
            },
        }));
        cx.open(Layer::Choose(Choice::several(
            ChoiceKind::Knowledge,
            items,
            &current,
        )));
    }

    fn submit_prompt(&mut self, cx: &mut Shared, kind: PromptKind, input: InputBox) {
        let text = input.text().trim().to_string();
        match kind {
            PromptKind::Knowledge => {
                let names: Vec<String> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect();
                if names.is_empty() {
                    self.pending_knowledge = None;
                    self.session.agent.knowledge_bases.clear();
                    self.save_draft();
                    cx.flash = Some("knowledge bases detached".into());
                } else {
                    cx.flash = Some(format!("checking {}…", names.join(", ")));
                    self.pending_knowledge = Some(names.clone());
                    self.deferred.push(Effect::Kb(
                        ScreenId::Chat,
                        KbJob::Check {
                            session: self.session.id,
                            names,
                        },
                    ));
                }
            }
            PromptKind::Guardrail => {
                if text.is_empty() || text == crate::orchestrator::NO_GUARDRAIL {
                    // With a config default, `none` opts this session out of it.
                    self.session.agent.guardrail = self
                        .default_guardrail
                        .as_ref()
                        .map(|_| crate::orchestrator::NO_GUARDRAIL.to_string());
                    self.guard.reset();
                    self.save_draft();
                    self.refresh_views(cx);
                    cx.flash = Some("guardrail detached".into());
                } else {
                    cx.flash = Some(format!("loading guardrail {text}…"));
                    self.deferred.push(Effect::Guard(
                        ScreenId::Chat,
                        GuardJob::Attach {
                            session: self.session.id,
                            reference: text,
                        },
                    ));
                }
            }
            PromptKind::Rename => {
                let id = self.sidebar.selected_session().map(|s| s.id);
                if let (Some(id), false) = (id, text.is_empty()) {
                    if id == self.session.id {
                        // The current session's settings live in `self.session`.
                        self.session.title = text;
                        self.save_draft();
                    } else {
                        self.jobs.push(StoreJob::Rename { id, title: text });
                    }
                    self.reload_sidebar();
                }
            }
            PromptKind::SystemPrompt => {
                self.session.agent.instructions = Some(text).filter(|t| !t.is_empty());
                self.save_draft();
                cx.flash = Some("system prompt saved".into());
            }
            PromptKind::Params => match self.session.agent.params.with_assignments(&text) {
                Ok(p) => {
                    self.session.agent.params = p;
                    self.save_draft();
                    cx.flash = Some("parameters saved".into());
                }
                Err(e) => {
                    cx.flash = Some(e.to_string());
                    cx.open(Layer::Prompt(kind, input));
                }
            },
            PromptKind::SearchChat => {
                let needle = text.to_lowercase();
                let hits: Vec<usize> = self
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        !needle.is_empty() && m.content.to_lowercase().contains(&needle)
                    })
                    .map(|(i, _)| i)
                    .collect();
                cx.flash = Some(format!("{} match(es) for `{text}` (n/N)", hits.len()));
                self.focus = Focus::Chat;
                self.search = Some((text, hits, 0));
                self.search_step(0);
            }
            PromptKind::SearchSessions => {
                self.sidebar
                    .set_filter(Some(text).filter(|t| !t.is_empty()));
                // Other clients may have added sessions: list them afresh, then search.
                self.reload_sidebar();
                self.focus = Focus::Sidebar;
            }
            // The evaluation screen's prompt.
            PromptKind::EvalFile | PromptKind::AgentTask | PromptKind::VersionNote => {}
        }
    }

    fn search_step(&mut self, dir: isize) {
        let Some((_, hits, pos)) = &mut self.search else {
            return;
        };
        if hits.is_empty() {
            return;
        }
        *pos = (*pos as isize + dir).rem_euclid(hits.len() as isize) as usize;
        let target = hits[*pos];
        self.selected_message = Some(target);
        self.scroll_to_message(target);
    }

    fn copy_last_answer(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        match self
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant && !m.content.is_empty())
        {
            Some(m) => {
                fx.push(Effect::Copy(m.content.clone()));
                cx.flash = Some("copied the last answer".into());
            }
            None => cx.flash = Some("no answer to copy".into()),
        }
    }

    /// Opens the next source of the selected (or last grounded) answer in context, cited
    /// ones first, cycling on repeat.
    fn open_citation(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        let message = self
            .selected_message
            .and_then(|i| self.messages.get(i))
            .filter(|m| !m.sources.is_empty())
            .or_else(|| self.messages.iter().rev().find(|m| !m.sources.is_empty()));
        let Some(m) = message else {
            cx.flash = Some("no answer here cites a knowledge base (F5 attaches one)".into());
            return;
        };
        let mut order: Vec<_> = m.sources.iter().filter(|s| s.cited).collect();
        order.extend(m.sources.iter().filter(|s| !s.cited));
        let key = (m.id, order.len());
        let next = match self.citation_cursor {
            Some((id, n, i)) if (id, n) == key => (i + 1) % order.len(),
            _ => 0,
        };
        self.citation_cursor = Some((key.0, key.1, next));
        if let Some(source) = order.get(next) {
            fx.push(Effect::Kb(
                ScreenId::Chat,
                KbJob::Context(Box::new((*source).clone())),
            ));
        }
    }

    fn copy_selected(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        match self.selected_message.and_then(|i| self.messages.get(i)) {
            Some(m) => {
                fx.push(Effect::Copy(m.content.clone()));
                cx.flash = Some("copied the message".into());
            }
            None => cx.flash = Some("select a message first ([ and ])".into()),
        }
    }

    /// Copies the next code block of the selected (or last) answer, cycling.
    fn copy_code_block(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        let i = self.selected_message.or_else(|| {
            self.messages
                .iter()
                .rposition(|m| m.role == Role::Assistant)
        });
        if let Some(i) = i {
            // Laid out already if it was near the view; otherwise now.
            let width = self.chat_width();
            self.lay_out(cx, i, width);
        }
        let blocks = i
            .and_then(|i| self.views.get(i))
            .map(|v| &v.rendered.code_blocks);
        match blocks.filter(|b| !b.is_empty()) {
            Some(blocks) => {
                let n = self.code_block_cursor % blocks.len();
                fx.push(Effect::Copy(blocks[n].code.clone()));
                cx.flash = Some(format!("copied code block {} of {}", n + 1, blocks.len()));
                self.code_block_cursor = n + 1;
            }
            None => cx.flash = Some("no code block in that message".into()),
        }
    }

    fn select_message(&mut self, dir: isize) {
        if self.messages.is_empty() {
            return;
        }
        let last = self.messages.len() - 1;
        let next = match self.selected_message {
            None => last,
            Some(i) => i.saturating_add_signed(dir).min(last),
        };
        self.selected_message = Some(next);
        self.code_block_cursor = 0;
        self.scroll_to_message(next);
    }

    /// A model chosen in the picker: switch to it, or pull it first when it is local and
    /// not downloaded yet.
    fn choose_model(&mut self, cx: &mut Shared, entry: ModelEntry, fx: &mut Vec<Effect>) {
        if entry.local && !entry.downloaded {
            if cx.pull.is_some() {
                cx.flash = Some("a download is already running".into());
                return;
            }
            self.pending_model = Some((self.session.id, entry.id.clone()));
            cx.pull = Some(PullState {
                model: entry.id.clone(),
                done: 0,
                total: None,
            });
            fx.push(Effect::Pull(ScreenId::Chat, entry.id));
        } else {
            // A later choice wins over a download still running.
            self.pending_model = None;
            self.set_model(cx, &entry.id);
        }
    }

    fn set_model(&mut self, cx: &mut Shared, id: &str) {
        self.session.agent.model = id.to_string();
        self.save_draft();
        cx.flash = Some(format!("model: {id}"));
    }
}

impl Screen for ChatScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Chat
    }

    fn contexts(&self) -> Vec<Context> {
        self.pane_contexts()
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Action(action) => self.on_action(cx, action, &mut fx),
            Event::Key(key) => self.on_text_key(key),
            Event::Paste(text) => self.on_paste(&text),
            Event::Reply(reply) => self.on_reply(cx, reply, &mut fx),
            Event::Scroll(lines) => self.scroll_by(isize::from(lines)),
            Event::Msg(msg) => self.on_msg(cx, msg),
        }
        fx.append(&mut self.deferred);
        if !self.jobs.is_empty() {
            fx.push(Effect::Store(
                ScreenId::Chat,
                std::mem::take(&mut self.jobs),
            ));
        }
        fx
    }

    fn resize(&mut self, w: u16, h: u16, cx: &mut Shared) {
        self.on_resize(cx, w, h);
    }

    fn refresh(&mut self, cx: &mut Shared) {
        self.refresh_views(cx);
    }

    fn is_busy(&self) -> bool {
        self.streaming.is_some() || self.approvals.resuming.is_some()
    }

    fn offer(&self, to: ScreenId) -> Option<ScreenMsg> {
        // Comparisons belong to the chat's session (its settings and conversation).
        (to == ScreenId::Compare).then(|| ScreenMsg::Attach {
            session: Box::new(self.session.clone()),
            default_guardrail: self.default_guardrail.clone(),
        })
    }

    fn unfinished(&self) -> Option<&CancellationToken> {
        self.streaming
            .as_ref()
            .map(|s| &s.cancel)
            .or(self.approvals.resuming.as_ref())
    }

    fn save_state(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![Effect::Store(ScreenId::Chat, vec![self.exit_job()])]
    }

    fn draw(&self, frame: &mut Frame, _area: Rect, cx: &Shared) {
        let areas = self.areas();
        if areas.sidebar.width > 0 {
            let focused = self.focus == Focus::Sidebar;
            self.sidebar
                .draw(cx, frame, areas.sidebar, self.session.id, focused);
        }
        self.draw_chat(cx, frame, areas.chat);
        if areas.panel.width > 0 {
            self.guard.draw(cx, frame, areas.panel, self.guardrail());
        }
        let focused = self.focus == Focus::Input && cx.layers.is_empty();
        let streaming = self.streaming.is_some();
        self.composer
            .draw(cx, frame, areas.input, focused, streaming);
    }

    fn status(&self, cx: &Shared) -> Vec<String> {
        let (tokens, cost) = self.session_usage();
        let mut parts = vec![
            format!(" {} ", self.session.agent.model),
            format!("{tokens} tok"),
            format!("${cost:.4}"),
        ];
        if let Some(ms) = self.last_latency() {
            parts.push(format!("last {:.1}s", ms / 1000.0));
        }
        parts.push(
            match (self.guardrail(), self.session.agent.guardrail.is_none()) {
                (Some(g), true) => format!("guardrail: {g} (config default)"),
                (Some(g), false) => format!("guardrail: {g}"),
                (None, _) => "guardrail: off".into(),
            },
        );
        if self
            .messages
            .iter()
            .any(|m| m.status == MessageStatus::AwaitingReview)
        {
            parts.push("answer awaiting review (A approve · D reject)".into());
        }
        if let Some(p) = &cx.pull {
            let pct = p.total.filter(|t| *t > 0).map(|t| p.done * 100 / t);
            parts.push(match pct {
                Some(pct) => format!("pulling {} {pct}% {}", p.model, gauge(pct)),
                None => format!("pulling {} {} MB", p.model, p.done / 1_000_000),
            });
        }
        if let Some(s) = &self.streaming {
            parts.push(format!(
                "generating {:.0}s",
                s.started.elapsed().as_secs_f64()
            ));
        }
        parts
    }

    fn focus_context(&mut self, context: Context, _cx: &mut Shared) {
        match context {
            Context::Chat => self.focus = Focus::Chat,
            Context::Input => self.focus = Focus::Input,
            Context::Sidebar => self.focus = Focus::Sidebar,
            _ => {}
        }
    }

    fn cancel_work(&mut self, cx: &mut Shared) -> bool {
        self.cancel_generation(cx) || self.cancel_resumed(cx)
    }

    fn on_quit(&mut self, cx: &mut Shared) -> Vec<Effect> {
        self.cancel_generation(cx);
        self.cancel_resumed(cx);
        self.save_state(cx)
    }
}

/// The guardrail list's entries: none, then per guardrail its name (the newest version),
/// each version newest first (with its note), and its draft.
fn guardrail_choices(
    entries: &[crate::guardrails::store::GuardrailEntry],
) -> Vec<layers::ChoiceItem> {
    use layers::ChoiceItem;
    let mut items = vec![ChoiceItem {
        value: crate::orchestrator::NO_GUARDRAIL.into(),
        detail: "no guardrail on this session".into(),
    }];
    for entry in entries {
        let newest = entry.versions.last().map(|v| v.version);
        items.push(ChoiceItem {
            value: entry.name.clone(),
            detail: match newest {
                Some(v) => format!("its newest version (v{v})"),
                None => "no version yet: its draft".into(),
            },
        });
        for v in entry.versions.iter().rev() {
            items.push(ChoiceItem {
                value: format!("{}@{}", entry.name, v.version),
                detail: format!(
                    "v{} {}{}",
                    v.version,
                    crate::store::format_micros(v.created_us),
                    v.note
                        .as_deref()
                        .map(|n| format!(" · {n}"))
                        .unwrap_or_default()
                ),
            });
        }
        items.push(ChoiceItem {
            value: format!("{}@draft", entry.name),
            detail: "the draft as it is now".into(),
        });
    }
    items
}
