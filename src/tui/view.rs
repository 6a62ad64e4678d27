//! The widgets screens and layers share: modal boxes, fuzzy lists, pane borders, the
//! selection style. The frame around them is drawn by `App::render`; what a screen or
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
