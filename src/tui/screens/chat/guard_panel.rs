//! The live guardrail panel beside the conversation: for the current message, each
//! policy's verdict, its score against its threshold and its time, for the question and
//! for the answer as it streams; and the marking of masked spans (`{EMAIL}`, …) in the
//! conversation.

use std::sync::OnceLock;

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use regex::Regex;

use crate::guardrails::engine::{FinalAction, PolicyAssessment, PolicyKind, Verdict};
use crate::guardrails::{GuardrailUpdate, Source};
use crate::tui::screens::Shared;
use crate::tui::theme::Theme;

/// The panel's state: the latest assessments of the current turn, per side.
#[derive(Debug, Default)]
pub struct GuardPanel {
    pub input: Option<GuardrailUpdate>,
    pub output: Option<GuardrailUpdate>,
    /// Shown or hidden by the user; None follows whether a guardrail is attached.
    pub shown: Option<bool>,
}

impl GuardPanel {
    /// A new turn began: forget the last one's assessments.
    pub fn reset(&mut self) {
        self.input = None;
        self.output = None;
    }

    pub fn note(&mut self, update: GuardrailUpdate) {
        match update.source {
            Source::Input => self.input = Some(update),
            Source::Output => self.output = Some(update),
        }
    }

    /// Whether it takes room beside the chat at this terminal width.
    pub fn visible(&self, attached: bool, width: u16) -> bool {
        width >= 60 && self.shown.unwrap_or(attached && width >= 100)
    }

    /// Its width at a terminal width.
    pub fn width(width: u16) -> u16 {
        if width >= 120 {
            44
        } else {
            30
        }
    }

    pub fn draw(&self, cx: &Shared, frame: &mut Frame, area: Rect, label: Option<&str>) {
        let t = &cx.theme;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(t.border))
            .title(" Guardrail ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let w = usize::from(inner.width);
        let mut lines = vec![Line::from(Span::styled(
            fit(label.unwrap_or("none (ctrl-g attaches one)"), w),
            Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
        ))];
        for (title, side) in [("question", &self.input), ("answer", &self.output)] {
            let head = format!("─ {title} ");
            let rule = "─".repeat(w.saturating_sub(head.chars().count()));
            lines.push(Line::from(Span::styled(
                fit(&format!("{head}{rule}"), w),
                Style::default().fg(t.muted),
            )));
            match side {
                None => lines.push(Line::from(Span::styled(
                    "  not assessed yet",
                    Style::default().fg(t.muted),
                ))),
                Some(u) => {
                    for row in &u.rows {
                        lines.extend(row_lines(t, row, w));
                    }
                    if let Some(a) = u.action {
                        let (word, colour) = match a {
                            FinalAction::None => ("passed", t.success),
                            FinalAction::Anonymized => ("masked", t.warning),
                            FinalAction::NeedsReview => ("held for review", t.warning),
                            FinalAction::Blocked => ("BLOCKED", t.error),
                        };
                        lines.push(Line::from(vec![
                            Span::styled("  → ", Style::default().fg(t.muted)),
                            Span::styled(
                                word,
                                Style::default().fg(colour).add_modifier(Modifier::BOLD),
                            ),
                        ]));
                    }
                }
            }
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// One policy as panel lines: mark, name, score/threshold, time; on one line when it fits,
/// else the figures go on a second line.
fn row_lines<'a>(t: &Theme, row: &PolicyAssessment, width: usize) -> Vec<Line<'a>> {
    let (mark, colour) = match row.verdict {
        Verdict::Skipped => ("·", t.muted),
        Verdict::Pass => ("✓", t.success),
        Verdict::Anonymized => ("◐", t.warning),
        Verdict::NeedsReview => ("?", t.warning),
        Verdict::Blocked => ("✗", t.error),
    };
    let name = match row.policy {
        PolicyKind::ContentFilter | PolicyKind::DeniedTopic => row.name.clone(),
        PolicyKind::WordFilter => "words".into(),
        PolicyKind::SensitiveInformation => "sensitive".into(),
        PolicyKind::Grounding => "grounding".into(),
        PolicyKind::Relevance => "relevance".into(),
        PolicyKind::Review => "review".into(),
    };
    let score = match (row.score, row.threshold) {
        (Some(s), Some(th)) => format!("{s:.2}/{th:.2}"),
        _ if !row.items.is_empty() => format!("{} hit", row.items.len()),
        _ => String::new(),
    };
    let ms = row.time_us as f64 / 1000.0;
    let time = if ms < 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    };
    let tail = format!(" {score:>9} {time:>7}");
    let mark = Span::styled(format!(" {mark} "), Style::default().fg(colour));
    let one_line = 3 + name.chars().count() + tail.chars().count() <= width;
    if one_line {
        let name_w = width.saturating_sub(3 + tail.chars().count());
        return vec![Line::from(vec![
            mark,
            Span::raw(format!("{name:<name_w$}")),
            Span::styled(tail, Style::default().fg(t.muted)),
        ])];
    }
    let figures = format!("{score} {time}");
    vec![
        Line::from(vec![mark, Span::raw(fit(&name, width.saturating_sub(3)))]),
        Line::from(Span::styled(
            format!("{:>width$}", fit(&figures, width)),
            Style::default().fg(t.muted),
        )),
    ]
}

fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Marks anonymized spans (`{EMAIL}`, `{CREDIT_CARD}`, `{TICKET}`, …) in a line of the
/// conversation so they stand out from the text around them.
pub fn mark_masked<'a>(line: Line<'a>, t: &Theme) -> Line<'a> {
    static PLACEHOLDER: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = PLACEHOLDER
        .get_or_init(|| Regex::new(r"\{[A-Z][A-Z0-9_]{1,30}\}").ok())
        .as_ref()
    else {
        return line;
    };
    if !line.spans.iter().any(|s| re.is_match(&s.content)) {
        return line;
    }
    let mark = Style::default()
        .fg(t.warning)
        .add_modifier(Modifier::REVERSED);
    let mut spans = Vec::new();
    for span in line.spans {
        let text = span.content.to_string();
        let mut last = 0;
        for m in re.find_iter(&text) {
            if m.start() > last {
                spans.push(Span::styled(text[last..m.start()].to_string(), span.style));
            }
            spans.push(Span::styled(m.as_str().to_string(), span.style.patch(mark)));
            last = m.end();
        }
        if last < text.len() {
            spans.push(Span::styled(text[last..].to_string(), span.style));
        }
    }
    Line { spans, ..line }
}
