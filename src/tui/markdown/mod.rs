//! Markdown to styled terminal lines: CommonMark (plus tables and strikethrough) drawn
//! with the theme, code fences highlighted by syntect scope, prose wrapped by display width.

use std::mem;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::tui::theme::Theme;

/// Widths below this are treated as this (a wide character needs two cells).
const MIN_WIDTH: usize = 4;
/// The narrowest a table column may be shrunk to before the table is drawn as text.
const MIN_COL: usize = 2;
/// Tab stops inside code blocks.
const TAB_WIDTH: usize = 4;
/// Bullets for unordered lists, by nesting depth.
const BULLETS: [&str; 3] = ["•", "◦", "▪"];
/// Drawn in place of control characters and graphemes too wide for the line.
const REPLACEMENT: &str = "\u{FFFD}";

/// A styled run of text waiting to be wrapped.
type Frag = (String, Style);

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

/// Syntax highlighting by syntect grammar, coloured from the theme's `syntax_*` slots.
pub struct Highlighter {
    /// syntect's bundled grammars (newline-terminated variant).
    syntaxes: SyntaxSet,
    /// Scope prefixes and the class they select, most specific first.
    rules: Vec<(Scope, TokenClass)>,
    /// `comment` and `string`, which win over anything nested inside them.
    dominant: Vec<(Scope, TokenClass)>,
}

/// What a highlighted token is, mapped later to a theme colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenClass {
    Keyword,
    String,
    Comment,
    Number,
    Function,
    Type,
    Punctuation,
    Plain,
}

/// Scope prefixes in matching order (more specific prefixes before their parents).
/// `storage.type.function` (`fn`, `def`, `function`) reads as a keyword, not a type.
const SCOPE_RULES: &[(&str, TokenClass)] = &[
    ("constant.numeric", TokenClass::Number),
    ("constant.language", TokenClass::Number),
    ("constant.character", TokenClass::Number),
    ("entity.name.function", TokenClass::Function),
    ("support.function", TokenClass::Function),
    ("variable.function", TokenClass::Function),
    ("support.macro", TokenClass::Function),
    ("entity.name.macro", TokenClass::Function),
    ("storage.type.function", TokenClass::Keyword),
    ("entity.name.type", TokenClass::Type),
    ("entity.name.class", TokenClass::Type),
    ("entity.name.struct", TokenClass::Type),
    ("entity.name.enum", TokenClass::Type),
    ("entity.name.trait", TokenClass::Type),
    ("entity.other.inherited-class", TokenClass::Type),
    ("storage.type", TokenClass::Type),
    ("support.type", TokenClass::Type),
    ("support.class", TokenClass::Type),
    ("keyword", TokenClass::Keyword),
    ("storage", TokenClass::Keyword),
    ("punctuation", TokenClass::Punctuation),
];

/// Fence tags syntect does not know, mapped to a grammar it does.
const LANG_ALIASES: &[(&str, &str)] = &[
    ("shell", "bash"),
    ("console", "bash"),
    ("zsh", "bash"),
    ("ts", "js"),
    ("typescript", "js"),
    ("tsx", "js"),
    ("jsx", "js"),
    ("jsonc", "json"),
    ("c++", "cpp"),
    ("golang", "go"),
    ("py3", "py"),
];

impl Default for Highlighter {
    fn default() -> Self {
        Highlighter::new()
    }
}

impl Highlighter {
    /// Loads syntect's default grammars (tens of milliseconds: build one and share it).
    pub fn new() -> Highlighter {
        let scope = |(name, class): &(&str, TokenClass)| Scope::new(name).ok().map(|s| (s, *class));
        Highlighter {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            rules: SCOPE_RULES.iter().filter_map(scope).collect(),
            dominant: [
                ("comment", TokenClass::Comment),
                ("string", TokenClass::String),
            ]
            .iter()
            .filter_map(scope)
            .collect(),
        }
    }

    /// The grammar for a fence tag, if syntect has one.
    fn syntax_for(&self, lang: &str) -> Option<&SyntaxReference> {
        if lang.is_empty() {
            return None;
        }
        let token = LANG_ALIASES
            .iter()
            .find(|(alias, _)| *alias == lang)
            .map_or(lang, |(_, real)| real);
        self.syntaxes.find_syntax_by_token(token)
    }

    /// Splits `code` into lines of classified tokens (tabs and controls left as written).
    fn highlight(&self, lang: &str, code: &str) -> Vec<Vec<(String, TokenClass)>> {
        let lines = code_lines(code);
        let Some(syntax) = self.syntax_for(lang) else {
            return lines.iter().map(|l| plain_tokens(l)).collect();
        };
        let mut state = ParseState::new(syntax);
        let mut stack = ScopeStack::new();
        let mut healthy = true;
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let tokens = if healthy {
                self.highlight_line(&mut state, &mut stack, line)
            } else {
                None
            };
            healthy = tokens.is_some();
            out.push(tokens.unwrap_or_else(|| plain_tokens(line)));
        }
        out
    }

    /// Classifies one line; `None` if syntect fails (the caller falls back to plain text).
    fn highlight_line(
        &self,
        state: &mut ParseState,
        stack: &mut ScopeStack,
        line: &str,
    ) -> Option<Vec<(String, TokenClass)>> {
        let ops = state
            .parse_line(&format!("{line}\n"), &self.syntaxes)
            .ok()?;
        let mut tokens = Vec::new();
        let mut pos = 0;
        for (index, op) in ops {
            let index = index.min(line.len());
            if let Some(text) = line.get(pos..index).filter(|t| !t.is_empty()) {
                tokens.push((text.to_string(), self.classify(stack)));
                pos = index;
            }
            stack.apply(&op).ok()?;
        }
        if let Some(text) = line.get(pos..).filter(|t| !t.is_empty()) {
            tokens.push((text.to_string(), self.classify(stack)));
        }
        Some(tokens)
    }

    /// The class of the innermost scope that matches a rule (comments and strings win).
    fn classify(&self, stack: &ScopeStack) -> TokenClass {
        let scopes = stack.as_slice();
        let matching = |rules: &[(Scope, TokenClass)], scope: &Scope| {
            rules
                .iter()
                .find(|(prefix, _)| prefix.is_prefix_of(*scope))
                .map(|(_, class)| *class)
        };
        scopes
            .iter()
            .find_map(|s| matching(&self.dominant, s))
            .or_else(|| scopes.iter().rev().find_map(|s| matching(&self.rules, s)))
            .unwrap_or(TokenClass::Plain)
    }
}

/// The source lines of a code block (a trailing newline does not start a line).
fn code_lines(code: &str) -> Vec<&str> {
    let body = code.strip_suffix('\n').unwrap_or(code);
    if body.is_empty() && code.is_empty() {
        return Vec::new();
    }
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// One unclassified token holding the whole line.
fn plain_tokens(line: &str) -> Vec<(String, TokenClass)> {
    vec![(line.to_string(), TokenClass::Plain)]
}

/// The theme colour style of a token class inside a code block.
fn token_style(class: TokenClass, theme: &Theme) -> Style {
    let fg = match class {
        TokenClass::Keyword => theme.syntax_keyword,
        TokenClass::String => theme.syntax_string,
        TokenClass::Comment => theme.syntax_comment,
        TokenClass::Number => theme.syntax_number,
        TokenClass::Function => theme.syntax_function,
        TokenClass::Type => theme.syntax_type,
        TokenClass::Punctuation => theme.syntax_punctuation,
        TokenClass::Plain => theme.code_fg,
    };
    let style = Style::new().fg(fg).bg(theme.code_bg);
    if class == TokenClass::Comment {
        style.add_modifier(Modifier::ITALIC)
    } else {
        style
    }
}

// ---------------------------------------------------------------------------
// Width and wrapping
// ---------------------------------------------------------------------------

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
    wrap_frags(&[(text.to_string(), style)], width)
        .into_iter()
        .map(|cells| Line::from(cells_to_spans(cells)))
        .collect()
}

/// One grapheme placed on a line.
#[derive(Debug, Clone)]
struct Cell {
    sym: String,
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
                self.space
                    .extend((0..TAB_WIDTH).map(|_| Cell::new(" ", style, 1)));
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
    fn run(toks: Vec<Tok>, width: usize) -> Vec<Vec<Cell>> {
        let mut layout = Layout {
            width,
            lines: Vec::new(),
            cur: Vec::new(),
            cur_w: 0,
            space: Vec::new(),
            hard_start: true,
        };
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
        self.cur_w += cells.iter().map(|c| c.width).sum::<usize>();
        self.cur.extend(cells);
    }

    fn piece(&mut self, cells: Vec<Cell>) {
        let space = mem::take(&mut self.space);
        let keep_space = self.cur_w > 0 || self.hard_start;
        let sw: usize = if keep_space {
            space.iter().map(|c| c.width).sum()
        } else {
            0
        };
        let pw: usize = cells.iter().map(|c| c.width).sum();
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
fn wrap_frags(frags: &[Frag], width: usize) -> Vec<Vec<Cell>> {
    let mut tokenizer = Tokenizer::default();
    for (text, style) in frags {
        for g in text.graphemes(true) {
            tokenizer.push(g, *style, width);
        }
    }
    Layout::run(tokenizer.finish(), width)
}

/// Hard-wraps one code line to `width` cells, expanding tabs to stops of the source line.
fn hard_wrap(frags: &[Frag], width: usize) -> Vec<Vec<Cell>> {
    let mut layout = Layout {
        width,
        lines: Vec::new(),
        cur: Vec::new(),
        cur_w: 0,
        space: Vec::new(),
        hard_start: true,
    };
    let mut col = 0;
    for (text, style) in frags {
        for g in text.graphemes(true) {
            let cells: Vec<Cell> = if g == "\t" {
                let n = TAB_WIDTH - col % TAB_WIDTH;
                (0..n).map(|_| Cell::new(" ", *style, 1)).collect()
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
fn cells_to_spans(cells: Vec<Cell>) -> Vec<Span<'static>> {
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
fn text_cells(text: &str, style: Style) -> Vec<Cell> {
    text.graphemes(true)
        .map(|g| {
            let (sym, w) = visible(g, usize::MAX);
            Cell::new(sym, style, w)
        })
        .collect()
}

/// The longest prefix of `cells` that fits in `width`.
fn truncate_cells(cells: Vec<Cell>, width: usize) -> Vec<Cell> {
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
fn cells_width(cells: &[Cell]) -> usize {
    cells.iter().map(|c| c.width).sum()
}

/// `cells` followed by spaces in `style` up to `width`.
fn pad_cells(mut cells: Vec<Cell>, width: usize, style: Style) -> Vec<Cell> {
    let fill = width.saturating_sub(cells_width(&cells));
    cells.extend((0..fill).map(|_| Cell::new(" ", style, 1)));
    cells
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// Renders markdown `text` into lines no wider than `width` cells (widths below 4 count as 4).
pub fn render(text: &str, width: u16, theme: &Theme, hl: &Highlighter) -> Rendered {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut renderer = Renderer::new(usize::from(width).max(MIN_WIDTH), theme, hl);
    for event in Parser::new_ext(text, options) {
        renderer.event(event);
    }
    renderer.finish()
}

/// A block container that contributes a prefix to each of its lines.
enum Container {
    /// A block quote: `│ ` on every line.
    Quote,
    /// A list item: the marker on its first line, spaces of the same width after.
    Item { marker: String, used: bool },
}

/// An open link or image: where its text starts in the inline buffer.
struct OpenLink {
    url: String,
    text_start: usize,
    image: bool,
}

/// A code block being collected.
struct OpenCode {
    lang: String,
    code: String,
}

/// A table being collected: rows of cells of fragments, with a header flag.
#[derive(Default)]
struct OpenTable {
    aligns: Vec<Alignment>,
    rows: Vec<(bool, Vec<Vec<Frag>>)>,
    row: Vec<Vec<Frag>>,
}

/// Event-driven renderer state.
struct Renderer<'a> {
    width: usize,
    theme: &'a Theme,
    hl: &'a Highlighter,
    out: Vec<Line<'static>>,
    code_blocks: Vec<CodeBlock>,
    containers: Vec<Container>,
    /// For each open list, the next number (`None` for bullet lists).
    lists: Vec<Option<u64>>,
    inline: Vec<Frag>,
    styles: Vec<Style>,
    links: Vec<OpenLink>,
    code: Option<OpenCode>,
    table: Option<OpenTable>,
    pending_blank: bool,
}

impl<'a> Renderer<'a> {
    fn new(width: usize, theme: &'a Theme, hl: &'a Highlighter) -> Renderer<'a> {
        Renderer {
            width,
            theme,
            hl,
            out: Vec::new(),
            code_blocks: Vec::new(),
            containers: Vec::new(),
            lists: Vec::new(),
            inline: Vec::new(),
            styles: Vec::new(),
            links: Vec::new(),
            code: None,
            table: None,
            pending_blank: false,
        }
    }

    fn finish(mut self) -> Rendered {
        self.flush();
        if let Some(code) = self.code.take() {
            self.render_code(code);
        }
        Rendered {
            lines: self.out,
            code_blocks: self.code_blocks,
        }
    }

    // -- styles ------------------------------------------------------------

    /// Text style before inline markup: quote colour inside quotes, else `fg`.
    fn base_style(&self) -> Style {
        let in_quote = self
            .containers
            .iter()
            .any(|c| matches!(c, Container::Quote));
        Style::new().fg(if in_quote {
            self.theme.quote
        } else {
            self.theme.fg
        })
    }

    fn style(&self) -> Style {
        self.styles
            .iter()
            .fold(self.base_style(), |acc, s| acc.patch(*s))
    }

    fn muted(&self) -> Style {
        Style::new().fg(self.theme.muted)
    }

    fn push_text(&mut self, text: &str, style: Style) {
        self.inline.push((text.to_string(), style));
    }

    // -- events ------------------------------------------------------------

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Code(code) | Event::InlineMath(code) | Event::DisplayMath(code) => {
                let style = self
                    .style()
                    .patch(Style::new().fg(self.theme.code_fg).bg(self.theme.code_bg));
                self.push_text(&code, style);
            }
            Event::Html(html) | Event::InlineHtml(html) => self.push_text(&html, self.muted()),
            Event::FootnoteReference(label) => self.push_text(&format!("[^{label}]"), self.muted()),
            Event::SoftBreak => self.push_text(" ", self.style()),
            Event::HardBreak => self.push_text("\n", self.style()),
            Event::Rule => self.rule(),
            Event::TaskListMarker(done) => {
                let mark = if done { "[x] " } else { "[ ] " };
                self.push_text(mark, Style::new().fg(self.theme.accent));
            }
        }
    }

    fn text(&mut self, text: &str) {
        match self.code.as_mut() {
            Some(code) => code.code.push_str(text),
            None => self.push_text(text, self.style()),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::DefinitionListTitle | Tag::MetadataBlock(_) => self.begin_block(),
            Tag::Heading { level, .. } => {
                self.begin_block();
                let style = Style::new()
                    .fg(self.theme.heading)
                    .add_modifier(Modifier::BOLD);
                self.styles.push(style);
                self.push_text(&format!("{} ", "#".repeat(level as usize)), style);
            }
            Tag::BlockQuote(_) => {
                self.begin_block();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(kind) => {
                self.begin_block();
                self.code = Some(OpenCode {
                    lang: fence_lang(&kind),
                    code: String::new(),
                });
            }
            Tag::HtmlBlock => self.begin_block(),
            Tag::List(start) => {
                self.flush();
                if self.lists.is_empty() {
                    self.begin_block();
                }
                self.lists.push(start);
            }
            Tag::Item | Tag::DefinitionListDefinition => self.start_item(),
            Tag::FootnoteDefinition(label) => {
                self.begin_block();
                self.push_text(&format!("[^{label}]: "), self.muted());
            }
            Tag::DefinitionList => self.begin_block(),
            Tag::Table(aligns) => {
                self.begin_block();
                self.table = Some(OpenTable {
                    aligns,
                    ..OpenTable::default()
                });
            }
            Tag::TableHead => self.styles.push(Style::new().add_modifier(Modifier::BOLD)),
            Tag::TableRow => {}
            Tag::TableCell => self.inline.clear(),
            Tag::Emphasis => self
                .styles
                .push(Style::new().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(Style::new().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self
                .styles
                .push(Style::new().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Superscript | Tag::Subscript => self.styles.push(Style::new()),
            Tag::Link { dest_url, .. } => self.start_link(dest_url.to_string(), false),
            Tag::Image { dest_url, .. } => {
                self.push_text("[image: ", self.muted());
                self.start_link(dest_url.to_string(), true);
            }
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::HtmlBlock
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::MetadataBlock(_) => self.end_block(),
            TagEnd::Heading(_) => {
                self.end_block();
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => {
                self.end_block();
                if let Some(i) = self
                    .containers
                    .iter()
                    .rposition(|c| matches!(c, Container::Quote))
                {
                    self.containers.remove(i);
                }
            }
            TagEnd::CodeBlock => {
                if let Some(code) = self.code.take() {
                    self.render_code(code);
                }
                self.pending_blank = true;
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.pending_blank = true;
                }
            }
            TagEnd::Item | TagEnd::DefinitionListDefinition => self.end_item(),
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.render_table(table);
                }
                self.pending_blank = true;
            }
            TagEnd::TableHead => {
                self.end_row(true);
                self.styles.pop();
            }
            TagEnd::TableRow => self.end_row(false),
            TagEnd::TableCell => {
                let cell = mem::take(&mut self.inline);
                if let Some(table) = self.table.as_mut() {
                    table.row.push(cell);
                }
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {
                self.styles.pop();
            }
            TagEnd::Link | TagEnd::Image => self.end_link(),
        }
    }

    // -- blocks ------------------------------------------------------------

    /// Flushes pending text and emits the blank line owed to the previous block.
    fn begin_block(&mut self) {
        self.flush();
        if self.pending_blank && !self.out.is_empty() {
            self.blank();
        }
        self.pending_blank = false;
    }

    fn end_block(&mut self) {
        self.flush();
        self.pending_blank = true;
    }

    fn start_item(&mut self) {
        self.begin_block();
        let depth = self.lists.len().saturating_sub(1);
        let marker = match self.lists.last_mut() {
            Some(Some(n)) => {
                let marker = format!("{n}. ");
                *n = n.saturating_add(1);
                marker
            }
            _ => format!("{} ", BULLETS[depth % BULLETS.len()]),
        };
        self.containers.push(Container::Item {
            marker,
            used: false,
        });
    }

    fn end_item(&mut self) {
        self.flush();
        if let Some(i) = self
            .containers
            .iter()
            .rposition(|c| matches!(c, Container::Item { .. }))
        {
            self.containers.remove(i);
        }
    }

    fn rule(&mut self) {
        self.begin_block();
        let avail = self.avail();
        let line = "─".repeat(avail);
        self.emit(vec![Span::styled(line, Style::new().fg(self.theme.border))]);
        self.pending_blank = true;
    }

    // -- links -------------------------------------------------------------

    fn start_link(&mut self, url: String, image: bool) {
        self.styles.push(
            Style::new()
                .fg(self.theme.link)
                .add_modifier(Modifier::UNDERLINED),
        );
        self.links.push(OpenLink {
            url,
            text_start: self.inline.len(),
            image,
        });
    }

    /// Closes a link: appends its URL in muted colour unless the text already shows it.
    fn end_link(&mut self) {
        let Some(link) = self.links.pop() else {
            return;
        };
        self.styles.pop();
        let text: String = self
            .inline
            .get(link.text_start..)
            .unwrap_or_default()
            .iter()
            .map(|(t, _)| t.as_str())
            .collect();
        if link.image {
            self.push_text("]", self.muted());
        }
        let shown = link.url.is_empty()
            || link.url == text
            || link.url.strip_prefix("mailto:") == Some(text.as_str());
        if !shown {
            self.push_text(" ", self.style());
            self.push_text(&format!("({})", link.url), self.muted());
        }
    }

    // -- line emission -----------------------------------------------------

    /// The prefix cells of the next line; `first` uses (and consumes) unused item markers.
    fn prefix(&mut self, first: bool) -> Vec<Cell> {
        let quote = Style::new().fg(self.theme.quote);
        let marker_style = Style::new().fg(self.theme.accent);
        let mut cells = Vec::new();
        for container in &mut self.containers {
            match container {
                Container::Quote => cells.extend(text_cells("│ ", quote)),
                Container::Item { marker, used } if first && !*used => {
                    *used = true;
                    cells.extend(text_cells(marker, marker_style));
                }
                Container::Item { marker, .. } => {
                    let blank = " ".repeat(display_width(marker));
                    cells.extend(text_cells(&blank, Style::new()));
                }
            }
        }
        truncate_cells(cells, self.width / 2)
    }

    /// The width left for content after the container prefixes.
    fn avail(&self) -> usize {
        let prefix: usize = self
            .containers
            .iter()
            .map(|c| match c {
                Container::Quote => 2,
                Container::Item { marker, .. } => display_width(marker),
            })
            .sum();
        self.width - prefix.min(self.width / 2)
    }

    fn emit(&mut self, content: Vec<Span<'static>>) {
        let mut spans = cells_to_spans(self.prefix(true));
        spans.extend(content);
        self.out.push(Line::from(spans));
    }

    /// A separator line: only the quote gutters, no markers and no trailing spaces.
    fn blank(&mut self) {
        let mut cells = self.prefix(false);
        while cells.last().is_some_and(|c| c.sym.trim().is_empty()) {
            cells.pop();
        }
        self.out.push(Line::from(cells_to_spans(cells)));
    }

    /// Wraps and emits the pending inline text (if any is visible).
    fn flush(&mut self) {
        if self.table.is_some() {
            return;
        }
        let frags = mem::take(&mut self.inline);
        if frags.iter().all(|(t, _)| t.trim().is_empty()) {
            return;
        }
        for cells in wrap_frags(&frags, self.avail()) {
            self.emit(cells_to_spans(cells));
        }
    }

    // -- code blocks -------------------------------------------------------

    fn render_code(&mut self, block: OpenCode) {
        let avail = self.avail();
        let bg = Style::new().bg(self.theme.code_bg);
        let first_line = self.out.len();
        let label = if block.lang.is_empty() {
            "text"
        } else {
            &block.lang
        };
        let header_style = bg.fg(self.theme.muted).add_modifier(Modifier::BOLD);
        let header = truncate_cells(text_cells(&format!(" {label} "), header_style), avail);
        self.emit(cells_to_spans(pad_cells(header, avail, bg)));
        let margin = if avail > 2 { " " } else { "" };
        let body_width = avail - margin.len();
        for tokens in self.hl.highlight(&block.lang, &block.code) {
            let frags: Vec<Frag> = tokens
                .into_iter()
                .map(|(text, class)| (text, token_style(class, self.theme)))
                .collect();
            for row in hard_wrap(&frags, body_width) {
                let mut cells = text_cells(margin, bg);
                cells.extend(row);
                self.emit(cells_to_spans(pad_cells(cells, avail, bg)));
            }
        }
        self.code_blocks.push(CodeBlock {
            lang: block.lang,
            code: block.code,
            first_line,
        });
    }

    // -- tables ------------------------------------------------------------

    fn end_row(&mut self, header: bool) {
        if let Some(table) = self.table.as_mut() {
            let row = mem::take(&mut table.row);
            table.rows.push((header, row));
        }
    }

    fn render_table(&mut self, table: OpenTable) {
        let ncols = table
            .rows
            .iter()
            .map(|(_, cells)| cells.len())
            .max()
            .unwrap_or(0);
        if ncols == 0 {
            return;
        }
        let natural: Vec<usize> = (0..ncols)
            .map(|c| {
                table
                    .rows
                    .iter()
                    .filter_map(|(_, cells)| cells.get(c))
                    .map(|cell| frags_width(cell))
                    .max()
                    .unwrap_or(0)
                    .max(1)
            })
            .collect();
        match fit_columns(&natural, self.avail()) {
            Some(widths) => self.table_grid(&table, &widths),
            None => self.table_as_text(&table),
        }
    }

    /// Draws the table with box-drawing borders.
    fn table_grid(&mut self, table: &OpenTable, widths: &[usize]) {
        let border = Style::new().fg(self.theme.border);
        self.emit(vec![Span::styled(
            border_line(widths, '┌', '┬', '┐'),
            border,
        )]);
        let last_header = table.rows.iter().rposition(|(header, _)| *header);
        for (i, (_, cells)) in table.rows.iter().enumerate() {
            self.table_row(cells, widths, &table.aligns, border);
            if Some(i) == last_header && i + 1 < table.rows.len() {
                self.emit(vec![Span::styled(
                    border_line(widths, '├', '┼', '┤'),
                    border,
                )]);
            }
        }
        self.emit(vec![Span::styled(
            border_line(widths, '└', '┴', '┘'),
            border,
        )]);
    }

    /// Emits one table row; cells wrap within their column.
    fn table_row(
        &mut self,
        cells: &[Vec<Frag>],
        widths: &[usize],
        aligns: &[Alignment],
        border: Style,
    ) {
        let wrapped: Vec<Vec<Vec<Cell>>> = widths
            .iter()
            .enumerate()
            .map(|(c, w)| cells.get(c).map_or_else(Vec::new, |f| wrap_frags(f, *w)))
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for row in 0..height {
            let mut line = text_cells("│", border);
            for (c, w) in widths.iter().enumerate() {
                let content = wrapped
                    .get(c)
                    .and_then(|lines| lines.get(row))
                    .cloned()
                    .unwrap_or_default();
                let align = aligns.get(c).copied().unwrap_or(Alignment::None);
                line.extend(text_cells(" ", Style::new()));
                line.extend(align_cells(content, *w, align));
                line.extend(text_cells(" │", border));
            }
            self.emit(cells_to_spans(line));
        }
    }

    /// A table too wide for its columns to fit: each row as wrapped `a │ b` text.
    fn table_as_text(&mut self, table: &OpenTable) {
        let sep = Style::new().fg(self.theme.border);
        for (_, cells) in &table.rows {
            let mut frags: Vec<Frag> = Vec::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    frags.push((" │ ".to_string(), sep));
                }
                frags.extend(cell.iter().cloned());
            }
            for line in wrap_frags(&frags, self.avail()) {
                self.emit(cells_to_spans(line));
            }
        }
    }
}

/// The language tag of a code block: the info string's first word, lowercased.
fn fence_lang(kind: &CodeBlockKind<'_>) -> String {
    match kind {
        CodeBlockKind::Fenced(info) => info
            .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
            .find(|w| !w.is_empty())
            .unwrap_or_default()
            .to_lowercase(),
        CodeBlockKind::Indented => String::new(),
    }
}

/// The single-line display width of a cell's fragments.
fn frags_width(frags: &[Frag]) -> usize {
    frags.iter().map(|(t, _)| display_width(t)).sum()
}

/// Column widths that fit `avail` with borders, shrinking the widest columns first;
/// `None` when even `MIN_COL`-wide columns do not fit.
fn fit_columns(natural: &[usize], avail: usize) -> Option<Vec<usize>> {
    let n = natural.len();
    let budget = avail.checked_sub(3 * n + 1)?;
    let capped_sum = |cap: usize| natural.iter().map(|w| (*w).min(cap)).sum::<usize>();
    if capped_sum(MIN_COL) > budget {
        return None;
    }
    let widest = natural.iter().copied().max().unwrap_or(MIN_COL);
    let (mut lo, mut hi) = (MIN_COL, widest.max(MIN_COL));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if capped_sum(mid) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut widths: Vec<usize> = natural.iter().map(|w| (*w).min(lo)).collect();
    let mut spare = budget.saturating_sub(widths.iter().sum());
    for (w, nat) in widths.iter_mut().zip(natural) {
        if spare > 0 && *nat > *w {
            *w += 1;
            spare -= 1;
        }
    }
    Some(widths)
}

/// A horizontal table border such as `┌───┬───┐`.
fn border_line(widths: &[usize], left: char, mid: char, right: char) -> String {
    let segments: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
    format!("{left}{}{right}", segments.join(&mid.to_string()))
}

/// Pads a cell's line to `width` according to the column alignment.
fn align_cells(content: Vec<Cell>, width: usize, align: Alignment) -> Vec<Cell> {
    let fill = width.saturating_sub(cells_width(&content));
    let (left, right) = match align {
        Alignment::Right => (fill, 0),
        Alignment::Center => (fill / 2, fill - fill / 2),
        Alignment::Left | Alignment::None => (0, fill),
    };
    let mut cells = text_cells(&" ".repeat(left), Style::new());
    cells.extend(content);
    cells.extend(text_cells(&" ".repeat(right), Style::new()));
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn hl() -> &'static Highlighter {
        static HL: OnceLock<Highlighter> = OnceLock::new();
        HL.get_or_init(Highlighter::new)
    }

    fn text_of(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    fn line_width(line: &Line<'_>) -> usize {
        line.spans.iter().map(|s| display_width(&s.content)).sum()
    }

    fn assert_fits(lines: &[Line<'_>], width: usize) {
        for line in lines {
            assert!(
                line_width(line) <= width && line.width() <= width,
                "line wider than {width}: {:?}",
                text_of(line)
            );
        }
    }

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
    fn code_fence_yields_block_with_coloured_spans() {
        let theme = Theme::default();
        let md = "Intro.\n\n```rust\nfn main() {\n    let x = \"hi\"; // note\n}\n```\n";
        let out = render(md, 40, &theme, hl());
        assert_eq!(out.code_blocks.len(), 1);
        let block = &out.code_blocks[0];
        assert_eq!(block.lang, "rust");
        assert!(block.code.contains("let x = \"hi\";"));
        assert!(text_of(&out.lines[block.first_line]).contains("rust"));
        let code_lines = &out.lines[block.first_line + 1..block.first_line + 4];
        assert!(text_of(&code_lines[0]).contains("fn main()"));
        let spans: Vec<&Span<'_>> = code_lines.iter().flat_map(|l| l.spans.iter()).collect();
        let has = |color| spans.iter().any(|s| s.style.fg == Some(color));
        assert!(has(theme.syntax_string), "string colour");
        assert!(has(theme.syntax_comment), "comment colour");
        assert!(
            has(theme.syntax_keyword) || has(theme.syntax_type),
            "keyword colour"
        );
        assert!(spans
            .iter()
            .all(|s| s.style.bg == Some(theme.code_bg) || s.content.trim().is_empty()));
        assert_fits(&out.lines, 40);
    }

    #[test]
    fn long_code_lines_hard_wrap() {
        let theme = Theme::default();
        let md = format!("```\n{}\n\tx\n```", "y".repeat(30));
        let out = render(&md, 12, &theme, hl());
        assert_fits(&out.lines, 12);
        let ys: usize = out
            .lines
            .iter()
            .map(|l| text_of(l).matches('y').count())
            .sum();
        assert_eq!(ys, 30);
        assert_eq!(out.code_blocks[0].lang, "");
    }

    #[test]
    fn table_renders_within_width() {
        let theme = Theme::default();
        let md = "| Name | Description | Score |\n|:-----|-------------|------:|\n\
                  | 한국어 | a rather long description that needs wrapping | 10 |\n\
                  | b | short | 7 |\n";
        for width in [80u16, 40, 30, 20] {
            let out = render(md, width, &theme, hl());
            assert_fits(&out.lines, usize::from(width));
            let all: String = out.lines.iter().map(text_of).collect();
            assert!(all.contains("한국어") || width < 30, "width {width}");
            assert_eq!(all.matches('어').count(), 1, "width {width}");
        }
        let out = render(md, 40, &theme, hl());
        assert!(text_of(&out.lines[0]).starts_with('┌'));
        assert!(out.lines.iter().any(|l| text_of(l).starts_with('├')));
        let tiny = render(md, 8, &theme, hl());
        assert_fits(&tiny.lines, 8);
    }

    #[test]
    fn nested_lists_hang_their_text() {
        let theme = Theme::default();
        let md = "- first item with enough words to wrap around\n  - nested item also wrapping around\n- second\n\n1. one\n2. two\n";
        let out = render(md, 20, &theme, hl());
        let texts: Vec<String> = out.lines.iter().map(text_of).collect();
        assert!(texts[0].starts_with("• first"));
        assert!(texts[1].starts_with("  ") && !texts[1].starts_with("   "));
        assert!(texts.iter().any(|t| t.starts_with("  ◦ nested")));
        assert!(texts
            .iter()
            .any(|t| t.starts_with("    ") && !t.contains('◦')));
        assert!(texts.iter().any(|t| t.starts_with("1. one")));
        assert!(texts.iter().any(|t| t.starts_with("2. two")));
        assert_fits(&out.lines, 20);
    }

    #[test]
    fn inline_markup_links_quotes_headings() {
        let theme = Theme::default();
        let md = "# Title\n\n**bold** *it* ~~gone~~ `code` [site](https://x.io) <https://y.io>\n\n> quoted text\n\n---\n";
        let out = render(md, 60, &theme, hl());
        let texts: Vec<String> = out.lines.iter().map(text_of).collect();
        assert_eq!(texts[0], "# Title");
        assert!(out.lines[0]
            .spans
            .iter()
            .all(|s| s.style.fg == Some(theme.heading)));
        let body = &out.lines[2];
        let find = |needle: &str| body.spans.iter().find(|s| s.content.contains(needle));
        let bold = find("bold").expect("bold span");
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
        let gone = find("gone").expect("strike span");
        assert!(gone.style.add_modifier.contains(Modifier::CROSSED_OUT));
        let site = find("site").expect("link span");
        assert_eq!(site.style.fg, Some(theme.link));
        assert!(site.style.add_modifier.contains(Modifier::UNDERLINED));
        assert_eq!(
            find("(https://x.io)").map(|s| s.style.fg),
            Some(Some(theme.muted))
        );
        assert_eq!(texts[2].matches("y.io").count(), 1);
        let quote = texts.iter().find(|t| t.contains("quoted")).expect("quote");
        assert!(quote.starts_with("│ "));
        assert!(texts
            .iter()
            .any(|t| t.starts_with('─') && t.chars().count() == 60));
    }

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

    #[test]
    fn display_width_counts_cells() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("한국어"), 6);
        assert_eq!(display_width("😀"), 2);
        assert_eq!(display_width("e\u{301}"), 1);
    }
}
