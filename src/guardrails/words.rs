//! Word filters: custom words and phrases plus the built-in profanity list, matched
//! case-insensitively on word boundaries in one Aho-Corasick pass.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

const PROFANITY: &str = include_str!("profanity.txt");

/// One filtered word or phrase found in a text (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct WordMatch {
    pub start: usize,
    pub end: usize,
    /// The list entry it matched.
    pub word: String,
    /// From the built-in profanity list (else a custom word).
    pub profanity: bool,
}

/// The compiled lists.
pub struct WordFilter {
    matcher: AhoCorasick,
    words: Vec<(String, bool)>,
    longest: usize,
}

impl WordFilter {
    /// Custom words (trimmed, case-insensitive) plus, with `profanity`, the built-in list.
    pub fn new(custom: &[String], profanity: bool) -> Option<WordFilter> {
        let mut words: Vec<(String, bool)> = custom
            .iter()
            .map(|w| (w.trim().to_ascii_lowercase(), false))
            .filter(|(w, _)| !w.is_empty())
            .collect();
        if profanity {
            words.extend(
                PROFANITY
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| (l.to_ascii_lowercase(), true)),
            );
        }
        if words.is_empty() {
            return None;
        }
        let matcher = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(words.iter().map(|(w, _)| w.as_str()))
            .ok()?;
        let longest = words.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        Some(WordFilter {
            matcher,
            words,
            longest,
        })
    }

    /// Every whole-word occurrence in `text`.
    pub fn scan(&self, text: &str) -> Vec<WordMatch> {
        self.matcher
            .find_iter(text)
            .filter(|m| boundary_before(text, m.start()) && boundary_after(text, m.end()))
            .map(|m| {
                let (word, profanity) = &self.words[m.pattern().as_usize()];
                WordMatch {
                    start: m.start(),
                    end: m.end(),
                    word: word.clone(),
                    profanity: *profanity,
                }
            })
            .collect()
    }

    /// Where a listed word or phrase may be starting at the end of `text` (a prefix of an
    /// entry, or a whole entry not yet followed by a boundary): hold from there.
    pub fn pending_start(&self, text: &str) -> Option<usize> {
        let from = floor_boundary(text, text.len().saturating_sub(self.longest));
        let mut i = from;
        while i < text.len() {
            if boundary_before(text, i) && is_word_char_at(text, i) {
                let tail = text[i..].to_ascii_lowercase();
                if self.words.iter().any(|(w, _)| w.starts_with(&tail)) {
                    return Some(i);
                }
            }
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_word_char_at(text: &str, i: usize) -> bool {
    text[i..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric())
}

fn boundary_before(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

fn boundary_after(text: &str, i: usize) -> bool {
    text[i..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}
