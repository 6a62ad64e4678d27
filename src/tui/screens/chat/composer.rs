//! The chat screen's input box: the text being typed, the history of sent inputs and
//! recalling them, and drawing the box with its cursor. Sending, and what the keys do,
//! are the screen's business.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::super::Shared;
use crate::tui::input::InputBox;

/// The input box's state.
#[derive(Debug, Default)]
pub struct Composer {
    pub input: InputBox,
    /// Inputs sent in this session, oldest first.
    pub history: Vec<String>,
    /// Which history entry is recalled, if any.
    pub history_pos: Option<usize>,
    /// The input being typed before history recall started.
    pub history_stash: String,
}

impl Composer {
    /// Recalls an earlier (`dir` < 0) or later input; past the newest, what was being
    /// typed comes back.
    pub fn recall(&mut self, dir: isize) {
        if self.history.is_empty() {
            return;
        }
        if self.history_pos.is_none() {
            if dir > 0 {
                return;
            }
            // Keep what was being typed; Down past the newest entry brings it back.
            self.history_stash = self.input.text().to_string();
        }
        let last = self.history.len() - 1;
        let pos = match (self.history_pos, dir < 0) {
            (None, true) => Some(last),
            (None, false) => None,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p >= last => None,
            (Some(p), false) => Some(p + 1),
        };
        self.history_pos = pos;
        match pos {
            Some(p) => self.input.set(&self.history[p]),
            None => {
                let stash = std::mem::take(&mut self.history_stash);
                self.input.set(&stash);
            }
        }
    }

    /// Draws the box; the cursor shows when it has the keyboard.
    pub fn draw(&self, cx: &Shared, frame: &mut Frame, area: Rect, focused: bool, streaming: bool) {
        let t = &cx.theme;
        let hint = if streaming {
            " Esc cancels "
        } else {
            " Enter send · Ctrl-J newline "
        };
        let block = super::pane(cx, format!(" Message{hint}"), focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let (rows, (cy, cx_)) = self.input.layout(inner.width);
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
                inner.x + cx_.min(inner.width.saturating_sub(1)),
                y.min(inner.bottom().saturating_sub(1)),
            ));
        }
    }
}
