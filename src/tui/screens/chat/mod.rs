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
pub mod sidebar;

use super::{Event, Screen, ScreenId, Shared};
use crate::orchestrator::events::{RunErrorKind, RunEvent};
use crate::orchestrator::{describe_intervention, Turn, TurnInput};
use crate::runtime::context::Caller;
use crate::runtime::types::{Role, StreamEvent};
use crate::sessions::{ChatMessage, MessageStatus, Session, UiState};
use crate::store::Id;
use crate::tui::app::{Effect, Msg};
use crate::tui::guard_jobs::{GuardJob, GuardMsg};
use crate::tui::incremental::{content_hash, Incremental};
use crate::tui::input::InputBox;
use crate::tui::jobs::{OpenTarget, Opened, StoreJob};
use crate::tui::kb_jobs::{KbJob, KbMsg};
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::{self, Layer, ModelEntry, Picker, PromptKind, PullState, Reply};
use crate::tui::layout::{self, Areas};
use crate::tui::markdown::{self, Rendered};
use composer::Composer;
use guard_panel::GuardPanel;
use sidebar::Sidebar;

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
        }
    }

    /// Saves the draft, any answer still streaming (as cancelled), and where the user is
    /// (session, focus, scroll) for the next start.
    /// This runs at exit, on the UI task: the one place the screen writes to the store.
    pub fn save_ui_state(&mut self, cx: &mut Shared) {
        self.session.draft = self.composer.input.text().to_string();
        if let Err(e) = cx.store.save(&self.session) {
            tracing::warn!("could not save the session: {e}");
        }
        if let Some(s) = self.streaming.take() {
            s.cancel.cancel();
            if let Some(m) = self.messages.iter().find(|m| m.id == s.message) {
                let mut m = m.clone();
                m.status = MessageStatus::Cancelled;
                if let Err(e) = cx.store.put_message(&mut self.session, &m) {
                    tracing::warn!("could not save the answer: {e}");
                }
            }
        }
        let state = crate::sessions::UiState {
            session: Some(self.session.id),
            focus: match self.focus {
                Focus::Sidebar => "sidebar",
                Focus::Chat => "chat",
                Focus::Input => "input",
            }
            .to_string(),
            scroll: (!self.follow).then_some(self.scroll),
        };
        if let Err(e) = cx.store.save_ui(&state) {
            tracing::warn!("could not save the UI state: {e}");
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

    /// Brings the message views up to date for what is on screen and near it: messages
    /// whose text, status or width changed are laid out again only there (and the answer
    /// streaming, wherever it is); the others keep an estimated height until they scroll
    /// into view. An answer that grew is laid out again only from its last finished block
    /// on. The line at the top of the view stays put while heights above it change.
    pub fn refresh_views(&mut self, cx: &mut Shared) {
        let width = self.chat_width();
        let anchor = (!self.follow).then(|| self.anchor());
        let streaming = self.streaming.as_ref().map(|s| s.message);
        self.views.truncate(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let key = (content_hash(&m.content), m.content.len(), m.status, width);
            match self.views.get_mut(i) {
                Some(v) if v.id == m.id && v.key == key => {}
                Some(v) if v.id == m.id => {
                    v.key = key;
                    v.fresh = false;
                    // The answer streaming is laid out below anyway: no estimate for it.
                    if streaming != Some(m.id) {
                        v.height = estimate_height(&m.content, width);
                    }
                }
                other => {
                    let view = MessageView {
                        id: m.id,
                        rendered: Rendered::default(),
                        height: estimate_height(&m.content, width),
                        fresh: false,
                        key,
                        incremental: Incremental::default(),
                    };
                    match other {
                        Some(v) => *v = view,
                        None => self.views.push(view),
                    }
                }
            }
        }
        if let Some(i) = streaming.and_then(|id| self.messages.iter().rposition(|m| m.id == id)) {
            self.lay_out(cx, i, width);
        }
        // Lay out the window (a page above and below the view); laying out changes heights,
        // which moves the window: repeat until it holds only laid-out messages.
        for round in 0..9 {
            let total = self.total_lines();
            let rows = self.chat_rows();
            let max = total.saturating_sub(rows);
            match anchor {
                Some((i, within)) => self.scroll = (self.offset_of(i) + within).min(max),
                None => self.follow_to(max, rows),
            }
            if round == 8 {
                break;
            }
            let stale = self.stale_in(
                self.scroll.saturating_sub(rows),
                self.scroll + 2 * rows,
                total,
            );
            if stale.is_empty() {
                break;
            }
            for i in stale {
                self.lay_out(cx, i, width);
            }
        }
    }

    /// Messages not laid out that have a line in `[from, to)`; `total` is the line count.
    /// Scans from the nearer end (following the bottom is the common case).
    fn stale_in(&self, from: usize, to: usize, total: usize) -> Vec<usize> {
        let mut stale = Vec::new();
        if from > total / 2 {
            let mut end = total;
            for i in (0..self.views.len()).rev() {
                let start = end.saturating_sub(self.message_height(i));
                if start >= to {
                    end = start;
                    continue;
                }
                if end <= from {
                    break;
                }
                if !self.views[i].fresh {
                    stale.push(i);
                }
                end = start;
            }
        } else {
            let mut offset = 0;
            for i in 0..self.views.len() {
                if offset >= to {
                    break;
                }
                let h = self.message_height(i);
                if offset + h > from && !self.views[i].fresh {
                    stale.push(i);
                }
                offset += h;
            }
        }
        stale
    }

    /// Lays out message `i` for `width` (incrementally for an answer that grew).
    fn lay_out(&mut self, cx: &Shared, i: usize, width: u16) {
        let (Some(m), Some(v)) = (self.messages.get(i), self.views.get_mut(i)) else {
            return;
        };
        if v.fresh {
            return;
        }
        match m.role {
            Role::Assistant => v.incremental.refresh(
                &mut v.rendered,
                &m.content,
                width,
                &cx.theme,
                &cx.highlighter,
            ),
            _ => {
                v.rendered = Rendered {
                    lines: markdown::wrap_plain(
                        &m.content,
                        width,
                        ratatui::style::Style::default().fg(cx.theme.fg),
                    ),
                    code_blocks: Vec::new(),
                }
            }
        }
        v.height = v.rendered.lines.len();
        v.fresh = true;
    }

    /// The message holding the top line of the view, and how far into it that line is.
    fn anchor(&self) -> (usize, usize) {
        let mut offset = 0;
        for i in 0..self.views.len() {
            let h = self.message_height(i);
            if offset + h > self.scroll {
                return (i, self.scroll - offset);
            }
            offset += h;
        }
        (self.views.len(), self.scroll.saturating_sub(offset))
    }

    /// The first line of message `i`.
    fn offset_of(&self, i: usize) -> usize {
        (0..i.min(self.views.len()))
            .map(|j| self.message_height(j))
            .sum()
    }

    /// Keeps the newest line in view (`max` is the last scroll position, `rows` the pane
    /// height). While an answer streams, the view jumps a third of a page at a time
    /// instead of one line per new line: every jump rewrites the whole pane, which is
    /// what a slow SSH link pays for.
    fn follow_to(&mut self, max: usize, rows: usize) {
        if self.streaming.is_none() {
            self.scroll = max;
        } else {
            // Jump when the newest line left the view, or when the view overshoots by a
            // whole step (the answer shrank: regenerate, a resize, a session switch).
            let step = (rows / 3).max(1);
            if self.scroll < max || self.scroll >= max + step {
                self.scroll = max + step - 1;
            }
        }
    }

    /// Height in lines of message `i` (header, body, blank line); estimated for a message
    /// not laid out yet.
    pub fn message_height(&self, i: usize) -> usize {
        let footer = self.messages.get(i).map_or(0, sources_height);
        self.views.get(i).map_or(0, |v| v.height + 2 + footer)
    }

    /// Messages laid out for the current width (the others have estimated heights).
    pub fn laid_out(&self) -> usize {
        self.views.iter().filter(|v| v.fresh).count()
    }

    pub fn total_lines(&self) -> usize {
        (0..self.views.len()).map(|i| self.message_height(i)).sum()
    }

    fn chat_rows(&self) -> usize {
        usize::from(self.areas().chat.height.saturating_sub(2))
    }

    fn max_scroll(&self) -> usize {
        self.total_lines().saturating_sub(self.chat_rows())
    }

    fn scroll_to_bottom(&mut self) {
        self.scroll = self.max_scroll();
    }

    fn scroll_by(&mut self, delta: isize) {
        // Start from the real end: while streaming the view may sit past it.
        let target = self
            .scroll
            .min(self.max_scroll())
            .saturating_add_signed(delta)
            .min(self.max_scroll());
        self.scroll = target;
        self.follow = self.scroll >= self.max_scroll();
    }

    fn scroll_to_message(&mut self, i: usize) {
        let offset: usize = (0..i).map(|j| self.message_height(j)).sum();
        self.scroll = offset.min(self.max_scroll());
        self.follow = self.scroll >= self.max_scroll();
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

    /// Applies one inbound message (not a key).
    fn on_msg(&mut self, cx: &mut Shared, msg: Msg) {
        match msg {
            Msg::Key(_) | Msg::Paste(_) => {}
            Msg::Scroll(lines) => self.scroll_by(isize::from(lines)),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.refresh_views(cx);
                if let Some(scroll) = self.resume_scroll.take() {
                    self.follow = false;
                    self.scroll = scroll.min(self.max_scroll());
                }
            }
            Msg::Stream { message, event } => self.on_stream(message, event),
            Msg::Run(event) => self.on_run_event(cx, *event),
            Msg::TurnFailed(error) => {
                if let Some(s) = self.streaming.take() {
                    if let Some(m) = self.messages.iter_mut().find(|m| m.id == s.message) {
                        m.status = MessageStatus::Error;
                        m.content = error.clone();
                    }
                }
                cx.flash = Some(format!("could not answer: {error}"));
            }
            Msg::PullProgress { model, done, total } => {
                cx.pull = Some(PullState { model, done, total })
            }
            Msg::Pulled { model, result } => self.on_pulled(cx, model, result),
            Msg::EditorDone(Ok(text)) => self.composer.input.set(text.trim_end_matches('\n')),
            Msg::EditorDone(Err(e)) => cx.flash = Some(format!("editor: {e}")),
            Msg::Sessions { seq, result } => self.on_sessions(cx, seq, result),
            Msg::Opened {
                seq,
                list_seq,
                result,
            } => self.on_opened(cx, seq, list_seq, result),
            Msg::Deleted { id, title, result } => self.on_deleted(cx, id, title, result),
            Msg::Guard(GuardMsg::Attached {
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
            Msg::Kb(KbMsg::Checked {
                session,
                names,
                result,
            }) => match result {
                Ok(()) if session == self.session.id => {
                    self.session.agent.knowledge_bases = names.clone();
                    self.save_draft();
                    cx.flash = Some(format!(
                        "answers now draw on {} and cite them",
                        names.join(", ")
                    ));
                }
                // The user moved to another session meanwhile: nothing was attached.
                Ok(()) => {}
                Err(e) => cx.flash = Some(format!("cannot attach: {e}")),
            },
            Msg::Guard(GuardMsg::Reviewed(result)) => match result {
                Ok(m) => {
                    cx.flash = Some(format!("answer {}", m.status.as_str()));
                    if let Some(old) = self.messages.iter_mut().find(|x| x.id == m.id) {
                        *old = m;
                    }
                    self.refresh_views(cx);
                }
                Err(e) => cx.flash = Some(format!("review failed: {e}")),
            },
            Msg::Guard(_) | Msg::Kb(_) | Msg::FileClosed(_) | Msg::Compare(_) | Msg::Eval(_) => {}
            Msg::Exported(result) => {
                cx.flash = Some(match result {
                    Ok(path) => format!("exported to {}", path.display()),
                    Err(e) => format!("export failed: {e}"),
                })
            }
            Msg::StoreFailed(e) => cx.flash = Some(e),
            Msg::SessionHits { seq, result } => {
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
            A::ComposeInEditor => {
                fx.push(Effect::OpenEditor(self.composer.input.text().to_string()))
            }
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
                let current = self.guardrail().unwrap_or_default().to_string();
                cx.open(Layer::Prompt(
                    PromptKind::Guardrail,
                    InputBox::with_text(&current),
                ));
            }
            A::AttachKnowledge => {
                let current = self.session.agent.knowledge_bases.join(", ");
                cx.open(Layer::Prompt(
                    PromptKind::Knowledge,
                    InputBox::with_text(&current),
                ));
            }
            A::OpenCitation => self.open_citation(cx, fx),
            A::ToggleGuardrailPanel => {
                let now = self.guard.visible(self.guardrail().is_some(), self.size.0);
                self.guard.shown = Some(!now);
                self.refresh_views(cx);
            }
            // The guardrails screen's own.
            // Other screens' actions (the app handles `compare_message`).
            A::ToggleSandboxSource
            | A::SyncKnowledgeBase
            | A::CompareMessage
            | A::NextColumn
            | A::PrevColumn
            | A::VoteWinner
            | A::VoteTie
            | A::KeepColumn
            | A::AddColumn
            | A::RemoveColumn
            | A::ToggleConversation
            | A::RunEval
            | A::NextChart => {}
            A::ApproveAnswer | A::RejectAnswer => {
                let held = self
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.status == MessageStatus::AwaitingReview);
                match held {
                    Some(m) => fx.push(Effect::Guard(GuardJob::Review {
                        session: self.session.id,
                        message: m.id,
                        approve: action == A::ApproveAnswer,
                    })),
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
                    cx.open(Layer::ConfirmDelete {
                        id: s.id,
                        title: s.title.clone(),
                    });
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
            | A::PickerSelect => {}
        }
    }

    /// What a layer this screen opened answered.
    fn on_reply(&mut self, cx: &mut Shared, reply: Reply, fx: &mut Vec<Effect>) {
        match reply {
            Reply::Delete { id, title } => self.delete_session(id, &title),
            Reply::Model(entry) => self.choose_model(cx, entry, fx),
            Reply::Prompt(kind, input) => self.submit_prompt(cx, kind, input),
            Reply::Quit | Reply::Palette(_) | Reply::OpenFile { .. } => {}
        }
    }

    fn cycle_focus(&mut self, cx: &mut Shared, dir: i32) {
        let order = [Focus::Sidebar, Focus::Chat, Focus::Input];
        let pos = order.iter().position(|f| *f == self.focus).unwrap_or(2) as i32;
        self.focus = order[(pos + dir).rem_euclid(3) as usize];
        cx.keys.reset();
    }

    /// Cancels the running generation; false when nothing was running.
    fn cancel_generation(&mut self, cx: &mut Shared) -> bool {
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

    fn send(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
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
    fn start_answer(&mut self, cx: &mut Shared, turn: Turn, fx: &mut Vec<Effect>) {
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
        fx.push(Effect::Turn(Box::new(turn)));
        self.messages.push(answer);
        self.follow = true;
        self.selected_message = None;
        self.refresh_views(cx);
    }

    fn on_stream(&mut self, message: Id, event: StreamEvent) {
        if let StreamEvent::TextDelta { text } = event {
            if let Some(m) = self.messages.iter_mut().rev().find(|m| m.id == message) {
                m.content.push_str(&text);
            }
        }
    }

    fn on_run_event(&mut self, cx: &mut Shared, event: RunEvent) {
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
    fn on_finished(
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

    fn on_pulled(&mut self, cx: &mut Shared, model: String, result: Result<(), String>) {
        cx.pull = None;
        match result {
            Ok(()) => {
                // (The router marked the catalog entry downloaded.)
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

    fn regenerate(&mut self, cx: &mut Shared, fx: &mut Vec<Effect>) {
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
                    self.session.agent.knowledge_bases.clear();
                    self.save_draft();
                    cx.flash = Some("knowledge bases detached".into());
                } else {
                    cx.flash = Some(format!("checking {}…", names.join(", ")));
                    self.deferred.push(Effect::Kb(KbJob::Check {
                        session: self.session.id,
                        names,
                    }));
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
                    self.deferred.push(Effect::Guard(GuardJob::Attach {
                        session: self.session.id,
                        reference: text,
                    }));
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
            PromptKind::EvalFile => {}
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
            fx.push(Effect::Kb(KbJob::Context(Box::new((*source).clone()))));
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
            fx.push(Effect::Pull(entry.id));
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

    /// Lists the sessions afresh, off the UI task (answered by `Msg::Sessions`).
    fn reload_sidebar(&mut self) {
        self.list_seq += 1;
        self.jobs.push(StoreJob::List { seq: self.list_seq });
    }

    /// The session list arrived: show it (the search runs again on it).
    fn apply_sessions(&mut self, sessions: Vec<Session>) {
        self.deferred.extend(self.sidebar.apply(sessions));
    }

    fn on_sessions(&mut self, cx: &mut Shared, seq: u64, result: Result<Vec<Session>, String>) {
        if seq != self.list_seq {
            return;
        }
        match result {
            Ok(sessions) => self.apply_sessions(sessions),
            Err(e) => cx.flash = Some(format!("could not list sessions: {e}")),
        }
    }

    /// Shows a session another screen changed (a compared answer taken back), read
    /// again as stored; returns the storage work to run.
    pub fn show_session(&mut self, cx: &mut Shared, id: Id) -> Vec<Effect> {
        self.open(
            cx,
            OpenTarget::Existing(id),
            Opening::new("open the session"),
        );
        let mut fx = std::mem::take(&mut self.deferred);
        if !self.jobs.is_empty() {
            fx.push(Effect::Store(std::mem::take(&mut self.jobs)));
        }
        fx
    }

    fn open_sidebar_session(&mut self, cx: &mut Shared) {
        let Some(id) = self.sidebar.selected_session().map(|s| s.id) else {
            return;
        };
        self.focus = Focus::Input;
        if id == self.session.id {
            return;
        }
        // The sidebar's copy may be stale: the job reads the session as stored.
        self.open(
            cx,
            OpenTarget::Existing(id),
            Opening::new("open the session"),
        );
    }

    /// Asks for a session to be shown (an existing one, a new one, a fork): the current
    /// one's draft is saved first, and the screen switches when `Msg::Opened` arrives.
    fn open(&mut self, cx: &mut Shared, target: OpenTarget, mut opening: Opening) {
        if self.streaming.is_some() {
            self.cancel_generation(cx);
        }
        // The current session may just have been deleted: only saved if it still exists.
        self.session.draft = self.composer.input.text().to_string();
        self.jobs
            .push(StoreJob::SaveIfExists(Box::new(self.session.clone())));
        self.open_seq += 1;
        self.list_seq += 1;
        opening.seq = self.open_seq;
        self.opening = Some(opening);
        self.jobs.push(StoreJob::Open {
            target,
            seq: self.open_seq,
            list_seq: self.list_seq,
        });
    }

    fn on_opened(
        &mut self,
        cx: &mut Shared,
        seq: u64,
        list_seq: u64,
        result: Result<Option<Box<Opened>>, String>,
    ) {
        let Some(opening) = self.opening.take_if(|o| o.seq == seq) else {
            return;
        };
        let opened = match result {
            Ok(Some(opened)) => opened,
            Ok(None) => return self.reload_sidebar(),
            Err(e) => {
                cx.flash = Some(format!("could not {}: {e}", opening.what));
                return;
            }
        };
        self.composer.input = InputBox::with_text(&opened.session.draft);
        self.session = opened.session;
        self.messages = opened.messages;
        self.views.clear();
        self.selected_message = None;
        self.search = None;
        self.follow = true;
        self.refresh_views(cx);
        if list_seq == self.list_seq {
            self.apply_sessions(opened.sessions);
        }
        self.sidebar.select(self.session.id);
        if let Some(text) = opening.input {
            self.composer.input.set(&text);
        }
        if opening.focus_input {
            self.focus = Focus::Input;
        }
        if let Some(flash) = opening.flash {
            cx.flash = Some(flash);
        }
    }

    fn new_session(&mut self, cx: &mut Shared) {
        let model = self.session.agent.model.clone();
        let mut opening = Opening::new("create a session");
        opening.focus_input = true;
        self.open(cx, OpenTarget::New(model), opening);
    }

    fn delete_session(&mut self, id: Id, title: &str) {
        self.jobs.push(StoreJob::Delete {
            id,
            title: title.to_string(),
        });
        self.reload_sidebar();
    }

    fn on_deleted(&mut self, cx: &mut Shared, id: Id, title: String, result: Result<(), String>) {
        if let Err(e) = result {
            cx.flash = Some(format!("could not delete: {e}"));
            return;
        }
        if self.session.id == id {
            // Show the most recent other session, or a new one.
            match self
                .sidebar
                .sessions
                .iter()
                .find(|s| s.id != id)
                .map(|s| s.id)
            {
                Some(other) => self.open(
                    cx,
                    OpenTarget::Existing(other),
                    Opening::new("open the session"),
                ),
                None => {
                    let model = self.session.agent.model.clone();
                    self.open(cx, OpenTarget::New(model), Opening::new("create a session"));
                }
            }
        }
        cx.flash = Some(format!("deleted “{title}”"));
    }

    fn export(&mut self, cx: &mut Shared, json: bool) {
        let Some(s) = self.sidebar.selected_session().cloned() else {
            return;
        };
        self.jobs.push(StoreJob::Export {
            id: s.id,
            title: s.title,
            json,
            dir: cx.export_dir.clone(),
        });
    }
}

/// A session switch asked for and not answered yet: what to do when it is.
#[derive(Debug)]
struct Opening {
    seq: u64,
    /// For the error message: "could not {what}".
    what: &'static str,
    /// Text to put in the input box (editing a message in a fork).
    input: Option<String>,
    focus_input: bool,
    flash: Option<String>,
}

impl Opening {
    fn new(what: &'static str) -> Opening {
        Opening {
            seq: 0,
            what,
            input: None,
            focus_input: false,
            flash: None,
        }
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
            Event::Msg(msg) => self.on_msg(cx, msg),
        }
        fx.append(&mut self.deferred);
        if !self.jobs.is_empty() {
            fx.push(Effect::Store(std::mem::take(&mut self.jobs)));
        }
        fx
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
        self.cancel_generation(cx)
    }

    fn on_quit(&mut self, cx: &mut Shared) {
        self.cancel_generation(cx);
        self.save_ui_state(cx);
    }
}

/// A pane's box: border and title in the focused or unfocused colours.
fn pane(cx: &Shared, title: String, focused: bool) -> Block<'static> {
    let t = &cx.theme;
    Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(Style::default().fg(if focused { t.border_focused } else { t.border }))
        .title_style(Style::default().fg(if focused { t.accent } else { t.muted }))
}

/// A cheap guess at the laid-out height of `text` at `width`: its lines, wrapped by
/// character count (markdown, code fences and wide characters make it inexact; the real
/// height replaces it when the message comes into view).
fn estimate_height(text: &str, width: u16) -> usize {
    let width = usize::from(width.max(1));
    text.split('\n')
        .map(|line| line.chars().count().div_ceil(width).max(1))
        .sum()
}

/// Drawing the panes: sidebar, conversation (only the visible messages), input box.
impl ChatScreen {
    fn message_header(&self, cx: &Shared, i: usize) -> Line<'static> {
        let t = &cx.theme;
        let Some(m) = self.messages.get(i) else {
            return Line::default();
        };
        let (who, colour) = match m.role {
            Role::User => ("You".to_string(), t.user),
            Role::Assistant => (
                m.model.clone().unwrap_or_else(|| "Assistant".into()),
                t.assistant,
            ),
            Role::System => ("System".to_string(), t.system),
            Role::Tool => ("Tool".to_string(), t.system),
        };
        let selected = self.selected_message == Some(i);
        let mut style = Style::default().fg(colour).add_modifier(Modifier::BOLD);
        if selected {
            style = style.bg(t.selection_bg);
        }
        let mut spans = vec![Span::styled(
            format!("{}{who}", if selected { "▶ " } else { "" }),
            style,
        )];
        let streaming = self.streaming.as_ref().is_some_and(|s| s.message == m.id);
        let note = match (streaming, m.status) {
            (true, _) => Some(("  generating…".to_string(), t.accent)),
            (false, MessageStatus::Cancelled) => Some(("  [cancelled]".to_string(), t.warning)),
            (false, MessageStatus::Incomplete) if m.role == Role::Assistant => {
                Some(("  [incomplete]".to_string(), t.warning))
            }
            (false, MessageStatus::Interrupted) => Some((
                "  [interrupted: the program ended while it was written]".to_string(),
                t.warning,
            )),
            (false, MessageStatus::Blocked) => Some((
                match &m.note {
                    Some(note) => format!("  [blocked: {note}]"),
                    None => "  [blocked by a guardrail]".to_string(),
                },
                t.error,
            )),
            (false, MessageStatus::AwaitingReview) => Some((
                format!(
                    "  [awaiting review{}: A approve · D reject]",
                    m.note
                        .as_ref()
                        .map(|n| format!(" — {n}"))
                        .unwrap_or_default()
                ),
                t.warning,
            )),
            (false, MessageStatus::Rejected) => {
                Some(("  [rejected in review]".to_string(), t.error))
            }
            (false, MessageStatus::Error) => Some(("  [error]".to_string(), t.error)),
            _ => None,
        };
        if let Some((text, colour)) = note {
            spans.push(Span::styled(text, Style::default().fg(colour)));
        }
        if let (Some(u), Some(ms)) = (m.usage, m.latency_ms) {
            spans.push(Span::styled(
                format!("  {} tok · {:.1}s", u.output_tokens, ms / 1000.0),
                Style::default().fg(t.muted),
            ));
        }
        Line::from(spans)
    }

    fn draw_chat(&self, cx: &Shared, frame: &mut Frame, area: Rect) {
        let t = &cx.theme;
        let title = format!(" {} · {} ", self.session.title, self.session.agent.model);
        let block = pane(cx, title, self.focus == Focus::Chat);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if self.messages.is_empty() {
            let hint = format!(
                "Type a question below and press Enter.  {} for help.",
                cx.keys
                    .keymap()
                    .keys_for(Context::Global, Action::Help)
                    .join("/")
            );
            frame.render_widget(
                Paragraph::new(hint).style(Style::default().fg(t.muted)),
                inner,
            );
            return;
        }
        // Collect only the lines that fall in the window [scroll, scroll + height).
        let rows = usize::from(inner.height);
        let mut lines: Vec<Line> = Vec::with_capacity(rows);
        let mut offset = 0usize;
        for (i, (m, view)) in self.messages.iter().zip(&self.views).enumerate() {
            let h = self.message_height(i);
            if offset + h <= self.scroll {
                offset += h;
                continue;
            }
            if offset >= self.scroll + rows {
                break;
            }
            let mut all = Vec::with_capacity(h);
            all.push(self.message_header(cx, i));
            // A message not laid out yet (only before the next refresh) shows as blank
            // lines of its estimated height, so the lines below stay where they belong.
            let body = view
                .rendered
                .lines
                .iter()
                .take(if view.fresh { usize::MAX } else { 0 });
            if m.status == MessageStatus::Error {
                all.extend(body.map(|l| l.clone().style(Style::default().fg(t.error))));
            } else if m.status == MessageStatus::Rejected {
                all.extend(body.map(|l| l.clone().style(Style::default().fg(t.muted))));
            } else {
                all.extend(body.map(|l| guard_panel::mark_masked(l.clone(), t)));
            }
            let footer = sources_lines(m, t);
            all.resize(h - 1 - footer.len(), Line::default());
            all.extend(footer);
            all.push(Line::default());
            let skip = self.scroll.saturating_sub(offset);
            lines.extend(all.into_iter().skip(skip).take(rows - lines.len()));
            offset += h;
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// Lines under an answer grounded in knowledge bases: one per retrieved passage, the
/// cited ones bright (`o` opens them in context).
fn sources_height(m: &ChatMessage) -> usize {
    if m.sources.is_empty() {
        0
    } else {
        1 + m.sources.len()
    }
}

fn sources_lines(m: &ChatMessage, t: &crate::tui::theme::Theme) -> Vec<Line<'static>> {
    if m.sources.is_empty() {
        return Vec::new();
    }
    let cited = m.sources.iter().filter(|s| s.cited).count();
    let dropped = if m.dropped_citations.is_empty() {
        String::new()
    } else {
        format!(" · dropped {:?} (no such source)", m.dropped_citations)
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("Sources ({cited} cited{dropped}) · o opens"),
        Style::default().fg(t.muted).add_modifier(Modifier::BOLD),
    ))];
    for s in &m.sources {
        let file = crate::knowledge::cite::short_name(&s.file);
        let mark = match (s.cited, s.inferred) {
            (true, false) => "✓",
            (true, true) => "≈",
            _ => " ",
        };
        let style = if s.cited {
            Style::default().fg(t.accent)
        } else {
            Style::default().fg(t.muted)
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} [{}] ", s.number), style),
            Span::styled(format!("{file}:{}-{} ", s.line_start, s.line_end), style),
            Span::styled(s.label(), Style::default().fg(t.muted)),
        ]));
    }
    lines
}

fn gauge(pct: u64) -> String {
    let filled = (pct.min(100) / 10) as usize;
    format!("[{}{}]", "█".repeat(filled), "·".repeat(10 - filled))
}
