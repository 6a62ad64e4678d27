//! Markdown to styled terminal lines: CommonMark (plus tables and strikethrough) drawn
//! with the theme, code fences highlighted by syntect scope, prose wrapped by display width.
//!
//! `blocks` walks the markdown and draws each block, `table` lays out tables, `highlight`
//! colours code fences and `wrap` fits styled text to the width.

mod blocks;
mod highlight;
mod table;
mod wrap;

use ratatui::text::Line;

pub use blocks::render;
pub use highlight::Highlighter;
pub use wrap::{display_width, wrap_plain};

/// Markdown rendered to terminal lines.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The styled lines, none wider than the requested width.
    pub lines: Vec<Line<'static>>,
    /// The fenced and indented code blocks, in order.
    pub code_blocks: Vec<CodeBlock>,
}

/// A code block found while rendering (for copy and open actions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    /// The fence's language tag (first word of the info string), or empty.
    pub lang: String,
    /// The code exactly as written inside the fence.
    pub code: String,
    /// Index into `Rendered::lines` of the block's header line; code lines follow it.
    pub first_line: usize,
}

/// Helpers shared by the module's tests.
#[cfg(test)]
mod test_support {
    use std::sync::OnceLock;

    use ratatui::text::Line;

    use super::{display_width, Highlighter};

    /// One highlighter for every test (loading grammars is slow).
    pub(super) fn hl() -> &'static Highlighter {
        static HL: OnceLock<Highlighter> = OnceLock::new();
        HL.get_or_init(Highlighter::new)
    }

    pub(super) fn text_of(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    pub(super) fn line_width(line: &Line<'_>) -> usize {
        line.spans.iter().map(|s| display_width(&s.content)).sum()
    }

    pub(super) fn assert_fits(lines: &[Line<'_>], width: usize) {
        for line in lines {
            assert!(
                line_width(line) <= width && line.width() <= width,
                "line wider than {width}: {:?}",
                text_of(line)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_fits, hl};
    use super::wrap::MIN_WIDTH;
    use super::*;
    use crate::tui::theme::Theme;

    #[test]
    fn never_panics_and_never_overflows() {
        let theme = Theme::default();
        let inputs = [
            "",
            "**unbalanced *markup",
            "[link](",
            "| a |\n|-",
            "| a | b |\n|---|---|\n| 1 |",
            "```",
            "```rust\nfn x(",
            "> > > deep\n> > quote",
            "- a\n  - b\n    - c\n      - d\n        - e\n          - f long nested words here",
            "\u{1b}[31mred\u{1b}[0m\r\n\ttab\u{7}",
            "👨‍👩‍👧‍👦 🇰🇷 é a\u{301} ﾊﾞ",
            "1. \n2.\n\n* \n\n#",
            "<div>\nhtml block\n</div>",
            "footnote[^1]\n\n[^1]: note",
            "![alt](img.png)",
            "- [x] done\n- [ ] todo",
            "> ```\n> 한국어 code\tx\n> ```",
            "- - - ```rust\n      let x = 1;\n      ```",
            "> | a | b |\n> |---|---|\n> | 한 | 😀 |",
        ];
        for md in inputs {
            for width in 0..=12u16 {
                let out = render(md, width, &theme, hl());
                assert_fits(&out.lines, usize::from(width).max(MIN_WIDTH));
            }
        }
    }

    #[test]
    fn random_documents_never_overflow() {
        const PARTS: &[&str] = &[
            "word ",
            "한국어 ",
            "日本語",
            "😀",
            "**",
            "*",
            "~~",
            "`",
            "[",
            "](u)",
            "\n",
            "\n\n",
            "- ",
            "1. ",
            "> ",
            "# ",
            "```py\n",
            "\n```\n",
            "| a | b |\n|---|---|\n| c | d |\n",
            "---\n",
            "\t",
            "  ",
            "averyveryverylongwordwithoutanyspaces",
            "<b>",
            "\\",
        ];
        let theme = Theme::default();
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            usize::try_from(seed >> 33).unwrap_or(0) % n
        };
        for _ in 0..300 {
            let doc: String = (0..next(40)).map(|_| PARTS[next(PARTS.len())]).collect();
            let width = u16::try_from(next(40)).unwrap_or(0);
            let out = render(&doc, width, &theme, hl());
            assert_fits(&out.lines, usize::from(width).max(MIN_WIDTH));
        }
    }
}
