//! Screen geometry: where the sidebar, chat, input box and status bar go for a terminal
//! size, and how the layout degrades on small screens. Shared by `update` and `render`.

use ratatui::layout::Rect;

use super::input::InputBox;

/// Below this the UI says the terminal is too small instead of drawing.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;
/// From this width the sidebar is always shown.
pub const SIDEBAR_FROM: u16 = 80;

/// The panes' rectangles (zero-sized when hidden).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub too_small: bool,
    pub sidebar: Rect,
    pub chat: Rect,
    pub input: Rect,
    pub status: Rect,
    /// The guardrail panel beside the chat (zero-sized when hidden).
    pub panel: Rect,
}

impl Areas {
    /// Takes `width` columns off the right of the chat for a side panel.
    pub fn with_panel(mut self, width: u16) -> Areas {
        if self.too_small || width == 0 || self.chat.width < width + 20 {
            return self;
        }
        self.chat.width -= width;
        self.panel = Rect::new(
            self.chat.x + self.chat.width,
            self.chat.y,
            width,
            self.chat.height,
        );
        self
    }
}

fn sidebar_width(width: u16, sidebar_focused: bool) -> u16 {
    if width >= 120 {
        28
    } else if width >= SIDEBAR_FROM {
        22
    } else if sidebar_focused {
        // On narrow screens the sidebar shows only while it has focus.
        width.min(30)
    } else {
        0
    }
}

/// Inner width of the input box (inside its borders).
pub fn input_inner_width(width: u16, sidebar_focused: bool) -> u16 {
    width
        .saturating_sub(sidebar_width(width, sidebar_focused))
        .saturating_sub(2)
        .max(2)
}

/// Lays out the screen.
pub fn areas(
    width: u16,
    height: u16,
    sidebar_focused: bool,
    _input: &InputBox,
    input_rows: u16,
) -> Areas {
    let zero = Rect::default();
    if width < MIN_WIDTH || height < MIN_HEIGHT {
        return Areas {
            too_small: true,
            sidebar: zero,
            chat: zero,
            input: zero,
            status: zero,
            panel: zero,
        };
    }
    let side = sidebar_width(width, sidebar_focused);
    let status = Rect::new(0, height - 1, width, 1);
    let body_h = height - 1;
    let main_x = side;
    let main_w = width - side;
    let input_h = (input_rows + 2).min(body_h / 2);
    let chat_h = body_h - input_h;
    Areas {
        too_small: false,
        sidebar: Rect::new(0, 0, side, body_h),
        chat: Rect::new(main_x, 0, main_w, chat_h),
        input: Rect::new(main_x, chat_h, main_w, input_h),
        status,
        panel: zero,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_tile_the_screen_at_every_size() {
        for (w, h) in [(60, 20), (80, 24), (120, 40), (200, 60)] {
            let a = areas(w, h, false, &InputBox::default(), 1);
            assert!(!a.too_small);
            assert_eq!(a.chat.width + a.sidebar.width, w, "{w}x{h}");
            assert_eq!(a.chat.height + a.input.height + a.status.height, h);
            assert_eq!(a.sidebar.width == 0, w < SIDEBAR_FROM);
        }
        assert!(areas(30, 8, false, &InputBox::default(), 1).too_small);
        let narrow = areas(60, 20, true, &InputBox::default(), 1);
        assert!(
            narrow.sidebar.width > 0,
            "a focused sidebar shows on small screens"
        );
    }
}
