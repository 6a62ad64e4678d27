//! Word filters: custom words and phrases plus the built-in profanity list, matched
//! case-insensitively (ASCII) on word boundaries in one Aho-Corasick pass. A word ending in
//! Hangul may be followed by a particle (`프로젝트가`).

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
        // Standard semantics: every overlapping match is found, so a rejected one (no word
        // boundary) cannot hide a valid one that overlaps it.
        let matcher = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(words.iter().map(|(w, _)| w.as_str()))
            .ok()?;
        let longest = words.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        Some(WordFilter {
            matcher,
            words,
            longest,
        })
    }

    /// Every whole-word occurrence in `text`, without overlaps (the earliest, then the
    /// longest, wins).
    pub fn scan(&self, text: &str) -> Vec<WordMatch> {
        let mut found: Vec<WordMatch> = self
            .matcher
            .find_overlapping_iter(text)
            .filter(|m| {
                let word = &self.words[m.pattern().as_usize()].0;
                boundary_before(text, m.start()) && boundary_after(text, m.end(), word)
            })
            .map(|m| {
                let (word, profanity) = &self.words[m.pattern().as_usize()];
                WordMatch {
                    start: m.start(),
                    end: m.end(),
                    word: word.clone(),
                    profanity: *profanity,
                }
            })
            .collect();
        found.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
        let mut kept: Vec<WordMatch> = Vec::new();
        for m in found {
            if kept.last().is_none_or(|k| m.start >= k.end) {
                kept.push(m);
            }
        }
        kept
    }

    /// Where a listed word or phrase may be starting at the end of `text` (a prefix of an
    /// entry, or a whole entry not yet followed by a boundary): hold from there.
    pub fn pending_start(&self, text: &str) -> Option<usize> {
        let from = floor_boundary(text, text.len().saturating_sub(self.longest));
        let mut i = from;
        while i < text.len() {
            // A word may begin here: after a boundary, or with a character that is not part
            // of a word itself (`#codename`).
            if boundary_before(text, i) || !is_word_char_at(text, i) {
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

/// Whether `word`, ending at `i`, ends a word there. A word ending in Hangul may be
/// followed by a particle or ending (`프로젝트가`, `프로젝트를`).
fn boundary_after(text: &str, i: usize, word: &str) -> bool {
    if word.chars().next_back().is_some_and(is_hangul) {
        return true;
    }
    text[i..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c) || ('\u{1100}'..='\u{11FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> WordFilter {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        WordFilter::new(&list, false).unwrap()
    }

    #[test]
    fn a_rejected_match_does_not_hide_an_overlapping_one() {
        let f = words(&["project falcon", "falcon"]);
        let found = f.scan("the subproject falcon lands");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].word, "falcon");
        let found = f.scan("Project Falcon lands");
        assert_eq!(
            found[0].word, "project falcon",
            "the longest at the same start wins"
        );
        assert!(f.scan("falconry").is_empty(), "whole words only");
    }

    #[test]
    fn korean_words_take_particles_and_prefixes_are_held() {
        let f = words(&["프로젝트", "#codename"]);
        assert_eq!(f.scan("이번 프로젝트가 끝났다").len(), 1);
        assert_eq!(f.pending_start("see #code"), Some(4));
        assert_eq!(f.pending_start("the fal"), None);
        let f = words(&["falcon"]);
        assert_eq!(f.pending_start("the fal"), Some(4));
        assert_eq!(
            f.pending_start("the falcon"),
            Some(4),
            "a whole word waits for its boundary"
        );
    }
}
