//! Cutting documents into chunks. Each format has an extractor that turns the source into
//! blocks (a paragraph, a code block, a top-level item) with their byte range and heading
//! path; a packer then groups blocks into chunks of about the configured size (by
//! section for the structure-aware strategy, in fixed windows with overlap otherwise).
//! Ranges point into the document's text (the original bytes, unless invalid UTF-8 was
//! replaced: such files are flagged `lossy`), so a citation opens at the right line.

use std::ops::Range;

use super::spec::{Chunking, Strategy};

/// What a document is, by its file extension (or a URL's content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Text,
    Markdown,
    Html,
    Code,
}

impl DocKind {
    /// The kind of a file by its extension; `None` for formats that are never text.
    pub fn of_path(path: &str) -> Option<DocKind> {
        let ext = path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        Some(match ext.as_str() {
            "html" | "htm" | "xhtml" => DocKind::Html,
            "md" | "markdown" | "mdx" => DocKind::Markdown,
            "rs" | "py" | "js" | "mjs" | "ts" | "tsx" | "jsx" | "go" | "c" | "h" | "cc" | "cpp"
            | "hpp" | "java" | "kt" | "rb" | "sh" | "bash" | "swift" | "cs" | "scala" | "lua"
            | "php" | "zig" | "hs" | "ml" | "ex" | "exs" | "sql" => DocKind::Code,
            "png" | "jpg" | "jpeg" | "gif" | "webp" | "ico" | "bmp" | "svgz" | "woff" | "woff2"
            | "ttf" | "otf" | "eot" | "zip" | "gz" | "tgz" | "xz" | "bz2" | "zst" | "7z"
            | "tar" | "so" | "dylib" | "dll" | "exe" | "o" | "a" | "rlib" | "class" | "jar"
            | "pyc" | "wasm" | "mp3" | "mp4" | "mov" | "avi" | "wav" | "flac" | "ogg"
            | "sqlite" | "db" | "gguf" | "safetensors" | "bin" | "pdf" => return None,
            _ => DocKind::Text,
        })
    }

    /// The kind of a fetched page by its content type.
    pub fn of_content_type(content_type: &str, url: &str) -> Option<DocKind> {
        let ct = content_type.to_ascii_lowercase();
        if ct.contains("html") {
            Some(DocKind::Html)
        } else if ct.contains("markdown") {
            Some(DocKind::Markdown)
        } else if ct.starts_with("text/") || ct.contains("json") || ct.is_empty() {
            DocKind::of_path(url).or(Some(DocKind::Text))
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Text => "text",
            DocKind::Markdown => "markdown",
            DocKind::Html => "html",
            DocKind::Code => "code",
        }
    }
}

/// A piece of a document as it is stored and retrieved.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub text: String,
    /// Byte range in the source file.
    pub bytes: Range<usize>,
    /// First and last line (1-based) in the source file.
    pub lines: (usize, usize),
    /// Headings above the chunk, outermost first (an item's signature for code).
    pub heading: Vec<String>,
}

/// What a document yields: its title (HTML `<title>`, Markdown's first heading) and chunks.
#[derive(Debug, Clone, Default)]
pub struct Chunked {
    pub title: Option<String>,
    pub chunks: Vec<Chunk>,
}

/// A unit the packers group: its text, where it is, and the headings above it.
#[derive(Debug, Clone)]
struct Block {
    text: String,
    source: Range<usize>,
    heading: Vec<String>,
    /// `text` is exactly `source` of the original (sub-ranges map back byte for byte).
    exact: bool,
}

/// Cuts `source` (a whole document) into chunks.
pub fn chunk(kind: DocKind, source: &str, chunking: &Chunking) -> Chunked {
    let (title, blocks) = match kind {
        DocKind::Html => html_blocks(source),
        DocKind::Markdown => markdown_blocks(source),
        DocKind::Code => (None, code_blocks(source)),
        DocKind::Text => (None, paragraph_blocks(source, 0)),
    };
    let lines = LineIndex::new(source);
    let chunks = match chunking.strategy {
        Strategy::Fixed => pack_fixed(&blocks, chunking),
        Strategy::Structure => pack_sections(&blocks, chunking, kind == DocKind::Code),
    };
    let chunks = chunks
        .into_iter()
        .map(|(text, bytes, heading)| Chunk {
            lines: lines.span(&bytes),
            text,
            bytes,
            heading,
        })
        .collect();
    Chunked { title, chunks }
}

/// Chunks of one piece of a file too large to read whole: `base` is the piece's byte
/// offset and `first_line` its first line in the file. Pieces are plain text cut in
/// fixed windows.
pub fn chunk_piece(piece: &str, base: usize, first_line: usize, chunking: &Chunking) -> Vec<Chunk> {
    let lines = LineIndex::new(piece);
    windows(piece, chunking.size, chunking.overlap)
        .into_iter()
        .map(|r| {
            let (a, b) = lines.span(&r);
            Chunk {
                text: piece[r.clone()].to_string(),
                bytes: base + r.start..base + r.end,
                lines: (first_line + a - 1, first_line + b - 1),
                heading: Vec::new(),
            }
        })
        .collect()
}

/// Line numbers of byte offsets.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(source: &str) -> LineIndex {
        LineIndex(
            source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line(&self, byte: usize) -> usize {
        self.0.partition_point(|&nl| nl < byte) + 1
    }

    fn span(&self, bytes: &Range<usize>) -> (usize, usize) {
        let last = bytes.end.saturating_sub(1).max(bytes.start);
        (self.line(bytes.start), self.line(last))
    }
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Fixed windows of about `size` bytes that end at a paragraph, sentence or word break
/// where one is near, each starting `overlap` bytes before the previous one ended (at a
/// word start). Ranges are trimmed of surrounding whitespace and never empty.
pub fn windows(text: &str, size: usize, overlap: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let len = text.len();
    let mut start = text.len() - text.trim_start().len();
    while start < len {
        let hard = floor_boundary(text, start.saturating_add(size));
        let end = if hard >= len {
            len
        } else {
            let lo = floor_boundary(text, start.saturating_add(size.saturating_mul(6) / 10));
            let window = &text[lo..hard];
            let brk = window
                .rfind("\n\n")
                .map(|i| i + 2)
                .or_else(|| {
                    window
                        .rfind(". ")
                        .or_else(|| window.rfind(".\n"))
                        .map(|i| i + 2)
                })
                .or_else(|| window.rfind(char::is_whitespace).map(|i| i + 1))
                .map(|i| floor_boundary(window, i));
            brk.map_or(hard, |i| lo + i)
        };
        // Always past `start`, on a character boundary.
        let end = ceil_boundary(text, end.max(start + 1));
        let piece = &text[start..end];
        let trimmed = piece.trim_end();
        if !trimmed.trim().is_empty() {
            out.push(start..start + trimmed.len());
        }
        if end >= len {
            break;
        }
        // The next window starts `overlap` back (still after this one's start), at the
        // start of a word.
        let next = if overlap == 0 {
            end
        } else {
            let back = ceil_boundary(
                text,
                floor_boundary(text, end.saturating_sub(overlap)).max(start + 1),
            );
            back + text[back..end].find(char::is_whitespace).unwrap_or(0)
        };
        let skip = text[next..].len() - text[next..].trim_start().len();
        start = next + skip;
    }
    out
}

type Packed = (String, Range<usize>, Vec<String>);

/// Blocks grouped into chunks per section (a heading change starts a new chunk); a block
/// longer than a chunk is cut into windows. A small last block is repeated at the start
/// of the next chunk of the same section, as overlap. `merge_sections` lets small
/// sections share a chunk (code: many small items).
fn pack_sections(blocks: &[Block], c: &Chunking, merge_sections: bool) -> Vec<Packed> {
    let mut out: Vec<Packed> = Vec::new();
    let mut current: Vec<&Block> = Vec::new();
    let mut fresh = false;
    let mut len = 0;
    let flush = |current: &mut Vec<&Block>, out: &mut Vec<Packed>, fresh: bool| {
        if let (Some(first), Some(last), true) = (current.first(), current.last(), fresh) {
            let text = current
                .iter()
                .map(|b| b.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            out.push((
                text,
                first.source.start..last.source.end,
                first.heading.clone(),
            ));
        }
        current.clear();
    };
    for block in blocks {
        let new_section = current
            .first()
            .is_some_and(|f| f.heading != block.heading && !merge_sections);
        if !current.is_empty() && (new_section || len + 2 + block.text.len() > c.size) {
            let last = current.last().copied();
            flush(&mut current, &mut out, fresh);
            fresh = false;
            len = 0;
            // (Code items are not repeated: an item is whole in one chunk.)
            if let Some(last) =
                last.filter(|l| !new_section && !merge_sections && l.text.len() <= c.overlap)
            {
                current.push(last);
                len = last.text.len();
            }
        }
        if block.text.len() > c.size {
            flush(&mut current, &mut out, fresh);
            fresh = false;
            len = 0;
            for w in windows(&block.text, c.size, c.overlap) {
                let bytes = if block.exact {
                    block.source.start + w.start..block.source.start + w.end
                } else {
                    block.source.clone()
                };
                out.push((block.text[w].to_string(), bytes, block.heading.clone()));
            }
            continue;
        }
        current.push(block);
        fresh = true;
        len += block.text.len() + 2;
    }
    flush(&mut current, &mut out, fresh);
    out
}

/// Fixed windows over the document's text (blocks joined by blank lines), structure
/// ignored; each window's range and heading come from the blocks it starts and ends in.
fn pack_fixed(blocks: &[Block], c: &Chunking) -> Vec<Packed> {
    let mut all = String::new();
    let mut starts = Vec::with_capacity(blocks.len());
    for b in blocks {
        if !all.is_empty() {
            all.push_str("\n\n");
        }
        starts.push(all.len());
        all.push_str(&b.text);
    }
    let at = |offset: usize| starts.partition_point(|&s| s <= offset).saturating_sub(1);
    windows(&all, c.size, c.overlap)
        .into_iter()
        .filter_map(|w| {
            let (first, last) = (at(w.start), at(w.end.saturating_sub(1)));
            let (fb, lb) = (blocks.get(first)?, blocks.get(last)?);
            let start = if fb.exact {
                fb.source.start + (w.start.saturating_sub(starts[first])).min(fb.text.len())
            } else {
                fb.source.start
            };
            let end = if lb.exact {
                lb.source.start + (w.end.saturating_sub(starts[last])).min(lb.text.len())
            } else {
                lb.source.end
            };
            Some((
                all[w].to_string(),
                start..end.max(start),
                fb.heading.clone(),
            ))
        })
        .collect()
}

/// Plain text: paragraphs (separated by blank lines), exact.
fn paragraph_blocks(source: &str, base: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut offset = 0;
    for part in source.split("\n\n") {
        let lead = part.len() - part.trim_start().len();
        let text = part.trim();
        if !text.is_empty() {
            let start = base + offset + lead;
            blocks.push(Block {
                text: text.to_string(),
                source: start..start + text.len(),
                heading: Vec::new(),
                exact: true,
            });
        }
        offset += part.len() + 2;
    }
    blocks
}

/// Markdown: top-level blocks (paragraphs, lists, code, tables) under their heading path;
/// the text is the Markdown source itself.
fn markdown_blocks(source: &str) -> (Option<String>, Vec<Block>) {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut blocks = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut heading: Option<(usize, String)> = None;
    let mut title = None;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    if let Tag::Heading { level, .. } = tag {
                        heading = Some((level as usize, String::new()));
                    }
                }
                depth += 1;
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if depth > 0 {
                    continue;
                }
                if let (TagEnd::Heading(_), Some((level, text))) = (end, heading.take()) {
                    let text = text.trim().to_string();
                    title.get_or_insert_with(|| text.clone());
                    path.retain(|(l, _)| *l < level);
                    path.push((level, text));
                    continue;
                }
                let raw = source.get(range.clone()).unwrap_or_default();
                let lead = raw.len() - raw.trim_start().len();
                let text = raw.trim();
                if !text.is_empty() {
                    let start = range.start + lead;
                    blocks.push(Block {
                        text: text.to_string(),
                        source: start..start + text.len(),
                        heading: path.iter().map(|(_, t)| t.clone()).collect(),
                        exact: true,
                    });
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, h)) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            _ => {}
        }
    }
    (title, blocks)
}

/// Source code: top-level items. A non-indented line after a blank line or a closing
/// brace starts an item (with the comments and attributes right above it); the item's
/// first code line is its heading.
fn code_blocks(source: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut prev_blank = true;
    let mut prev_closing = false;
    let push = |range: Range<usize>, blocks: &mut Vec<Block>| {
        let raw = &source[range.clone()];
        let lead = raw.len() - raw.trim_start().len();
        let text = raw.trim();
        if text.is_empty() {
            return;
        }
        let heading = text
            .lines()
            .map(str::trim)
            .find(|l| {
                !l.is_empty()
                    && !["//", "#", "/*", "*", "@", "--", "\"\"\""]
                        .iter()
                        .any(|p| l.starts_with(p))
            })
            .map(|l| l.chars().take(80).collect::<String>());
        blocks.push(Block {
            text: text.to_string(),
            source: range.start + lead..range.start + lead + text.len(),
            heading: heading.into_iter().collect(),
            exact: true,
        });
    };
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let top = !trimmed.is_empty() && !line.starts_with([' ', '\t']);
        let closing = top && trimmed.chars().all(|c| "})];,".contains(c));
        if top && !closing && (prev_blank || prev_closing) && offset > start {
            push(start..offset, &mut blocks);
            start = offset;
        }
        prev_blank = trimmed.is_empty();
        prev_closing = closing;
        offset += line.len();
    }
    push(start..source.len(), &mut blocks);
    blocks
}

/// HTML: the text of block elements under their heading path (h1–h6), from `<main>` when
/// the page has one (site navigation is left out), without scripts, styles and nav.
/// Entities are decoded and whitespace collapsed outside `<pre>`.
fn html_blocks(source: &str) -> (Option<String>, Vec<Block>) {
    use html5gum::{DefaultEmitter, Token, Tokenizer};
    let scoped = source.contains("<main");
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    emitter.naively_switch_states(true);
    let mut st = HtmlState {
        in_main: !scoped,
        ..HtmlState::default()
    };
    for token in Tokenizer::new_with_emitter(source, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if tag.self_closing && name != "br" && name != "hr" {
                    continue;
                }
                st.start(&name);
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                st.end(&name);
            }
            Token::String(s) => {
                let text = String::from_utf8_lossy(&s.value);
                st.text(&text, s.span.start..s.span.end);
            }
            _ => {}
        }
    }
    st.flush();
    (st.title.map(|t| collapse(&t)), st.blocks)
}

#[derive(Default)]
struct HtmlState {
    in_main: bool,
    skip: usize,
    pre: usize,
    in_title: bool,
    title: Option<String>,
    heading: Option<(usize, String)>,
    path: Vec<(usize, String)>,
    text: String,
    range: Option<Range<usize>>,
    blocks: Vec<Block>,
}

const SKIPPED: &[&str] = &[
    "script", "style", "nav", "noscript", "template", "svg", "button", "select", "footer",
];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "section",
    "article",
    "blockquote",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "aside",
    "details",
    "summary",
    "hr",
    "header",
    "form",
    "fieldset",
];

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl HtmlState {
    fn start(&mut self, name: &str) {
        if name == "main" {
            self.in_main = true;
        } else if name == "title" {
            // The page's title only (not an SVG icon's).
            self.in_title = self.skip == 0 && self.title.is_none();
        } else if SKIPPED.contains(&name) {
            self.skip += 1;
        } else if let Some(level) = heading_level(name) {
            self.flush();
            self.heading = Some((level, String::new()));
        } else if name == "pre" {
            self.flush();
            self.pre += 1;
        } else if name == "br" {
            self.text.push('\n');
        } else if BLOCKS.contains(&name) {
            self.flush();
        } else if matches!(name, "td" | "th") && !self.text.is_empty() {
            self.text.push_str(" | ");
        }
    }

    fn end(&mut self, name: &str) {
        if name == "main" {
            self.flush();
            self.in_main = false;
        } else if name == "title" {
            self.in_title = false;
        } else if SKIPPED.contains(&name) {
            self.skip = self.skip.saturating_sub(1);
        } else if let Some(level) = heading_level(name) {
            if let Some((_, text)) = self.heading.take() {
                let text = collapse(&text);
                if !text.is_empty() {
                    self.path.retain(|(l, _)| *l < level);
                    self.path.push((level, text));
                }
            }
        } else if name == "pre" {
            self.flush();
            self.pre = self.pre.saturating_sub(1);
        } else if BLOCKS.contains(&name) {
            self.flush();
        }
    }

    fn text(&mut self, text: &str, span: Range<usize>) {
        if self.in_title {
            self.title.get_or_insert_with(String::new).push_str(text);
            return;
        }
        if self.skip > 0 || !self.in_main {
            return;
        }
        if let Some((_, h)) = self.heading.as_mut() {
            h.push_str(text);
            return;
        }
        if self.pre > 0 {
            self.text.push_str(text);
        } else {
            // Whitespace collapses, but a break between two pieces survives as a space.
            let ends_space = self.text.ends_with(char::is_whitespace);
            if text.starts_with(char::is_whitespace) && !ends_space && !self.text.is_empty() {
                self.text.push(' ');
            }
            self.text.push_str(&collapse(text));
            if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
                self.text.push(' ');
            }
        }
        self.range = Some(match self.range.take() {
            Some(r) => r.start..span.end.max(r.end),
            None => span,
        });
    }

    fn flush(&mut self) {
        let text = if self.pre > 0 {
            self.text.trim_matches('\n').trim_end().to_string()
        } else {
            self.text.trim().to_string()
        };
        if let (Some(range), false) = (self.range.take(), text.is_empty()) {
            self.blocks.push(Block {
                text,
                source: range,
                heading: self.path.iter().map(|(_, t)| t.clone()).collect(),
                exact: false,
            });
        }
        self.text.clear();
        self.range = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(size: usize) -> Chunking {
        Chunking {
            strategy: Strategy::Structure,
            size,
            overlap: size / 5,
        }
    }

    #[test]
    fn windows_overlap_and_cover_the_text() {
        let text = "word ".repeat(500);
        let w = windows(&text, 200, 50);
        assert!(w.len() > 10);
        assert_eq!(w[0].start, 0);
        assert!(w.last().unwrap().end >= text.trim_end().len());
        for pair in w.windows(2) {
            assert!(pair[1].start < pair[0].end, "windows overlap: {pair:?}");
            assert!(pair[1].start > pair[0].start);
        }
        // Multi-byte text never splits a character.
        let korean = "가나다라마바사 ".repeat(200);
        for r in windows(&korean, 100, 20) {
            assert!(korean.is_char_boundary(r.start) && korean.is_char_boundary(r.end));
        }
    }

    #[test]
    fn markdown_keeps_the_heading_path_and_exact_ranges() {
        let md = "# Guide\n\nIntro text.\n\n## Install\n\nRun `cargo install`.\n\n### Linux\n\nUse apt.\n\n## Use\n\nCall it.\n";
        let out = chunk(DocKind::Markdown, md, &structure(200));
        assert_eq!(out.title.as_deref(), Some("Guide"));
        let headings: Vec<_> = out.chunks.iter().map(|c| c.heading.join(" > ")).collect();
        assert_eq!(
            headings,
            [
                "Guide",
                "Guide > Install",
                "Guide > Install > Linux",
                "Guide > Use"
            ]
        );
        for c in &out.chunks {
            assert_eq!(&md[c.bytes.clone()], c.text, "exact range");
        }
        let linux = &out.chunks[2];
        assert_eq!(linux.lines, (11, 11));
    }

    #[test]
    fn html_takes_main_content_under_headings() {
        let html = "<html><head><title>Ownership - Book</title><style>p{}</style></head><body>\
            <nav><p>menu</p></nav><main><svg><title>icon</title></svg><h1 id=a>What is <em>Ownership</em>?</h1>\n<p>Each value has\n   an &lt;owner&gt;.</p>\
            <script>var x = '<p>no</p>';</script><h2>The Stack</h2><pre><code>let s = 1;\nlet t = 2;</code></pre></main></body></html>";
        let out = chunk(DocKind::Html, html, &structure(500));
        assert_eq!(out.title.as_deref(), Some("Ownership - Book"));
        let texts: Vec<_> = out.chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Each value has an <owner>.", "let s = 1;\nlet t = 2;"]
        );
        assert_eq!(out.chunks[0].heading, ["What is Ownership?"]);
        assert_eq!(out.chunks[1].heading, ["What is Ownership?", "The Stack"]);
        let c = &out.chunks[0];
        assert!(html[c.bytes.clone()].contains("Each value"));
        assert_eq!(c.lines, (2, 3), "the paragraph spans two source lines");
    }

    #[test]
    fn long_sections_are_windowed_and_code_splits_at_items() {
        let para = "This sentence is about ten words long, more or less. ".repeat(40);
        let md = format!("# Long\n\n{para}\n");
        let out = chunk(DocKind::Markdown, &md, &structure(300));
        assert!(out.chunks.len() > 5);
        assert!(out.chunks.iter().all(|c| c.text.len() <= 300));
        assert!(out.chunks.iter().all(|c| md[c.bytes.clone()] == c.text));

        let code = "use std::io;\n\n/// Adds one to a number, the long way round.\nfn add(a: i32) -> i32 {\n    let one = 1;\n    a + one\n}\n\nstruct S {\n    x: u8,\n    y: u8,\n    name: String,\n    others: Vec<String>,\n}\n";
        let out = chunk(DocKind::Code, code, &structure(100));
        let headings: Vec<_> = out.chunks.iter().map(|c| c.heading.join("")).collect();
        // An item is never cut while it fits; its doc comment comes with it.
        assert_eq!(
            headings,
            ["use std::io;", "fn add(a: i32) -> i32 {", "struct S {"]
        );
        assert!(
            out.chunks[1].text.starts_with("/// Adds one") && out.chunks[1].text.ends_with('}')
        );
        // Small items share a chunk.
        let out = chunk(DocKind::Code, code, &structure(1000));
        assert_eq!(out.chunks.len(), 1);
    }

    #[test]
    fn fixed_strategy_ignores_structure_but_keeps_ranges() {
        let md = format!(
            "# A\n\n{}\n\n# B\n\n{}\n",
            "alpha ".repeat(60),
            "beta ".repeat(60)
        );
        let fixed = Chunking {
            strategy: Strategy::Fixed,
            size: 200,
            overlap: 40,
        };
        let out = chunk(DocKind::Markdown, &md, &fixed);
        assert!(out
            .chunks
            .iter()
            .any(|c| c.text.contains("alpha") && c.text.contains("beta")));
        for c in &out.chunks {
            assert!(c.bytes.start < c.bytes.end && c.bytes.end <= md.len());
        }
    }
}
