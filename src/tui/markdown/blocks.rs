//! Markdown to lines: walks pulldown-cmark's events and draws paragraphs, headings, lists,
//! quotes, links, rules and code blocks with the theme. Not responsible for wrapping, syntax
//! colours or table layout (`wrap`, `highlight`, `table`).

use std::mem;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::highlight::Highlighter;
use super::table::OpenTable;
use super::wrap::{
    cells_to_spans, display_width, hard_wrap, pad_cells, spaces, text_cells, truncate_cells,
    wrap_spans, Cell, Frag, MIN_WIDTH,
};
use super::{CodeBlock, Rendered};
use crate::tui::theme::Theme;

/// Bullets for unordered lists, by nesting depth.
const BULLETS: [&str; 3] = ["•", "◦", "▪"];

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
                self.table = Some(OpenTable::new(aligns));
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
                self.close_container(|c| matches!(c, Container::Quote));
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
                    for line in table.draw(self.avail(), self.theme) {
                        self.emit(line);
                    }
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
                    table.push_cell(cell);
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
        self.close_container(|c| matches!(c, Container::Item { .. }));
    }

    /// Removes the innermost container that `is` selects.
    fn close_container(&mut self, is: fn(&Container) -> bool) {
        if let Some(i) = self.containers.iter().rposition(is) {
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
                    cells.extend(spaces(display_width(marker), Style::new()));
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
        for line in wrap_spans(&frags, self.avail()) {
            self.emit(line);
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
        for frags in self.hl.styled_lines(&block.lang, &block.code, self.theme) {
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
            table.end_row(header);
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

#[cfg(test)]
mod tests {
    use ratatui::style::Modifier;

    use super::*;
    use crate::tui::markdown::test_support::{assert_fits, hl, text_of};

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
}
