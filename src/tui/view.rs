//! Drawing: `render(&App, &mut Frame)` is pure. The active screen draws its panes, the app
//! draws the status bar, then every layer of the stack is drawn on top, bottom first.
//! What a screen or layer looks like is drawn by that screen or layer; this module holds
//! the frame around them and the widgets they share (modal boxes, fuzzy lists).

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::app::App;
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::theme::Theme;

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let t = &app.cx.theme;
    let area = frame.area();
    frame.render_widget(
        Block::default().style(Style::default().bg(t.bg).fg(t.fg)),
        area,
    );
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "Terminal too small ({}x{}); Strata needs at least {MIN_WIDTH}x{MIN_HEIGHT}.",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(Style::default().fg(t.warning)),
            area,
        );
        return;
    }
    let body = Rect::new(area.x, area.y, area.width, area.height - 1);
    let status = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    let screen = app.screen();
    screen.draw(frame, body, &app.cx);
    draw_status(app, screen.status(&app.cx), frame, status);
    for layer in &app.cx.layers {
        layer.draw(frame, area, &app.cx);
    }
}

/// The status bar: the screen's fields, then the flash note.
fn draw_status(app: &App, parts: Vec<String>, frame: &mut Frame, area: Rect) {
    let t = &app.cx.theme;
    let mut line = parts.join(" │ ");
    if let Some(flash) = &app.cx.flash {
        line = format!("{line} │ {flash}");
    }
    frame.render_widget(
        Paragraph::new(line).style(Style::default().bg(t.status_bg).fg(t.status_fg)),
        area,
    );
}

/// The box the top layer is drawn in, for a screen of `area`; None without a layer.
pub fn modal_rect(app: &App, area: Rect) -> Option<Rect> {
    app.top_layer().map(|l| l.rect(area))
}

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
