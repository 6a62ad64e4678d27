//! Wrapping by display width: styled text to lines of grapheme cells no wider than a width
//! (words whole, CJK between characters, code hard-wrapped). Not responsible for markdown syntax.

use std::mem;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Widths below this are treated as this (a wide character needs two cells).
pub(super) const MIN_WIDTH: usize = 4;
/// Tab stops inside code blocks.
const TAB_WIDTH: usize = 4;
/// Drawn in place of control characters and graphemes too wide for the line.
const REPLACEMENT: &str = "\u{FFFD}";

/// A styled run of text waiting to be wrapped.
pub(super) type Frag = (String, Style);

/// The number of terminal cells `s` occupies (as ratatui draws it, grapheme by grapheme).
pub fn display_width(s: &str) -> usize {
    s.graphemes(true).map(grapheme_width).sum()
}

/// The cells one grapheme occupies; control characters count as zero (ratatui drops them).
fn grapheme_width(g: &str) -> usize {
    if g.contains(char::is_control) {
        return 0;
    }
    let sound_marks = g
        .chars()
        .filter(|c| matches!(c, '\u{FF9E}' | '\u{FF9F}'))
        .count();
    UnicodeWidthStr::width(g) + sound_marks
}

/// Wraps plain text to `width` cells: words move whole to the next line, words longer
/// than a line break at grapheme boundaries, `\n` starts a new line.
///
/// Leading indentation of each input line is kept when it fits beside the first word;
/// widths below 4 are treated as 4.
pub fn wrap_plain(text: &str, width: u16, style: Style) -> Vec<Line<'static>> {
    let width = usize::from(width).max(MIN_WIDTH);
    wrap_spans(&[(text.to_string(), style)], width)
        .into_iter()
        .map(Line::from)
        .collect()
}

/// One grapheme placed on a line.
#[derive(Debug, Clone)]
pub(super) struct Cell {
    /// The grapheme as drawn (U+FFFD for controls and graphemes too wide).
    pub(super) sym: String,
    style: Style,
    width: usize,
}

impl Cell {
    fn new(sym: &str, style: Style, width: usize) -> Cell {
        Cell {
            sym: sym.to_string(),
            style,
            width,
        }
    }
}

/// `n` one-cell spaces in `style`.
pub(super) fn spaces(n: usize, style: Style) -> impl Iterator<Item = Cell> {
    (0..n).map(move |_| Cell::new(" ", style, 1))
}

/// A unit of wrapping: a hard break, a run of spaces, or an unbreakable piece.
enum Tok {
    Break,
    Space(Vec<Cell>),
    Piece(Vec<Cell>),
}

/// The printable form of a grapheme within a line of `width` cells: control
/// characters and graphemes wider than the line become U+FFFD.
fn visible(g: &str, width: usize) -> (&str, usize) {
    let w = grapheme_width(g);
    if g.contains(char::is_control) || w > width {
        (REPLACEMENT, 1)
    } else {
        (g, w)
    }
}

/// Whitespace that may be broken at (not the non-breaking spaces).
fn is_break_space(g: &str) -> bool {
    g.chars()
        .all(|c| c.is_whitespace() && !matches!(c, '\u{A0}' | '\u{2007}' | '\u{202F}'))
}

/// Hangul, which separates words with spaces, so is wrapped by word like Latin text.
fn is_hangul(g: &str) -> bool {
    g.chars().next().is_some_and(|c| {
        matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
    })
}

/// Punctuation that must not start a line.
fn closes(g: &str) -> bool {
    g.chars()
        .next()
        .is_some_and(|c| ".,!?;:)]}%'\"’”…、。，．！？：；）」』】〉》〕".contains(c))
}

/// Punctuation that must not end a line.
fn opens(g: &str) -> bool {
    g.chars()
        .next()
        .is_some_and(|c| "([{'\"‘“（「『【〈《〔".contains(c))
}

/// Splits styled text into wrapping tokens; wide (CJK) graphemes may break anywhere.
#[derive(Default)]
struct Tokenizer {
    toks: Vec<Tok>,
    piece: Vec<Cell>,
    space: Vec<Cell>,
    prev_wide: bool,
    prev_opens: bool,
}

impl Tokenizer {
    fn push(&mut self, g: &str, style: Style, width: usize) {
        match g {
            "\n" | "\r\n" => {
                self.flush();
                self.toks.push(Tok::Break);
            }
            "\r" => {}
            "\t" => {
                self.flush_piece();
                self.space.extend(spaces(TAB_WIDTH, style));
            }
            _ if is_break_space(g) => {
                self.flush_piece();
                let (sym, w) = visible(g, width);
                self.space.push(Cell::new(sym, style, w));
            }
            _ => self.push_word_grapheme(g, style, width),
        }
    }

    fn push_word_grapheme(&mut self, g: &str, style: Style, width: usize) {
        self.flush_space();
        let (sym, w) = visible(g, width);
        let wide = w >= 2 && !is_hangul(g);
        if !self.piece.is_empty() && (wide || self.prev_wide) && !closes(g) && !self.prev_opens {
            self.flush_piece();
        }
        self.piece.push(Cell::new(sym, style, w));
        self.prev_wide = wide;
        self.prev_opens = opens(g);
    }

    fn flush_piece(&mut self) {
        if !self.piece.is_empty() {
            self.toks.push(Tok::Piece(mem::take(&mut self.piece)));
        }
        self.prev_wide = false;
        self.prev_opens = false;
    }

    fn flush_space(&mut self) {
        if !self.space.is_empty() {
            self.toks.push(Tok::Space(mem::take(&mut self.space)));
        }
    }

    fn flush(&mut self) {
        self.flush_piece();
        self.flush_space();
    }

    fn finish(mut self) -> Vec<Tok> {
        self.flush();
        self.toks
    }
}

/// Greedy line filling over tokens.
struct Layout {
    width: usize,
    lines: Vec<Vec<Cell>>,
    cur: Vec<Cell>,
    cur_w: usize,
    space: Vec<Cell>,
    hard_start: bool,
}

impl Layout {
    /// An empty layout at the start of a line.
    fn new(width: usize) -> Layout {
        Layout {
            width,
            lines: Vec::new(),
            cur: Vec::new(),
            cur_w: 0,
            space: Vec::new(),
            hard_start: true,
        }
    }

    fn run(toks: Vec<Tok>, width: usize) -> Vec<Vec<Cell>> {
        let mut layout = Layout::new(width);
        for tok in toks {
            match tok {
                Tok::Break => layout.hard_break(),
                Tok::Space(cells) => layout.space.extend(cells),
                Tok::Piece(cells) => layout.piece(cells),
            }
        }
        if !layout.cur.is_empty() {
            layout.lines.push(layout.cur);
        }
        layout.lines
    }

    fn newline(&mut self) {
        self.lines.push(mem::take(&mut self.cur));
        self.cur_w = 0;
    }

    fn hard_break(&mut self) {
        self.space.clear();
        self.newline();
        self.hard_start = true;
    }

    /// Appends one cell, starting a new line first if it would overflow.
    fn put(&mut self, cell: Cell) {
        if self.cur_w + cell.width > self.width && self.cur_w > 0 {
            self.newline();
        }
        self.cur_w += cell.width;
        self.cur.push(cell);
    }

    fn extend(&mut self, cells: Vec<Cell>) {
        self.cur_w += cells_width(&cells);
        self.cur.extend(cells);
    }

    fn piece(&mut self, cells: Vec<Cell>) {
        let space = mem::take(&mut self.space);
        let keep_space = self.cur_w > 0 || self.hard_start;
        let sw = if keep_space { cells_width(&space) } else { 0 };
        let pw = cells_width(&cells);
        if self.cur_w + sw + pw <= self.width {
            if keep_space {
                self.extend(space);
            }
            self.extend(cells);
        } else if pw <= self.width {
            if self.cur_w > 0 {
                self.newline();
            }
            self.extend(cells);
        } else {
            if keep_space && self.cur_w + sw < self.width {
                self.extend(space);
            }
            cells.into_iter().for_each(|c| self.put(c));
        }
        self.hard_start = false;
    }
}

/// Word-wraps styled fragments to `width` cells.
pub(super) fn wrap_frags(frags: &[Frag], width: usize) -> Vec<Vec<Cell>> {
    let mut tokenizer = Tokenizer::default();
    for (text, style) in frags {
        for g in text.graphemes(true) {
            tokenizer.push(g, *style, width);
        }
    }
    Layout::run(tokenizer.finish(), width)
}

/// Word-wraps styled fragments to `width` cells, each line as spans.
pub(super) fn wrap_spans(frags: &[Frag], width: usize) -> Vec<Vec<Span<'static>>> {
    wrap_frags(frags, width)
        .into_iter()
        .map(cells_to_spans)
        .collect()
}

/// Hard-wraps one code line to `width` cells, expanding tabs to stops of the source line.
pub(super) fn hard_wrap(frags: &[Frag], width: usize) -> Vec<Vec<Cell>> {
    let mut layout = Layout::new(width);
    let mut col = 0;
    for (text, style) in frags {
        for g in text.graphemes(true) {
            let cells: Vec<Cell> = if g == "\t" {
                spaces(TAB_WIDTH - col % TAB_WIDTH, *style).collect()
            } else {
                let (sym, w) = visible(g, width);
                vec![Cell::new(sym, *style, w)]
            };
            for cell in cells {
                col += cell.width;
                layout.put(cell);
            }
        }
    }
    layout.lines.push(layout.cur);
    layout.lines
}

/// Merges runs of same-styled cells into spans.
pub(super) fn cells_to_spans(cells: Vec<Cell>) -> Vec<Span<'static>> {
    let mut spans: Vec<(String, Style)> = Vec::new();
    for cell in cells {
        match spans.last_mut() {
            Some((text, style)) if *style == cell.style => text.push_str(&cell.sym),
            _ => spans.push((cell.sym, cell.style)),
        }
    }
    spans
        .into_iter()
        .map(|(text, style)| Span::styled(text, style))
        .collect()
}

/// Cells for a short piece of decoration text (prefixes, borders, padding).
pub(super) fn text_cells(text: &str, style: Style) -> Vec<Cell> {
    text.graphemes(true)
        .map(|g| {
            let (sym, w) = visible(g, usize::MAX);
            Cell::new(sym, style, w)
        })
        .collect()
}

/// The longest prefix of `cells` that fits in `width`.
pub(super) fn truncate_cells(cells: Vec<Cell>, width: usize) -> Vec<Cell> {
    let mut used = 0;
    cells
        .into_iter()
        .take_while(|c| {
            used += c.width;
            used <= width
        })
        .collect()
}

/// The total width of some cells.
pub(super) fn cells_width(cells: &[Cell]) -> usize {
    cells.iter().map(|c| c.width).sum()
}

/// `cells` followed by spaces in `style` up to `width`.
pub(super) fn pad_cells(mut cells: Vec<Cell>, width: usize, style: Style) -> Vec<Cell> {
    let fill = width.saturating_sub(cells_width(&cells));
    cells.extend(spaces(fill, style));
    cells
}

#[cfg(test)]
mod tests {
    use ratatui::style::Style;

    use super::*;
    use crate::tui::markdown::render;
    use crate::tui::markdown::test_support::{assert_fits, hl, line_width, text_of};
    use crate::tui::theme::Theme;

    fn non_space(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    const KOREAN: &str = "한국어는 대한민국과 조선민주주의인민공화국의 공용어이다. \
        한글은 세종대왕이 창제한 문자로, 과학적인 구조를 가지고 있다고 평가받는다.";

    #[test]
    fn korean_wraps_within_width_and_keeps_every_character() {
        let theme = Theme::default();
        let out = render(KOREAN, 20, &theme, hl());
        assert!(out.lines.len() > 3);
        assert_fits(&out.lines, 20);
        let joined: String = out.lines.iter().map(text_of).collect();
        assert_eq!(non_space(&joined), non_space(KOREAN));
    }

    #[test]
    fn cjk_without_spaces_breaks_between_characters() {
        let text = "日本語の文章には空白がありません。それでも折り返す必要があります。";
        let lines = wrap_plain(text, 11, Style::new());
        assert_fits(&lines, 11);
        assert!(lines
            .iter()
            .take(lines.len() - 1)
            .all(|l| line_width(l) >= 9));
        let joined: String = lines.iter().map(text_of).collect();
        assert_eq!(joined, text);
        assert!(lines.iter().all(|l| !text_of(l).starts_with('。')));
    }

    #[test]
    fn emoji_and_long_words_break_at_graphemes() {
        let emoji = "😀".repeat(15);
        let lines = wrap_plain(&emoji, 9, Style::new());
        assert_fits(&lines, 9);
        assert_eq!(lines.iter().map(text_of).collect::<String>(), emoji);
        let long = "a".repeat(50);
        let lines = wrap_plain(&format!("x {long}"), 10, Style::new());
        assert_fits(&lines, 10);
        assert_eq!(text_of(&lines[0]), format!("x {}", "a".repeat(8)));
    }

    #[test]
    fn wrap_plain_keeps_breaks_and_indentation() {
        let lines = wrap_plain("one two three\n    ind\n\nlast  ", 8, Style::new());
        let texts: Vec<String> = lines.iter().map(text_of).collect();
        assert_eq!(texts, ["one two", "three", "    ind", "", "last"]);
        assert!(wrap_plain("", 10, Style::new()).is_empty());
    }

    #[test]
    fn display_width_counts_cells() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("한국어"), 6);
        assert_eq!(display_width("😀"), 2);
        assert_eq!(display_width("e\u{301}"), 1);
    }
}
