//! Plain-text helpers shared by guardrails and knowledge bases: where sentences end, and
//! cutting a text into the sentence pieces it is scored or attributed on. Knows nothing of
//! models, embeddings or policies (it imports nothing from the crate).

/// Pieces longer than this are cut at the next space (MiniLM reads 256 tokens at most).
pub const MAX_PIECE: usize = 400;

/// Whether `c` ends a sentence, given the character after it (None: the text ends):
/// a line break or a full-width `。！？` always does; `.`, `!` and `?` do when whitespace
/// or the end follows (so `1.4.2` is not cut).
pub fn ends_sentence(c: char, next: Option<char>) -> bool {
    matches!(c, '\n' | '。' | '！' | '？')
        || matches!(c, '.' | '!' | '?') && next.is_none_or(char::is_whitespace)
}

/// Cuts text into the pieces it is scored on: sentences (ending in `.`, `!`, `?`, `。`
/// or a line break), long ones split at a space near `MAX_PIECE` bytes. Each piece is
/// (start, end) in bytes, trimmed, non-empty.
pub fn pieces(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let end = i + c.len_utf8();
        let terminal = ends_sentence(c, iter.peek().map(|(_, n)| *n));
        let too_long = end - start >= MAX_PIECE && c.is_whitespace();
        if terminal || too_long {
            push_trimmed(text, start, end, &mut out);
            start = end;
        }
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let s = &text[start..end];
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.trim();
    if trimmed.chars().any(|c| c.is_alphanumeric()) {
        out.push((start + lead, start + lead + trimmed.len()));
    }
}

/// Where the sentence holding byte `pos` begins: just after the last sentence end (as
/// `pieces` cuts) before it, or at the text's start.
pub fn sentence_start(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    let mut start = 0;
    let mut iter = text[..pos].char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let end = i + c.len_utf8();
        let next = iter
            .peek()
            .map(|(_, n)| *n)
            .or_else(|| text[pos..].chars().next());
        if ends_sentence(c, next) {
            start = end;
        }
    }
    start
}

/// Where the unfinished sentence at the end of a streaming text begins (None when the
/// text ends a sentence). Text before it can be scored now.
pub fn unfinished_from(text: &str) -> Option<usize> {
    let last = pieces(text).last().copied()?;
    let after = &text[last.1..];
    let closed = text[..last.1].ends_with(['.', '!', '?', '。', '！', '？']) && !after.is_empty()
        || after.contains('\n');
    (!closed).then_some(last.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_sentence_starts_agree() {
        let text = "Version 1.4.2 is out. It fixes the crash!\nNext line here";
        let cut: Vec<&str> = pieces(text).iter().map(|(s, e)| &text[*s..*e]).collect();
        assert_eq!(
            cut,
            [
                "Version 1.4.2 is out.",
                "It fixes the crash!",
                "Next line here"
            ]
        );
        assert_eq!(sentence_start(text, 10), 0, "1.4.2 is not a sentence end");
        assert_eq!(sentence_start(text, 30), 21);
        assert_eq!(sentence_start(text, text.len()), 42);
        assert_eq!(unfinished_from(text), Some(42));
        // A final "." may still be a decimal point: the sentence ends with what follows it.
        assert_eq!(unfinished_from("Done."), Some(0));
        assert_eq!(unfinished_from("Done. "), None);
    }
}
