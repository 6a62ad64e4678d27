//! Drawing: `render(&App, &mut Frame)` is pure. Panes (sidebar, chat, input, status bar)
//! then the modal layer on top. Only the visible messages are laid out per frame.

use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Focus, Modal};
use super::keymap::{Action, Context};
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use crate::runtime::types::Role;
use crate::sessions::MessageStatus;

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let t = &app.theme;
    let area = frame.area();
    frame.render_widget(
        Block::default().style(Style::default().bg(t.bg).fg(t.fg)),
        area,
    );
    let areas = app.areas();
    if areas.too_small {
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
    if areas.sidebar.width > 0 {
        draw_sidebar(app, frame, areas.sidebar);
    }
    draw_chat(app, frame, areas.chat);
    draw_input(app, frame, areas.input);
    draw_status(app, frame, areas.status);
    if let Some(modal) = &app.modal {
        draw_modal(app, modal, frame, area);
    }
}

fn pane(app: &App, title: String, focused: bool) -> Block<'static> {
    let t = &app.theme;
    Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(Style::default().fg(if focused { t.border_focused } else { t.border }))
        .title_style(Style::default().fg(if focused { t.accent } else { t.muted }))
}

fn draw_sidebar(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let title = match &app.session_filter {
        Some(q) => format!(" Sessions /{q} "),
        None => " Sessions ".to_string(),
    };
    let items: Vec<ListItem> = app
        .sidebar_items()
        .iter()
        .map(|s| {
            let style = if s.id == app.session.id {
                Style::default().fg(t.accent).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(t.fg)
            };
            ListItem::new(Line::from(Span::styled(s.title.clone(), style)))
        })
        .collect();
    let mut state = ListState::default();
    state.select(Some(app.sidebar_selected));
    let list = List::new(items)
        .block(pane(app, title, app.focus == Focus::Sidebar))
        .highlight_style(Style::default().bg(t.selection_bg))
        .highlight_symbol("▌");
    frame.render_stateful_widget(list, area, &mut state);
}

fn message_header(app: &App, i: usize) -> Line<'static> {
    let t = &app.theme;
    let m = &app.messages[i];
    let (who, colour) = match m.role {
        Role::User => ("You".to_string(), t.user),
        Role::Assistant => (
            m.model.clone().unwrap_or_else(|| "Assistant".into()),
            t.assistant,
        ),
        Role::System => ("System".to_string(), t.system),
        Role::Tool => ("Tool".to_string(), t.system),
    };
    let selected = app.selected_message == Some(i);
    let mut style = Style::default().fg(colour).add_modifier(Modifier::BOLD);
    if selected {
        style = style.bg(t.selection_bg);
    }
    let mut spans = vec![Span::styled(
        format!("{}{who}", if selected { "▶ " } else { "" }),
        style,
    )];
    let streaming = app.streaming.as_ref().is_some_and(|s| s.message == m.id);
    let note = match (streaming, m.status) {
        (true, _) => Some(("  generating…".to_string(), t.accent)),
        (false, MessageStatus::Cancelled) => Some(("  [cancelled]".to_string(), t.warning)),
        (false, MessageStatus::Incomplete) if m.role == Role::Assistant => {
            Some(("  [incomplete]".to_string(), t.warning))
        }
        (false, MessageStatus::Interrupted) => Some((
            "  [interrupted: the program ended while it was written]".to_string(),
            t.warning,
        )),
        (false, MessageStatus::Blocked) => {
            Some(("  [blocked by a guardrail]".to_string(), t.error))
        }
        (false, MessageStatus::Error) => Some(("  [error]".to_string(), t.error)),
        _ => None,
    };
    if let Some((text, colour)) = note {
        spans.push(Span::styled(text, Style::default().fg(colour)));
    }
    if let (Some(u), Some(ms)) = (m.usage, m.latency_ms) {
        spans.push(Span::styled(
            format!("  {} tok · {:.1}s", u.output_tokens, ms / 1000.0),
            Style::default().fg(t.muted),
        ));
    }
    Line::from(spans)
}

fn draw_chat(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let title = format!(" {} · {} ", app.session.title, app.session.agent.model);
    let block = pane(app, title, app.focus == Focus::Chat);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.messages.is_empty() {
        let hint = format!(
            "Type a question below and press Enter.  {} for help.",
            app.keys
                .keymap()
                .keys_for(Context::Global, Action::Help)
                .join("/")
        );
        frame.render_widget(
            Paragraph::new(hint).style(Style::default().fg(t.muted)),
            inner,
        );
        return;
    }
    // Collect only the lines that fall in the window [scroll, scroll + height).
    let rows = usize::from(inner.height);
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    let mut offset = 0usize;
    for i in 0..app.messages.len() {
        let h = app.message_height(i);
        if offset + h <= app.scroll {
            offset += h;
            continue;
        }
        if offset >= app.scroll + rows {
            break;
        }
        let view = &app.views[i];
        let mut all = Vec::with_capacity(h);
        all.push(message_header(app, i));
        if app.messages[i].status == MessageStatus::Error {
            all.extend(
                view.rendered
                    .lines
                    .iter()
                    .map(|l| l.clone().style(Style::default().fg(t.error))),
            );
        } else {
            all.extend(view.rendered.lines.iter().cloned());
        }
        all.push(Line::default());
        let skip = app.scroll.saturating_sub(offset);
        lines.extend(all.into_iter().skip(skip).take(rows - lines.len()));
        offset += h;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_input(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let focused = app.focus == Focus::Input && app.modal.is_none();
    let hint = if app.streaming.is_some() {
        " Esc cancels "
    } else {
        " Enter send · Ctrl-J newline "
    };
    let block = pane(app, format!(" Message{hint}"), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (rows, (cy, cx)) = app.input.layout(inner.width);
    let first = usize::from(cy).saturating_sub(usize::from(inner.height).saturating_sub(1));
    let text: Vec<Line> = rows
        .into_iter()
        .skip(first)
        .take(usize::from(inner.height))
        .map(|r| Line::from(Span::styled(r, Style::default().fg(t.fg))))
        .collect();
    frame.render_widget(Paragraph::new(text), inner);
    if focused {
        let y = inner.y + cy.saturating_sub(first as u16);
        frame.set_cursor_position((
            inner.x + cx.min(inner.width.saturating_sub(1)),
            y.min(inner.bottom().saturating_sub(1)),
        ));
    }
}

fn draw_status(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let (tokens, cost) = app.session_usage();
    let mut parts = vec![
        format!(" {} ", app.session.agent.model),
        format!("{tokens} tok"),
        format!("${cost:.4}"),
    ];
    if let Some(ms) = app.last_latency() {
        parts.push(format!("last {:.1}s", ms / 1000.0));
    }
    parts.push("guardrail: off".into());
    if let Some(p) = &app.pull {
        let pct = p.total.filter(|t| *t > 0).map(|t| p.done * 100 / t);
        parts.push(match pct {
            Some(pct) => format!("pulling {} {pct}% {}", p.model, gauge(pct)),
            None => format!("pulling {} {} MB", p.model, p.done / 1_000_000),
        });
    }
    if let Some(s) = &app.streaming {
        parts.push(format!(
            "generating {:.0}s",
            s.started.elapsed().as_secs_f64()
        ));
    }
    let mut line = parts.join(" │ ");
    if let Some(flash) = &app.flash {
        line = format!("{line} │ {flash}");
    }
    frame.render_widget(
        Paragraph::new(line).style(Style::default().bg(t.status_bg).fg(t.status_fg)),
        area,
    );
}

fn gauge(pct: u64) -> String {
    let filled = (pct.min(100) / 10) as usize;
    format!("[{}{}]", "█".repeat(filled), "·".repeat(10 - filled))
}

/// The screen above the status bar, where modals go.
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

/// The box the current modal is drawn in, for a screen of `area`; None without a modal.
pub fn modal_rect(app: &App, area: Rect) -> Option<Rect> {
    let body = body(area);
    let r = match app.modal.as_ref()? {
        Modal::ConfirmQuit | Modal::ConfirmDelete { .. } => centred(body, 50, 3),
        Modal::Help(_) => centred(body, 70, body.height.saturating_sub(4)),
        Modal::Prompt(..) => centred(body, 70, 3),
        Modal::Picker(_) | Modal::Palette(_) => centred(body, 90, body.height.saturating_sub(4)),
    };
    Some(r)
}

/// What is blanked under a modal drawn in `r`: the box plus a one-cell margin, so no
/// piece of a pane border touches the modal's edge. A modal that leaves at most one
/// column of the panes on a side blanks the whole screen above the status bar instead:
/// those lone columns would show only fragments of borders (stray corners).
pub fn modal_clear_area(r: Rect, area: Rect) -> Rect {
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

fn draw_modal(app: &App, modal: &Modal, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let Some(r) = modal_rect(app, area) else {
        return;
    };
    let blank = modal_clear_area(r, area);
    frame.render_widget(Clear, blank);
    frame.render_widget(Block::default().style(Style::default().bg(t.bg)), blank);
    let boxed = |title: &str| modal_block(app, title);
    match modal {
        Modal::ConfirmQuit | Modal::ConfirmDelete { .. } => {
            let text = match modal {
                Modal::ConfirmDelete { title, .. } => {
                    format!("Delete “{title}” and all its messages?  y / n")
                }
                _ => "Quit Strata?  y / n".to_string(),
            };
            frame.render_widget(
                Paragraph::new(text)
                    .alignment(Alignment::Center)
                    .block(boxed("Confirm")),
                r,
            );
        }
        Modal::Help(scroll) => {
            let mut lines = Vec::new();
            for ctx in [
                Context::Global,
                Context::Chat,
                Context::Input,
                Context::Sidebar,
            ] {
                lines.push(Line::from(Span::styled(
                    format!("{ctx:?}"),
                    Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
                )));
                for (keys, desc) in app.keys.keymap().help(ctx) {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {keys:<18}"), Style::default().fg(t.accent)),
                        Span::raw(desc),
                    ]));
                }
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .scroll((*scroll, 0))
                    .block(boxed("Keys (j/k scroll, Esc closes)")),
                r,
            );
        }
        Modal::Prompt(kind, input) => {
            let block = boxed(kind.title());
            let inner = block.inner(r);
            frame.render_widget(
                Paragraph::new(input.text().replace('\n', " ")).block(block),
                r,
            );
            let (_, (_, cx)) = input.layout(u16::MAX);
            frame.set_cursor_position((inner.x + cx.min(inner.width.saturating_sub(1)), inner.y));
        }
        Modal::Picker(p) => {
            let title = format!("Model: {}▏", p.query.text());
            let items: Vec<ListItem> = p
                .matches
                .iter()
                .filter_map(|&i| app.catalog.get(i))
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
            fuzzy_list(app, frame, r, &title, items, p.selected);
        }
        Modal::Palette(palette) => super::palette::draw(app, palette, frame, r),
    }
}

/// The box every modal is drawn in: accent border, title, the theme's colours.
fn modal_block(app: &App, title: &str) -> Block<'static> {
    let t = &app.theme;
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .border_style(Style::default().fg(t.accent))
        .style(Style::default().bg(t.bg).fg(t.fg))
}

/// A fuzzy-filtered list in a modal box (the model picker, the command palette).
pub fn fuzzy_list(
    app: &App,
    frame: &mut Frame,
    r: Rect,
    title: &str,
    items: Vec<ListItem>,
    selected: usize,
) {
    let t = &app.theme;
    let mut state = ListState::default();
    state.select(Some(selected));
    let list = List::new(items)
        .block(modal_block(app, title))
        .highlight_style(
            Style::default()
                .bg(t.selection_bg)
                .add_modifier(Modifier::BOLD),
        );
    frame.render_stateful_widget(list, r, &mut state);
}
