//! Applies output checks to a growing answer: text reaches the caller only once every
//! check released it (hold keeps a tail back, mask rewrites unreleased spans, block ends
//! the answer). The answer grows by appending; released text never changes.

use std::time::Instant;

use super::checks::{Check, DecisionLog, MaskSpan, OutputDecision, Stage};
use super::types::{Action, ToolCall};

/// A check stopped the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    pub check: String,
    pub reason: String,
}

/// What a check did to the text, for the caller's intervention events.
#[derive(Debug, Clone, PartialEq)]
pub struct Intervention {
    pub check: String,
    pub action: Action,
    pub detail: String,
}

/// How often one check may mask in a row on one piece before its mask is ignored.
const MASK_ROUNDS: usize = 4;

/// The answer as checks see it: `text` (masks applied) and how much of it was released.
#[derive(Debug, Default)]
pub struct Releaser {
    text: String,
    released: usize,
    /// A check held the whole answer for review (set at the end of the stream).
    review: Option<Blocked>,
}

impl Releaser {
    /// All text so far (masked), released or not.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The check and reason that held the answer for review, if one did.
    pub fn review(&self) -> Option<&Blocked> {
        self.review.as_ref()
    }

    /// The released part: what the caller has seen and what may be stored.
    pub fn released(&self) -> &str {
        &self.text[..self.released]
    }

    /// Appends `delta`, runs every check and returns the newly released text (maybe
    /// empty) with the interventions made, or the block that ended the answer. With
    /// `end`, the held tail is checked once more and released.
    pub async fn push(
        &mut self,
        delta: &str,
        end: bool,
        checks: &[std::sync::Arc<dyn Check>],
        log: &mut DecisionLog,
    ) -> Result<(String, Vec<Intervention>), Blocked> {
        self.text.push_str(delta);
        let mut hold_chars = 0usize;
        let mut interventions = Vec::new();
        // After a mask every check sees the new text again (a hold counted before it may
        // no longer fit); a few passes at most, so checks that keep masking cannot spin.
        for pass in 0..MASK_ROUNDS {
            hold_chars = 0;
            let mut masked = false;
            for check in checks {
                let started = Instant::now();
                let decision = check.check_output(&self.text, self.released, end).await;
                let mut step = Decision::new(check.name(), Stage::Output, started, log);
                match decision {
                    OutputDecision::Allow => step.note(Action::Allow),
                    OutputDecision::Mask(spans) if spans.is_empty() => step.note(Action::Allow),
                    OutputDecision::Hold { chars } => {
                        step.note(Action::Hold);
                        if !end {
                            hold_chars = hold_chars.max(chars);
                        }
                    }
                    OutputDecision::Mask(_) if pass + 1 == MASK_ROUNDS => {
                        return Err(step.block(
                            "the checks kept masking the same text; the answer was stopped".into(),
                        ));
                    }
                    OutputDecision::Mask(spans) => {
                        let detail = format!("masked {} span(s)", spans.len());
                        interventions.push(step.mask(
                            &mut self.text,
                            self.released,
                            spans,
                            detail,
                        )?);
                        masked = true;
                    }
                    OutputDecision::Block { reason } => return Err(step.block(reason)),
                    OutputDecision::Review { reason } => {
                        step.note_detail(Action::Review, reason.clone());
                        if end {
                            interventions.push(Intervention {
                                check: check.name().to_string(),
                                action: Action::Review,
                                detail: reason.clone(),
                            });
                            self.review.get_or_insert(Blocked {
                                check: check.name().to_string(),
                                reason,
                            });
                        } else {
                            hold_chars = hold_chars.max(self.text[self.released..].chars().count());
                        }
                    }
                }
            }
            if !masked {
                break;
            }
        }
        if self.review.is_some() {
            // Held for review: nothing more reaches the caller's stream.
            return Ok((String::new(), interventions));
        }
        let limit = hold_back(&self.text, hold_chars).max(self.released);
        let out = self.text[self.released..limit].to_string();
        self.released = limit;
        Ok((out, interventions))
    }
}

/// One check's decision at one stage, noted in the log as it is applied.
struct Decision<'a> {
    check: &'a str,
    stage: Stage,
    took: std::time::Duration,
    log: &'a mut DecisionLog,
}

impl<'a> Decision<'a> {
    fn new(check: &'a str, stage: Stage, started: Instant, log: &'a mut DecisionLog) -> Self {
        Decision {
            check,
            stage,
            took: started.elapsed(),
            log,
        }
    }

    fn note(&mut self, action: Action) {
        self.log
            .note(self.check, self.stage, action, None, self.took);
    }

    fn note_detail(&mut self, action: Action, detail: String) {
        self.log
            .note(self.check, self.stage, action, Some(detail), self.took);
    }

    fn block(&mut self, reason: String) -> Blocked {
        self.log.note(
            self.check,
            self.stage,
            Action::Block,
            Some(reason.clone()),
            self.took,
        );
        Blocked {
            check: self.check.to_string(),
            reason,
        }
    }

    /// Masks spans of `text` past `released`; a mask that cannot apply blocks instead.
    fn mask(
        &mut self,
        text: &mut String,
        released: usize,
        spans: Vec<MaskSpan>,
        detail: String,
    ) -> Result<Intervention, Blocked> {
        apply_masks(text, released, spans).map_err(|reason| self.block(reason))?;
        self.log.note(
            self.check,
            self.stage,
            Action::Mask,
            Some(detail.clone()),
            self.took,
        );
        Ok(Intervention {
            check: self.check.to_string(),
            action: Action::Mask,
            detail,
        })
    }
}

/// The byte offset that keeps the last `chars` characters of `text` back.
fn hold_back(text: &str, chars: usize) -> usize {
    if chars == 0 {
        return text.len();
    }
    text.char_indices()
        .rev()
        .nth(chars - 1)
        .map_or(0, |(i, _)| i)
}

/// Replaces spans (from the last, so earlier offsets stay valid). A span that reaches into
/// released text, is out of range or splits a character is refused: what was shown
/// cannot be taken back, so the answer must stop instead.
fn apply_masks(text: &mut String, released: usize, mut spans: Vec<MaskSpan>) -> Result<(), String> {
    spans.sort_by_key(|s| std::cmp::Reverse(s.start));
    let mut floor = text.len();
    for span in &spans {
        if span.start < released {
            return Err("a masked span reaches text already shown; the answer was stopped".into());
        }
        if span.start > span.end
            || span.end > floor
            || !text.is_char_boundary(span.start)
            || !text.is_char_boundary(span.end)
        {
            return Err(format!(
                "a check returned an invalid span {}..{}; the answer was stopped",
                span.start, span.end
            ));
        }
        text.replace_range(span.start..span.end, &span.placeholder);
        floor = span.start;
    }
    Ok(())
}

/// Runs the tool-call checks on one call; masks rewrite its arguments.
pub async fn check_tool_call(
    call: &mut ToolCall,
    checks: &[std::sync::Arc<dyn Check>],
    log: &mut DecisionLog,
) -> Result<Vec<Intervention>, Blocked> {
    let mut interventions = Vec::new();
    for check in checks {
        let started = Instant::now();
        let decision = check.check_tool_call(call).await;
        let mut step = Decision::new(check.name(), Stage::ToolCall, started, log);
        match decision {
            OutputDecision::Allow | OutputDecision::Hold { .. } => step.note(Action::Allow),
            OutputDecision::Mask(spans) => {
                let detail = format!(
                    "masked {} span(s) in the arguments of {}",
                    spans.len(),
                    call.name
                );
                interventions.push(step.mask(&mut call.arguments, 0, spans, detail)?);
            }
            OutputDecision::Block { reason } => return Err(step.block(reason)),
            // A tool call cannot wait for a person mid-run: it is stopped instead.
            OutputDecision::Review { reason } => {
                return Err(step.block(format!("{reason} (a tool call cannot wait for review)")))
            }
        }
    }
    Ok(interventions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::Arc;

    /// Holds back a possible start of `SECRET` and masks it once whole.
    struct Secret;

    #[async_trait]
    impl Check for Secret {
        fn name(&self) -> &str {
            "secret"
        }
        fn config_digest(&self) -> String {
            "secret-v1".into()
        }
        async fn check_output(&self, text: &str, released: usize, _end: bool) -> OutputDecision {
            let word = "SECRET";
            if let Some(i) = text[released..].find(word) {
                let start = released + i;
                return OutputDecision::Mask(vec![MaskSpan {
                    start,
                    end: start + word.len(),
                    placeholder: "{S}".into(),
                }]);
            }
            // Hold a tail that could be the beginning of the word.
            let tail = (1..word.len())
                .rev()
                .find(|n| text.ends_with(&word[..*n]))
                .unwrap_or(0);
            OutputDecision::Hold { chars: tail }
        }
    }

    struct BlockOn(&'static str);

    #[async_trait]
    impl Check for BlockOn {
        fn name(&self) -> &str {
            "block"
        }
        fn config_digest(&self) -> String {
            self.0.into()
        }
        async fn check_output(&self, text: &str, _released: usize, _end: bool) -> OutputDecision {
            if text.contains(self.0) {
                OutputDecision::Block {
                    reason: format!("said {}", self.0),
                }
            } else {
                OutputDecision::Allow
            }
        }
    }

    async fn feed(pieces: &[&str], checks: &[Arc<dyn Check>]) -> (Vec<String>, Option<Blocked>) {
        let mut r = Releaser::default();
        let mut log = DecisionLog::default();
        let mut out = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            match r.push(p, i + 1 == pieces.len(), checks, &mut log).await {
                Ok((text, _)) => out.push(text),
                Err(b) => return (out, Some(b)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn a_pattern_split_across_pieces_is_never_released() {
        let checks: Vec<Arc<dyn Check>> = vec![Arc::new(Secret)];
        let (out, blocked) = feed(&["the key is SE", "CR", "ET and mo", "re", ""], &checks).await;
        assert!(blocked.is_none());
        assert!(
            out.iter().all(|p| !p.contains("SE") || p.contains("{S}")),
            "{out:?}"
        );
        assert_eq!(out.concat(), "the key is {S} and more");
        // "SE" and "SECR" were held, not shown, while the word was incomplete.
        assert_eq!(out[0], "the key is ");
        assert_eq!(out[1], "");
    }

    #[tokio::test]
    async fn the_held_tail_is_released_at_the_end() {
        let checks: Vec<Arc<dyn Check>> = vec![Arc::new(Secret)];
        let (out, _) = feed(&["ends with SEC", ""], &checks).await;
        assert_eq!(out, ["ends with ", "SEC"]);
    }

    #[tokio::test]
    async fn a_block_releases_nothing_more() {
        let checks: Vec<Arc<dyn Check>> = vec![Arc::new(BlockOn("bomb"))];
        let (out, blocked) = feed(&["how to build a bo", "mb at home"], &checks).await;
        assert_eq!(out, ["how to build a bo"]);
        assert_eq!(blocked.unwrap().check, "block");
    }

    #[tokio::test]
    async fn masks_may_not_touch_released_text() {
        let mut text = String::from("hello world");
        let span = MaskSpan {
            start: 0,
            end: 5,
            placeholder: "x".into(),
        };
        assert!(apply_masks(&mut text, 3, vec![span.clone()]).is_err());
        assert!(apply_masks(&mut text, 0, vec![span]).is_ok());
        assert_eq!(text, "x world");
        let bad = MaskSpan {
            start: 3,
            end: 99,
            placeholder: String::new(),
        };
        assert!(apply_masks(&mut text, 0, vec![bad]).is_err());
    }

    #[test]
    fn hold_back_counts_characters_not_bytes() {
        assert_eq!(hold_back("한국어", 1), "한국".len());
        assert_eq!(hold_back("abc", 5), 0);
        assert_eq!(hold_back("abc", 0), 3);
    }
}
