//! Layers: the modals and overlays stacked above a screen (confirmations, the key help,
//! the model picker, lists to choose from what exists, one-line prompts, the command
//! palette, the agent modals of `forms`, the forms of `fields`, confirmations of what a
//! delete loses, and a scrollable report).
//! The top layer sees each key
//! first and answers whether it consumed it, ignored it (the router then offers it to the
//! app's global keys and the screen), closed itself, or closed with a `Reply` for the
//! screen. A new modal is a new `Layer` variant here, not a new field anywhere. What a
//! reply does to the data is the screen's job; routing is `App`'s.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, ListItem, Paragraph};
use ratatui::Frame;

use super::fields::FieldForm;
use super::forms::{ApprovalPrompt, Form};
use super::fuzzy::fuzzy_score;
use super::input::InputBox;
use super::keymap::Keymap;
use super::keymap::{Action, Context, Resolution};
use super::palette::{Palette, PaletteEntry};
use super::theme::Theme;
use super::view;
use crate::orchestrator::approval::Decision;
use crate::store::Id;

/// What a one-line prompt modal is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Rename,
    SystemPrompt,
    Params,
    SearchChat,
    SearchSessions,
    /// The session's guardrail (NAME, NAME@VERSION, or none).
    Guardrail,
    /// The session's knowledge bases (names separated by commas; empty detaches).
    Knowledge,
    /// An evaluation job file to run.
    EvalFile,
    /// The task for the agent chosen on the Agents screen.
    AgentTask,
    /// The note kept with the guardrail version about to be frozen.
    VersionNote,
}

impl PromptKind {
    pub fn title(self) -> &'static str {
        match self {
            PromptKind::Rename => "Rename session",
            PromptKind::SystemPrompt => "System prompt",
            PromptKind::Params => "Parameters (temperature, max_tokens, repeat_penalty)",
            PromptKind::SearchChat => "Search this conversation",
            PromptKind::SearchSessions => "Search all sessions",
            PromptKind::Guardrail => {
                "Guardrail: NAME, NAME@VERSION or NAME@draft (empty or none detaches)"
            }
            PromptKind::Knowledge => "Knowledge bases: NAME, NAME… (empty detaches)",
            PromptKind::EvalFile => "Evaluation job file to run (TOML; an unfinished one resumes)",
            PromptKind::AgentTask => "Task for the agent (Enter runs it)",
            PromptKind::VersionNote => "What changed in this version (kept with it; may be empty)",
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

/// A model download running in the background.
#[derive(Debug, Clone)]
pub struct PullState {
    pub model: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// The fuzzy model picker.
#[derive(Debug, Clone)]
pub struct Picker {
    pub query: InputBox,
    pub matches: Vec<usize>,
    pub selected: usize,
}

impl Picker {
    /// The picker over the whole catalog, `current` highlighted.
    pub fn new(catalog: &[ModelEntry], current: &str) -> Picker {
        Picker {
            query: InputBox::default(),
            matches: (0..catalog.len()).collect(),
            selected: catalog.iter().position(|e| e.id == current).unwrap_or(0),
        }
    }

    fn refilter(&mut self, catalog: &[ModelEntry]) {
        self.matches = fuzzy_matches(self.query.text(), catalog.iter().map(|e| e.id.as_str()));
        self.selected = 0;
    }

    fn move_by(&mut self, delta: isize) {
        let last = self.matches.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }
}

/// Indexes of `labels` that match `query` fuzzily, best first (ties in list order).
fn fuzzy_matches<'a>(query: &str, labels: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let query = query.to_lowercase();
    let mut scored: Vec<(i64, usize)> = labels
        .enumerate()
        .filter_map(|(i, l)| fuzzy_score(&query, &l.to_lowercase()).map(|s| (s, i)))
        .collect();
    scored.sort_by_key(|(s, i)| (std::cmp::Reverse(*s), *i));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// What a choice list picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceKind {
    /// The session's guardrail: a name (its newest version), `NAME@N`, `NAME@draft`, or none.
    Guardrail,
    /// The session's knowledge bases (several; none detaches them all).
    Knowledge,
    /// The embeddings model a knowledge base is re-embedded with.
    Embedding,
}

impl ChoiceKind {
    fn title(self) -> &'static str {
        match self {
            ChoiceKind::Guardrail => "Guardrail",
            ChoiceKind::Knowledge => "Knowledge bases (Tab marks)",
            ChoiceKind::Embedding => "Re-embed every chunk with",
        }
    }
}

/// What a confirmed delete removes.
#[derive(Debug, Clone, PartialEq)]
pub enum Destroy {
    Session { id: Id, title: String },
    Guardrail(String),
    KnowledgeBase(String),
    EvalJob { id: Id, name: String },
}

/// "Delete X?", with what is lost listed (and what stays), before anything is removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub what: Destroy,
    pub question: String,
    /// What goes with it, one line each.
    pub lost: Vec<String>,
    /// What stays (a base's source files), one line each.
    pub kept: Vec<String>,
}

impl Confirm {
    /// Rows its text takes inside `width` columns (each line wrapped at `width`).
    fn rows(&self, width: u16) -> u16 {
        let w = usize::from(width.max(1));
        let wrapped = |text: &str| text.chars().count().div_ceil(w).max(1);
        let body: usize = self
            .lost
            .iter()
            .chain(&self.kept)
            .map(|l| wrapped(&format!("  • {l}")))
            .sum();
        let headings = usize::from(!self.lost.is_empty()) + usize::from(!self.kept.is_empty());
        (wrapped(&self.question) + headings + body + 2) as u16
    }
}

/// Where a reply goes: the screen that opened its layer (a form reopened with an error
/// while another screen is shown still answers its own screen); `None`: the screen shown.
impl Reply {
    pub fn owner(&self) -> Option<super::msg::ScreenId> {
        use super::msg::ScreenId as S;
        Some(match self {
            Reply::Destroy(Destroy::Session { .. }) => S::Chat,
            Reply::Destroy(Destroy::Guardrail(_)) => S::Guardrails,
            Reply::Destroy(Destroy::KnowledgeBase(_)) => S::Knowledge,
            Reply::Destroy(Destroy::EvalJob { .. }) => S::Evals,
            Reply::Choice(ChoiceKind::Guardrail, _) | Reply::Choices(ChoiceKind::Knowledge, _) => {
                S::Chat
            }
            Reply::Choice(ChoiceKind::Embedding, _) => S::Knowledge,
            Reply::Fields(f) => match f.kind {
                super::fields::FormKind::NewGuardrail => S::Guardrails,
                super::fields::FormKind::NewKnowledgeBase => S::Knowledge,
                super::fields::FormKind::NewEvalJob => S::Evals,
            },
            Reply::Prompt(PromptKind::VersionNote, _) => S::Guardrails,
            Reply::Prompt(PromptKind::EvalFile, _) => S::Evals,
            Reply::Prompt(PromptKind::AgentTask, _) => S::Agents,
            Reply::Approval { owner, .. } => *owner,
            _ => return None,
        })
    }
}

/// One entry of a choice list: what choosing it stands for, and how it is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceItem {
    pub value: String,
    pub detail: String,
}

/// A fuzzy list of what exists (guardrails and their versions, knowledge bases), like the
/// model picker; Enter on a query that matches nothing submits the query as typed. A list
/// of several choices marks entries with Tab.
#[derive(Debug, Clone)]
pub struct Choice {
    pub kind: ChoiceKind,
    pub items: Vec<ChoiceItem>,
    pub query: InputBox,
    pub matches: Vec<usize>,
    pub selected: usize,
    /// Which items are marked (a list of several choices), else `None`.
    pub marked: Option<Vec<bool>>,
    /// Whether the user marked or unmarked anything (then Enter takes the marks as
    /// they are).
    pub touched: bool,
}

impl Choice {
    /// The list with `current` highlighted.
    pub fn new(kind: ChoiceKind, items: Vec<ChoiceItem>, current: &str) -> Choice {
        Choice {
            kind,
            matches: (0..items.len()).collect(),
            selected: items.iter().position(|i| i.value == current).unwrap_or(0),
            items,
            query: InputBox::default(),
            marked: None,
            touched: false,
        }
    }

    /// A list of several choices, those of `current` marked. The first item (`none`)
    /// stands for no choice at all.
    pub fn several(kind: ChoiceKind, items: Vec<ChoiceItem>, current: &[String]) -> Choice {
        let marked = items.iter().map(|i| current.contains(&i.value)).collect();
        Choice {
            marked: Some(marked),
            selected: items
                .iter()
                .position(|i| current.contains(&i.value))
                .unwrap_or(0),
            ..Choice::new(kind, items, "")
        }
    }

    fn toggle(&mut self) {
        let Some(&i) = self.matches.get(self.selected) else {
            return;
        };
        if let Some(m) = self.marked.as_mut().and_then(|m| m.get_mut(i)) {
            *m = !*m;
            self.touched = true;
        }
    }

    /// What Enter submits in a list of several: once anything was marked or unmarked,
    /// exactly the marked items; else the marked ones and the highlighted one (`none`
    /// highlighted: the empty list). A query that matches nothing submits nothing.
    fn chosen_several(&self, marked: &[bool]) -> Option<Vec<String>> {
        let highlighted = *self.matches.get(self.selected)?;
        if highlighted == 0 && !self.touched {
            return Some(Vec::new());
        }
        Some(
            self.items
                .iter()
                .zip(marked)
                .enumerate()
                .skip(1)
                .filter(|(i, (_, on))| **on || (!self.touched && *i == highlighted))
                .map(|(_, (item, _))| item.value.clone())
                .collect(),
        )
    }

    fn refilter(&mut self) {
        self.matches = fuzzy_matches(
            self.query.text(),
            self.items.iter().map(|i| i.value.as_str()),
        );
        self.selected = 0;
    }

    fn move_by(&mut self, delta: isize) {
        let last = self.matches.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// What Enter submits: the selected entry, else the query as typed.
    fn chosen(&self) -> Option<String> {
        match self
            .matches
            .get(self.selected)
            .and_then(|&i| self.items.get(i))
        {
            Some(item) => Some(item.value.clone()),
            None => Some(self.query.text().trim().to_string()).filter(|q| !q.is_empty()),
        }
    }
}

/// One modal or overlay on the stack.
#[derive(Debug, Clone)]
pub enum Layer {
    ConfirmQuit,
    /// "Delete X?", naming what goes with it.
    Confirm(Box<Confirm>),
    /// A report to read (a sync's skipped files, a comparison of two jobs), scrolled by
    /// this many lines.
    Report {
        title: String,
        lines: Vec<String>,
        scroll: u16,
    },
    /// A form of fields (a new knowledge base, guardrail, evaluation job).
    Fields(Box<FieldForm>),
    /// The generated key help, scrolled by this many lines.
    Help(u16),
    Picker(Picker),
    /// A list to choose from what exists.
    Choose(Choice),
    Prompt(PromptKind, InputBox),
    /// The command palette: every keymap action and every screen, fuzzy-searched.
    Palette(Palette),
    /// A cited chunk in context: its file, lines and the text around it (`e` opens
    /// `$EDITOR` there).
    Citation(Box<super::kb_jobs::ChunkContext>),
    /// A tool call waiting for the user's decision.
    Approval(Box<ApprovalPrompt>),
    /// The fork form, or the edit of a step the debugger holds.
    Form(Box<Form>),
}

/// What a layer closed with, for the screen (or the router) to act on.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Yes to "Quit Strata?".
    Quit,
    /// Yes to deleting this.
    Destroy(Destroy),
    /// The entries chosen in a list of several (empty: none).
    Choices(ChoiceKind, Vec<String>),
    /// A form submitted as it stands.
    Fields(Box<FieldForm>),
    /// A model chosen in the picker.
    Model(ModelEntry),
    /// An entry chosen in a choice list (or the query typed when nothing matched).
    Choice(ChoiceKind, String),
    /// A prompt submitted with this text.
    Prompt(PromptKind, InputBox),
    /// A palette entry chosen.
    Palette(PaletteEntry),
    /// Open this file at this line in `$EDITOR`.
    OpenFile { path: String, line: usize },
    /// The user's decision on a run's pending tool call (`None`: later), for the screen
    /// whose run asked.
    Approval {
        owner: super::msg::ScreenId,
        run: Id,
        decision: Option<Decision>,
    },
    /// A form submitted as it stands.
    Form(Box<Form>),
}

/// A layer's answer to a key.
#[derive(Debug)]
pub enum Handled {
    /// The layer used the key; nobody else sees it.
    Consumed,
    /// Not the layer's key: offer it to the global keys and the screen.
    Ignored,
    /// The layer is done: pop it.
    Close,
    /// Pop the layer and hand this to the screen.
    Reply(Reply),
    /// The layer stays; run this work (a form's path completion).
    Effect(super::msg::Effect),
}

impl Layer {
    /// The keymap contexts keys are resolved in while this layer is on top.
    pub fn contexts(&self) -> Vec<Context> {
        match self {
            Layer::ConfirmQuit | Layer::Confirm(_) => vec![Context::Confirm],
            Layer::Report { .. } => vec![Context::Global],
            Layer::Fields(f) => f.contexts(),
            Layer::Picker(_) | Layer::Choose(_) | Layer::Palette(_) => vec![Context::Picker],
            Layer::Prompt(..) => vec![Context::Search],
            Layer::Help(_) | Layer::Citation(_) => vec![Context::Global],
            Layer::Approval(a) => a.contexts(),
            Layer::Form(f) => f.contexts(),
        }
    }

    /// Handles a resolved key.
    pub fn on_key(
        &mut self,
        resolution: Resolution,
        key: KeyEvent,
        catalog: &[ModelEntry],
    ) -> Handled {
        match resolution {
            Resolution::Action(action) => self.on_action(action, catalog),
            Resolution::Unbound => self.on_text_key(key, catalog),
            Resolution::Pending | Resolution::Ignored => Handled::Consumed,
        }
    }

    fn on_action(&mut self, action: Action, catalog: &[ModelEntry]) -> Handled {
        use Action as A;
        match (self, action) {
            (Layer::Approval(a), action) => a.on_action(action),
            (Layer::Form(f), action) => f.on_action(action),
            (Layer::Fields(f), action) => f.on_action(action),
            (_, A::Cancel) => Handled::Close,
            (Layer::Help(scroll), A::Help) => {
                *scroll = 0;
                Handled::Consumed
            }
            (Layer::ConfirmQuit, A::ConfirmYes) => Handled::Reply(Reply::Quit),
            (Layer::Confirm(c), A::ConfirmYes) => Handled::Reply(Reply::Destroy(c.what.clone())),
            (Layer::ConfirmQuit | Layer::Confirm(_), A::ConfirmNo) => Handled::Close,
            (
                Layer::Report { scroll, .. },
                A::ScrollDown | A::PageDown | A::ScrollUp | A::PageUp,
            ) => {
                let by = if matches!(action, A::PageDown | A::PageUp) {
                    10
                } else {
                    1
                };
                *scroll = if matches!(action, A::ScrollDown | A::PageDown) {
                    scroll.saturating_add(by)
                } else {
                    scroll.saturating_sub(by)
                };
                Handled::Consumed
            }
            (Layer::Prompt(kind, input), A::SearchSubmit) => {
                Handled::Reply(Reply::Prompt(*kind, std::mem::take(input)))
            }
            (Layer::Picker(p), A::PickerUp | A::PickerDown | A::PageUp | A::PageDown) => {
                p.move_by(step(action));
                Handled::Consumed
            }
            (Layer::Palette(p), A::PickerUp | A::PickerDown | A::PageUp | A::PageDown) => {
                p.move_by(step(action));
                Handled::Consumed
            }
            (Layer::Choose(c), A::PickerUp | A::PickerDown | A::PageUp | A::PageDown) => {
                c.move_by(step(action));
                Handled::Consumed
            }
            (Layer::Choose(c), A::ToggleChoice) => {
                c.toggle();
                Handled::Consumed
            }
            (Layer::Picker(_) | Layer::Palette(_), A::ToggleChoice) => Handled::Consumed,
            (Layer::Choose(c), A::PickerSelect) => match (&c.marked, c.chosen()) {
                (Some(marked), _) => match c.chosen_several(marked) {
                    Some(values) => Handled::Reply(Reply::Choices(c.kind, values)),
                    None => Handled::Consumed,
                },
                (None, Some(value)) => Handled::Reply(Reply::Choice(c.kind, value)),
                (None, None) => Handled::Close,
            },
            (Layer::Picker(p), A::PickerSelect) => {
                match p.matches.get(p.selected).and_then(|&i| catalog.get(i)) {
                    Some(entry) => Handled::Reply(Reply::Model(entry.clone())),
                    None => Handled::Close,
                }
            }
            (Layer::Palette(p), A::PickerSelect) => match p.chosen() {
                Some(entry) => Handled::Reply(Reply::Palette(entry.clone())),
                None => Handled::Close,
            },
            _ => Handled::Ignored,
        }
    }

    /// Keys with no binding: typing into the layer's text field, or scrolling the help.
    fn on_text_key(&mut self, key: KeyEvent, catalog: &[ModelEntry]) -> Handled {
        match self {
            Layer::Approval(a) => return a.on_text_key(key),
            Layer::Form(f) => return f.on_text_key(key),
            Layer::Fields(f) => return f.on_text_key(key),
            _ => {}
        }

        if let Layer::Citation(c) = self {
            return match key.code {
                KeyCode::Char('e') if !crate::knowledge::spec::is_url(&c.source.file) => {
                    Handled::Reply(Reply::OpenFile {
                        path: c.source.file.clone(),
                        line: c.source.line_start,
                    })
                }
                KeyCode::Char('q') | KeyCode::Enter => Handled::Close,
                _ => Handled::Consumed,
            };
        }
        // What is read, not typed in: j/k and the pages scroll, q closes.
        if let Layer::Help(scroll) | Layer::Report { scroll, .. } = self {
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => *scroll = scroll.saturating_add(10),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::Char('q') => return Handled::Close,
                _ => {}
            }
            return Handled::Consumed;
        }
        let input = match self {
            Layer::Prompt(_, input) => input,
            Layer::Picker(p) => &mut p.query,
            Layer::Choose(c) => &mut c.query,
            Layer::Palette(p) => &mut p.query,
            _ => return Handled::Consumed,
        };
        edit(input, key);
        self.refilter(catalog);
        Handled::Consumed
    }

    /// A paste is text, never keys: it goes into the layer's text field, if it has one.
    pub fn on_paste(&mut self, text: &str, catalog: &[ModelEntry]) {
        match self {
            Layer::Prompt(_, input) => input.insert_str(&text.replace('\n', " ")),
            Layer::Picker(p) => p.query.insert_str(text.lines().next().unwrap_or("")),
            Layer::Choose(c) => c.query.insert_str(text.lines().next().unwrap_or("")),
            Layer::Palette(p) => p.query.insert_str(text.lines().next().unwrap_or("")),
            Layer::Approval(a) => a.on_paste(text),
            Layer::Form(f) => f.on_paste(text),
            Layer::Fields(f) => f.on_paste(text),
            _ => return,
        }
        self.refilter(catalog);
    }

    fn refilter(&mut self, catalog: &[ModelEntry]) {
        match self {
            Layer::Picker(p) => p.refilter(catalog),
            Layer::Choose(c) => c.refilter(),
            Layer::Palette(p) => p.refilter(),
            _ => {}
        }
    }

    /// The box the layer is drawn in, for a screen of `area`.
    pub fn rect(&self, area: Rect) -> Rect {
        let body = body(area);
        match self {
            Layer::ConfirmQuit => centred(body, 50, 3),
            Layer::Confirm(c) => {
                let w = 76.min(body.width.saturating_sub(2));
                centred(body, w, c.rows(w.saturating_sub(2)) + 2)
            }
            Layer::Report { .. } => centred(body, 100, body.height.saturating_sub(2)),
            Layer::Fields(f) => centred(body, 96, f.rows(body.height.saturating_sub(2))),
            Layer::Help(_) => centred(body, 70, body.height.saturating_sub(4)),
            Layer::Citation(_) => centred(body, 100, body.height.saturating_sub(2)),
            Layer::Prompt(..) => centred(body, 70, 3),
            Layer::Approval(_) => centred(body, 80, 10),
            Layer::Form(f) => centred(body, 90, f.height()),
            Layer::Picker(_) | Layer::Palette(_) => {
                centred(body, 90, body.height.saturating_sub(4))
            }
            Layer::Choose(c) => centred(
                body,
                90,
                (c.items.len() as u16 + 2).min(body.height.saturating_sub(4)),
            ),
        }
    }

    /// Draws the layer over whatever is beneath it, in theme `t` (the help lists `keymap`,
    /// the picker names models of `catalog`).
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        t: &Theme,
        keymap: &Keymap,
        catalog: &[ModelEntry],
    ) {
        let r = self.rect(area);
        let blank = clear_area(r, area);
        frame.render_widget(Clear, blank);
        frame.render_widget(Block::default().style(Style::default().bg(t.bg)), blank);
        match self {
            Layer::ConfirmQuit => {
                frame.render_widget(
                    Paragraph::new("Quit Strata?  y / n")
                        .alignment(Alignment::Center)
                        .block(view::modal_block(t, "Confirm")),
                    r,
                );
            }
            Layer::Confirm(c) => {
                let mut lines = vec![Line::from(Span::styled(
                    c.question.clone(),
                    Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
                ))];
                if !c.lost.is_empty() {
                    lines.push(Line::from(Span::styled(
                        "This is lost for good:",
                        Style::default().fg(t.warning),
                    )));
                }
                for l in &c.lost {
                    lines.push(Line::from(format!("  • {l}")));
                }
                if !c.kept.is_empty() {
                    lines.push(Line::from(Span::styled(
                        "This stays:",
                        Style::default().fg(t.muted),
                    )));
                }
                for l in &c.kept {
                    lines.push(Line::from(format!("  • {l}")));
                }
                lines.push(Line::from(""));
                lines.push(Line::from(Span::styled(
                    "y deletes · n or Esc keeps it",
                    Style::default().fg(t.muted),
                )));
                frame.render_widget(
                    Paragraph::new(lines)
                        .wrap(ratatui::widgets::Wrap { trim: false })
                        .block(view::modal_block(t, "Delete?")),
                    r,
                );
            }
            Layer::Report {
                title,
                lines,
                scroll,
            } => {
                let mut text: Vec<Line> = lines.iter().map(|l| Line::from(l.clone())).collect();
                text.push(Line::from(""));
                text.push(Line::from(Span::styled(
                    "j/k scroll · Esc closes",
                    Style::default().fg(t.muted),
                )));
                frame.render_widget(
                    Paragraph::new(text)
                        .wrap(ratatui::widgets::Wrap { trim: false })
                        .scroll((*scroll, 0))
                        .block(view::modal_block(t, title)),
                    r,
                );
            }
            Layer::Fields(f) => f.draw(frame, r, t),
            Layer::Citation(c) => {
                let s = &c.source;
                let mut lines = vec![
                    Line::from(Span::styled(
                        format!("[{}] {}", s.number, s.label()),
                        Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
                    )),
                    Line::from(Span::styled(
                        format!(
                            "{}  (knowledge base {}, score {:.3})",
                            s.location(),
                            s.base,
                            s.score
                        ),
                        Style::default().fg(t.accent),
                    )),
                    Line::from(""),
                ];
                for (n, text, inside) in &c.lines {
                    let style = if *inside {
                        Style::default().fg(t.fg)
                    } else {
                        Style::default().fg(t.muted)
                    };
                    let number = if *n > 0 {
                        format!("{n:>5} ")
                    } else {
                        String::new()
                    };
                    lines.push(Line::from(vec![
                        Span::styled(number, Style::default().fg(t.muted)),
                        Span::styled(text.clone(), style),
                    ]));
                }
                lines.push(Line::from(""));
                lines.push(Line::from(Span::styled(
                    "e opens $EDITOR at these lines · Esc closes",
                    Style::default().fg(t.muted),
                )));
                frame.render_widget(
                    Paragraph::new(lines)
                        .wrap(ratatui::widgets::Wrap { trim: false })
                        .block(view::modal_block(t, "Source")),
                    r,
                );
            }
            Layer::Help(scroll) => {
                let mut lines = Vec::new();
                for ctx in Context::ALL {
                    lines.push(Line::from(Span::styled(
                        format!("{ctx:?}"),
                        Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
                    )));
                    for (keys, desc) in keymap.help(ctx) {
                        lines.push(Line::from(vec![
                            Span::styled(format!("  {keys:<18}"), Style::default().fg(t.accent)),
                            Span::raw(desc),
                        ]));
                    }
                }
                frame.render_widget(
                    Paragraph::new(lines)
                        .scroll((*scroll, 0))
                        .block(view::modal_block(t, "Keys (j/k scroll, Esc closes)")),
                    r,
                );
            }
            Layer::Prompt(kind, input) => {
                let block = view::modal_block(t, kind.title());
                let inner = block.inner(r);
                frame.render_widget(
                    Paragraph::new(input.text().replace('\n', " ")).block(block),
                    r,
                );
                let (_, (_, col)) = input.layout(u16::MAX);
                frame.set_cursor_position((
                    inner.x + col.min(inner.width.saturating_sub(1)),
                    inner.y,
                ));
            }
            Layer::Picker(p) => {
                let title = format!("Model: {}▏", p.query.text());
                let items: Vec<ListItem> = p
                    .matches
                    .iter()
                    .filter_map(|&i| catalog.get(i))
                    .map(|e| {
                        let state = match (e.local, e.downloaded) {
                            (false, _) => "remote",
                            (true, true) => "✓ local",
                            (true, false) => "↓ pull",
                        };
                        ListItem::new(format!(
                            "{:<30} {:>8} ctx  ${:>5.2}/${:<5.2}  {state}",
                            e.id, e.context_window, e.input_price, e.output_price
                        ))
                    })
                    .collect();
                view::fuzzy_list(t, frame, r, &title, items, p.selected);
            }
            Layer::Choose(c) => {
                let title = format!(
                    "{}: {}▏  (Enter picks, Esc closes)",
                    c.kind.title(),
                    c.query.text()
                );
                let width = c
                    .items
                    .iter()
                    .map(|i| i.value.chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(40);
                let items: Vec<ListItem> = c
                    .matches
                    .iter()
                    .filter_map(|&i| Some((i, c.items.get(i)?)))
                    .map(|(n, i)| {
                        let mark = match &c.marked {
                            Some(_) if n == 0 => "    ",
                            Some(m) if m.get(n) == Some(&true) => "[x] ",
                            Some(_) => "[ ] ",
                            None => "",
                        };
                        ListItem::new(format!("{mark}{:<width$}  {}", i.value, i.detail))
                    })
                    .collect();
                view::fuzzy_list(t, frame, r, &title, items, c.selected);
            }
            Layer::Palette(palette) => super::palette::draw(t, palette, frame, r),
            Layer::Approval(a) => a.draw(frame, r, t),
            Layer::Form(f) => f.draw(frame, r, t),
        }
    }
}

/// How far a list move goes: one item, or ten for a page.
fn step(action: Action) -> isize {
    match action {
        Action::PickerUp => -1,
        Action::PickerDown => 1,
        Action::PageUp => -10,
        _ => 10,
    }
}

/// Line editing shared by every text field: the input box, prompts, picker queries.
pub fn edit(input: &mut InputBox, key: KeyEvent) {
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
}

/// The screen above the status bar, where layers go.
fn body(area: Rect) -> Rect {
    Rect::new(
        area.x,
        area.y,
        area.width,
        area.height.saturating_sub(1).max(1),
    )
}

/// A rectangle of at most `w` x `h` cells centred in `area`, leaving at least one cell
/// free on every side.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(1);
    let h = h.min(area.height.saturating_sub(2)).max(1);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// What is blanked under a layer drawn in `r`: the box plus a one-cell margin, so no
/// piece of a pane border touches the layer's edge. A layer that leaves at most one
/// column of the panes on a side blanks the whole screen above the status bar instead:
/// those lone columns would show only fragments of borders (stray corners).
pub fn clear_area(r: Rect, area: Rect) -> Rect {
    let body = body(area);
    let left = r.x.saturating_sub(1).max(body.x);
    let top = r.y.saturating_sub(1).max(body.y);
    let right = r.right().saturating_add(1).min(body.right());
    let bottom = r.bottom().saturating_add(1).min(body.bottom());
    if left.saturating_sub(body.x) <= 1 || body.right().saturating_sub(right) <= 1 {
        return body;
    }
    Rect::new(
        left,
        top,
        right.saturating_sub(left),
        bottom.saturating_sub(top),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn several(current: &[&str]) -> Layer {
        let items = ["none", "a", "b", "c"]
            .iter()
            .map(|v| ChoiceItem {
                value: v.to_string(),
                detail: String::new(),
            })
            .collect();
        let current: Vec<String> = current.iter().map(|c| c.to_string()).collect();
        Layer::Choose(Choice::several(ChoiceKind::Knowledge, items, &current))
    }

    fn enter(layer: &mut Layer) -> Option<Vec<String>> {
        match layer.on_key(Resolution::Action(Action::PickerSelect), key('\n'), &[]) {
            Handled::Reply(Reply::Choices(_, values)) => Some(values),
            _ => None,
        }
    }

    #[test]
    fn a_list_of_several_submits_what_the_user_means() {
        // Untouched: Enter adds the highlighted entry to what is attached.
        let mut l = several(&["b"]);
        l.on_key(Resolution::Action(Action::PickerDown), key('j'), &[]);
        assert_eq!(enter(&mut l), Some(vec!["b".into(), "c".into()]));
        // Unmarking the only one and Enter: nothing is attached.
        let mut l = several(&["b"]);
        l.on_key(Resolution::Action(Action::ToggleChoice), key('\t'), &[]);
        assert_eq!(enter(&mut l), Some(vec![]));
        // `none` highlighted, untouched: detach everything.
        let mut l = several(&["a", "b"]);
        l.on_key(Resolution::Action(Action::PickerUp), key('k'), &[]);
        assert_eq!(enter(&mut l), Some(vec![]));
        // A query that matches nothing submits nothing (the list stays open).
        let mut l = several(&["a"]);
        l.on_paste("zzz", &[]);
        assert_eq!(enter(&mut l), None);
        assert!(matches!(l, Layer::Choose(_)));
    }

    #[test]
    fn each_layer_answers_consumed_ignored_close_or_reply() {
        let catalog = vec![ModelEntry {
            id: "local/a".into(),
            context_window: 1,
            input_price: 0.0,
            output_price: 0.0,
            local: true,
            downloaded: true,
        }];
        // The help scrolls on unbound keys and lets other actions through.
        let mut help = Layer::Help(0);
        let h = help.on_key(Resolution::Unbound, key('j'), &catalog);
        assert!(matches!((h, &help), (Handled::Consumed, Layer::Help(1))));
        let h = help.on_key(Resolution::Action(Action::NewSession), key('n'), &catalog);
        assert!(matches!(h, Handled::Ignored));
        let h = help.on_key(Resolution::Action(Action::Cancel), key('n'), &catalog);
        assert!(matches!(h, Handled::Close));
        // A prompt takes text (never the screen's) and replies with it.
        let mut prompt = Layer::Prompt(PromptKind::Rename, InputBox::default());
        let h = prompt.on_key(Resolution::Unbound, key('r'), &catalog);
        assert!(matches!(h, Handled::Consumed));
        match prompt.on_key(
            Resolution::Action(Action::SearchSubmit),
            key('\n'),
            &catalog,
        ) {
            Handled::Reply(Reply::Prompt(PromptKind::Rename, input)) => {
                assert_eq!(input.text(), "r")
            }
            other => panic!("{other:?}"),
        }
        // A confirmation replies on yes, closes on no.
        let mut confirm = Layer::ConfirmQuit;
        let h = confirm.on_key(Resolution::Action(Action::ConfirmYes), key('y'), &catalog);
        assert!(matches!(h, Handled::Reply(Reply::Quit)));
        let h = confirm.on_key(Resolution::Action(Action::ConfirmNo), key('n'), &catalog);
        assert!(matches!(h, Handled::Close));
        // The picker filters as it is typed into and replies with the entry chosen.
        let mut picker = Layer::Picker(Picker::new(&catalog, "local/a"));
        picker.on_paste("zzz\nmore", &catalog);
        let h = picker.on_key(
            Resolution::Action(Action::PickerSelect),
            key('\n'),
            &catalog,
        );
        assert!(matches!(h, Handled::Close), "no match: nothing chosen");
        let mut picker = Layer::Picker(Picker::new(&catalog, "local/a"));
        let h = picker.on_key(
            Resolution::Action(Action::PickerSelect),
            key('\n'),
            &catalog,
        );
        assert!(matches!(h, Handled::Reply(Reply::Model(e)) if e.id == "local/a"));
    }
}
