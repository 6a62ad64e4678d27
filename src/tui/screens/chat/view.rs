//! Drawing the chat screen's conversation: message headers, the visible messages, their
//! sources, the pane boxes. Not responsible for layout (see `scroll`) or the sidebar and
//! input box (they draw themselves).

use super::*;

/// A pane's box: border and title in the focused or unfocused colours.
pub(super) fn pane(cx: &Shared, title: String, focused: bool) -> Block<'static> {
    let t = &cx.theme;
    Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(Style::default().fg(if focused { t.border_focused } else { t.border }))
        .title_style(Style::default().fg(if focused { t.accent } else { t.muted }))
}

/// Drawing the panes: sidebar, conversation (only the visible messages), input box.
impl ChatScreen {
    pub(super) fn message_header(&self, cx: &Shared, i: usize) -> Line<'static> {
        let t = &cx.theme;
        let Some(m) = self.messages.get(i) else {
            return Line::default();
        };
        let (who, colour) = match m.role {
            Role::User => ("You".to_string(), t.user),
            Role::Assistant => (
                m.model.clone().unwrap_or_else(|| "Assistant".into()),
                t.assistant,
            ),
            Role::System => ("System".to_string(), t.system),
            Role::Tool => ("Tool".to_string(), t.system),
        };
        let selected = self.selected_message == Some(i);
        let mut style = Style::default().fg(colour).add_modifier(Modifier::BOLD);
        if selected {
            style = style.bg(t.selection_bg);
        }
        let mut spans = vec![Span::styled(
            format!("{}{who}", if selected { "▶ " } else { "" }),
            style,
        )];
        let streaming = self.streaming.as_ref().is_some_and(|s| s.message == m.id);
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
            (false, MessageStatus::Blocked) => Some((
                match &m.note {
                    Some(note) => format!("  [blocked: {note}]"),
                    None => "  [blocked by a guardrail]".to_string(),
                },
                t.error,
            )),
            (false, MessageStatus::AwaitingReview) => Some((
                format!(
                    "  [awaiting review{}: A approve · D reject]",
                    m.note
                        .as_ref()
                        .map(|n| format!(" — {n}"))
                        .unwrap_or_default()
                ),
                t.warning,
            )),
            (false, MessageStatus::Rejected) => {
                Some(("  [rejected in review]".to_string(), t.error))
            }
            (false, MessageStatus::AwaitingApproval) => Some((
                format!(
                    "  [waiting for your approval{}: A decides · T opens the run]",
                    m.note
                        .as_ref()
                        .map(|n| format!(" — {n}"))
                        .unwrap_or_default()
                ),
                t.warning,
            )),
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

    pub(super) fn draw_chat(&self, cx: &Shared, frame: &mut Frame, area: Rect) {
        let t = &cx.theme;
        let title = format!(" {} · {} ", self.session.title, self.session.agent.model);
        let block = pane(cx, title, self.focus == Focus::Chat);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if self.messages.is_empty() {
            let hint = format!(
                "Type a question below and press Enter.  {} for help.",
                cx.keys
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
        for (i, (m, view)) in self.messages.iter().zip(&self.views).enumerate() {
            let h = self.message_height(i);
            if offset + h <= self.scroll {
                offset += h;
                continue;
            }
            if offset >= self.scroll + rows {
                break;
            }
            let mut all = Vec::with_capacity(h);
            all.push(self.message_header(cx, i));
            // A message not laid out yet (only before the next refresh) shows as blank
            // lines of its estimated height, so the lines below stay where they belong.
            let body = view
                .rendered
                .lines
                .iter()
                .take(if view.fresh { usize::MAX } else { 0 });
            if m.status == MessageStatus::Error {
                all.extend(body.map(|l| l.clone().style(Style::default().fg(t.error))));
            } else if m.status == MessageStatus::Rejected {
                all.extend(body.map(|l| l.clone().style(Style::default().fg(t.muted))));
            } else {
                all.extend(body.map(|l| guard_panel::mark_masked(l.clone(), t)));
            }
            let footer = sources_lines(m, t);
            all.resize(h - 1 - footer.len(), Line::default());
            all.extend(footer);
            all.push(Line::default());
            let skip = self.scroll.saturating_sub(offset);
            lines.extend(all.into_iter().skip(skip).take(rows - lines.len()));
            offset += h;
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// Lines under an answer grounded in knowledge bases: one per retrieved passage, the
/// cited ones bright (`o` opens them in context).
pub(super) fn sources_height(m: &ChatMessage) -> usize {
    if m.sources.is_empty() {
        0
    } else {
        1 + m.sources.len()
    }
}

pub(super) fn sources_lines(m: &ChatMessage, t: &crate::tui::theme::Theme) -> Vec<Line<'static>> {
    if m.sources.is_empty() {
        return Vec::new();
    }
    let cited = m.sources.iter().filter(|s| s.cited).count();
    let dropped = if m.dropped_citations.is_empty() {
        String::new()
    } else {
        format!(" · dropped {:?} (no such source)", m.dropped_citations)
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("Sources ({cited} cited{dropped}) · o opens"),
        Style::default().fg(t.muted).add_modifier(Modifier::BOLD),
    ))];
    for s in &m.sources {
        let file = crate::knowledge::cite::short_name(&s.file);
        let mark = match (s.cited, s.inferred) {
            (true, false) => "✓",
            (true, true) => "≈",
            _ => " ",
        };
        let style = if s.cited {
            Style::default().fg(t.accent)
        } else {
            Style::default().fg(t.muted)
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} [{}] ", s.number), style),
            Span::styled(format!("{file}:{}-{} ", s.line_start, s.line_end), style),
            Span::styled(s.label(), Style::default().fg(t.muted)),
        ]));
    }
    lines
}

pub(super) fn gauge(pct: u64) -> String {
    let filled = (pct.min(100) / 10) as usize;
    format!("[{}{}]", "█".repeat(filled), "·".repeat(10 - filled))
}
