//! RetrieveAndGenerate's two ends: the grounded prompt (numbered passages the model must
//! cite as [n]) and the citations read back from the answer. A marker that points at no
//! retrieved passage is dropped and reported; an answer without markers can have its
//! sentences attributed to the passages they are closest to (marked `inferred`).

use serde::{Deserialize, Serialize};

use super::retrieve::Hit;

/// Passages a chat turn retrieves per question by default.
pub const DEFAULT_TOP_K: usize = 5;
/// Cosine from which an answer sentence counts as drawn from a passage (attribution of
/// answers without markers).
pub const INFER_FROM: f32 = 0.5;

/// A retrieved passage as an answer keeps it: numbered as the model saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub number: usize,
    pub base: String,
    /// Path or URL.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heading: Vec<String>,
    pub start: usize,
    pub end: usize,
    pub line_start: usize,
    pub line_end: usize,
    pub score: f32,
    pub text: String,
    /// The answer cites it.
    #[serde(default)]
    pub cited: bool,
    /// Cited by attribution (the answer had no markers), not by the model.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inferred: bool,
}

impl SourceRef {
    /// `file:line-line` for people and editors.
    pub fn location(&self) -> String {
        format!("{}:{}-{}", self.file, self.line_start, self.line_end)
    }

    /// The heading path, or the document title when it has none.
    pub fn label(&self) -> String {
        if self.heading.is_empty() {
            self.title.clone().unwrap_or_else(|| short_name(&self.file))
        } else {
            self.heading.join(" > ")
        }
    }
}

/// The last part of a path or URL (what the prompt and the lists show).
pub fn short_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Numbers the hits as the prompt shows them.
pub fn sources(hits: &[Hit]) -> Vec<SourceRef> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| SourceRef {
            number: i + 1,
            base: h.base.clone(),
            file: h.chunk.file.key.clone(),
            title: h.chunk.file.title.clone(),
            heading: h.chunk.chunk.heading.clone(),
            start: h.chunk.chunk.start,
            end: h.chunk.chunk.end,
            line_start: h.chunk.chunk.line_start,
            line_end: h.chunk.chunk.line_end,
            score: h.score,
            text: h.chunk.chunk.text.clone(),
            cited: false,
            inferred: false,
        })
        .collect()
}

/// The instructions and numbered passages that ground an answer.
pub fn grounding_prompt(sources: &[SourceRef]) -> String {
    let mut out = String::from(
        "Answer the question using only the numbered sources below. After each sentence \
         that uses a source, cite it with its number in square brackets, like [1]. If the \
         sources do not contain the answer, say that you do not know.\n\nSources:\n",
    );
    for s in sources {
        out.push_str(&format!(
            "\n[{}] {} ({})\n{}\n",
            s.number,
            s.label(),
            short_name(&s.file),
            s.text.trim()
        ));
    }
    out
}

/// A citation marker in an answer: `[2]`, `[1, 3]`, `[1][2]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub numbers: Vec<u32>,
    pub start: usize,
    pub end: usize,
}

/// Byte ranges of code in Markdown text: fenced blocks and inline spans.
fn code_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut offset = 0;
    let mut fence: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            match fence.take() {
                Some(start) => ranges.push(start..offset + line.len()),
                None => fence = Some(offset),
            }
        } else if fence.is_none() {
            let mut open: Option<usize> = None;
            for (i, c) in line.char_indices() {
                if c == '`' {
                    match open.take() {
                        Some(start) => ranges.push(offset + start..offset + i + 1),
                        None => open = Some(i),
                    }
                }
            }
        }
        offset += line.len();
    }
    if let Some(start) = fence {
        ranges.push(start..text.len());
    }
    ranges
}

/// The markers in `answer`: not inside code (`vec![1, 2]`, a fenced block), not after
/// an identifier, `!`, `=`, `&` or `(` (index expressions and array literals).
pub fn markers(answer: &str) -> Vec<Marker> {
    let code = code_ranges(answer);
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]").expect("static regex")
    });
    re.captures_iter(answer)
        .filter_map(|c| {
            let m = c.get(0)?;
            let before = answer[..m.start()].chars().next_back();
            if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
                return None;
            }
            let before_word = answer[..m.start()].trim_end().chars().next_back();
            if before_word.is_some_and(|ch| matches!(ch, '!' | '=' | '&' | '(')) {
                return None;
            }
            if code.iter().any(|r| r.contains(&m.start())) {
                return None;
            }
            let numbers = c[1]
                .split([',', ';'])
                .filter_map(|n| n.trim().parse().ok())
                .collect();
            Some(Marker {
                numbers,
                start: m.start(),
                end: m.end(),
            })
        })
        .collect()
}

/// Marks the sources the answer cites; returns the cited numbers that match no source
/// (dropped), each once, in order of appearance.
pub fn apply(answer: &str, sources: &mut [SourceRef]) -> Vec<u32> {
    let mut dropped = Vec::new();
    for marker in markers(answer) {
        for n in marker.numbers {
            match sources.iter_mut().find(|s| s.number as u32 == n) {
                Some(s) => s.cited = true,
                None if !dropped.contains(&n) => dropped.push(n),
                None => {}
            }
        }
    }
    dropped
}

/// Attribution for an answer without markers: each sentence (with its vector) cites the
/// passage it is closest to, when at least `INFER_FROM` similar. `passages[i]` is
/// `sources[i]`'s vector, or empty when it was embedded by another model than the
/// sentences (it is then not compared).
pub fn infer(sentences: &[Vec<f32>], passages: &[Vec<f32>], sources: &mut [SourceRef]) {
    for s in sentences {
        let best = passages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.len() == s.len())
            .map(|(i, p)| (i, crate::runtime::embeddings::dot(s, p)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = best.filter(|(_, sim)| *sim >= INFER_FROM) {
            if let Some(source) = sources.get_mut(i) {
                if !source.cited {
                    source.cited = true;
                    source.inferred = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: usize) -> SourceRef {
        SourceRef {
            number: n,
            base: "b".into(),
            file: format!("/docs/{n}.md"),
            title: None,
            heading: vec!["H".into()],
            start: 0,
            end: 1,
            line_start: 1,
            line_end: 2,
            score: 0.5,
            text: format!("passage {n}"),
            cited: false,
            inferred: false,
        }
    }

    #[test]
    fn markers_map_to_sources_and_strays_are_dropped() {
        let answer =
            "Ownership moves values [1]. Borrowing lends them [2, 3][7]. Index v[0] is code. [7]";
        let m = markers(answer);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].numbers, [2, 3]);
        let mut sources: Vec<_> = (1..=3).map(source).collect();
        let dropped = apply(answer, &mut sources);
        assert_eq!(dropped, [7]);
        assert!(sources.iter().all(|s| s.cited));
        let mut few: Vec<_> = (1..=5).map(source).collect();
        apply("Only [4].", &mut few);
        let cited: Vec<_> = few.iter().filter(|s| s.cited).map(|s| s.number).collect();
        assert_eq!(cited, [4]);
    }

    #[test]
    fn the_prompt_numbers_every_passage() {
        let p = grounding_prompt(&[source(1), source(2)]);
        assert!(p.contains("[1] H (1.md)\npassage 1"));
        assert!(p.contains("[2] H (2.md)\npassage 2"));
    }

    #[test]
    fn attribution_needs_similarity() {
        let mut sources = vec![source(1), source(2)];
        let passages = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        infer(&[vec![0.9, 0.1]], &passages, &mut sources);
        assert!(sources[0].cited && sources[0].inferred);
        assert!(!sources[1].cited);
        infer(&[vec![0.3, 0.3]], &passages, &mut sources);
        assert!(!sources[1].cited);
    }
}
