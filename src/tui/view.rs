//! The widgets screens and layers share: modal boxes, fuzzy lists, pane borders, the
//! selection style, an empty pane's hint wrapped to fit. The frame around them is drawn by `App::render`; what a screen or
//! layer looks like is drawn by that screen or layer, not here.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};
use ratatui::Frame;

use super::theme::Theme;

/// The box every modal is drawn in: accent border, title, the theme's colours.
pub fn modal_block(t: &Theme, title: &str) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .border_style(Style::default().fg(t.accent))
        .style(Style::default().bg(t.bg).fg(t.fg))
}

/// A fuzzy-filtered list in a modal box (the model picker, the command palette).
pub fn fuzzy_list(
    t: &Theme,
    frame: &mut Frame,
    r: Rect,
    title: &str,
    items: Vec<ListItem>,
    selected: usize,
) {
    let mut state = ListState::default();
    state.select(Some(selected));
    let list = List::new(items)
        .block(modal_block(t, title))
        .highlight_style(selected_style(t));
    frame.render_stateful_widget(list, r, &mut state);
}

/// A screen pane: a bordered block with a title, its border bright when it has the keys.
pub fn pane_block(t: &Theme, title: String, focused: bool) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(Style::default().fg(if focused { t.border_focused } else { t.border }))
}

/// The highlighted row of a list.
pub fn selected_style(t: &Theme) -> Style {
    Style::default()
        .bg(t.selection_bg)
        .add_modifier(Modifier::BOLD)
}

/// A model id without its provider (`local/smollm2-135m` → `smollm2-135m`), where space
/// is short.
pub fn short_model(model: &str) -> &str {
    model.rsplit('/').next().unwrap_or(model)
}

/// An empty pane's hint (or its error) as muted lines wrapped at word boundaries to
/// `width` columns, so nothing is cut at the pane's edge; a word longer than the width
/// is cut to it.
pub fn hint_lines(t: &Theme, text: &str, width: u16) -> Vec<ratatui::text::Line<'static>> {
    wrapped_lines(text, width, Style::default().fg(t.muted))
}

/// `text` word-wrapped to `width` in `style` (each of its lines a paragraph; a word
/// longer than the width is clipped).
pub fn wrapped_lines(text: &str, width: u16, style: Style) -> Vec<ratatui::text::Line<'static>> {
    use unicode_width::UnicodeWidthStr;
    let width = usize::from(width.max(1));
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let word: String = if word.width() > width {
                crate::eval::clip(word, width)
            } else {
                word.to_string()
            };
            if !line.is_empty() && line.width() + 1 + word.width() > width {
                lines.push(ratatui::text::Line::styled(
                    std::mem::take(&mut line),
                    style,
                ));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        lines.push(ratatui::text::Line::styled(line, style));
    }
    lines
}

/// A text that did not check, as a pane shows it: the error wrapped to `width`, the line
/// it names (`line` of `text`, when not 0) with its number, then `hint`.
pub fn error_at_line(
    t: &Theme,
    error: &str,
    text: &str,
    line: usize,
    hint: &str,
    width: u16,
) -> Vec<ratatui::text::Line<'static>> {
    use ratatui::text::{Line, Span};
    let mut lines = wrapped_lines(error, width, Style::default().fg(t.error));
    if let Some(shown) = text
        .lines()
        .nth(line.saturating_sub(1))
        .filter(|_| line > 0)
    {
        lines.push(Line::from(vec![
            Span::styled(format!("{line:>4} │ "), Style::default().fg(t.muted)),
            Span::styled(shown.to_string(), Style::default().fg(t.warning)),
        ]));
    }
    lines.extend(hint_lines(t, hint, width));
    lines
}
