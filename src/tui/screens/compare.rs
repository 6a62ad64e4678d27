//! The compare screen: one question sent to 2–4 models at once, each answer streaming in
//! its own column with its time to first token, total time, tokens/s, tokens, cost and
//! the guardrail's verdict under it. Columns narrower than `MIN_COLUMN` are paged (←/→
//! moves between them). The user marks a winner or a tie (stored, tallied per model pair
//! with a 95% interval), asks again, or takes a column's answer back into the chat.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use tokio_util::sync::CancellationToken;

use super::{Event, Screen, ScreenId, Shared};
use crate::eval::votes::{PairTally, Vote};
use crate::runtime::types::Usage;
use crate::sessions::{AgentConfig, ChatMessage, MessageStatus, Session};
use crate::store::Id;
use crate::tui::compare_jobs::{AskContext, ColumnEvent, CompareJob, CompareMsg};
use crate::tui::input::InputBox;
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::Reply;
use crate::tui::layers::{self, Layer, Picker};
use crate::tui::markdown;
use crate::tui::msg::{Effect, ScreenMsg};

/// Most models one comparison holds.
pub const MAX_COLUMNS: usize = 4;
/// Narrowest readable column (borders included); narrower ones are paged.
pub const MIN_COLUMN: u16 = 30;
/// Rows under each answer for its figures.
const STATS_ROWS: u16 = 3;

/// Where a column's answer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnState {
    /// Nothing asked yet.
    Idle,
    /// Asked; no text yet.
    Waiting,
    Streaming,
    Done,
    Failed(String),
}

/// One model's column.
#[derive(Debug, Clone)]
pub struct Column {
    pub model: String,
    pub text: String,
    pub state: ColumnState,
    pub ttft_ms: Option<f64>,
    pub elapsed_ms: Option<f64>,
    pub usage: Option<Usage>,
    pub usage_estimated: bool,
    pub cost_usd: f64,
    /// What the guardrail masked or blocked.
    pub interventions: Vec<String>,
    /// The answer as stored (once finished).
    pub answer: Option<ChatMessage>,
    pub scroll: usize,
    /// The answer laid out for `lines_width` (refreshed after updates).
    pub lines: Vec<Line<'static>>,
    lines_for: Option<(usize, u16)>,
}

impl Column {
    pub fn new(model: String) -> Column {
        Column {
            model,
            text: String::new(),
            state: ColumnState::Idle,
            ttft_ms: None,
            elapsed_ms: None,
            usage: None,
            usage_estimated: false,
            cost_usd: 0.0,
            interventions: Vec::new(),
            answer: None,
            scroll: 0,
            lines: Vec::new(),
            lines_for: None,
        }
    }

    fn reset(&mut self) {
        *self = Column::new(std::mem::take(&mut self.model));
        self.state = ColumnState::Waiting;
    }

    fn running(&self) -> bool {
        matches!(self.state, ColumnState::Waiting | ColumnState::Streaming)
    }

    /// Output tokens per second after the first token.
    pub fn tokens_per_s(&self) -> Option<f64> {
        let out = self.usage?.output_tokens as f64;
        let gen_ms = self.elapsed_ms? - self.ttft_ms.unwrap_or(0.0);
        (gen_ms > 0.0 && out > 0.0).then(|| out / (gen_ms / 1000.0))
    }

    /// The guardrail's verdict as one line (None without a guardrail).
    fn verdict(&self, guarded: bool) -> Option<String> {
        let blocked = self
            .answer
            .as_ref()
            .filter(|a| a.status == MessageStatus::Blocked)
            .map(|a| a.note.clone().unwrap_or_else(|| "blocked".into()));
        match (blocked, self.interventions.last()) {
            (Some(note), _) => Some(format!("guard: blocked · {note}")),
            (None, Some(last)) => Some(format!(
                "guard: {} intervention(s) · {last}",
                self.interventions.len()
            )),
            (None, None) if guarded && self.state == ColumnState::Done => {
                Some("guard: passed".into())
            }
            (None, None) if guarded && self.running() => Some("guard: checking".into()),
            _ => None,
        }
    }
}

/// A comparison as it was asked.
#[derive(Debug, Clone)]
pub struct Asked {
    pub question: String,
    /// The chat session it belongs to.
    pub session: Id,
    /// The conversation it was asked in, if any.
    pub context: Option<AskContext>,
}

/// Which part has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CFocus {
    Input,
    Columns,
}

/// The compare screen's state.
pub struct CompareScreen {
    pub columns: Vec<Column>,
    pub selected: usize,
    pub focus: CFocus,
    pub input: InputBox,
    /// The question of the current comparison.
    pub question: Option<String>,
    /// The chat session the comparison belongs to (its settings, its conversation).
    pub session: Option<Session>,
    /// Ask with the session's conversation before the question.
    pub with_conversation: bool,
    /// Re-asking an earlier message: the conversation before it.
    pub upto: Option<Id>,
    /// The chat question being re-asked and its text: a different question typed
    /// instead is asked after the whole conversation.
    reask: Option<(Id, String)>,
    /// The config's default guardrail (for sessions that name none).
    pub default_guardrail: Option<String>,
    /// Where the current comparison's answers belong, as it was when asked (what `u`
    /// keeps them into, whatever changed on the screen since).
    pub asked: Option<Asked>,
    /// The winner marked for the current comparison (`None` inside: a tie).
    pub voted: Option<Option<String>>,
    pub tally: Vec<PairTally>,
    seq: u64,
    cancel: Option<CancellationToken>,
}

impl Default for CompareScreen {
    fn default() -> Self {
        CompareScreen {
            columns: Vec::new(),
            selected: 0,
            focus: CFocus::Input,
            input: InputBox::default(),
            question: None,
            session: None,
            with_conversation: false,
            upto: None,
            reask: None,
            default_guardrail: None,
            asked: None,
            voted: None,
            tally: Vec::new(),
            seq: 0,
            cancel: None,
        }
    }
}

impl CompareScreen {
    /// Whether any column is still answering.
    pub fn is_running(&self) -> bool {
        self.columns.iter().any(Column::running)
    }

    /// Takes the chat's session as the one comparisons belong to; the first time, the
    /// columns start with its model and the next usable model of the catalog.
    pub fn attach(&mut self, session: &Session, cx: &Shared) {
        if self.columns.is_empty() {
            self.columns.push(Column::new(session.agent.model.clone()));
            // A downloaded local model first (it answers without credentials), else a
            // remote one.
            let others = || cx.catalog.iter().filter(|m| m.id != session.agent.model);
            let other = others()
                .find(|m| m.local && m.downloaded)
                .or_else(|| others().find(|m| !m.local));
            if let Some(other) = other {
                self.columns.push(Column::new(other.id.clone()));
            }
        }
        if self.session.as_ref().map(|s| s.id) != Some(session.id) {
            self.with_conversation = false;
            self.upto = None;
            self.reask = None;
        }
        self.session = Some(session.clone());
    }

    /// Re-asks message `index` of the chat (a question, or the question an answer
    /// answered) of every column, with the conversation before it.
    pub fn reask(
        &mut self,
        session: &Session,
        messages: &[ChatMessage],
        index: Option<usize>,
        cx: &mut Shared,
    ) -> Vec<Effect> {
        if self.is_running() {
            cx.flash = Some("still answering: Esc stops it".into());
            return Vec::new();
        }
        self.attach(session, cx);
        let last = index.unwrap_or(usize::MAX).min(messages.len());
        let question = messages
            .get(..=last.min(messages.len().saturating_sub(1)))
            .unwrap_or_default()
            .iter()
            .rposition(|m| m.role == crate::runtime::types::Role::User);
        let Some(q) = question else {
            cx.flash = Some("no question to compare: ask something first".into());
            return Vec::new();
        };
        self.with_conversation = true;
        self.upto = Some(messages[q].id);
        self.reask = Some((messages[q].id, messages[q].content.clone()));
        self.input = InputBox::with_text(&messages[q].content);
        self.ask(cx)
    }

    /// The agent of a column: the session's settings on the column's model.
    fn agent(&self, model: &str) -> AgentConfig {
        let mut agent = self
            .session
            .as_ref()
            .map(|s| s.agent.clone())
            .unwrap_or_else(|| AgentConfig::default_for(model));
        agent.model = model.to_string();
        agent
    }

    fn guarded(&self) -> bool {
        let own = self
            .session
            .as_ref()
            .and_then(|s| s.agent.guardrail.clone());
        own.or_else(|| self.default_guardrail.clone())
            .is_some_and(|g| g != crate::orchestrator::NO_GUARDRAIL)
    }

    /// Sends the input box's question to every column.
    fn ask(&mut self, cx: &mut Shared) -> Vec<Effect> {
        if self.is_running() {
            cx.flash = Some("still answering: Esc stops it".into());
            return Vec::new();
        }
        if self.columns.len() < 2 {
            cx.flash = Some("compare needs at least 2 models: press a to add one".into());
            return Vec::new();
        }
        let question = self.input.text().trim().to_string();
        if question.is_empty() {
            cx.flash = Some("type a question to compare".into());
            return Vec::new();
        }
        if self.reask.is_some() {
            self.upto = self
                .reask
                .as_ref()
                .filter(|(_, text)| text.trim() == question)
                .map(|(id, _)| *id);
        }
        self.seq += 1;
        let cancel = CancellationToken::new();
        self.cancel = Some(cancel.clone());
        self.question = Some(question.clone());
        self.voted = None;
        for c in &mut self.columns {
            c.reset();
        }
        let context = match (&self.session, self.with_conversation) {
            (Some(s), true) => Some(AskContext {
                session: Box::new(s.clone()),
                upto: self.upto,
            }),
            _ => None,
        };
        self.asked = self.session.as_ref().map(|s| Asked {
            question: question.clone(),
            session: s.id,
            context: context.clone(),
        });
        self.focus = CFocus::Columns;
        cx.keys.reset();
        vec![Effect::Compare(
            ScreenId::Compare,
            CompareJob::Ask {
                seq: self.seq,
                question,
                agents: self.columns.iter().map(|c| self.agent(&c.model)).collect(),
                context,
                cancel,
            },
        )]
    }

    fn on_msg(&mut self, msg: CompareMsg, cx: &mut Shared) -> Vec<Effect> {
        match msg {
            CompareMsg::Column { seq, column, event } if seq == self.seq => {
                let Some(c) = self.columns.get_mut(column) else {
                    return Vec::new();
                };
                match event {
                    ColumnEvent::Text { text, at_ms } => {
                        c.ttft_ms.get_or_insert(at_ms);
                        c.text.push_str(&text);
                        c.state = ColumnState::Streaming;
                    }
                    ColumnEvent::Usage(u) => c.usage = Some(u),
                    ColumnEvent::Intervention(note) => c.interventions.push(note),
                    ColumnEvent::Finished {
                        answer,
                        error,
                        elapsed_ms,
                    } => {
                        c.elapsed_ms = Some(elapsed_ms);
                        c.usage = answer.usage.or(c.usage);
                        c.usage_estimated = answer.usage_estimated;
                        c.cost_usd = answer.cost_usd;
                        // The stored answer is what counts (a check may have replaced text).
                        if answer.status != MessageStatus::Error {
                            c.text = answer.content.clone();
                        }
                        c.state = match error {
                            Some(e) if answer.status != MessageStatus::Blocked => {
                                ColumnState::Failed(e)
                            }
                            _ => ColumnState::Done,
                        };
                        c.answer = Some(*answer);
                    }
                }
                c.lines_for = None;
                if !self.is_running() {
                    self.cancel = None;
                }
            }
            CompareMsg::Column { .. } => {}
            CompareMsg::Tally(Ok(t)) => self.tally = t,
            CompareMsg::Tally(Err(e)) => cx.flash = Some(format!("votes: {e}")),
            // The app shows the chat on success.
            CompareMsg::Kept(Err(e)) => cx.flash = Some(format!("could not keep it: {e}")),
            // A kept answer is shown in the chat.
            CompareMsg::Kept(Ok(session)) => {
                return vec![
                    Effect::Show(ScreenId::Chat),
                    Effect::Send(ScreenId::Chat, ScreenMsg::ShowSession(session)),
                ]
            }
        }
        Vec::new()
    }

    /// Marks the selected column the winner (or a tie).
    fn vote(&mut self, tie: bool, cx: &mut Shared) -> Vec<Effect> {
        let Some(question) = self.question.clone() else {
            cx.flash = Some("nothing to vote on yet: ask a question".into());
            return Vec::new();
        };
        if self.is_running() {
            cx.flash = Some("wait until every answer is done to vote".into());
            return Vec::new();
        }
        if self.voted.is_some() {
            cx.flash = Some("already voted on this comparison; ask again to vote again".into());
            return Vec::new();
        }
        // Every column must hold a whole answer to this question (a model added since
        // has none; a stopped one is partial).
        let unanswered = self.columns.iter().find(|c| {
            c.answer
                .as_ref()
                .is_none_or(|a| a.status == MessageStatus::Cancelled)
        });
        if let Some(c) = unanswered {
            cx.flash = Some(format!(
                "{} has no whole answer to this question: r asks again",
                c.model
            ));
            return Vec::new();
        }
        let (Some(selected), true) = (self.columns.get(self.selected), self.columns.len() >= 2)
        else {
            cx.flash = Some("a vote needs at least 2 answered models: a adds one".into());
            return Vec::new();
        };
        let winner = (!tie).then(|| selected.model.clone());
        let mut vote = Vote::new(
            question,
            self.columns.iter().map(|c| c.model.clone()).collect(),
            winner.clone(),
        );
        vote.runs = self
            .columns
            .iter()
            .map(|c| c.answer.as_ref().and_then(|a| a.run_id))
            .collect();
        cx.flash = Some(match &winner {
            Some(w) => format!("voted: {w} wins"),
            None => "voted: a tie".into(),
        });
        self.voted = Some(winner);
        vec![Effect::Compare(
            ScreenId::Compare,
            CompareJob::Vote(Box::new(vote)),
        )]
    }

    /// Takes the selected column's answer into the chat.
    fn keep(&mut self, cx: &mut Shared) -> Vec<Effect> {
        let (Some(column), Some(asked)) = (self.columns.get(self.selected), &self.asked) else {
            cx.flash = Some("nothing to keep yet: ask a question".into());
            return Vec::new();
        };
        let answer = match &column.answer {
            Some(a) if !column.running() && a.status == MessageStatus::Complete => a.clone(),
            _ => {
                cx.flash = Some("only a complete answer can be kept".into());
                return Vec::new();
            }
        };
        cx.flash = Some(format!("keeping {}'s answer…", column.model));
        vec![Effect::Compare(
            ScreenId::Compare,
            CompareJob::Keep {
                context: asked.context.clone(),
                session: asked.session,
                question: asked.question.clone(),
                answer: Box::new(answer),
            },
        )]
    }

    /// Columns shown side by side at this width, and the first one shown.
    pub fn page(&self, width: u16) -> (usize, usize) {
        let per_page = usize::from(width / MIN_COLUMN).clamp(1, MAX_COLUMNS);
        let per_page = per_page.min(self.columns.len().max(1));
        let first = (self.selected / per_page) * per_page;
        (per_page, first)
    }

    /// Lays out the answers that changed (called after every batch of updates).
    pub fn refresh(&mut self, cx: &Shared) {
        let (w, _) = cx.size;
        let (per_page, _) = self.page(w);
        let col_w = (w / per_page as u16).saturating_sub(2).max(4);
        let body_h = usize::from(self.body_height(cx.size.1));
        for c in &mut self.columns {
            let key = (c.text.len(), col_w);
            if c.lines_for == Some(key) {
                continue;
            }
            let text = match &c.state {
                ColumnState::Failed(e) if c.text.is_empty() => format!("**Failed:** {e}"),
                _ => c.text.clone(),
            };
            c.lines = markdown::render(&text, col_w, &cx.theme, &cx.highlighter).lines;
            c.lines_for = Some(key);
            // Follow the answer while it streams.
            if c.running() {
                c.scroll = c.lines.len().saturating_sub(body_h);
            }
        }
    }

    /// Rows of answer text in a column for a terminal of `height`.
    fn body_height(&self, height: u16) -> u16 {
        // status bar, input box (3), tally line, column borders (2), figures.
        height.saturating_sub(1 + 3 + 1 + 2 + STATS_ROWS)
    }

    fn scroll(&mut self, delta: isize) {
        if let Some(c) = self.columns.get_mut(self.selected) {
            c.scroll = (c.scroll as isize + delta).clamp(0, c.lines.len() as isize) as usize;
        }
    }

    fn select(&mut self, delta: isize) {
        let n = self.columns.len() as isize;
        if n > 0 {
            self.selected = (self.selected as isize + delta).rem_euclid(n) as usize;
        }
    }

    /// The figures under an answer.
    fn stats(&self, c: &Column) -> Vec<String> {
        let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0}ms", v));
        let tps = c
            .tokens_per_s()
            .map_or("–".into(), |v| format!("{v:.1} tok/s"));
        let usage = c.usage.map_or("tokens –".into(), |u| {
            format!(
                "in {} · out {}{}",
                u.input_tokens,
                u.output_tokens,
                if c.usage_estimated { " (est.)" } else { "" }
            )
        });
        let mut lines = vec![
            format!(
                "ttft {} · total {} · {tps}",
                ms(c.ttft_ms),
                ms(c.elapsed_ms)
            ),
            format!("{usage} · ${:.5}", c.cost_usd),
        ];
        if let Some(v) = c.verdict(self.guarded()) {
            lines.push(v);
        }
        lines
    }

    fn tally_line(&self) -> String {
        let voted = match &self.voted {
            Some(Some(w)) => format!("voted: {} wins · ", short(w)),
            Some(None) => "voted: tie · ".into(),
            None => String::new(),
        };
        let models: Vec<&str> = self.columns.iter().map(|c| c.model.as_str()).collect();
        let shown: Vec<String> = self
            .tally
            .iter()
            .filter(|p| models.contains(&p.a.as_str()) && models.contains(&p.b.as_str()))
            .map(|p| {
                let rate = p.win_rate.map_or(String::new(), |w| {
                    format!(
                        " {:.0}% [{:.0}–{:.0}]",
                        w.rate * 100.0,
                        w.low * 100.0,
                        w.high * 100.0
                    )
                });
                format!(
                    "{} vs {}: {}-{}-{}{rate}",
                    short(&p.a),
                    short(&p.b),
                    p.a_wins,
                    p.b_wins,
                    p.ties
                )
            })
            .collect();
        if shown.is_empty() {
            format!("{voted}no votes for these models yet · w marks a winner, t a tie")
        } else {
            format!(
                "{voted}votes (win-loss-tie, win rate 95%): {}",
                shown.join(" · ")
            )
        }
    }
}

use crate::tui::view::short_model as short;

impl Screen for CompareScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Compare
    }

    fn contexts(&self) -> Vec<Context> {
        vec![match self.focus {
            CFocus::Input => Context::Input,
            CFocus::Columns => Context::Compare,
        }]
    }

    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![Effect::Compare(ScreenId::Compare, CompareJob::Tally)]
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        use Action as A;
        match event {
            Event::Msg(ScreenMsg::Compare(msg)) => self.on_msg(msg, cx),
            // The selected column's run, in the Agents debugger.
            Event::Action(A::OpenRun) => {
                let run = self
                    .columns
                    .get(self.selected)
                    .and_then(|c| c.answer.as_ref())
                    .and_then(|a| a.run_id);
                match run {
                    Some(run) => vec![
                        Effect::Show(ScreenId::Agents),
                        Effect::Send(ScreenId::Agents, ScreenMsg::OpenRun { run, item: None }),
                    ],
                    None => {
                        cx.flash = Some("the selected column has no answer yet".into());
                        Vec::new()
                    }
                }
            }
            // Comparisons belong to the chat's session (its settings and conversation).
            Event::Msg(ScreenMsg::Attach {
                session,
                default_guardrail,
            }) => {
                self.default_guardrail = default_guardrail;
                self.attach(&session, cx);
                Vec::new()
            }
            Event::Msg(ScreenMsg::Reask {
                session,
                messages,
                selected,
            }) => self.reask(&session, &messages, selected, cx),
            Event::Action(A::FocusNext | A::FocusPrev) => {
                self.focus = match self.focus {
                    CFocus::Input => CFocus::Columns,
                    CFocus::Columns => CFocus::Input,
                };
                cx.keys.reset();
                Vec::new()
            }
            Event::Action(A::FocusInput) => {
                self.focus = CFocus::Input;
                Vec::new()
            }
            Event::Action(A::Send) if self.focus == CFocus::Input => self.ask(cx),
            Event::Action(A::Cancel) => {
                self.cancel_work(cx);
                Vec::new()
            }
            Event::Action(A::Regenerate) => {
                if let Some(q) = self.question.clone() {
                    self.input = InputBox::with_text(&q);
                }
                self.ask(cx)
            }
            Event::Action(A::NextColumn) => {
                self.select(1);
                Vec::new()
            }
            Event::Action(A::PrevColumn) => {
                self.select(-1);
                Vec::new()
            }
            Event::Action(A::ScrollUp) => {
                self.scroll(-1);
                Vec::new()
            }
            Event::Action(A::ScrollDown) => {
                self.scroll(1);
                Vec::new()
            }
            Event::Action(A::PageUp) => {
                self.scroll(-10);
                Vec::new()
            }
            Event::Action(A::PageDown) => {
                self.scroll(10);
                Vec::new()
            }
            Event::Action(A::VoteWinner) => self.vote(false, cx),
            Event::Action(A::VoteTie) => self.vote(true, cx),
            Event::Action(A::KeepColumn) => self.keep(cx),
            Event::Action(A::AddColumn | A::PickModel) => {
                if self.columns.len() >= MAX_COLUMNS {
                    cx.flash = Some(format!("at most {MAX_COLUMNS} models; x removes one"));
                } else if self.is_running() {
                    cx.flash = Some("wait until the answers are done".into());
                } else {
                    let current = self.columns.get(self.selected).map(|c| c.model.clone());
                    let picker = Picker::new(&cx.catalog, current.as_deref().unwrap_or(""));
                    cx.open(Layer::Picker(picker));
                }
                Vec::new()
            }
            Event::Action(A::RemoveColumn) => {
                if self.is_running() {
                    cx.flash = Some("wait until the answers are done".into());
                } else if self.selected < self.columns.len() {
                    let c = self.columns.remove(self.selected);
                    cx.flash = Some(format!("removed {}", c.model));
                    self.selected = self.selected.min(self.columns.len().saturating_sub(1));
                }
                Vec::new()
            }
            Event::Action(A::ToggleConversation) => {
                self.with_conversation = !self.with_conversation;
                self.upto = None;
                self.reask = None;
                cx.flash = Some(if self.with_conversation {
                    "asking with the chat's conversation before the question".into()
                } else {
                    "asking the question alone".into()
                });
                Vec::new()
            }
            Event::Reply(Reply::Model(entry)) => {
                if self.columns.iter().any(|c| c.model == entry.id) {
                    cx.flash = Some(format!("{} is already compared", entry.id));
                } else if entry.local && !entry.downloaded {
                    cx.flash = Some(format!(
                        "{} is not downloaded: pick it in the chat (Ctrl-P) to pull it",
                        entry.id
                    ));
                } else {
                    self.columns.push(Column::new(entry.id.clone()));
                    self.selected = self.columns.len() - 1;
                }
                Vec::new()
            }
            Event::Key(key) if self.focus == CFocus::Input => {
                layers::edit(&mut self.input, key);
                Vec::new()
            }
            Event::Paste(text) if self.focus == CFocus::Input => {
                self.input.insert_str(&text);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, cx: &Shared) {
        let t = &cx.theme;
        let input_area = Rect::new(area.x, area.y, area.width, 3.min(area.height));
        let tally_area = Rect::new(area.x, area.bottom().saturating_sub(1), area.width, 1);
        let cols_area = Rect::new(
            area.x,
            area.y + input_area.height,
            area.width,
            area.height.saturating_sub(input_area.height + 1),
        );
        let context = match (self.with_conversation, self.upto) {
            (true, Some(_)) => " · re-asking with the conversation before it",
            (true, None) => " · with the chat's conversation",
            (false, _) => "",
        };
        let b = crate::tui::view::pane_block(
            t,
            format!(" Compare {} models{context} ", self.columns.len()),
            self.focus == CFocus::Input,
        );
        let inner = b.inner(input_area);
        frame.render_widget(b, input_area);
        let prompt = if self.input.is_blank() {
            Line::from(Span::styled(
                "Type a question and press Enter to ask every model…",
                Style::default().fg(t.muted),
            ))
        } else {
            Line::from(format!("› {}", self.input.text().replace('\n', " ")))
        };
        frame.render_widget(Paragraph::new(prompt), inner);
        if self.focus == CFocus::Input && cx.layers.is_empty() {
            let (_, (_, col)) = self.input.layout(inner.width.saturating_sub(2));
            frame.set_cursor_position((
                inner.x + 2 + col.min(inner.width.saturating_sub(3)),
                inner.y,
            ));
        }

        let (per_page, first) = self.page(area.width);
        if self.columns.is_empty() {
            frame.render_widget(
                Paragraph::new("No models: Tab, then a adds one.")
                    .style(Style::default().fg(t.muted)),
                cols_area,
            );
        }
        let col_w = cols_area.width / per_page as u16;
        for (slot, (i, c)) in self
            .columns
            .iter()
            .enumerate()
            .skip(first)
            .take(per_page)
            .enumerate()
        {
            let x = cols_area.x + slot as u16 * col_w;
            let w = if slot + 1 == per_page {
                cols_area.right() - x
            } else {
                col_w
            };
            let rect = Rect::new(x, cols_area.y, w, cols_area.height);
            let selected = i == self.selected && self.focus == CFocus::Columns;
            let state = match &c.state {
                ColumnState::Idle => "",
                ColumnState::Waiting => " · waiting",
                ColumnState::Streaming => " · streaming",
                ColumnState::Done => "",
                ColumnState::Failed(_) => " · failed",
            };
            let won = match &self.voted {
                Some(Some(w)) if *w == c.model => " ★",
                _ => "",
            };
            let title = format!(" {} {}{state}{won} ", i + 1, short(&c.model));
            let b = crate::tui::view::pane_block(t, title, selected);
            let inner = b.inner(rect);
            frame.render_widget(b, rect);
            let stats = self.stats(c);
            let stats_h = (stats.len() as u16).min(inner.height);
            let body = Rect::new(
                inner.x,
                inner.y,
                inner.width,
                inner.height.saturating_sub(stats_h),
            );
            let lines: Vec<Line> = c
                .lines
                .iter()
                .skip(c.scroll)
                .take(usize::from(body.height))
                .cloned()
                .collect();
            frame.render_widget(Paragraph::new(lines), body);
            let stats_lines: Vec<Line> = stats
                .into_iter()
                .map(|s| {
                    let colour = if s.starts_with("guard: blocked") {
                        t.error
                    } else if s.starts_with("guard: ") && !s.starts_with("guard: passed") {
                        t.warning
                    } else {
                        t.muted
                    };
                    Line::from(Span::styled(
                        crate::eval::clip(&s, usize::from(inner.width)),
                        Style::default().fg(colour),
                    ))
                })
                .collect();
            let stats_rect = Rect::new(inner.x, body.bottom(), inner.width, stats_h);
            frame.render_widget(Paragraph::new(stats_lines), stats_rect);
        }
        let pages = if self.columns.len() > per_page {
            format!(
                "models {}–{} of {} (←/→) · ",
                first + 1,
                (first + per_page).min(self.columns.len()),
                self.columns.len()
            )
        } else {
            String::new()
        };
        frame.render_widget(
            Paragraph::new(crate::eval::clip(
                &format!("{pages}{}", self.tally_line()),
                usize::from(area.width),
            ))
            .style(Style::default().fg(t.accent).add_modifier(Modifier::DIM)),
            tally_area,
        );
    }

    fn status(&self, _cx: &Shared) -> Vec<String> {
        let running = self.columns.iter().filter(|c| c.running()).count();
        vec![
            if running > 0 {
                format!(" {running} answering ")
            } else {
                format!(" {} models ", self.columns.len())
            },
            match self.focus {
                CFocus::Input => "Enter asks all · Tab to the answers".into(),
                CFocus::Columns => {
                    "←→ · w wins · t tie · u use · r again · a/x model · c context".into()
                }
            },
        ]
    }

    fn focus_context(&mut self, context: Context, _cx: &mut Shared) {
        self.focus = match context {
            Context::Input => CFocus::Input,
            _ => CFocus::Columns,
        };
    }

    fn cancel_work(&mut self, cx: &mut Shared) -> bool {
        match self.cancel.take() {
            Some(cancel) if self.is_running() => {
                cancel.cancel();
                cx.flash = Some("stopping the answers…".into());
                true
            }
            _ => false,
        }
    }

    fn on_quit(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        if let Some(cancel) = &self.cancel {
            cancel.cancel();
        }
        Vec::new()
    }

    fn refresh(&mut self, cx: &mut Shared) {
        CompareScreen::refresh(self, cx);
    }

    fn is_busy(&self) -> bool {
        self.is_running()
    }
}
