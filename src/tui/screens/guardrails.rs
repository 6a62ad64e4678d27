//! The guardrails screen: the guardrails (left), the selected one's revisions with the
//! diff of each from the one before (right), and a sandbox where a text is assessed by the
//! selected revision as you type (debounced, off the UI task) with every policy's verdict,
//! score, threshold and time. Storage and assessments go out as `Effect::Guard` jobs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{Event, Screen, ScreenId, Shared};
use crate::guardrails::engine::{Assessment, FinalAction, Verdict};
use crate::guardrails::store::GuardrailEntry;
use crate::guardrails::Source;
use crate::tui::guard_jobs::{GuardJob, GuardMsg, RevisionView};
use crate::tui::input::InputBox;
use crate::tui::keymap::{Action, Context};
use crate::tui::layers;
use crate::tui::msg::{Effect, ScreenMsg};

/// Which part has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GFocus {
    List,
    Revisions,
    Sandbox,
}

/// The guardrails screen's state.
pub struct GuardrailsScreen {
    pub list: Vec<GuardrailEntry>,
    pub selected: usize,
    pub revisions: Vec<RevisionView>,
    pub revision: usize,
    pub focus: GFocus,
    pub sandbox: InputBox,
    pub source: Source,
    /// The latest sandbox text asked about; older answers are dropped.
    seq: u64,
    latest: Arc<AtomicU64>,
    pub result: Option<Result<Assessment, String>>,
    /// An assessment is on its way.
    pub pending: bool,
    pub error: Option<String>,
}

impl Default for GuardrailsScreen {
    fn default() -> Self {
        GuardrailsScreen {
            list: Vec::new(),
            selected: 0,
            revisions: Vec::new(),
            revision: 0,
            focus: GFocus::List,
            sandbox: InputBox::default(),
            source: Source::Input,
            seq: 0,
            latest: Arc::new(AtomicU64::new(0)),
            result: None,
            pending: false,
            error: None,
        }
    }
}

impl GuardrailsScreen {
    /// The revision the sandbox assesses with (`name@2`, `name@draft`).
    pub fn reference(&self) -> Option<String> {
        self.revisions
            .get(self.revision)
            .map(|r| r.label.clone())
            .or_else(|| self.list.get(self.selected).map(|e| e.name.clone()))
    }

    fn detail(&mut self) -> Vec<Effect> {
        self.revisions.clear();
        self.revision = 0;
        match self.list.get(self.selected) {
            Some(e) => vec![Effect::Guard(
                ScreenId::Guardrails,
                GuardJob::Detail {
                    name: e.name.clone(),
                },
            )],
            None => Vec::new(),
        }
    }

    /// Asks for an assessment of the sandbox text (the runner waits out the debounce).
    fn assess(&mut self) -> Vec<Effect> {
        // Every change moves the sequence on, so an answer still on its way for older text
        // is dropped (also when the text was cleared).
        self.seq += 1;
        self.latest.store(self.seq, Ordering::SeqCst);
        let (Some(reference), false) = (self.reference(), self.sandbox.is_blank()) else {
            self.result = None;
            self.pending = false;
            return Vec::new();
        };
        self.pending = true;
        vec![Effect::Guard(
            ScreenId::Guardrails,
            GuardJob::Sandbox {
                reference,
                source: self.source,
                text: self.sandbox.text().to_string(),
                seq: self.seq,
                latest: self.latest.clone(),
            },
        )]
    }

    fn on_msg(&mut self, msg: GuardMsg) -> Vec<Effect> {
        match msg {
            GuardMsg::List(Ok(list)) => {
                self.list = list;
                self.selected = self.selected.min(self.list.len().saturating_sub(1));
                self.error = None;
                return self.detail();
            }
            GuardMsg::List(Err(e)) => self.error = Some(e),
            // Only the selected guardrail's answer counts (the selection may have moved on).
            GuardMsg::Detail { name, result }
                if self.list.get(self.selected).is_some_and(|e| e.name == name) =>
            {
                match result {
                    Ok(revisions) => {
                        self.revisions = revisions;
                        self.revision = 0;
                        return self.assess();
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            GuardMsg::Sandbox { seq, result } if seq == self.seq => {
                self.pending = false;
                self.result = Some(result);
            }
            _ => {}
        }
        Vec::new()
    }

    fn move_in(&mut self, delta: isize) -> Vec<Effect> {
        match self.focus {
            GFocus::List if !self.list.is_empty() => {
                let n = self.list.len() as isize;
                self.selected = (self.selected as isize + delta).rem_euclid(n) as usize;
                self.detail()
            }
            GFocus::Revisions if !self.revisions.is_empty() => {
                let n = self.revisions.len() as isize;
                self.revision = (self.revision as isize + delta).rem_euclid(n) as usize;
                self.assess()
            }
            _ => Vec::new(),
        }
    }
}

impl Screen for GuardrailsScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Guardrails
    }

    fn contexts(&self) -> Vec<Context> {
        vec![match self.focus {
            GFocus::List | GFocus::Revisions => Context::Sidebar,
            GFocus::Sandbox => Context::Input,
        }]
    }

    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![Effect::Guard(ScreenId::Guardrails, GuardJob::List)]
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        use Action as A;
        match event {
            Event::Msg(ScreenMsg::Guard(msg)) => self.on_msg(msg),
            Event::Action(A::FocusNext) | Event::Action(A::FocusPrev) => {
                self.focus = match self.focus {
                    GFocus::List => GFocus::Revisions,
                    GFocus::Revisions => GFocus::Sandbox,
                    GFocus::Sandbox => GFocus::List,
                };
                cx.keys.reset();
                Vec::new()
            }
            Event::Action(A::ListUp | A::HistoryPrev | A::ScrollUp) => self.move_in(-1),
            Event::Action(A::ListDown | A::HistoryNext | A::ScrollDown) => self.move_in(1),
            Event::Action(A::OpenSession) => {
                self.focus = GFocus::Sandbox;
                Vec::new()
            }
            Event::Action(A::ToggleSandboxSource) => {
                self.source = match self.source {
                    Source::Input => Source::Output,
                    Source::Output => Source::Input,
                };
                self.assess()
            }
            Event::Action(A::Newline | A::Send) if self.focus == GFocus::Sandbox => {
                self.sandbox.insert_char('\n');
                self.assess()
            }
            Event::Key(key) if self.focus == GFocus::Sandbox => self.on_key(key),
            Event::Paste(text) if self.focus == GFocus::Sandbox => {
                self.sandbox.insert_str(&text);
                self.assess()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, cx: &Shared) {
        let t = &cx.theme;
        let list_w = if area.width >= 100 { 28 } else { 22 }.min(area.width / 3);
        let sandbox_h = (area.height / 2).max(8).min(area.height);
        let list = Rect::new(
            area.x,
            area.y,
            list_w,
            area.height.saturating_sub(sandbox_h),
        );
        let revs = Rect::new(
            area.x + list_w,
            area.y,
            area.width - list_w,
            area.height.saturating_sub(sandbox_h),
        );
        let sandbox = Rect::new(area.x, area.y + list.height, area.width, sandbox_h);
        let block = |title: String, focused: bool| crate::tui::view::pane_block(t, title, focused);

        // The guardrails.
        let b = block(" Guardrails ".into(), self.focus == GFocus::List);
        let inner = b.inner(list);
        frame.render_widget(b, list);
        let mut lines: Vec<Line> = Vec::new();
        if self.list.is_empty() {
            let hint = self.error.clone().unwrap_or_else(|| {
                "No guardrails yet.\nMake one from a policy file:\nstrata guardrail create --file examples/policy.toml".into()
            });
            lines.extend(crate::tui::view::hint_lines(t, &hint, inner.width));
        }
        for (i, e) in self.list.iter().enumerate() {
            let style = if i == self.selected {
                crate::tui::view::selected_style(t)
            } else {
                Style::default()
            };
            lines.push(Line::from(Span::styled(
                format!("{} ({}v)", e.name, e.versions.len()),
                style,
            )));
        }
        frame.render_widget(Paragraph::new(lines), inner);

        // Revisions and the diff of the selected one.
        let b = block(
            " Versions · diff from the one before ".into(),
            self.focus == GFocus::Revisions,
        );
        let inner = b.inner(revs);
        frame.render_widget(b, revs);
        let mut lines: Vec<Line> = Vec::new();
        let labels: Vec<Span> = self
            .revisions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let style = if i == self.revision {
                    crate::tui::view::selected_style(t)
                } else {
                    Style::default().fg(t.muted)
                };
                Span::styled(format!(" {} ", r.label), style)
            })
            .collect();
        lines.push(Line::from(labels));
        if let Some(r) = self.revisions.get(self.revision) {
            if r.diff.is_empty() {
                lines.push(Line::from(Span::styled(
                    "(the first revision: nothing to compare)",
                    Style::default().fg(t.muted),
                )));
            }
            for l in r.diff.lines() {
                let colour = if l.starts_with('+') {
                    t.success
                } else if l.starts_with('-') {
                    t.error
                } else if l.starts_with("@@") {
                    t.accent
                } else {
                    t.fg
                };
                lines.push(Line::from(Span::styled(
                    l.to_string(),
                    Style::default().fg(colour),
                )));
            }
        }
        frame.render_widget(Paragraph::new(lines), inner);

        // The sandbox: the text, then the assessment.
        let title = format!(
            " Sandbox · {} as {} (F6 switches) ",
            self.reference().unwrap_or_else(|| "no guardrail".into()),
            match self.source {
                Source::Input => "input",
                Source::Output => "output",
            }
        );
        let b = block(title, self.focus == GFocus::Sandbox);
        let inner = b.inner(sandbox);
        frame.render_widget(b, sandbox);
        let (rows, (cy, cxr)) = self.sandbox.layout(inner.width);
        let text_h = (rows.len() as u16).clamp(1, 3).min(inner.height);
        let mut lines: Vec<Line> = rows
            .into_iter()
            .take(usize::from(text_h))
            .map(Line::from)
            .collect();
        if self.sandbox.is_blank() {
            lines = vec![Line::from(Span::styled(
                "Type a text to assess (Tab moves here)…",
                Style::default().fg(t.muted),
            ))];
        }
        lines.push(Line::from(Span::styled(
            "─".repeat(usize::from(inner.width)),
            Style::default().fg(t.border),
        )));
        match &self.result {
            None if self.pending => lines.push(Line::from("assessing…")),
            None => {}
            Some(Err(e)) => lines.push(Line::from(Span::styled(
                e.clone(),
                Style::default().fg(t.error),
            ))),
            Some(Ok(a)) => {
                let (word, colour) = match a.action {
                    FinalAction::None => ("none", t.success),
                    FinalAction::Anonymized => ("anonymized", t.warning),
                    FinalAction::NeedsReview => ("needs_review", t.warning),
                    FinalAction::Blocked => ("blocked", t.error),
                };
                lines.push(Line::from(vec![
                    Span::styled(
                        word.to_string(),
                        Style::default().fg(colour).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(
                        format!(
                            "{}  {:.1} ms{}",
                            a.blocked_by
                                .as_ref()
                                .map(|b| format!(" by {b}"))
                                .unwrap_or_default(),
                            a.time_us as f64 / 1000.0,
                            if self.pending { "  (updating…)" } else { "" }
                        ),
                        Style::default().fg(t.muted),
                    ),
                ]));
                for r in &a.assessments {
                    let (mark, c) = match r.verdict {
                        Verdict::Skipped => ("·", t.muted),
                        Verdict::Pass => ("✓", t.success),
                        Verdict::Anonymized => ("◐", t.warning),
                        Verdict::NeedsReview => ("?", t.warning),
                        Verdict::Blocked => ("✗", t.error),
                    };
                    let score = match (r.score, r.threshold) {
                        (Some(s), Some(th)) => format!("{s:.2} / {th:.2}"),
                        _ => format!("{} hit(s)", r.items.len()),
                    };
                    lines.push(Line::from(vec![
                        Span::styled(format!(" {mark} "), Style::default().fg(c)),
                        Span::raw(format!("{:<24}", r.name)),
                        Span::styled(
                            format!(" {score:>13}  {:>6.1} ms", r.time_us as f64 / 1000.0),
                            Style::default().fg(t.muted),
                        ),
                    ]));
                }
                if a.action != FinalAction::None {
                    lines.push(Line::from(Span::styled(
                        format!("output: {}", a.output.replace('\n', " ")),
                        Style::default().fg(t.fg),
                    )));
                }
            }
        }
        frame.render_widget(Paragraph::new(lines), inner);
        if self.focus == GFocus::Sandbox && cx.layers.is_empty() && !self.sandbox.is_blank() {
            frame.set_cursor_position((
                inner.x + cxr.min(inner.width.saturating_sub(1)),
                inner.y + cy.min(text_h.saturating_sub(1)),
            ));
        }
    }

    fn status(&self, _cx: &Shared) -> Vec<String> {
        vec![
            format!(" {} guardrail(s) ", self.list.len()),
            "Tab moves · ↑↓ select · F6 input/output".into(),
        ]
    }

    fn focus_context(&mut self, context: Context, _cx: &mut Shared) {
        self.focus = match context {
            Context::Input => GFocus::Sandbox,
            _ => GFocus::List,
        };
    }

    fn cancel_work(&mut self, _cx: &mut Shared) -> bool {
        false
    }

    fn on_quit(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        Vec::new()
    }
}

impl GuardrailsScreen {
    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let before = self.sandbox.text().to_string();
        layers::edit(&mut self.sandbox, key);
        if self.sandbox.text() != before {
            self.assess()
        } else {
            Vec::new()
        }
    }
}
