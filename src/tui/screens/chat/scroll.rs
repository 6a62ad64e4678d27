//! The conversation's layout and scrolling: laying out messages near the view (the rest
//! estimated), keeping the view put while heights change, following the end, paging.
//! Not responsible for drawing the lines (see `view`).

use super::view::sources_height;
use super::*;

impl ChatScreen {
    /// Brings the message views up to date for what is on screen and near it: messages
    /// whose text, status or width changed are laid out again only there (and the answer
    /// streaming, wherever it is); the others keep an estimated height until they scroll
    /// into view. An answer that grew is laid out again only from its last finished block
    /// on. The line at the top of the view stays put while heights above it change.
    pub fn refresh_views(&mut self, cx: &mut Shared) {
        let width = self.chat_width();
        let anchor = (!self.follow).then(|| self.anchor());
        let streaming = self.streaming.as_ref().map(|s| s.message);
        self.views.truncate(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let key = (content_hash(&m.content), m.content.len(), m.status, width);
            match self.views.get_mut(i) {
                Some(v) if v.id == m.id && v.key == key => {}
                Some(v) if v.id == m.id => {
                    v.key = key;
                    v.fresh = false;
                    // The answer streaming is laid out below anyway: no estimate for it.
                    if streaming != Some(m.id) {
                        v.height = estimate_height(&m.content, width);
                    }
                }
                other => {
                    let view = MessageView {
                        id: m.id,
                        rendered: Rendered::default(),
                        height: estimate_height(&m.content, width),
                        fresh: false,
                        key,
                        incremental: Incremental::default(),
                    };
                    match other {
                        Some(v) => *v = view,
                        None => self.views.push(view),
                    }
                }
            }
        }
        if let Some(i) = streaming.and_then(|id| self.messages.iter().rposition(|m| m.id == id)) {
            self.lay_out(cx, i, width);
        }
        // Lay out the window (a page above and below the view); laying out changes heights,
        // which moves the window: repeat until it holds only laid-out messages.
        for round in 0..9 {
            let total = self.total_lines();
            let rows = self.chat_rows();
            let max = total.saturating_sub(rows);
            match anchor {
                Some((i, within)) => self.scroll = (self.offset_of(i) + within).min(max),
                None => self.follow_to(max, rows),
            }
            if round == 8 {
                break;
            }
            let stale = self.stale_in(
                self.scroll.saturating_sub(rows),
                self.scroll + 2 * rows,
                total,
            );
            if stale.is_empty() {
                break;
            }
            for i in stale {
                self.lay_out(cx, i, width);
            }
        }
    }

    /// Messages not laid out that have a line in `[from, to)`; `total` is the line count.
    /// Scans from the nearer end (following the bottom is the common case).
    pub(super) fn stale_in(&self, from: usize, to: usize, total: usize) -> Vec<usize> {
        let mut stale = Vec::new();
        if from > total / 2 {
            let mut end = total;
            for i in (0..self.views.len()).rev() {
                let start = end.saturating_sub(self.message_height(i));
                if start >= to {
                    end = start;
                    continue;
                }
                if end <= from {
                    break;
                }
                if !self.views[i].fresh {
                    stale.push(i);
                }
                end = start;
            }
        } else {
            let mut offset = 0;
            for i in 0..self.views.len() {
                if offset >= to {
                    break;
                }
                let h = self.message_height(i);
                if offset + h > from && !self.views[i].fresh {
                    stale.push(i);
                }
                offset += h;
            }
        }
        stale
    }

    /// Lays out message `i` for `width` (incrementally for an answer that grew).
    pub(super) fn lay_out(&mut self, cx: &Shared, i: usize, width: u16) {
        let (Some(m), Some(v)) = (self.messages.get(i), self.views.get_mut(i)) else {
            return;
        };
        if v.fresh {
            return;
        }
        match m.role {
            Role::Assistant => v.incremental.refresh(
                &mut v.rendered,
                &m.content,
                width,
                &cx.theme,
                &cx.highlighter,
            ),
            _ => {
                v.rendered = Rendered {
                    lines: markdown::wrap_plain(
                        &m.content,
                        width,
                        ratatui::style::Style::default().fg(cx.theme.fg),
                    ),
                    code_blocks: Vec::new(),
                }
            }
        }
        v.height = v.rendered.lines.len();
        v.fresh = true;
    }

    /// The message holding the top line of the view, and how far into it that line is.
    pub(super) fn anchor(&self) -> (usize, usize) {
        let mut offset = 0;
        for i in 0..self.views.len() {
            let h = self.message_height(i);
            if offset + h > self.scroll {
                return (i, self.scroll - offset);
            }
            offset += h;
        }
        (self.views.len(), self.scroll.saturating_sub(offset))
    }

    /// The first line of message `i`.
    pub(super) fn offset_of(&self, i: usize) -> usize {
        (0..i.min(self.views.len()))
            .map(|j| self.message_height(j))
            .sum()
    }

    /// Keeps the newest line in view (`max` is the last scroll position, `rows` the pane
    /// height). While an answer streams, the view jumps a third of a page at a time
    /// instead of one line per new line: every jump rewrites the whole pane, which is
    /// what a slow SSH link pays for.
    pub(super) fn follow_to(&mut self, max: usize, rows: usize) {
        if self.streaming.is_none() {
            self.scroll = max;
        } else {
            // Jump when the newest line left the view, or when the view overshoots by a
            // whole step (the answer shrank: regenerate, a resize, a session switch).
            let step = (rows / 3).max(1);
            if self.scroll < max || self.scroll >= max + step {
                self.scroll = max + step - 1;
            }
        }
    }

    /// Height in lines of message `i` (header, body, blank line); estimated for a message
    /// not laid out yet.
    pub fn message_height(&self, i: usize) -> usize {
        let footer = self.messages.get(i).map_or(0, sources_height);
        self.views.get(i).map_or(0, |v| v.height + 2 + footer)
    }

    /// Messages laid out for the current width (the others have estimated heights).
    pub fn laid_out(&self) -> usize {
        self.views.iter().filter(|v| v.fresh).count()
    }

    pub fn total_lines(&self) -> usize {
        (0..self.views.len()).map(|i| self.message_height(i)).sum()
    }

    pub(super) fn chat_rows(&self) -> usize {
        usize::from(self.areas().chat.height.saturating_sub(2))
    }

    pub(super) fn max_scroll(&self) -> usize {
        self.total_lines().saturating_sub(self.chat_rows())
    }

    pub(super) fn scroll_to_bottom(&mut self) {
        self.scroll = self.max_scroll();
    }

    pub(super) fn scroll_by(&mut self, delta: isize) {
        // Start from the real end: while streaming the view may sit past it.
        let target = self
            .scroll
            .min(self.max_scroll())
            .saturating_add_signed(delta)
            .min(self.max_scroll());
        self.scroll = target;
        self.follow = self.scroll >= self.max_scroll();
    }

    pub(super) fn scroll_to_message(&mut self, i: usize) {
        let offset: usize = (0..i).map(|j| self.message_height(j)).sum();
        self.scroll = offset.min(self.max_scroll());
        self.follow = self.scroll >= self.max_scroll();
    }
}

/// A cheap guess at the laid-out height of `text` at `width`: its lines, wrapped by
/// character count (markdown, code fences and wide characters make it inexact; the real
/// height replaces it when the message comes into view).
pub(super) fn estimate_height(text: &str, width: u16) -> usize {
    let width = usize::from(width.max(1));
    text.split('\n')
        .map(|line| line.chars().count().div_ceil(width).max(1))
        .sum()
}
