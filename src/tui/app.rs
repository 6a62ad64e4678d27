//! The TUI's state and its update function: every key, paste, stream event and task result
//! arrives as a `Msg`; `update` changes the state and returns the `Effect`s to run.

use std::path::PathBuf;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio_util::sync::CancellationToken;

use super::incremental::{content_hash, Incremental};
use super::input::InputBox;
use super::keymap::{Action, Context, KeyResolver, Resolution};
use super::layout::{self, Areas};
use super::markdown::{self, Highlighter, Rendered};
use super::palette::Palette;
use super::theme::Theme;
use crate::orchestrator::events::{RunErrorKind, RunEvent};
use crate::orchestrator::{describe_intervention, Turn, TurnInput};
use crate::runtime::catalog::Catalog;
use crate::runtime::context::Caller;
use crate::runtime::types::{Role, StreamEvent};
use crate::sessions::{ChatMessage, MessageStatus, Session, SessionStore};
use crate::store::Id;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sidebar,
    Chat,
    Input,
}

/// What a one-line prompt modal is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Rename,
    SystemPrompt,
    Params,
    SearchChat,
    SearchSessions,
}

impl PromptKind {
    pub fn title(self) -> &'static str {
        match self {
            PromptKind::Rename => "Rename session",
            PromptKind::SystemPrompt => "System prompt",
            PromptKind::Params => "Parameters (temperature, max_tokens, repeat_penalty)",
            PromptKind::SearchChat => "Search this conversation",
            PromptKind::SearchSessions => "Search all sessions",
        }
    }
}

/// A catalog entry as the picker shows it.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub id: String,
    pub context_window: u32,
    pub input_price: f64,
    pub output_price: f64,
    pub local: bool,
    pub downloaded: bool,
}

/// The fuzzy model picker.
#[derive(Debug, Clone)]
pub struct Picker {
    pub query: InputBox,
    pub matches: Vec<usize>,
    pub selected: usize,
}

/// Layers above the panes; the top one takes the keys.
#[derive(Debug, Clone)]
pub enum Modal {
    ConfirmQuit,
    ConfirmDelete {
        id: Id,
        title: String,
    },
    /// The generated key help, scrolled by this many lines.
    Help(u16),
    Picker(Picker),
    Prompt(PromptKind, InputBox),
    /// The command palette: every keymap action, fuzzy-searched.
    Palette(Palette),
}

/// A model download running in the background.
#[derive(Debug, Clone)]
pub struct PullState {
    pub model: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// Inbound messages: input events and results of background work.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    /// Mouse wheel (when mouse capture is on): lines to scroll.
    Scroll(i16),
    Resize(u16, u16),
    /// Answer text of a run, as its checks released it.
    Stream {
        message: Id,
        event: StreamEvent,
    },
    /// Every other event of a run (interventions, usage, the end).
    Run(Box<RunEvent>),
    /// A turn could not start at all (its session is gone, the database failed).
    TurnFailed(String),
    PullProgress {
        model: String,
        done: u64,
        total: Option<u64>,
    },
    Pulled {
        model: String,
        result: Result<(), String>,
    },
    EditorDone(Result<String, String>),
    /// Sessions matching a session search.
    SessionHits {
        /// Which search this answers (only the latest counts).
        seq: u64,
        result: Result<Vec<Id>, String>,
    },
}

/// Work for the runner.
#[derive(Debug)]
pub enum Effect {
    /// Run a turn of a session through the orchestrator (answered by `Msg::Stream` and
    /// `Msg::Run`).
    Turn(Box<Turn>),
    Pull(String),
    Copy(String),
    OpenEditor(String),
    SetMouse(bool),
    /// Full-text search over all sessions (answered by `Msg::SessionHits` with `seq`).
    SearchSessions {
        query: String,
        seq: u64,
    },
    Quit,
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

/// Rendered lines of one message, cached per width.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub id: Id,
    pub rendered: Rendered,
    /// What the cache was made from: content hash and length, status, width.
    key: (u64, usize, MessageStatus, u16),
    /// How much of a growing answer is laid out for good.
    incremental: Incremental,
}

/// The whole UI state.
pub struct App {
    pub store: SessionStore,
    pub catalog: Vec<ModelEntry>,
    pub default_model: String,
    pub theme: Theme,
    pub highlighter: Highlighter,
    pub keys: KeyResolver,
    pub size: (u16, u16),
    pub focus: Focus,
    pub sessions: Vec<Session>,
    pub sidebar_selected: usize,
    /// Sidebar filtered by a session search.
    pub session_filter: Option<String>,
    /// Sessions matching `session_filter`, computed when it is set.
    pub filter_hits: Vec<Id>,
    /// Effects raised deep inside an update, returned with its others.
    deferred: Vec<Effect>,
    /// Number of the latest session search.
    search_seq: u64,
    pub session: Session,
    pub messages: Vec<ChatMessage>,
    pub views: Vec<MessageView>,
    /// First visible chat line.
    pub scroll: usize,
    /// Keep the newest line in view while streaming.
    pub follow: bool,
    pub selected_message: Option<usize>,
    pub input: InputBox,
    pub history: Vec<String>,
    pub history_pos: Option<usize>,
    /// The input being typed before history recall started.
    pub history_stash: String,
    pub modal: Option<Modal>,
    pub streaming: Option<Streaming>,
    pub pull: Option<PullState>,
    /// Model to switch to once its pull finishes.
    pub pending_model: Option<(Id, String)>,
    pub search: Option<(String, Vec<usize>, usize)>,
    pub code_block_cursor: usize,
    pub mouse: bool,
    pub flash: Option<String>,
    pub export_dir: PathBuf,
    pub quit: bool,
    /// Scroll position to restore once the terminal size is known.
    pub resume_scroll: Option<usize>,
}

impl App {
    /// Builds the UI state, resuming the most recent session (or starting one).
    pub fn new(
        store: SessionStore,
        catalog: &Catalog,
        model_dir: &std::path::Path,
        default_model: &str,
        theme: Theme,
        keys: KeyResolver,
        export_dir: PathBuf,
    ) -> Result<App, crate::store::StoreError> {
        let catalog = catalog
            .models()
            .iter()
            .filter(|m| m.has(crate::runtime::catalog::Capability::Chat))
            .map(|m| ModelEntry {
                id: m.id.clone(),
                context_window: m.context_window,
                input_price: m.input_price,
                output_price: m.output_price,
                local: m.is_local(),
                downloaded: m.is_downloaded(model_dir),
            })
            .collect();
        let mut sessions = store.list()?;
        let ui = store.load_ui();
        let last = ui
            .session
            .and_then(|id| sessions.iter().find(|s| s.id == id));
        let session = match last.or(sessions.first()) {
            Some(s) => s.clone(),
            None => {
                let s = store.create(default_model)?;
                sessions.push(s.clone());
                s
            }
        };
        let messages = store.messages(session.id)?;
        let history = messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.clone())
            .collect();
        let input = InputBox::with_text(&session.draft);
        let mut app = App {
            store,
            catalog,
            default_model: default_model.to_string(),
            theme,
            highlighter: Highlighter::new(),
            keys,
            size: (80, 24),
            focus: Focus::Input,
            sessions,
            sidebar_selected: 0,
            session_filter: None,
            filter_hits: Vec::new(),
            deferred: Vec::new(),
            search_seq: 0,
            session,
            messages,
            views: Vec::new(),
            scroll: 0,
            follow: true,
            selected_message: None,
            input,
            history,
            history_pos: None,
            history_stash: String::new(),
            modal: None,
            streaming: None,
            pull: None,
            pending_model: None,
            search: None,
            code_block_cursor: 0,
            mouse: false,
            flash: None,
            export_dir,
            quit: false,
            resume_scroll: None,
        };
        app.focus = match ui.focus.as_str() {
            "sidebar" => Focus::Sidebar,
            "chat" => Focus::Chat,
            _ => Focus::Input,
        };
        app.sidebar_selected = app
            .sessions
            .iter()
            .position(|s| s.id == app.session.id)
            .unwrap_or(0);
        app.resume_scroll = ui.scroll;
        app.refresh_views();
        Ok(app)
    }

    /// Saves the draft, any answer still streaming (as cancelled), and where the user is
    /// (session, focus, scroll) for the next start.
    pub fn save_ui_state(&mut self) {
        self.save_draft();
        if let Some(s) = self.streaming.take() {
            s.cancel.cancel();
            if let Some(m) = self.messages.iter_mut().find(|m| m.id == s.message) {
                m.status = MessageStatus::Cancelled;
                let m = m.clone();
                self.persist(&m);
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
        if let Err(e) = self.store.save_ui(&state) {
            tracing::warn!("could not save the UI state: {e}");
        }
    }

    /// The panes' rectangles for the current size and focus.
    pub fn areas(&self) -> Areas {
        layout::areas(
            self.size.0,
            self.size.1,
            self.focus == Focus::Sidebar,
            &self.input,
            self.input_rows(),
        )
    }

    fn input_rows(&self) -> u16 {
        let width = layout::input_inner_width(self.size.0, self.focus == Focus::Sidebar);
        let (rows, _) = self.input.layout(width);
        u16::try_from(rows.len()).unwrap_or(u16::MAX).clamp(1, 6)
    }

    /// Width available to message text in the chat pane.
    pub fn chat_width(&self) -> u16 {
        self.areas().chat.width.saturating_sub(2).max(4)
    }

    /// Re-renders messages whose text, status or width changed. An answer that grew is
    /// laid out again only from its last finished block on.
    pub fn refresh_views(&mut self) {
        let width = self.chat_width();
        self.views.truncate(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let key = (content_hash(&m.content), m.content.len(), m.status, width);
            let old = self.views.get_mut(i).filter(|v| v.id == m.id);
            if old.as_ref().is_some_and(|v| v.key == key) {
                continue;
            }
            let (mut rendered, mut incremental) = old
                .map(|v| {
                    (
                        std::mem::take(&mut v.rendered),
                        std::mem::take(&mut v.incremental),
                    )
                })
                .unwrap_or_default();
            match m.role {
                Role::Assistant => incremental.refresh(
                    &mut rendered,
                    &m.content,
                    width,
                    &self.theme,
                    &self.highlighter,
                ),
                _ => {
                    rendered = Rendered {
                        lines: markdown::wrap_plain(
                            &m.content,
                            width,
                            ratatui::style::Style::default().fg(self.theme.fg),
                        ),
                        code_blocks: Vec::new(),
                    }
                }
            }
            let view = MessageView {
                id: m.id,
                rendered,
                key,
                incremental,
            };
            if i < self.views.len() {
                self.views[i] = view;
            } else {
                self.views.push(view);
            }
        }
        if self.follow {
            self.follow_end();
        }
    }

    /// Keeps the newest line in view. While an answer streams, the view jumps a third of
    /// a page at a time instead of one line per new line: every jump rewrites the whole
    /// pane, which is what a slow SSH link pays for.
    fn follow_end(&mut self) {
        let max = self.max_scroll();
        if self.streaming.is_none() {
            self.scroll = max;
        } else {
            // Jump when the newest line left the view, or when the view overshoots by a
            // whole step (the answer shrank: regenerate, a resize, a session switch).
            let step = (self.chat_rows() / 3).max(1);
            if self.scroll < max || self.scroll >= max + step {
                self.scroll = max + step - 1;
            }
        }
    }

    /// Height in lines of message `i` (header, body, blank line).
    pub fn message_height(&self, i: usize) -> usize {
        self.views.get(i).map_or(0, |v| v.rendered.lines.len() + 2)
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

    fn contexts(&self) -> Vec<Context> {
        match &self.modal {
            Some(Modal::ConfirmQuit | Modal::ConfirmDelete { .. }) => vec![Context::Confirm],
            Some(Modal::Picker(_) | Modal::Palette(_)) => vec![Context::Picker],
            Some(Modal::Prompt(..)) => vec![Context::Search],
            Some(Modal::Help(_)) => vec![Context::Global],
            None => {
                let pane = match self.focus {
                    Focus::Sidebar => Context::Sidebar,
                    Focus::Chat => Context::Chat,
                    Focus::Input => Context::Input,
                };
                vec![pane, Context::Global]
            }
        }
    }

    /// Applies one message; returns the effects to run.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let mut fx = Vec::new();
        match msg {
            Msg::Key(key) => self.on_key(key, &mut fx),
            Msg::Paste(text) => self.on_paste(&text),
            Msg::Scroll(lines) => self.scroll_by(isize::from(lines)),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.refresh_views();
                if let Some(scroll) = self.resume_scroll.take() {
                    self.follow = false;
                    self.scroll = scroll.min(self.max_scroll());
                }
            }
            Msg::Stream { message, event } => self.on_stream(message, event),
            Msg::Run(event) => self.on_run_event(*event),
            Msg::TurnFailed(error) => {
                if let Some(s) = self.streaming.take() {
                    if let Some(m) = self.messages.iter_mut().find(|m| m.id == s.message) {
                        m.status = MessageStatus::Error;
                        m.content = error.clone();
                    }
                }
                self.flash = Some(format!("could not answer: {error}"));
            }
            Msg::PullProgress { model, done, total } => {
                self.pull = Some(PullState { model, done, total })
            }
            Msg::Pulled { model, result } => self.on_pulled(model, result),
            Msg::EditorDone(Ok(text)) => self.input.set(text.trim_end_matches('\n')),
            Msg::EditorDone(Err(e)) => self.flash = Some(format!("editor: {e}")),
            Msg::SessionHits { seq, result } => {
                if seq == self.search_seq && self.session_filter.is_some() {
                    match result {
                        Ok(ids) => self.filter_hits = ids,
                        Err(e) => self.flash = Some(format!("search failed: {e}")),
                    }
                    let shown = self.visible_sessions().len();
                    self.sidebar_selected = self.sidebar_selected.min(shown.saturating_sub(1));
                }
            }
        }
        fx.append(&mut self.deferred);
        fx
    }

    fn on_paste(&mut self, text: &str) {
        // A paste is text, never keys: it goes to whatever is being typed into.
        match &mut self.modal {
            Some(Modal::Prompt(_, input)) => input.insert_str(&text.replace('\n', " ")),
            Some(Modal::Picker(p)) => {
                p.query.insert_str(text.lines().next().unwrap_or(""));
                self.refilter_picker();
            }
            Some(Modal::Palette(p)) => {
                p.query.insert_str(text.lines().next().unwrap_or(""));
                p.refilter();
            }
            Some(_) => {}
            None => {
                self.focus = Focus::Input;
                self.input.insert_str(text);
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        self.flash = None;
        let contexts = self.contexts();
        match self.keys.resolve(&contexts, key) {
            Resolution::Action(action) => self.on_action(action, fx),
            Resolution::Pending | Resolution::Ignored => {}
            Resolution::Unbound => self.on_text_key(key),
        }
    }

    /// Keys with no binding: typing into the focused text field, or scrolling the help.
    fn on_text_key(&mut self, key: KeyEvent) {
        if let Some(Modal::Help(scroll)) = &mut self.modal {
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => *scroll = scroll.saturating_add(10),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                _ => {}
            }
            return;
        }
        let target: Option<&mut InputBox> = match &mut self.modal {
            Some(Modal::Prompt(_, input)) => Some(input),
            Some(Modal::Picker(p)) => Some(&mut p.query),
            Some(Modal::Palette(p)) => Some(&mut p.query),
            Some(_) => None,
            None if self.focus == Focus::Input => Some(&mut self.input),
            None => None,
        };
        let Some(input) = target else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('w') if ctrl => input.delete_word(),
            KeyCode::Char('u') if ctrl => {
                input.take();
            }
            KeyCode::Char('a') if ctrl => input.home(),
            KeyCode::Char(c) if !ctrl => input.insert_char(c),
            KeyCode::Backspace => input.backspace(),
            KeyCode::Delete => input.delete(),
            KeyCode::Left => input.left(),
            KeyCode::Right => input.right(),
            KeyCode::Home => input.home(),
            KeyCode::End => input.end(),
            _ => {}
        }
        match &mut self.modal {
            Some(Modal::Picker(_)) => self.refilter_picker(),
            Some(Modal::Palette(p)) => p.refilter(),
            _ => {}
        }
    }

    fn on_action(&mut self, action: Action, fx: &mut Vec<Effect>) {
        use Action as A;
        match action {
            A::Quit => self.modal = Some(Modal::ConfirmQuit),
            A::CancelOrQuit => {
                if !self.cancel_generation() {
                    self.modal = Some(Modal::ConfirmQuit);
                }
            }
            A::Cancel => {
                if self.modal.take().is_none()
                    && !self.cancel_generation()
                    && self.search.take().is_none()
                {
                    self.selected_message = None;
                }
                self.keys.reset();
            }
            A::ConfirmYes => self.confirm(fx),
            A::ConfirmNo => self.modal = None,
            A::FocusNext => self.cycle_focus(1),
            A::FocusPrev => self.cycle_focus(-1),
            A::FocusSidebar => self.focus = Focus::Sidebar,
            A::FocusChat => self.focus = Focus::Chat,
            A::FocusInput => self.focus = Focus::Input,
            A::Help => self.modal = Some(Modal::Help(0)),
            A::Send => self.send(fx),
            A::Newline => self.input.insert_char('\n'),
            A::HistoryPrev => self.recall(-1),
            A::HistoryNext => self.recall(1),
            A::ComposeInEditor => fx.push(Effect::OpenEditor(self.input.text().to_string())),
            A::Regenerate => self.regenerate(fx),
            A::EditMessage => self.edit_selected(),
            A::ScrollUp => self.scroll_by(-1),
            A::ScrollDown => self.scroll_by(1),
            A::PageUp | A::PageDown => self.page(action == A::PageDown),
            A::Top | A::Bottom => self.jump(action == A::Bottom),
            A::Search => {
                self.modal = Some(Modal::Prompt(PromptKind::SearchChat, InputBox::default()))
            }
            A::SearchNext | A::SearchPrev => {
                self.search_step(if action == A::SearchNext { 1 } else { -1 })
            }
            A::SearchSubmit => self.submit_prompt(),
            A::CopyLastAnswer => self.copy_last_answer(fx),
            A::CopyMessage => self.copy_selected(fx),
            A::CopyCodeBlock => self.copy_code_block(fx),
            A::SelectPrevMessage => self.select_message(-1),
            A::SelectNextMessage => self.select_message(1),
            A::ToggleMouse => {
                self.mouse = !self.mouse;
                self.flash = Some(format!(
                    "mouse capture {}",
                    if self.mouse { "on" } else { "off" }
                ));
                fx.push(Effect::SetMouse(self.mouse));
            }
            A::PickModel => self.open_picker(),
            A::NewSession => self.new_session(),
            A::RenameSession => {
                let title = self
                    .sidebar_session()
                    .map(|s| s.title.clone())
                    .unwrap_or_default();
                self.modal = Some(Modal::Prompt(
                    PromptKind::Rename,
                    InputBox::with_text(&title),
                ));
            }
            A::DeleteSession => {
                if let Some(s) = self.sidebar_session() {
                    self.modal = Some(Modal::ConfirmDelete {
                        id: s.id,
                        title: s.title.clone(),
                    });
                }
            }
            A::SearchSessions => {
                self.modal = Some(Modal::Prompt(
                    PromptKind::SearchSessions,
                    InputBox::default(),
                ))
            }
            A::ExportMarkdown => self.export(false),
            A::ExportJson => self.export(true),
            A::EditSystemPrompt => {
                let current = self.session.agent.instructions.clone().unwrap_or_default();
                self.modal = Some(Modal::Prompt(
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
                self.modal = Some(Modal::Prompt(
                    PromptKind::Params,
                    InputBox::with_text(&text),
                ));
            }
            A::PickerUp | A::PickerDown => self.picker_move(action == A::PickerDown),
            A::PickerSelect => self.picker_select(fx),
            A::ListUp | A::ListDown => self.sidebar_move(action == A::ListDown),
            A::OpenSession => self.open_sidebar_session(),
            A::CommandPalette => {
                self.modal = Some(Modal::Palette(Palette::new(self.keys.keymap())));
                self.keys.reset();
            }
        }
    }

    fn cycle_focus(&mut self, dir: i32) {
        let order = [Focus::Sidebar, Focus::Chat, Focus::Input];
        let pos = order.iter().position(|f| *f == self.focus).unwrap_or(2) as i32;
        self.focus = order[(pos + dir).rem_euclid(3) as usize];
        self.keys.reset();
    }

    /// Cancels the running generation; false when nothing was running.
    fn cancel_generation(&mut self) -> bool {
        match &self.streaming {
            Some(s) => {
                s.cancel.cancel();
                self.flash = Some("cancelling…".into());
                true
            }
            None => false,
        }
    }

    fn confirm(&mut self, fx: &mut Vec<Effect>) {
        match self.modal.take() {
            Some(Modal::ConfirmQuit) => {
                self.cancel_generation();
                self.save_ui_state();
                self.quit = true;
                fx.push(Effect::Quit);
            }
            Some(Modal::ConfirmDelete { id, title }) => self.delete_session(id, &title),
            other => self.modal = other,
        }
    }

    /// Keeps the unsent input with the session, to restore it on resume.
    pub fn save_draft(&mut self) {
        self.session.draft = self.input.text().to_string();
        if let Err(e) = self.store.save(&self.session) {
            self.flash = Some(format!("could not save the session: {e}"));
        }
    }

    fn persist(&mut self, message: &ChatMessage) {
        if let Err(e) = self.store.put_message(&mut self.session, message) {
            self.flash = Some(format!("could not save: {e}"));
        }
    }

    fn send(&mut self, fx: &mut Vec<Effect>) {
        if self.streaming.is_some() {
            self.flash = Some("still answering; Esc cancels".into());
            return;
        }
        if self.input.is_blank() {
            return;
        }
        let text = self.input.take();
        self.history.push(text.clone());
        self.history_pos = None;
        let mut turn = Turn::new(self.session.id, TurnInput::Ask(text.clone()), Caller::Tui);
        turn.agent = Some(self.session.agent.clone());
        turn.save_agent = true;
        // Shown at once; the orchestrator stores both (off this task) under the same ids.
        // The orchestrator names the stored session the same way; keep this copy in step.
        if self.session.title == crate::sessions::NEW_TITLE {
            self.session.title = crate::sessions::title_from(&text);
        }
        let mut user = ChatMessage::new(Role::User, text);
        user.id = turn.prompt_id;
        self.messages.push(user);
        self.session.draft.clear();
        self.start_answer(turn, fx);
    }

    /// Shows an empty answer and asks the orchestrator to run the turn.
    fn start_answer(&mut self, turn: Turn, fx: &mut Vec<Effect>) {
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
        self.refresh_views();
    }

    fn on_stream(&mut self, message: Id, event: StreamEvent) {
        if let StreamEvent::TextDelta { text } = event {
            if let Some(m) = self.messages.iter_mut().rev().find(|m| m.id == message) {
                m.content.push_str(&text);
            }
        }
    }

    fn on_run_event(&mut self, event: RunEvent) {
        match event {
            RunEvent::Intervention {
                check,
                action,
                detail,
                ..
            } => {
                self.flash = Some(format!(
                    "guardrail: {}",
                    describe_intervention(&check, action, &detail)
                ))
            }
            RunEvent::ToolCall { call, .. } => {
                self.flash = Some(format!("tool call: {}({})", call.name, call.arguments))
            }
            RunEvent::Finished {
                session,
                answer,
                prompt,
                error,
                ..
            } => self.on_finished(session, answer, prompt, error),
            RunEvent::Started { .. } | RunEvent::TextDelta { .. } | RunEvent::Usage { .. } => {}
        }
    }

    /// The run stored its answer: show it as stored, say how it ended.
    fn on_finished(
        &mut self,
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
        self.flash = error.map(|e| match e.kind {
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
            self.refresh_views();
        }
        self.reload_sidebar();
    }

    fn on_pulled(&mut self, model: String, result: Result<(), String>) {
        self.pull = None;
        match result {
            Ok(()) => {
                if let Some(entry) = self.catalog.iter_mut().find(|e| e.id == model) {
                    entry.downloaded = true;
                }
                if let Some((session, _)) = self.pending_model.take_if(|(_, m)| *m == model) {
                    if session == self.session.id {
                        self.set_model(&model);
                    } else if let Ok(Some(mut s)) = self.store.get(session) {
                        // Picked in a session the user has left: update it there.
                        s.agent.model = model.clone();
                        if let Err(e) = self.store.save(&s) {
                            self.flash = Some(format!("could not save: {e}"));
                        }
                    }
                }
                self.flash = Some(format!("{model} downloaded"));
            }
            Err(e) => self.flash = Some(format!("pull of {model} failed: {e}")),
        }
    }

    fn recall(&mut self, dir: isize) {
        if self.history.is_empty() {
            return;
        }
        if self.history_pos.is_none() {
            if dir > 0 {
                return;
            }
            // Keep what was being typed; Down past the newest entry brings it back.
            self.history_stash = self.input.text().to_string();
        }
        let last = self.history.len() - 1;
        let pos = match (self.history_pos, dir < 0) {
            (None, true) => Some(last),
            (None, false) => None,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p >= last => None,
            (Some(p), false) => Some(p + 1),
        };
        self.history_pos = pos;
        match pos {
            Some(p) => self.input.set(&self.history[p]),
            None => {
                let stash = std::mem::take(&mut self.history_stash);
                self.input.set(&stash);
            }
        }
    }

    fn regenerate(&mut self, fx: &mut Vec<Effect>) {
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
            self.flash = Some("nothing to regenerate".into());
            return;
        }
        if last_answer {
            // The orchestrator removes it from the store and writes the new one.
            self.messages.pop();
        }
        let mut turn = Turn::new(self.session.id, TurnInput::Regenerate, Caller::Tui);
        turn.agent = Some(self.session.agent.clone());
        turn.save_agent = true;
        self.start_answer(turn, fx);
    }

    /// Forks the session before the selected user message and puts its text in the input.
    fn edit_selected(&mut self) {
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
            self.flash = Some("select one of your messages to edit ([ and ])".into());
            return;
        };
        match self.store.fork(&self.session, m.id) {
            Ok(fork) => {
                self.switch_to(fork);
                self.input.set(&m.content);
                self.focus = Focus::Input;
                self.flash = Some("editing in a fork; Enter resends".into());
            }
            Err(e) => self.flash = Some(format!("could not fork: {e}")),
        }
    }

    fn page(&mut self, down: bool) {
        if let Some(Modal::Picker(_) | Modal::Palette(_)) = self.modal {
            for _ in 0..10 {
                self.picker_move(down);
            }
            return;
        }
        if self.focus == Focus::Sidebar {
            for _ in 0..10 {
                self.sidebar_move(down);
            }
            return;
        }
        let rows = self.chat_rows().max(2) as isize - 1;
        self.scroll_by(if down { rows } else { -rows });
    }

    fn jump(&mut self, bottom: bool) {
        if self.focus == Focus::Sidebar {
            let n = self.visible_sessions().len();
            self.sidebar_selected = if bottom { n.saturating_sub(1) } else { 0 };
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

    fn submit_prompt(&mut self) {
        let Some(Modal::Prompt(kind, input)) = self.modal.take() else {
            return;
        };
        let text = input.text().trim().to_string();
        match kind {
            PromptKind::Rename => {
                let id = self.sidebar_session().map(|s| s.id);
                if let (Some(id), false) = (id, text.is_empty()) {
                    if id == self.session.id {
                        // The current session's settings live in `self.session`.
                        self.session.title = text;
                        self.save_draft();
                    } else if let Ok(Some(mut s)) = self.store.get(id) {
                        s.title = text;
                        if let Err(e) = self.store.save(&s) {
                            self.flash = Some(format!("could not rename: {e}"));
                        }
                    }
                    self.reload_sidebar();
                }
            }
            PromptKind::SystemPrompt => {
                self.session.agent.instructions = Some(text).filter(|t| !t.is_empty());
                self.save_draft();
                self.flash = Some("system prompt saved".into());
            }
            PromptKind::Params => match self.session.agent.params.with_assignments(&text) {
                Ok(p) => {
                    self.session.agent.params = p;
                    self.save_draft();
                    self.flash = Some("parameters saved".into());
                }
                Err(e) => {
                    self.flash = Some(e.to_string());
                    self.modal = Some(Modal::Prompt(kind, input));
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
                self.flash = Some(format!("{} match(es) for `{text}` (n/N)", hits.len()));
                self.focus = Focus::Chat;
                self.search = Some((text, hits, 0));
                self.search_step(0);
            }
            PromptKind::SearchSessions => {
                self.session_filter = Some(text).filter(|t| !t.is_empty());
                // Other clients may have added sessions: list them afresh, then search.
                self.reload_sidebar();
                self.sidebar_selected = 0;
                self.focus = Focus::Sidebar;
            }
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

    fn copy_last_answer(&mut self, fx: &mut Vec<Effect>) {
        match self
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant && !m.content.is_empty())
        {
            Some(m) => {
                fx.push(Effect::Copy(m.content.clone()));
                self.flash = Some("copied the last answer".into());
            }
            None => self.flash = Some("no answer to copy".into()),
        }
    }

    fn copy_selected(&mut self, fx: &mut Vec<Effect>) {
        match self.selected_message.and_then(|i| self.messages.get(i)) {
            Some(m) => {
                fx.push(Effect::Copy(m.content.clone()));
                self.flash = Some("copied the message".into());
            }
            None => self.flash = Some("select a message first ([ and ])".into()),
        }
    }

    /// Copies the next code block of the selected (or last) answer, cycling.
    fn copy_code_block(&mut self, fx: &mut Vec<Effect>) {
        let i = self.selected_message.or_else(|| {
            self.messages
                .iter()
                .rposition(|m| m.role == Role::Assistant)
        });
        let blocks = i
            .and_then(|i| self.views.get(i))
            .map(|v| &v.rendered.code_blocks);
        match blocks.filter(|b| !b.is_empty()) {
            Some(blocks) => {
                let n = self.code_block_cursor % blocks.len();
                fx.push(Effect::Copy(blocks[n].code.clone()));
                self.flash = Some(format!("copied code block {} of {}", n + 1, blocks.len()));
                self.code_block_cursor = n + 1;
            }
            None => self.flash = Some("no code block in that message".into()),
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

    fn open_picker(&mut self) {
        let mut picker = Picker {
            query: InputBox::default(),
            matches: Vec::new(),
            selected: 0,
        };
        picker.matches = (0..self.catalog.len()).collect();
        picker.selected = self
            .catalog
            .iter()
            .position(|e| e.id == self.session.agent.model)
            .unwrap_or(0);
        self.modal = Some(Modal::Picker(picker));
    }

    fn refilter_picker(&mut self) {
        let Some(Modal::Picker(p)) = &mut self.modal else {
            return;
        };
        let query = p.query.text().to_lowercase();
        let mut scored: Vec<(i64, usize)> = self
            .catalog
            .iter()
            .enumerate()
            .filter_map(|(i, e)| fuzzy_score(&query, &e.id.to_lowercase()).map(|s| (s, i)))
            .collect();
        scored.sort_by_key(|(s, i)| (std::cmp::Reverse(*s), *i));
        p.matches = scored.into_iter().map(|(_, i)| i).collect();
        p.selected = 0;
    }

    fn picker_move(&mut self, down: bool) {
        if let Some(Modal::Palette(p)) = &mut self.modal {
            p.move_by(if down { 1 } else { -1 });
        }
        if let Some(Modal::Picker(p)) = &mut self.modal {
            let n = p.matches.len();
            if n > 0 {
                p.selected = if down {
                    (p.selected + 1).min(n - 1)
                } else {
                    p.selected.saturating_sub(1)
                };
            }
        }
    }

    fn picker_select(&mut self, fx: &mut Vec<Effect>) {
        if let Some(Modal::Palette(_)) = self.modal {
            return self.run_palette_choice(fx);
        }
        let Some(Modal::Picker(p)) = self.modal.take() else {
            return;
        };
        let Some(entry) = p
            .matches
            .get(p.selected)
            .and_then(|&i| self.catalog.get(i))
            .cloned()
        else {
            return;
        };
        if entry.local && !entry.downloaded {
            if self.pull.is_some() {
                self.flash = Some("a download is already running".into());
                return;
            }
            self.pending_model = Some((self.session.id, entry.id.clone()));
            self.pull = Some(PullState {
                model: entry.id.clone(),
                done: 0,
                total: None,
            });
            fx.push(Effect::Pull(entry.id));
        } else {
            // A later choice wins over a download still running.
            self.pending_model = None;
            self.set_model(&entry.id);
        }
    }

    /// Closes the palette and runs its highlighted action the way its key would: the
    /// pane the binding belongs to takes focus, then the action goes through `on_action`.
    fn run_palette_choice(&mut self, fx: &mut Vec<Effect>) {
        let Some(Modal::Palette(p)) = self.modal.take() else {
            return;
        };
        let Some(entry) = p.chosen() else {
            return;
        };
        self.keys.reset();
        match entry.context {
            Context::Chat => self.focus = Focus::Chat,
            Context::Input => self.focus = Focus::Input,
            Context::Sidebar => self.focus = Focus::Sidebar,
            _ => {}
        }
        self.on_action(entry.action, fx);
    }

    fn set_model(&mut self, id: &str) {
        self.session.agent.model = id.to_string();
        self.save_draft();
        self.flash = Some(format!("model: {id}"));
    }

    fn visible_sessions(&self) -> Vec<&Session> {
        match &self.session_filter {
            None => self.sessions.iter().collect(),
            Some(_) => self
                .sessions
                .iter()
                .filter(|s| self.filter_hits.contains(&s.id))
                .collect(),
        }
    }

    /// Sessions shown in the sidebar (filtered by a session search).
    pub fn sidebar_items(&self) -> Vec<&Session> {
        self.visible_sessions()
    }

    fn sidebar_session(&self) -> Option<&Session> {
        self.visible_sessions().get(self.sidebar_selected).copied()
    }

    fn sidebar_move(&mut self, down: bool) {
        let n = self.visible_sessions().len();
        if n > 0 {
            self.sidebar_selected = if down {
                (self.sidebar_selected + 1).min(n - 1)
            } else {
                self.sidebar_selected.saturating_sub(1)
            };
        }
    }

    fn reload_sidebar(&mut self) {
        // The list reorders (most recently updated first): keep the same session selected.
        let selected = self.sidebar_session().map(|s| s.id);
        match self.store.list() {
            Ok(s) => self.sessions = s,
            Err(e) => self.flash = Some(format!("could not list sessions: {e}")),
        }
        if let Some(pos) = selected.and_then(|id| self.sessions.iter().position(|s| s.id == id)) {
            if self.session_filter.is_none() {
                self.sidebar_selected = pos;
            }
        }
        self.refresh_filter();
    }

    /// Re-runs the session search (once per change, not per frame).
    fn refresh_filter(&mut self) {
        match &self.session_filter {
            // A full-text scan: it runs off the UI task and answers with `Msg::SessionHits`.
            Some(q) => {
                self.search_seq += 1;
                self.deferred.push(Effect::SearchSessions {
                    query: q.clone(),
                    seq: self.search_seq,
                });
            }
            None => self.filter_hits.clear(),
        }
    }

    fn open_sidebar_session(&mut self) {
        let Some(id) = self.sidebar_session().map(|s| s.id) else {
            return;
        };
        self.focus = Focus::Input;
        if id == self.session.id {
            return;
        }
        // The sidebar's copy may be stale: read the session as stored.
        match self.store.get(id) {
            Ok(Some(s)) => self.switch_to(s),
            Ok(None) => self.reload_sidebar(),
            Err(e) => self.flash = Some(format!("could not open the session: {e}")),
        }
    }

    fn switch_to(&mut self, session: Session) {
        if self.streaming.is_some() {
            self.cancel_generation();
        }
        // The current session may just have been deleted: only save it if it still exists.
        if self.store.get(self.session.id).ok().flatten().is_some() {
            self.save_draft();
        }
        match self.store.messages(session.id) {
            Ok(messages) => {
                self.input = InputBox::with_text(&session.draft);
                self.session = session;
                self.messages = messages;
                self.views.clear();
                self.selected_message = None;
                self.search = None;
                self.follow = true;
                self.refresh_views();
                self.reload_sidebar();
                self.sidebar_selected = self
                    .visible_sessions()
                    .iter()
                    .position(|s| s.id == self.session.id)
                    .unwrap_or(0);
            }
            Err(e) => self.flash = Some(format!("could not open the session: {e}")),
        }
    }

    fn new_session(&mut self) {
        let model = self.session.agent.model.clone();
        match self.store.create(&model) {
            Ok(s) => {
                self.switch_to(s);
                self.focus = Focus::Input;
            }
            Err(e) => self.flash = Some(format!("could not create a session: {e}")),
        }
    }

    fn delete_session(&mut self, id: Id, title: &str) {
        if let Err(e) = self.store.delete(id) {
            self.flash = Some(format!("could not delete: {e}"));
            return;
        }
        self.reload_sidebar();
        if self.session.id == id {
            match self.sessions.first().cloned() {
                Some(s) => self.switch_to(s),
                None => self.new_session(),
            }
        }
        self.sidebar_selected = self
            .sidebar_selected
            .min(self.sessions.len().saturating_sub(1));
        self.flash = Some(format!("deleted “{title}”"));
    }

    fn export(&mut self, json: bool) {
        let Some(s) = self.sidebar_session().cloned() else {
            return;
        };
        let result = if json {
            self.store.export_json(s.id)
        } else {
            self.store.export_markdown(s.id)
        };
        let ext = if json { "json" } else { "md" };
        let safe: String = s
            .title
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let path = self.export_dir.join(format!("{safe}-{}.{ext}", s.id));
        let written = result.map_err(|e| e.to_string()).and_then(|text| {
            std::fs::create_dir_all(&self.export_dir).map_err(|e| e.to_string())?;
            std::fs::write(&path, text).map_err(|e| e.to_string())
        });
        self.flash = Some(match written {
            Ok(()) => format!("exported to {}", path.display()),
            Err(e) => format!("export failed: {e}"),
        });
    }
}

/// Subsequence match score: higher for contiguous and early matches; None if no match.
pub fn fuzzy_score(query: &str, candidate: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(0);
    }
    let mut score = 0i64;
    let mut last: Option<usize> = None;
    let mut chars = candidate.char_indices();
    for q in query.chars() {
        let (i, _) = chars.by_ref().find(|(_, c)| *c == q)?;
        score += match last {
            Some(l) if i == l + 1 => 10,
            _ => 1,
        };
        if last.is_none() {
            score -= i as i64 / 4;
        }
        last = Some(i);
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_prefers_contiguous_matches() {
        assert!(fuzzy_score("smol", "local/smollm2-135m") > fuzzy_score("smol", "local/s-m-o-l"));
        assert_eq!(fuzzy_score("xyz", "local/smollm2-135m"), None);
        assert_eq!(fuzzy_score("", "anything"), Some(0));
    }
}
