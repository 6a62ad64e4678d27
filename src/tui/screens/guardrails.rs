//! The guardrails screen: the guardrails (left), the selected one's revisions with the
//! diff of each from the one before (right), and a sandbox where a text is assessed by the
//! selected revision as you type (debounced, off the UI task) with every policy's verdict,
//! score, threshold and time. From the keyboard: a new guardrail from a template in
//! `$EDITOR` or from a form of the common policies, the draft edited in `$EDITOR` (an
//! edit that does not check is kept with its error at its line, to edit again), a version
//! frozen with a note, a delete that names what is lost, and attaching a revision to the
//! chat's session. Storage and assessments go out as `Effect::Guard` jobs.

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
use crate::guardrails::template::{self, CommonPolicy};
use crate::guardrails::Source;
use crate::tui::editor::{EditPurpose, EditRequest};
use crate::tui::fields::{Field, FieldForm, FormKind};
use crate::tui::guard_jobs::{GuardJob, GuardMsg, RevisionView, SaveError};
use crate::tui::input::InputBox;
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::{self, Confirm, Destroy, Layer, PromptKind, Reply};
use crate::tui::msg::{Effect, ScreenMsg};

/// A policy written in `$EDITOR` that did not check: kept with its error, to edit again.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptEdit {
    pub purpose: EditPurpose,
    pub text: String,
    pub error: SaveError,
}

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
    /// An edit that did not check (e edits it again, Esc drops it).
    pub kept: Option<KeptEdit>,
    /// The guardrail to select once the list comes back (one just made).
    select_after_list: Option<String>,
    /// The guardrail the version-note prompt is for (the selection may move meanwhile).
    versioning: Option<String>,
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
            kept: None,
            select_after_list: None,
            versioning: None,
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

    fn on_msg(&mut self, msg: GuardMsg, cx: &mut Shared) -> Vec<Effect> {
        match msg {
            GuardMsg::Saved {
                draft_of,
                toml,
                result,
            } => match result {
                Ok((name, warning)) => {
                    let purpose = match &draft_of {
                        Some(n) => EditPurpose::GuardrailDraft(n.clone()),
                        None => EditPurpose::NewGuardrail,
                    };
                    if self.kept.as_ref().is_some_and(|k| k.purpose == purpose) {
                        self.kept = None;
                    }
                    cx.flash = Some(match (&draft_of, warning) {
                        (_, Some(w)) => format!("saved {name}@draft, but {w}"),
                        (Some(_), None) => {
                            format!("saved the draft of {name}; v freezes it as a version")
                        }
                        (None, None) => {
                            format!("made guardrail {name}; v freezes its draft as version 1")
                        }
                    });
                    self.select_after_list = Some(name);
                    return vec![Effect::Guard(ScreenId::Guardrails, GuardJob::List)];
                }
                Err(error) => {
                    cx.flash = Some(format!(
                        "not saved{}: e edits it again, Esc drops the edit",
                        if error.line > 0 {
                            format!(" (line {})", error.line)
                        } else {
                            String::new()
                        }
                    ));
                    self.kept = Some(KeptEdit {
                        purpose: match draft_of {
                            Some(name) => EditPurpose::GuardrailDraft(name),
                            None => EditPurpose::NewGuardrail,
                        },
                        text: toml,
                        error,
                    });
                }
            },
            GuardMsg::Versioned { name, result } => {
                cx.flash = Some(match result {
                    Ok(v) => format!("froze the draft of {name} as {name}@{v}"),
                    Err(e) => format!("cannot version {name}: {e}"),
                });
                return self.reload();
            }
            GuardMsg::Deleted { name, result } => {
                cx.flash = Some(match result {
                    Ok(n) => format!("deleted guardrail {name} ({n} version(s) and its draft)"),
                    Err(e) => format!("cannot delete {name}: {e}"),
                });
                return self.reload();
            }
            GuardMsg::List(Ok(list)) => {
                self.list = list;
                if let Some(name) = self.select_after_list.take() {
                    if let Some(i) = self.list.iter().position(|e| e.name == name) {
                        self.selected = i;
                    }
                }
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
        match self.focus {
            GFocus::List | GFocus::Revisions => vec![Context::Guardrails, Context::Sidebar],
            GFocus::Sandbox => vec![Context::Input],
        }
    }

    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![Effect::Guard(ScreenId::Guardrails, GuardJob::List)]
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        use Action as A;
        match event {
            Event::Msg(ScreenMsg::Guard(msg)) => self.on_msg(msg, cx),
            Event::Msg(ScreenMsg::EditorDone(purpose, result)) => {
                self.on_edited(purpose, result, cx)
            }
            // One edit that did not check is kept at a time: it comes first.
            Event::Action(A::NewItem | A::NewFromForm) if self.kept.is_some() => {
                cx.flash =
                    Some("an edit that did not check is kept: e edits it, Esc drops it".into());
                Vec::new()
            }
            Event::Action(A::NewItem) => self.edit(
                EditPurpose::NewGuardrail,
                template::TEMPLATE.to_string(),
                None,
            ),
            Event::Action(A::NewFromForm) => {
                cx.open(Layer::Fields(Box::new(common_policy_form())));
                Vec::new()
            }
            Event::Action(A::EditItem) => self.edit_selected(cx),
            Event::Action(A::VersionItem) => {
                match self.list.get(self.selected) {
                    Some(e) => {
                        self.versioning = Some(e.name.clone());
                        cx.open(Layer::Prompt(PromptKind::VersionNote, InputBox::default()))
                    }
                    None => cx.flash = Some("no guardrail to version: n makes one".into()),
                }
                Vec::new()
            }
            Event::Action(A::DeleteItem) => {
                if let Some(e) = self.list.get(self.selected) {
                    cx.open(Layer::Confirm(Box::new(delete_confirm(e))));
                }
                Vec::new()
            }
            Event::Action(A::AttachItem) => match self.reference() {
                Some(reference) => vec![Effect::Send(
                    ScreenId::Chat,
                    ScreenMsg::UseGuardrail(reference),
                )],
                None => Vec::new(),
            },
            Event::Action(A::Cancel) if self.kept.is_some() && self.focus != GFocus::Sandbox => {
                self.kept = None;
                cx.flash = Some("dropped the edit".into());
                Vec::new()
            }
            Event::Reply(Reply::Prompt(PromptKind::VersionNote, note)) => {
                match self.versioning.take() {
                    Some(name) => vec![Effect::Guard(
                        ScreenId::Guardrails,
                        GuardJob::Version {
                            name,
                            note: Some(note.text().trim().to_string()).filter(|n| !n.is_empty()),
                        },
                    )],
                    None => Vec::new(),
                }
            }
            Event::Reply(Reply::Destroy(Destroy::Guardrail(name))) => {
                vec![Effect::Guard(
                    ScreenId::Guardrails,
                    GuardJob::Delete { name },
                )]
            }
            Event::Reply(Reply::Fields(form)) if form.kind == FormKind::NewGuardrail => {
                self.submit_form(*form, cx)
            }
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
                "No guardrails yet.\nn writes one from a template in $EDITOR; N fills a form of the common policies.".into()
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
        if let Some(k) = &self.kept {
            lines.extend(kept_lines(k, t, inner.width));
        }
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
            "n new · N form · e edit · v version · d delete · a attach".into(),
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
    fn reload(&mut self) -> Vec<Effect> {
        vec![Effect::Guard(ScreenId::Guardrails, GuardJob::List)]
    }

    /// Hands `text` to `$EDITOR` for `purpose`, at `line`.
    fn edit(&mut self, purpose: EditPurpose, text: String, line: Option<usize>) -> Vec<Effect> {
        let mut request = EditRequest::new(ScreenId::Guardrails, purpose, text);
        request.line = line;
        vec![Effect::OpenEditor(request)]
    }

    /// `e`: the kept edit again at its error's line, else the selected guardrail's draft.
    fn edit_selected(&mut self, cx: &mut Shared) -> Vec<Effect> {
        if let Some(k) = self.kept.clone() {
            let line = Some(k.error.line).filter(|l| *l > 0);
            return self.edit(k.purpose, k.text, line);
        }
        match self.list.get(self.selected) {
            Some(e) => {
                let (name, draft) = (e.name.clone(), e.draft.clone());
                self.edit(EditPurpose::GuardrailDraft(name), draft, None)
            }
            None => {
                cx.flash = Some("no guardrail to edit: n makes one".into());
                Vec::new()
            }
        }
    }

    /// The editor closed: an unchanged text changes nothing; another is checked and
    /// stored off the UI task.
    fn on_edited(
        &mut self,
        purpose: EditPurpose,
        result: Result<String, String>,
        cx: &mut Shared,
    ) -> Vec<Effect> {
        let text = match result {
            Ok(text) => text,
            Err(e) => {
                cx.flash = Some(format!("editor: {e}"));
                return Vec::new();
            }
        };
        let before = match (&self.kept, &purpose) {
            (Some(k), _) if k.purpose == purpose => k.text.clone(),
            (_, EditPurpose::NewGuardrail) => template::TEMPLATE.to_string(),
            (_, EditPurpose::GuardrailDraft(name)) => self
                .list
                .iter()
                .find(|e| &e.name == name)
                .map(|e| e.draft.clone())
                .unwrap_or_default(),
            _ => return Vec::new(),
        };
        if text == before && self.kept.is_none() {
            cx.flash = Some("nothing changed".into());
            return Vec::new();
        }
        let draft_of = match purpose {
            EditPurpose::GuardrailDraft(name) => Some(name),
            _ => None,
        };
        cx.flash = Some("checking the policy…".into());
        vec![Effect::Guard(
            ScreenId::Guardrails,
            GuardJob::Save {
                toml: text,
                draft_of,
            },
        )]
    }

    /// The form of common policies, made into a policy and stored; a form whose values
    /// do not make a policy opens again with the error.
    fn submit_form(&mut self, form: FieldForm, cx: &mut Shared) -> Vec<Effect> {
        let topic = form.text("topic");
        if topic.is_empty() && !form.text("definition").is_empty() {
            let e = "name the denied topic whose definition is written (or clear the definition)"
                .to_string();
            cx.open(Layer::Fields(Box::new(form.with_error(Some("topic"), e))));
            return Vec::new();
        }
        let policy = CommonPolicy {
            name: form.text("name"),
            words: form.list("words"),
            profanity: form.text("profanity") == "yes",
            harmful_content: form.text("harmful"),
            prompt_attack: form.text("prompt_attack"),
            anonymize: form.marked("anonymize"),
            block: form.marked("block"),
            topic: (!topic.is_empty()).then(|| (topic.clone(), form.text("definition"))),
        };
        let toml = policy.to_toml();
        if let Err(e) = crate::guardrails::policy::Policy::parse(&toml, "the form") {
            let field = match &e {
                crate::guardrails::policy::PolicyError::Invalid { key, .. }
                    if key.starts_with("denied_topics") =>
                {
                    Some("definition")
                }
                crate::guardrails::policy::PolicyError::Invalid { key, .. } if key == "name" => {
                    Some("name")
                }
                _ => None,
            };
            cx.open(Layer::Fields(Box::new(
                form.with_error(field, e.to_string()),
            )));
            return Vec::new();
        }
        cx.flash = Some(format!("making guardrail {}…", policy.name));
        vec![Effect::Guard(
            ScreenId::Guardrails,
            GuardJob::Save {
                toml,
                draft_of: None,
            },
        )]
    }

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

/// The form of the common policies.
pub fn common_policy_form() -> FieldForm {
    let strengths: Vec<String> = template::STRENGTHS.iter().map(|s| s.to_string()).collect();
    let entities = template::entity_names();
    FieldForm::new(
        FormKind::NewGuardrail,
        "New guardrail: the common policies (e edits the rest later)",
        vec![
            Field::text("name", "Name", "letters, digits, - _ .", ""),
            Field::text(
                "words",
                "Blocked words",
                "words or phrases, separated by commas",
                "",
            ),
            Field::one_of(
                "profanity",
                "Profanity filter",
                "the built-in list",
                vec!["no".into(), "yes".into()],
                "no",
            ),
            Field::one_of(
                "harmful",
                "Harmful content",
                "hate, insults, sexual, violence, misconduct; both directions",
                strengths.clone(),
                "medium",
            ),
            Field::one_of(
                "prompt_attack",
                "Prompt attacks",
                "inputs only",
                strengths,
                "high",
            ),
            Field::any_of(
                "anonymize",
                "Anonymize",
                "←→ walk, Space marks",
                entities.clone(),
                &["email", "phone", "credit_card"],
            ),
            Field::any_of(
                "block",
                "Block",
                "←→ walk, Space marks",
                entities,
                &["aws_access_key", "private_key"],
            ),
            Field::text("topic", "Denied topic", "its name (optional)", ""),
            Field::text(
                "definition",
                "Topic definition",
                "what the topic covers, in a sentence",
                "",
            ),
        ],
    )
}

/// What deleting a guardrail loses, for its confirmation.
fn delete_confirm(e: &GuardrailEntry) -> Confirm {
    let mut lost = vec![format!("its draft ({} lines)", e.draft.lines().count())];
    if !e.versions.is_empty() {
        lost.push(format!(
            "its {} version(s): {}",
            e.versions.len(),
            e.versions
                .iter()
                .map(|v| format!("v{}", v.version))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Confirm {
        what: Destroy::Guardrail(e.name.clone()),
        question: format!("Delete the guardrail {}?", e.name),
        lost,
        kept: vec![
            "sessions and jobs that name it: they fail to load it until one of that name is made"
                .into(),
        ],
    }
}

/// A kept edit's error, with the line it names.
fn kept_lines(k: &KeptEdit, t: &crate::tui::theme::Theme, width: u16) -> Vec<Line<'static>> {
    crate::tui::view::error_at_line(
        t,
        &k.error.message,
        &k.text,
        k.error.line,
        "e edits it again at that line · Esc drops the edit",
        width,
    )
}
