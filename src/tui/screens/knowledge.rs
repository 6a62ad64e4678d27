//! The knowledge screen: the bases (left: files, chunks, last sync, and a progress bar
//! while one syncs; syncs keep running while other screens are shown), the selected
//! base's settings and last sync report (right), and a query playground (bottom) that
//! shows the retrieved chunks with their scores and sources. Enter on a result opens it
//! in context (the citation view, from which `e` opens `$EDITOR` at its lines). From the
//! keyboard: a new base from a form (sources with path completion, globs, chunking, the
//! embeddings model), sync, re-embed with another model, the last sync's full report,
//! delete (naming what is lost), and attaching a base to the chat's session.

use std::collections::HashMap;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use tokio_util::sync::CancellationToken;

use super::{Event, Screen, ScreenId, Shared};
use crate::knowledge::cite::{short_name, DEFAULT_TOP_K};
use crate::knowledge::spec::{Chunking, KbSpec, Strategy, DEFAULT_EMBEDDING};
use crate::knowledge::store::KbRecord;
use crate::knowledge::sync::Phase;
use crate::knowledge::Progress;
use crate::store::format_micros;
use crate::tui::fields::{Field, FieldForm, FormKind};
use crate::tui::input::InputBox;
use crate::tui::kb_jobs::{KbJob, KbMsg, ResultView};
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::{self, Choice, ChoiceItem, ChoiceKind, Confirm, Destroy, Layer, Reply};
use crate::tui::msg::{Effect, ScreenMsg};

/// Which part has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KFocus {
    List,
    Playground,
    Results,
}

/// A sync running in the background.
#[derive(Debug, Clone)]
pub struct Running {
    pub progress: Progress,
    pub cancel: CancellationToken,
}

/// The knowledge screen's state.
pub struct KnowledgeScreen {
    pub list: Vec<KbRecord>,
    pub selected: usize,
    pub focus: KFocus,
    pub query: InputBox,
    pub results: Vec<ResultView>,
    pub result: usize,
    pub query_ms: Option<f64>,
    pub syncs: HashMap<String, Running>,
    seq: u64,
    pub pending: bool,
    pub error: Option<String>,
    /// The forms of the bases being made, by name, kept until each is made (a failure
    /// reopens it), and whether to sync it then.
    making: HashMap<String, (FieldForm, bool)>,
    /// The base the embeddings-model list is for (the selection may move meanwhile).
    reembedding: Option<String>,
    /// The base to select once the list comes back (one just made).
    select_name: Option<String>,
    /// Why the last sync of a base failed (shown with its report until one succeeds).
    pub failures: HashMap<String, String>,
}

impl Default for KnowledgeScreen {
    fn default() -> Self {
        KnowledgeScreen {
            list: Vec::new(),
            selected: 0,
            focus: KFocus::List,
            query: InputBox::default(),
            results: Vec::new(),
            result: 0,
            query_ms: None,
            syncs: HashMap::new(),
            seq: 0,
            pending: false,
            error: None,
            making: HashMap::new(),
            reembedding: None,
            select_name: None,
            failures: HashMap::new(),
        }
    }
}

impl KnowledgeScreen {
    fn selected_name(&self) -> Option<String> {
        self.list.get(self.selected).map(|r| r.spec.name.clone())
    }

    fn sync(&mut self, cx: &mut Shared, reembed: Option<String>) -> Vec<Effect> {
        let Some(name) = self.selected_name() else {
            return Vec::new();
        };
        self.sync_named(cx, name, reembed)
    }

    fn sync_named(
        &mut self,
        cx: &mut Shared,
        name: String,
        reembed: Option<String>,
    ) -> Vec<Effect> {
        if self.syncs.contains_key(&name) {
            cx.flash = Some(format!("{name} is already syncing"));
            return Vec::new();
        }
        let cancel = CancellationToken::new();
        self.syncs.insert(
            name.clone(),
            Running {
                progress: Progress::default(),
                cancel: cancel.clone(),
            },
        );
        cx.flash = Some(match &reembed {
            Some(model) => format!("re-embedding {name} with {model}…"),
            None => format!("syncing {name}…"),
        });
        vec![Effect::Kb(
            ScreenId::Knowledge,
            KbJob::Sync {
                name,
                cancel,
                reembed,
            },
        )]
    }

    fn run_query(&mut self) -> Vec<Effect> {
        let (Some(name), false) = (self.selected_name(), self.query.is_blank()) else {
            return Vec::new();
        };
        self.seq += 1;
        self.pending = true;
        vec![Effect::Kb(
            ScreenId::Knowledge,
            KbJob::Query {
                bases: vec![name],
                text: self.query.text().trim().to_string(),
                k: DEFAULT_TOP_K * 2,
                seq: self.seq,
            },
        )]
    }

    fn on_msg(&mut self, msg: KbMsg, cx: &mut Shared) -> Vec<Effect> {
        match msg {
            KbMsg::List(Ok(list)) => {
                self.list = list;
                if let Some(name) = self.select_name.take() {
                    if let Some(i) = self.list.iter().position(|r| r.spec.name == name) {
                        self.selected = i;
                    }
                }
                self.selected = self.selected.min(self.list.len().saturating_sub(1));
                self.error = None;
            }
            KbMsg::List(Err(e)) => self.error = Some(e),
            KbMsg::Created { name, result } => {
                let Some((form, sync_now)) = self.making.remove(&name) else {
                    return Vec::new();
                };
                match result {
                    Ok(()) => {
                        let mut fx = vec![Effect::Kb(ScreenId::Knowledge, KbJob::List)];
                        if sync_now {
                            fx.extend(self.sync_named(cx, name.clone(), None));
                        } else {
                            cx.flash = Some(format!("made {name}; s syncs it"));
                        }
                        self.select_name = Some(name);
                        return fx;
                    }
                    Err(e) => {
                        let field = field_of_error(&e);
                        cx.open(Layer::Fields(Box::new(form.with_error(field, e))));
                    }
                }
            }
            KbMsg::Deleted { name, result } => {
                cx.flash = Some(match result {
                    Ok(()) => format!("deleted knowledge base {name}"),
                    Err(e) => format!("cannot delete {name}: {e}"),
                });
                return vec![Effect::Kb(ScreenId::Knowledge, KbJob::List)];
            }
            KbMsg::Progress { name, progress } => {
                if let Some(r) = self.syncs.get_mut(&name) {
                    r.progress = progress;
                }
            }
            KbMsg::Synced { name, result } => {
                self.syncs.remove(&name);
                match &result {
                    Err(e) => {
                        self.failures.insert(name.clone(), e.clone());
                    }
                    Ok(_) => {
                        self.failures.remove(&name);
                    }
                }
                cx.flash = Some(match result {
                    Ok(r) if r.interrupted => format!(
                        "sync of {name} stopped: the base is unchanged; syncing again resumes"
                    ),
                    Ok(r) => format!(
                        "synced {name}: {} files, {} chunks ({} embedded, {} reused), {} skipped",
                        r.files,
                        r.chunks,
                        r.embedded,
                        r.reused,
                        r.skipped.len()
                    ),
                    Err(e) => format!("sync of {name} failed: {e}"),
                });
                return vec![Effect::Kb(ScreenId::Knowledge, KbJob::List)];
            }
            KbMsg::Results { seq, result, ms } if seq == self.seq => {
                self.pending = false;
                match result {
                    Ok(results) => {
                        self.results = results;
                        self.result = 0;
                        self.query_ms = Some(ms);
                        self.error = None;
                    }
                    Err(e) => {
                        self.results.clear();
                        self.error = Some(e);
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

impl Screen for KnowledgeScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Knowledge
    }

    fn contexts(&self) -> Vec<Context> {
        match self.focus {
            KFocus::List | KFocus::Results => vec![Context::Knowledge, Context::Sidebar],
            KFocus::Playground => vec![Context::Input],
        }
    }

    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![Effect::Kb(ScreenId::Knowledge, KbJob::List)]
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        use Action as A;
        match event {
            Event::Msg(ScreenMsg::Kb(msg)) => self.on_msg(msg, cx),
            Event::Action(A::FocusNext | A::FocusPrev) => {
                self.focus = match self.focus {
                    KFocus::List => KFocus::Playground,
                    KFocus::Playground if !self.results.is_empty() => KFocus::Results,
                    KFocus::Playground | KFocus::Results => KFocus::List,
                };
                cx.keys.reset();
                Vec::new()
            }
            Event::Action(A::SyncKnowledgeBase) if self.focus != KFocus::Playground => {
                self.sync(cx, None)
            }
            Event::Action(A::NewItem) => {
                cx.open(Layer::Fields(Box::new(new_base_form(cx))));
                Vec::new()
            }
            Event::Reply(Reply::Fields(form)) if form.kind == FormKind::NewKnowledgeBase => {
                self.make(*form, cx)
            }
            Event::Action(A::ReembedKnowledgeBase) => {
                if let Some(r) = self.list.get(self.selected) {
                    self.reembedding = Some(r.spec.name.clone());
                    let items = cx
                        .embedders
                        .iter()
                        .map(|m| ChoiceItem {
                            value: m.clone(),
                            detail: if *m == r.spec.embedding {
                                "its model now".into()
                            } else {
                                String::new()
                            },
                        })
                        .collect();
                    cx.open(Layer::Choose(Choice::new(
                        ChoiceKind::Embedding,
                        items,
                        &r.spec.embedding,
                    )));
                }
                Vec::new()
            }
            Event::Reply(Reply::Choice(ChoiceKind::Embedding, model)) => {
                match self.reembedding.take() {
                    Some(name) => self.sync_named(cx, name, Some(model)),
                    None => Vec::new(),
                }
            }
            Event::Action(A::ShowReport) => {
                if let Some(r) = self.list.get(self.selected) {
                    cx.open(Layer::Report {
                        title: format!("Last sync of {}", r.spec.name),
                        lines: report_lines(r, self.failures.get(&r.spec.name)),
                        scroll: 0,
                    });
                }
                Vec::new()
            }
            Event::Action(A::DeleteItem) => {
                if let Some(r) = self.list.get(self.selected) {
                    if self.syncs.contains_key(&r.spec.name) {
                        cx.flash = Some(format!(
                            "{} is syncing: Ctrl-C stops the sync, then delete it",
                            r.spec.name
                        ));
                    } else {
                        cx.open(Layer::Confirm(Box::new(delete_confirm(r))));
                    }
                }
                Vec::new()
            }
            Event::Reply(Reply::Destroy(Destroy::KnowledgeBase(name))) => {
                vec![Effect::Kb(ScreenId::Knowledge, KbJob::Delete { name })]
            }
            Event::Action(A::AttachItem) => match self.selected_name() {
                Some(name) => vec![Effect::Send(
                    ScreenId::Chat,
                    ScreenMsg::ToggleKnowledge(name),
                )],
                None => Vec::new(),
            },
            Event::Action(A::ListUp | A::ScrollUp | A::HistoryPrev) => {
                self.move_by(-1);
                Vec::new()
            }
            Event::Action(A::ListDown | A::ScrollDown | A::HistoryNext) => {
                self.move_by(1);
                Vec::new()
            }
            Event::Action(A::OpenSession) => match self.focus {
                KFocus::List => {
                    self.focus = KFocus::Playground;
                    Vec::new()
                }
                KFocus::Results => self.open_result(),
                KFocus::Playground => self.run_query(),
            },
            Event::Action(A::Send) if self.focus == KFocus::Playground => self.run_query(),
            Event::Key(key) if self.focus == KFocus::Playground => {
                self.on_key(key);
                Vec::new()
            }
            Event::Paste(text) if self.focus == KFocus::Playground => {
                self.query.insert_str(&text.replace('\n', " "));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, cx: &Shared) {
        let t = &cx.theme;
        let list_w = if area.width >= 100 { 34 } else { 26 }.min(area.width / 2);
        let top_h = (area.height / 2).max(6).min(area.height);
        let list = Rect::new(area.x, area.y, list_w, top_h);
        let detail = Rect::new(area.x + list_w, area.y, area.width - list_w, top_h);
        let play = Rect::new(area.x, area.y + top_h, area.width, area.height - top_h);
        let block = |title: String, focused: bool| crate::tui::view::pane_block(t, title, focused);

        let b = block(" Knowledge bases ".into(), self.focus == KFocus::List);
        let inner = b.inner(list);
        frame.render_widget(b, list);
        let mut lines: Vec<Line> = Vec::new();
        if self.list.is_empty() {
            let hint = self.error.clone().unwrap_or_else(|| {
                "No knowledge bases yet.\nn makes one from a folder (a form; Tab completes paths).".into()
            });
            lines.extend(crate::tui::view::hint_lines(t, &hint, inner.width));
        }
        for (i, r) in self.list.iter().enumerate() {
            let style = if i == self.selected {
                crate::tui::view::selected_style(t)
            } else {
                Style::default()
            };
            lines.push(Line::from(Span::styled(r.spec.name.clone(), style)));
            let sub = match self.syncs.get(&r.spec.name) {
                Some(run) => progress_line(&run.progress, inner.width),
                None if r.synced_us.is_none() => "  never synced".to_string(),
                None => format!("  {} files · {} chunks", r.files, r.chunks),
            };
            let colour = if self.syncs.contains_key(&r.spec.name) {
                t.accent
            } else {
                t.muted
            };
            lines.push(Line::from(Span::styled(sub, Style::default().fg(colour))));
        }
        frame.render_widget(Paragraph::new(lines), inner);

        let b = block(" Details ".into(), false);
        let inner = b.inner(detail);
        frame.render_widget(b, detail);
        let mut lines: Vec<Line> = Vec::new();
        if let Some(r) = self.list.get(self.selected) {
            let kv = |k: &str, v: String| {
                Line::from(vec![
                    Span::styled(format!("{k:<10}"), Style::default().fg(t.muted)),
                    Span::raw(v),
                ])
            };
            for s in &r.spec.sources {
                lines.push(kv("source", s.clone()));
            }
            if !r.spec.include.is_empty() {
                lines.push(kv("include", r.spec.include.join(", ")));
            }
            if !r.spec.exclude.is_empty() {
                lines.push(kv("exclude", r.spec.exclude.join(", ")));
            }
            lines.push(kv(
                "embedding",
                format!("{} ({} dims)", r.spec.embedding, r.dims),
            ));
            lines.push(kv(
                "chunking",
                format!(
                    "{:?}, ~{} bytes, overlap {}",
                    r.spec.chunking.strategy, r.spec.chunking.size, r.spec.chunking.overlap
                ),
            ));
            lines.push(kv(
                "content",
                format!("{} files, {} chunks", r.files, r.chunks),
            ));
            lines.push(kv(
                "synced",
                r.synced_us.map_or("never".into(), format_micros),
            ));
            if let Some(e) = self.failures.get(&r.spec.name) {
                lines.push(Line::from(Span::styled(
                    format!("last sync failed: {e}"),
                    Style::default().fg(t.error),
                )));
            }
            if let Some(rep) = &r.last_report {
                lines.push(kv(
                    "last sync",
                    format!(
                        "+{} ~{} -{} files, {} embedded, {} reused",
                        rep.added.len(),
                        rep.changed.len(),
                        rep.removed.len(),
                        rep.embedded,
                        rep.reused,
                    ),
                ));
                lines.push(kv("speed", format!("{:.1} chunks/s", rep.chunks_per_s)));
                for s in rep.skipped.iter().take(3) {
                    lines.push(kv(
                        "skipped",
                        format!("{} ({})", short_name(&s.key), s.reason),
                    ));
                }
                if rep.skipped.len() > 3 {
                    lines.push(kv(
                        "",
                        format!("and {} more: r shows them all", rep.skipped.len() - 3),
                    ));
                }
            }
            lines.push(Line::from(Span::styled(
                "s sync · E re-embed · r report · d delete · a attach · Tab playground",
                Style::default().fg(t.muted),
            )));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);

        let title = format!(
            " Query playground{} ",
            self.query_ms
                .map(|ms| format!(" · {} result(s) in {ms:.0} ms", self.results.len()))
                .unwrap_or_default()
        );
        let b = block(
            title,
            matches!(self.focus, KFocus::Playground | KFocus::Results),
        );
        let inner = b.inner(play);
        frame.render_widget(b, play);
        let mut lines: Vec<Line> = vec![if self.query.is_blank() {
            Line::from(Span::styled(
                "Type a query and press Enter…",
                Style::default().fg(t.muted),
            ))
        } else {
            Line::from(format!("› {}", self.query.text()))
        }];
        if self.pending {
            lines.push(Line::from(Span::styled(
                "searching…",
                Style::default().fg(t.muted),
            )));
        } else if let Some(e) = &self.error {
            lines.push(Line::from(Span::styled(
                e.clone(),
                Style::default().fg(t.error),
            )));
        }
        for (i, r) in self.results.iter().enumerate() {
            let s = &r.source;
            let selected = self.focus == KFocus::Results && i == self.result;
            let style = if selected {
                crate::tui::view::selected_style(t)
            } else {
                Style::default()
            };
            let scores = [
                r.vector.map(|v| format!("cos {v:.2}")),
                r.keyword.map(|k| format!("bm25 {k:.1}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            lines.push(Line::from(vec![
                Span::styled(format!("[{}] {:.3} ", s.number, s.score), style),
                Span::styled(
                    format!("{}:{}-{} ", short_name(&s.file), s.line_start, s.line_end),
                    style.fg(t.accent),
                ),
                Span::styled(format!("{} ({scores})", s.label()), style.fg(t.muted)),
            ]));
            let preview: String = s
                .text
                .replace('\n', " ")
                .chars()
                .take(usize::from(inner.width).saturating_sub(4))
                .collect();
            lines.push(Line::from(Span::styled(
                format!("    {preview}"),
                Style::default().fg(t.fg),
            )));
        }
        frame.render_widget(Paragraph::new(lines), inner);
        if self.focus == KFocus::Playground && cx.layers.is_empty() {
            let (_, (_, col)) = self.query.layout(inner.width.saturating_sub(2));
            frame.set_cursor_position((
                inner.x + 2 + col.min(inner.width.saturating_sub(3)),
                inner.y,
            ));
        }
    }

    fn status(&self, _cx: &Shared) -> Vec<String> {
        let syncing = if self.syncs.is_empty() {
            String::new()
        } else {
            format!(" · {} syncing", self.syncs.len())
        };
        vec![
            format!(" {} base(s){syncing} ", self.list.len()),
            "n new · s sync · E re-embed · r report · d delete · a attach".into(),
        ]
    }

    fn focus_context(&mut self, context: Context, _cx: &mut Shared) {
        self.focus = match context {
            Context::Input => KFocus::Playground,
            _ => KFocus::List,
        };
    }

    fn cancel_work(&mut self, cx: &mut Shared) -> bool {
        if self.syncs.is_empty() {
            return false;
        }
        for (name, run) in &self.syncs {
            run.cancel.cancel();
            cx.flash = Some(format!("stopping the sync of {name}…"));
        }
        true
    }

    fn on_quit(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        for run in self.syncs.values() {
            run.cancel.cancel();
        }
        Vec::new()
    }
}

impl KnowledgeScreen {
    /// The form's values as a base definition, made off the UI task; values that make no
    /// definition reopen the form with the error at their field.
    fn make(&mut self, form: FieldForm, cx: &mut Shared) -> Vec<Effect> {
        let number = |key: &str| form.text(key).parse::<usize>();
        let (size, overlap) = match (number("size"), number("overlap")) {
            (Ok(s), Ok(o)) => (s, o),
            (Err(_), _) => {
                let e = format!(
                    "chunk size {:?} is not a number of bytes",
                    form.text("size")
                );
                cx.open(Layer::Fields(Box::new(form.with_error(Some("size"), e))));
                return Vec::new();
            }
            (_, Err(_)) => {
                let e = format!(
                    "overlap {:?} is not a number of bytes",
                    form.text("overlap")
                );
                cx.open(Layer::Fields(Box::new(form.with_error(Some("overlap"), e))));
                return Vec::new();
            }
        };
        let spec = KbSpec {
            name: form.text("name"),
            sources: form.list("sources"),
            include: form.list("include"),
            exclude: form.list("exclude"),
            chunking: Chunking {
                strategy: if form.text("strategy") == "fixed" {
                    Strategy::Fixed
                } else {
                    Strategy::Structure
                },
                size,
                overlap,
            },
            embedding: form.text("embedding"),
        };
        if let Err(e) = spec.validate() {
            let e = e.to_string();
            let field = field_of_error(&e);
            cx.open(Layer::Fields(Box::new(form.with_error(field, e))));
            return Vec::new();
        }
        let sync_now = form.text("sync") == "yes";
        cx.flash = Some(format!("making {}…", spec.name));
        self.making.insert(spec.name.clone(), (form, sync_now));
        vec![Effect::Kb(
            ScreenId::Knowledge,
            KbJob::Create(Box::new(spec)),
        )]
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            KFocus::List if !self.list.is_empty() => {
                let n = self.list.len() as isize;
                self.selected = (self.selected as isize + delta).rem_euclid(n) as usize;
                self.results.clear();
                self.query_ms = None;
            }
            KFocus::Results if !self.results.is_empty() => {
                let n = self.results.len() as isize;
                self.result = (self.result as isize + delta).rem_euclid(n) as usize;
            }
            _ => {}
        }
    }

    fn open_result(&mut self) -> Vec<Effect> {
        match self.results.get(self.result) {
            Some(r) => vec![Effect::Kb(
                ScreenId::Knowledge,
                KbJob::Context(Box::new(r.source.clone())),
            )],
            None => Vec::new(),
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        layers::edit(&mut self.query, key);
    }
}

/// A sync's progress as one line: a bar, counts, rate and time left.
pub fn progress_line(p: &Progress, width: u16) -> String {
    let (done, total, what) = match p.phase {
        Phase::Reading => (p.files_done, p.files_total, "files"),
        Phase::Embedding => (p.chunks_done, p.chunks_total, "chunks"),
        Phase::Committing => (1, 1, "committing"),
    };
    let bar_w = usize::from(width.saturating_sub(24)).clamp(4, 20);
    let filled = (done * bar_w).checked_div(total).unwrap_or(0).min(bar_w);
    let eta = p.eta_s.map_or(String::new(), |s| format!(" {s:.0}s"));
    let rate = if p.phase == Phase::Embedding {
        format!(" {:.0}/s", p.chunks_per_s)
    } else {
        String::new()
    };
    format!(
        "  [{}{}] {done}/{total} {what}{rate}{eta}",
        "=".repeat(filled),
        " ".repeat(bar_w - filled)
    )
}

/// The form of a new knowledge base.
pub fn new_base_form(cx: &Shared) -> FieldForm {
    let mut models = cx.embedders.clone();
    if models.is_empty() {
        models.push(DEFAULT_EMBEDDING.to_string());
    }
    let chunking = Chunking::default();
    FieldForm::new(
        FormKind::NewKnowledgeBase,
        "New knowledge base",
        vec![
            Field::text("name", "Name", "letters, digits, . _ -", ""),
            Field::path(
                "sources",
                "Sources",
                "folders, files or URLs, separated by commas; Tab completes",
                "",
            ),
            Field::text(
                "include",
                "Include",
                "globs, e.g. *.md, docs/**; empty takes every file",
                "",
            ),
            Field::text("exclude", "Exclude", "globs left out, e.g. target/**", ""),
            Field::one_of(
                "strategy",
                "Chunking",
                "structure: headings, items, paragraphs; fixed: windows",
                vec!["structure".into(), "fixed".into()],
                "structure",
            ),
            Field::text(
                "size",
                "Chunk size",
                "bytes of text (at least 100)",
                &chunking.size.to_string(),
            ),
            Field::text(
                "overlap",
                "Overlap",
                "bytes a chunk repeats (under half the size)",
                &chunking.overlap.to_string(),
            ),
            Field::one_of(
                "embedding",
                "Embeddings model",
                "←→ choose",
                models,
                DEFAULT_EMBEDDING,
            ),
            Field::one_of(
                "sync",
                "Sync now",
                "embed the sources once made",
                vec!["yes".into(), "no".into()],
                "yes",
            ),
        ],
    )
}

/// The field an error of a base's definition is about.
fn field_of_error(e: &str) -> Option<&'static str> {
    let e = e.to_lowercase();
    [
        ("source", "sources"),
        ("glob", "include"),
        ("chunk size", "size"),
        ("overlap", "overlap"),
        ("embedding", "embedding"),
        ("name", "name"),
        ("exists", "name"),
    ]
    .into_iter()
    .find(|(word, _)| e.contains(word))
    .map(|(_, field)| field)
}

/// What deleting a base loses, for its confirmation.
fn delete_confirm(r: &KbRecord) -> Confirm {
    Confirm {
        what: Destroy::KnowledgeBase(r.spec.name.clone()),
        question: format!("Delete the knowledge base {}?", r.spec.name),
        lost: vec![
            format!(
                "its index: {} files, {} chunks and their vectors ({})",
                r.files, r.chunks, r.spec.embedding
            ),
            "its settings (sources, globs, chunking)".into(),
        ],
        kept: vec![
            "the source files".into(),
            "the citations of answers given from it".into(),
        ],
    }
}

/// A base's last sync report, every file named, after the error of a sync that failed
/// since.
fn report_lines(r: &KbRecord, failure: Option<&String>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(e) = failure {
        lines.push(format!("The last sync failed: {e}"));
        lines.push(String::new());
    }
    let Some(rep) = &r.last_report else {
        lines.push(match r.synced_us {
            None => "Never synced: s syncs it.".into(),
            Some(_) => "No report kept for the last sync.".into(),
        });
        return lines;
    };
    lines.extend([
        format!(
            "{} files, {} chunks · {} embedded, {} reused · {:.1} s ({:.1} chunks/s) · {}",
            rep.files,
            rep.chunks,
            rep.embedded,
            rep.reused,
            rep.seconds,
            rep.chunks_per_s,
            rep.model
        ),
        format!(
            "{} unchanged{}{}",
            rep.unchanged,
            if rep.resumed {
                " · resumed an interrupted sync"
            } else {
                ""
            },
            if rep.interrupted {
                " · interrupted: nothing committed"
            } else {
                ""
            }
        ),
    ]);
    let mut section = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            lines.push(String::new());
            lines.push(format!("{title} ({})", items.len()));
            lines.extend(items.into_iter().map(|i| format!("  {i}")));
        }
    };
    section(
        "Skipped",
        rep.skipped
            .iter()
            .map(|s| format!("{}: {}", s.key, s.reason))
            .collect(),
    );
    section("Decoded lossily (invalid UTF-8)", rep.lossy.clone());
    section("Added", rep.added.clone());
    section("Changed", rep.changed.clone());
    section("Removed", rep.removed.clone());
    lines
}
