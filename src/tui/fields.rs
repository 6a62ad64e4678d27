//! Forms of fields for making things from the keyboard (a knowledge base, a guardrail of
//! the common policies, an evaluation job): text fields, path fields that Tab completes
//! (off the UI task, answered by `Msg::Completed`), one-of fields that ←/→ or Space
//! cycle, and any-of fields whose entries ←/→ walk and Space marks. The form replies with
//! itself; the screen reads the values, and reopens it with an error when they do not
//! make a valid thing, so nothing typed is lost.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::complete::Completion;
use super::input::InputBox;
use super::keymap::{Action, Context};
use super::layers::{edit, Handled, Reply};
use super::msg::Effect;
use super::theme::Theme;
use super::view;

/// What a form makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    NewKnowledgeBase,
    NewGuardrail,
    NewEvalJob,
}

/// A field's value and how it is edited.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldInput {
    Text(InputBox),
    /// A path (or paths separated by commas) that Tab completes.
    Path(InputBox),
    /// One of the options.
    OneOf {
        options: Vec<String>,
        index: usize,
    },
    /// Any of the options, each marked or not; `cursor` is the highlighted one.
    AnyOf {
        options: Vec<(String, bool)>,
        cursor: usize,
    },
}

/// One field: the key the screen reads it by, its label and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub input: FieldInput,
}

impl Field {
    pub fn text(key: &'static str, label: &'static str, hint: &'static str, value: &str) -> Field {
        Field {
            key,
            label,
            hint,
            input: FieldInput::Text(InputBox::with_text(value)),
        }
    }

    pub fn path(key: &'static str, label: &'static str, hint: &'static str, value: &str) -> Field {
        Field {
            key,
            label,
            hint,
            input: FieldInput::Path(InputBox::with_text(value)),
        }
    }

    /// One of `options`, `first` chosen (the first option when it is not among them).
    pub fn one_of(
        key: &'static str,
        label: &'static str,
        hint: &'static str,
        options: Vec<String>,
        first: &str,
    ) -> Field {
        let index = options.iter().position(|o| o == first).unwrap_or(0);
        Field {
            key,
            label,
            hint,
            input: FieldInput::OneOf { options, index },
        }
    }

    /// Any of `options`, those in `marked` marked.
    pub fn any_of(
        key: &'static str,
        label: &'static str,
        hint: &'static str,
        options: Vec<String>,
        marked: &[&str],
    ) -> Field {
        let options = options
            .into_iter()
            .map(|o| {
                let on = marked.contains(&o.as_str());
                (o, on)
            })
            .collect();
        Field {
            key,
            label,
            hint,
            input: FieldInput::AnyOf { options, cursor: 0 },
        }
    }

    fn input_box(&mut self) -> Option<&mut InputBox> {
        match &mut self.input {
            FieldInput::Text(b) | FieldInput::Path(b) => Some(b),
            _ => None,
        }
    }
}

/// A form: its fields, the focused one, the error of the last try, and what the last
/// path completion offered.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldForm {
    pub kind: FormKind,
    pub title: String,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// Why the values did not make a valid thing (set by the screen that reopens it).
    pub error: Option<String>,
    /// The candidates (or note) of the last Tab on a path field.
    pub offered: Option<Completion>,
    /// The completion asked for last; older answers are dropped.
    pub asked: u64,
    /// The field and text the last completion was asked for: its answer is used only
    /// while the field has the focus and still holds that text.
    asking: Option<(usize, String)>,
}

impl FieldForm {
    pub fn new(kind: FormKind, title: &str, fields: Vec<Field>) -> FieldForm {
        FieldForm {
            kind,
            title: title.to_string(),
            fields,
            focus: 0,
            error: None,
            offered: None,
            asked: 0,
            asking: None,
        }
    }

    pub fn contexts(&self) -> Vec<Context> {
        vec![Context::Form]
    }

    /// A text or path field's text, trimmed ("" for a missing key).
    pub fn text(&self, key: &str) -> String {
        match self.fields.iter().find(|f| f.key == key).map(|f| &f.input) {
            Some(FieldInput::Text(b) | FieldInput::Path(b)) => b.text().trim().to_string(),
            Some(FieldInput::OneOf { options, index }) => {
                options.get(*index).cloned().unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// A text field split at commas, each part trimmed, empty parts left out.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.text(key)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// The marked options of an any-of field.
    pub fn marked(&self, key: &str) -> Vec<String> {
        match self.fields.iter().find(|f| f.key == key).map(|f| &f.input) {
            Some(FieldInput::AnyOf { options, .. }) => options
                .iter()
                .filter(|(_, on)| *on)
                .map(|(o, _)| o.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The form again with `error` shown and the field named `key` focused.
    pub fn with_error(mut self, key: Option<&str>, error: String) -> FieldForm {
        if let Some(i) = key.and_then(|k| self.fields.iter().position(|f| f.key == k)) {
            self.focus = i;
        }
        self.error = Some(error);
        self.offered = None;
        self.asking = None;
        self
    }

    fn move_focus(&mut self, delta: isize) {
        let n = self.fields.len().max(1) as isize;
        self.focus = (self.focus as isize + delta).rem_euclid(n) as usize;
        self.offered = None;
    }

    /// Tab: completes a path field (off the UI task), else moves to the next field.
    fn tab(&mut self) -> Handled {
        if let Some(Field {
            input: FieldInput::Path(b),
            ..
        }) = self.fields.get(self.focus)
        {
            self.asked += 1;
            self.asking = Some((self.focus, b.text().to_string()));
            return Handled::Effect(Effect::CompletePath {
                text: b.text().to_string(),
                seq: self.asked,
            });
        }
        self.move_focus(1);
        Handled::Consumed
    }

    /// A completion came back: it fills the path field if it answers the last Tab.
    pub fn on_completion(&mut self, seq: u64, completion: Completion) {
        if seq != self.asked {
            return;
        }
        let Some((field, text)) = self.asking.take() else {
            return;
        };
        match self.fields.get_mut(field).and_then(Field::input_box) {
            Some(b) if field == self.focus && b.text() == text => b.set(&completion.text),
            // Typed on, or moved away, meanwhile: what the user did stands.
            _ => return,
        }
        self.offered = Some(completion);
    }

    pub fn on_action(&mut self, action: Action) -> Handled {
        match action {
            Action::Cancel => Handled::Close,
            Action::SearchSubmit => Handled::Reply(Reply::Fields(Box::new(self.clone()))),
            Action::PickerDown => {
                self.move_focus(1);
                Handled::Consumed
            }
            Action::PickerUp | Action::FocusPrev => {
                self.move_focus(-1);
                Handled::Consumed
            }
            Action::FocusNext => self.tab(),
            _ => Handled::Consumed,
        }
    }

    pub fn on_text_key(&mut self, key: KeyEvent) -> Handled {
        let Some(field) = self.fields.get_mut(self.focus) else {
            return Handled::Consumed;
        };
        match &mut field.input {
            FieldInput::Text(b) | FieldInput::Path(b) => {
                edit(b, key);
                self.offered = None;
            }
            FieldInput::OneOf { options, index } => {
                let n = options.len().max(1);
                match key.code {
                    KeyCode::Left => *index = (*index + n - 1) % n,
                    KeyCode::Right | KeyCode::Char(' ') => *index = (*index + 1) % n,
                    _ => {}
                }
            }
            FieldInput::AnyOf { options, cursor } => {
                let n = options.len().max(1);
                match key.code {
                    KeyCode::Left => *cursor = (*cursor + n - 1) % n,
                    KeyCode::Right => *cursor = (*cursor + 1) % n,
                    KeyCode::Char(' ') => {
                        if let Some((_, on)) = options.get_mut(*cursor) {
                            *on = !*on;
                        }
                    }
                    _ => {}
                }
            }
        }
        Handled::Consumed
    }

    pub fn on_paste(&mut self, text: &str) {
        if let Some(b) = self.fields.get_mut(self.focus).and_then(Field::input_box) {
            b.insert_str(&text.replace('\n', " "));
        }
    }

    /// Rows the form wants: a label and a value per field, the hint, the error, the
    /// completion and the key line.
    pub fn height(&self) -> u16 {
        let extra = u16::from(self.error.is_some()) * 2 + u16::from(self.offered.is_some()) * 2;
        self.fields.len() as u16 * 2 + 5 + extra
    }

    /// Rows the form takes when at most `room` are free: all it wants, else one line a
    /// field (with room for a focused list of several that wraps).
    pub fn rows(&self, room: u16) -> u16 {
        if self.height() <= room {
            return self.height();
        }
        let extra = u16::from(self.error.is_some()) * 2 + u16::from(self.offered.is_some()) * 2;
        (self.fields.len() as u16 + 6 + extra).min(room)
    }

    /// Draws the form in `r`: a label line and a value line per field, or, when that
    /// does not fit (80x24), one line per field with the focused field's hint below.
    pub fn draw(&self, frame: &mut Frame, r: Rect, t: &Theme) {
        let block = view::modal_block(t, &self.title);
        let inner = block.inner(r);
        let compact = self.height() > r.height;
        let mut lines = Vec::new();
        let label_w = self
            .fields
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0);
        for (i, f) in self.fields.iter().enumerate() {
            let focused = i == self.focus;
            let style = if focused {
                Style::default().fg(t.heading).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(t.muted)
            };
            if compact {
                let mut spans = vec![Span::styled(format!("{:<label_w$}", f.label), style)];
                spans.extend(value_spans(f, focused, t));
                lines.push(Line::from(spans));
                continue;
            }
            let mut label = vec![Span::styled(f.label.to_string(), style)];
            if focused && !f.hint.is_empty() {
                label.push(Span::styled(
                    format!("  {}", f.hint),
                    Style::default().fg(t.muted),
                ));
            }
            lines.push(Line::from(label));
            lines.push(Line::from(value_spans(f, focused, t)));
        }
        if compact {
            if let Some(f) = self.fields.get(self.focus).filter(|f| !f.hint.is_empty()) {
                lines.push(Line::from(Span::styled(
                    format!("{}: {}", f.label, f.hint),
                    Style::default().fg(t.muted),
                )));
            }
        }
        if let Some(c) = &self.offered {
            let text = match (&c.note, c.candidates.is_empty()) {
                (Some(note), _) => note.clone(),
                (None, false) => c.candidates.join("  "),
                (None, true) => "completed".into(),
            };
            if !compact {
                lines.push(Line::from(""));
            }
            lines.push(Line::from(Span::styled(
                text,
                Style::default().fg(t.accent),
            )));
        }
        if let Some(e) = &self.error {
            if !compact {
                lines.push(Line::from(""));
            }
            lines.push(Line::from(Span::styled(
                e.clone(),
                Style::default().fg(t.error),
            )));
        }
        if !compact {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(Span::styled(
            "↑↓ field · Tab completes a path · ←→ Space choose · Enter save · Esc cancel",
            Style::default().fg(t.muted),
        )));
        frame.render_widget(block, r);
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

/// A field's value as shown: text with a cursor, `‹ option ›`, or `[x] a  [ ] b` (the
/// list starting at the highlighted entry when it would not fit).
fn value_spans(f: &Field, focused: bool, t: &Theme) -> Vec<Span<'static>> {
    let cursor = if focused { "▏" } else { "" };
    match &f.input {
        FieldInput::Text(b) | FieldInput::Path(b) => {
            vec![Span::raw(format!(
                "  {}{cursor}",
                b.text().replace('\n', " ")
            ))]
        }
        FieldInput::OneOf { options, index } => vec![Span::raw(format!(
            "  ‹ {} ›",
            options.get(*index).map(String::as_str).unwrap_or("")
        ))],
        FieldInput::AnyOf { options, cursor } => {
            let mut spans = vec![Span::raw("  ")];
            let marked = options.iter().filter(|(_, on)| *on).count();
            if !focused {
                // Unfocused: what is marked, in short.
                let names: Vec<&str> = options
                    .iter()
                    .filter(|(_, on)| *on)
                    .map(|(o, _)| o.as_str())
                    .collect();
                let text = if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                };
                spans.push(Span::styled(text, Style::default().fg(t.accent)));
                return spans;
            }
            spans.push(Span::styled(
                format!("{marked} marked: "),
                Style::default().fg(t.muted),
            ));
            for (i, (o, on)) in options.iter().enumerate().skip(cursor.saturating_sub(1)) {
                let mark = if *on { "[x]" } else { "[ ]" };
                let style = if i == *cursor {
                    view::selected_style(t)
                } else if *on {
                    Style::default().fg(t.accent)
                } else {
                    Style::default()
                };
                spans.push(Span::styled(format!("{mark} {o}"), style));
                spans.push(Span::raw("  "));
            }
            spans
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn fields_edit_cycle_mark_and_reply() {
        let mut f = FieldForm::new(
            FormKind::NewKnowledgeBase,
            "New",
            vec![
                Field::text("name", "Name", "", ""),
                Field::one_of(
                    "strategy",
                    "Chunking",
                    "",
                    vec!["a".into(), "b".into()],
                    "b",
                ),
                Field::any_of("m", "Metrics", "", vec!["x".into(), "y".into()], &["y"]),
                Field::path("src", "Sources", "", "/tm"),
            ],
        );
        f.on_text_key(key(KeyCode::Char('k')));
        assert_eq!(f.text("name"), "k");
        f.on_action(Action::PickerDown);
        f.on_text_key(key(KeyCode::Right));
        assert_eq!(f.text("strategy"), "a");
        f.on_action(Action::PickerDown);
        f.on_text_key(key(KeyCode::Char(' ')));
        assert_eq!(f.marked("m"), vec!["x", "y"]);
        // Tab on a path asks for a completion; a stale answer is dropped.
        f.on_action(Action::PickerDown);
        let h = f.on_action(Action::FocusNext);
        assert!(matches!(
            h,
            Handled::Effect(Effect::CompletePath { seq: 1, .. })
        ));
        f.on_completion(
            0,
            Completion {
                text: "stale".into(),
                ..Default::default()
            },
        );
        assert_eq!(f.text("src"), "/tm");
        f.on_completion(
            1,
            Completion {
                text: "/tmp/".into(),
                ..Default::default()
            },
        );
        assert_eq!(f.text("src"), "/tmp/");
        // Typed on after Tab: the answer does not overwrite what was typed.
        f.on_action(Action::FocusNext);
        f.on_text_key(key(KeyCode::Char('x')));
        f.on_completion(
            2,
            Completion {
                text: "/tmp/other/".into(),
                ..Default::default()
            },
        );
        assert_eq!(f.text("src"), "/tmp/x");
        assert!(matches!(
            f.on_action(Action::SearchSubmit),
            Handled::Reply(Reply::Fields(_))
        ));
        assert!(matches!(f.on_action(Action::Cancel), Handled::Close));
    }
}
