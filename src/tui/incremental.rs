//! Incremental layout of a growing markdown answer: the lines rendered for the text up to
//! the last finished top-level block stay cached, and only the text after it is rendered
//! again (markdown, highlighting, wrapping) when the answer grows. Also the content hash
//! the message view cache is keyed by.

use ratatui::text::{Line, Span};

use super::markdown::{self, Highlighter, Rendered};
use super::theme::Theme;

/// A fast 64-bit hash of `text` (FxHash over 8-byte words) for cache keys.
pub fn content_hash(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let bytes = text.as_bytes();
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h
}

/// A code fence line (up to three spaces, then three or more backticks or tildes):
/// its character, its length and whether nothing but spaces follows.
fn fence(line: &str) -> Option<(u8, usize, bool)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let c = *rest.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = rest.bytes().take_while(|&b| b == c).count();
    (n >= 3).then(|| (c, n, rest[n..].trim().is_empty()))
}

/// Whether a line starting with this byte, after a blank line, surely starts a new
/// top-level block that nothing before it continues or changes: not indented (code or
/// list continuation), not a list item, quote, table, HTML or link definition.
fn starts_fresh_block(first: u8) -> bool {
    !first.is_ascii_whitespace()
        && !first.is_ascii_digit()
        && !matches!(first, b'-' | b'*' | b'+' | b'>' | b'|' | b'<' | b'[' | b':')
}

/// Byte offset where the unfinished tail of `text` starts: the start of the last line
/// that follows a blank line outside a code fence and starts a fresh top-level block.
/// Rendering `text[..n]` and `text[n..]` apart then gives the same lines as rendering
/// `text` whole, joined by the blank line between blocks. 0 when there is no such line,
/// or when the text holds constructs that reach across blocks (HTML blocks, link
/// reference definitions).
pub fn stable_prefix_len(text: &str) -> usize {
    let mut boundary = 0;
    let mut open: Option<(u8, usize)> = None;
    let mut prev_blank = false;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        if open.is_none() && (trimmed.starts_with('<') || trimmed.starts_with('[')) {
            return 0;
        }
        if let (None, true, Some(&first)) = (open, prev_blank, body.as_bytes().first()) {
            if starts_fresh_block(first) {
                boundary = start;
            }
        }
        match (open, fence(body)) {
            (None, Some((c, n, _))) => open = Some((c, n)),
            (Some((c, n)), Some((c2, n2, true))) if c == c2 && n2 >= n => open = None,
            _ => {}
        }
        prev_blank = trimmed.is_empty();
        start += line.len();
    }
    boundary
}

/// What is cached of one answer: its text up to a block boundary is laid out in the
/// first `lines` lines (and `code_blocks` code blocks) of the message's `Rendered`.
#[derive(Debug, Clone, Default)]
pub struct Incremental {
    /// Bytes of text covered.
    done: usize,
    /// Hash of those bytes, to notice an edit.
    hash: u64,
    lines: usize,
    code_blocks: usize,
    width: u16,
}

impl Incremental {
    /// Brings `out` up to date with `text` at `width`, rendering only what follows the
    /// cached boundary (all of it when the text before it changed or the width did).
    pub fn refresh(
        &mut self,
        out: &mut Rendered,
        text: &str,
        width: u16,
        theme: &Theme,
        hl: &Highlighter,
    ) {
        let split = stable_prefix_len(text);
        let valid = self.width == width
            && self.done <= split
            && out.lines.len() >= self.lines
            && out.code_blocks.len() >= self.code_blocks
            && text
                .get(..self.done)
                .is_some_and(|done| content_hash(done) == self.hash);
        if !valid {
            *self = Incremental {
                width,
                hash: content_hash(""),
                ..Incremental::default()
            };
        }
        out.lines.truncate(self.lines);
        out.code_blocks.truncate(self.code_blocks);
        if split > self.done {
            if let Some(chunk) = text.get(self.done..split) {
                append(out, markdown::render(chunk, width, theme, hl));
                self.done = split;
                self.hash = content_hash(&text[..split]);
                self.lines = out.lines.len();
                self.code_blocks = out.code_blocks.len();
            }
        }
        if let Some(tail) = text.get(self.done..) {
            append(out, markdown::render(tail, width, theme, hl));
        }
    }
}

/// Appends a separately rendered run of blocks, with the blank line between blocks.
fn append(out: &mut Rendered, chunk: Rendered) {
    if !out.lines.is_empty() && !chunk.lines.is_empty() {
        out.lines.push(Line::from(Vec::<Span<'static>>::new()));
    }
    let base = out.lines.len();
    out.code_blocks
        .extend(chunk.code_blocks.into_iter().map(|mut b| {
            b.first_line += base;
            b
        }));
    out.lines.extend(chunk.lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Title\n\nSome *prose* that wraps over more than one line of the narrow pane we use here.\n\n- one\n- two\n\n  still two\n- three\n\n1. first\n2. second\n\n```rust\nfn main() {\n\n    println!(\"hi\");\n}\n```\n\n> quoted\n> text\n\nAfter the quote.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~~\nplain\n\n~~~\n\nSetext\n===\n\n---\n\nThe end with `code` and a [link](https://example.com).\n";

    fn full(text: &str, width: u16) -> Rendered {
        markdown::render(text, width, &Theme::default(), &Highlighter::new())
    }

    #[test]
    fn growing_text_renders_like_a_full_render_at_every_point() {
        let (theme, hl) = (Theme::default(), Highlighter::new());
        for width in [30, 80] {
            let mut inc = Incremental::default();
            let mut out = Rendered::default();
            let ends: Vec<usize> = (0..=DOC.len())
                .filter(|&i| DOC.is_char_boundary(i))
                .collect();
            for end in ends {
                let text = &DOC[..end];
                inc.refresh(&mut out, text, width, &theme, &hl);
                let want = full(text, width);
                assert_eq!(
                    out.lines, want.lines,
                    "width {width}, at byte {end}: {text:?}"
                );
                assert_eq!(out.code_blocks, want.code_blocks, "at byte {end}");
            }
            assert!(inc.done > 0, "the cache was used");
        }
    }

    #[test]
    fn split_points_inside_fences_and_lists_are_not_boundaries() {
        // In a fence: the blank line and the unindented line after it stay in the tail.
        let text = "Intro.\n\n```\na\n\nb\n";
        assert_eq!(stable_prefix_len(text), "Intro.\n\n".len());
        // A list continued after a blank line.
        assert_eq!(stable_prefix_len("- a\n\n- b\n"), 0);
        assert_eq!(stable_prefix_len("Para.\n\n  indented\n"), 0);
        // After the fence closes, the next block is a boundary.
        let closed = "```\nx\n```\n\nNext";
        assert_eq!(stable_prefix_len(closed), closed.len() - 4);
        // Link definitions reach back: never split.
        assert_eq!(stable_prefix_len("[a][r]\n\nText\n\n[r]: http://x\n"), 0);
    }

    #[test]
    fn edits_and_width_changes_start_over() {
        let (theme, hl) = (Theme::default(), Highlighter::new());
        let mut inc = Incremental::default();
        let mut out = Rendered::default();
        inc.refresh(&mut out, DOC, 40, &theme, &hl);
        let edited = DOC.replacen("Title", "Other", 1);
        inc.refresh(&mut out, &edited, 40, &theme, &hl);
        assert_eq!(out.lines, full(&edited, 40).lines);
        inc.refresh(&mut out, &edited, 60, &theme, &hl);
        assert_eq!(out.lines, full(&edited, 60).lines);
    }

    #[test]
    fn hash_tells_same_length_texts_apart() {
        assert_ne!(content_hash("abcdefgh1"), content_hash("abcdefgh2"));
        assert_ne!(content_hash("ab"), content_hash("ba"));
        assert_eq!(content_hash("same"), content_hash("same"));
    }
}
