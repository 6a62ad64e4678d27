//! Drawing the Agents screen: the agents and runs lists (left), the shown run's header,
//! its steps (shared fork steps marked, the held step announced) and the selected step's
//! detail, or two runs' diff side by side with the first divergence marked.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{short_id, AgentsScreen, Pane};
use crate::eval::clip;
use crate::orchestrator::diff::StepView;
use crate::orchestrator::runs::{Step, StepKind};
use crate::runtime::types::Role;
use crate::tui::agent_jobs::{LoadedDiff, LoadedRun};
use crate::tui::screens::Shared;
use crate::tui::theme::Theme;
use crate::tui::view::{pane_block, selected_style};

pub fn draw(s: &AgentsScreen, frame: &mut Frame, area: Rect, cx: &Shared) {
    let t = &cx.theme;
    let left_w = if area.width >= 100 { 34 } else { 26 }.min(area.width / 2);
    let left = Rect::new(area.x, area.y, left_w, area.height);
    let right = Rect::new(area.x + left_w, area.y, area.width - left_w, area.height);
    let agents_h = (s.agents.len() as u16 + 2)
        .clamp(3, left.height / 2)
        .max(3)
        .min(left.height);
    draw_agents(s, frame, Rect::new(left.x, left.y, left.width, agents_h), t);
    draw_runs(
        s,
        frame,
        Rect::new(
            left.x,
            left.y + agents_h,
            left.width,
            left.height - agents_h,
        ),
        t,
    );
    if let Some(diff) = &s.diff {
        draw_diff(diff, frame, right, t);
        return;
    }
    let steps_h = (right.height * 2 / 5).max(5).min(right.height);
    let steps = Rect::new(right.x, right.y, right.width, steps_h);
    let detail = Rect::new(
        right.x,
        right.y + steps_h,
        right.width,
        right.height - steps_h,
    );
    draw_steps(s, frame, steps, t);
    draw_detail(s, frame, detail, t);
}

/// Rows of `lines` that fit `height`, scrolled so `selected` shows.
fn window<T>(items: &[T], selected: usize, height: u16) -> (usize, usize) {
    let fits = usize::from(height).max(1);
    let end_limit = items.len();
    let first = selected.saturating_sub(fits - 1).min(end_limit);
    (first, (first + fits).min(end_limit))
}

fn draw_agents(s: &AgentsScreen, frame: &mut Frame, r: Rect, t: &Theme) {
    let b = pane_block(t, " Agents ".into(), s.focus == Pane::Agents);
    let inner = b.inner(r);
    frame.render_widget(b, r);
    let w = usize::from(inner.width);
    if let Some(k) = &s.kept {
        let lines = crate::tui::view::error_at_line(
            t,
            &k.error,
            &k.text,
            k.line,
            "E edits it again at that line · Esc drops the edit",
            inner.width,
        );
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    if s.agents.is_empty() {
        let text = s
            .error
            .clone()
            .unwrap_or_else(|| "No agents yet: n writes one from a template in $EDITOR.".into());
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .style(Style::default().fg(t.muted)),
            inner,
        );
        return;
    }
    let (first, end) = window(&s.agents, s.agent_selected, inner.height);
    let lines: Vec<Line> = s.agents[first..end]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let i = i + first;
            let mark = if a.problems.is_empty() { " " } else { "!" };
            let text = clip(
                &format!("{mark}{} · {} tool(s)", a.name, a.tools + a.mcp_servers),
                w,
            );
            let style = if i == s.agent_selected && s.focus == Pane::Agents {
                selected_style(t)
            } else if !a.problems.is_empty() {
                Style::default().fg(t.error)
            } else {
                Style::default()
            };
            Line::from(Span::styled(text, style))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn status_style(t: &Theme, status: &str) -> Style {
    match status {
        "awaiting_approval" => Style::default().fg(t.warning),
        "failed" | "blocked" | "interrupted" => Style::default().fg(t.error),
        "done" => Style::default().fg(t.success),
        _ => Style::default().fg(t.accent),
    }
}

fn draw_runs(s: &AgentsScreen, frame: &mut Frame, r: Rect, t: &Theme) {
    let b = pane_block(
        t,
        format!(" Runs ({}) ", s.runs.len()),
        s.focus == Pane::Runs,
    );
    let inner = b.inner(r);
    frame.render_widget(b, r);
    let w = usize::from(inner.width);
    if s.runs.is_empty() {
        frame.render_widget(
            Paragraph::new("none yet: Enter on an agent runs it")
                .wrap(Wrap { trim: true })
                .style(Style::default().fg(t.muted)),
            inner,
        );
        return;
    }
    let (first, end) = window(&s.runs, s.run_selected, inner.height);
    let lines: Vec<Line> = s.runs[first..end]
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let i = i + first;
            let status = row.run.status_name();
            let fork = if row.run.parent.is_some() { "⑂" } else { " " };
            let marked = if s.marked == Some(row.run.id) {
                "◆"
            } else {
                " "
            };
            let head = clip(
                &format!("{marked}{fork}{} {}", short_id(row.run.id), row.agent),
                w.saturating_sub(status.len() + 1),
            );
            let style = if i == s.run_selected && s.focus == Pane::Runs {
                selected_style(t)
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(head, style),
                Span::raw(" "),
                Span::styled(status.to_string(), status_style(t, status)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One line for a step in the list.
fn step_line(step: &Step) -> String {
    match step.kind {
        StepKind::ModelCall => {
            let what = if step.tool_calls.is_empty() {
                step.output.replace('\n', " ")
            } else {
                let calls: Vec<String> = step
                    .tool_calls
                    .iter()
                    .map(|c| format!("{}({})", c.name, c.arguments))
                    .collect();
                format!("→ {}", calls.join(", "))
            };
            format!(
                "{:>3} chat         {:>6.0} ms  {}  {what}",
                step.index, step.latency_ms, step.outcome
            )
        }
        StepKind::ToolCall => {
            let call = step
                .tool_calls
                .last()
                .map(|c| format!("{}({})", c.name, c.arguments))
                .unwrap_or_default();
            format!(
                "{:>3} execute_tool {:>6.0} ms  {}  {call} ⇒ {}",
                step.index,
                step.latency_ms,
                step.outcome,
                step.output.replace('\n', " ")
            )
        }
    }
}

fn draw_steps(s: &AgentsScreen, frame: &mut Frame, r: Rect, t: &Theme) {
    let Some(shown) = &s.shown else {
        let b = pane_block(t, " Steps ".into(), s.focus == Pane::Steps);
        let inner = b.inner(r);
        frame.render_widget(b, r);
        frame.render_widget(
            Paragraph::new(
                "Enter on an agent gives it a task; Enter on a run opens it. \
                 p before Enter starts the run held before its first step.",
            )
            .wrap(Wrap { trim: true })
            .style(Style::default().fg(t.muted)),
            inner,
        );
        return;
    };
    let run = &shown.run;
    let parent = run
        .parent
        .map(|p| format!(" · fork of {} at step {}", short_id(p.run), p.step))
        .unwrap_or_default();
    // The whole id (to copy for `strata agent …`) where it fits, else its short form.
    let title_with = |id: String| {
        format!(
            " Run {id} · {} · {}{parent} ",
            run.agent.model,
            run.status_name()
        )
    };
    let mut title = title_with(run.id.to_string());
    if title.chars().count() + 2 > usize::from(r.width) {
        title = title_with(short_id(run.id));
    }
    let b = pane_block(t, title, s.focus == Pane::Steps);
    let inner = b.inner(r);
    frame.render_widget(b, r);
    let w = usize::from(inner.width);
    let mut lines: Vec<Line> = Vec::new();
    let held = s
        .live
        .as_ref()
        .filter(|l| l.run == Some(run.id))
        .and_then(|l| l.held.as_ref());
    let rows = usize::from(inner.height).saturating_sub(usize::from(held.is_some()));
    let (first, end) = window(&shown.steps, s.step_selected, rows as u16);
    for (i, step) in shown.steps[first..end].iter().enumerate() {
        let i = i + first;
        let shared = run.parent.is_some_and(|p| step.index <= p.step);
        let text = clip(
            &format!("{}{}", if shared { "┆" } else { " " }, step_line(step)),
            w,
        );
        let style = if i == s.step_selected {
            selected_style(t)
        } else if step.outcome == "awaiting_approval" {
            Style::default().fg(t.warning)
        } else if shared {
            Style::default().fg(t.muted)
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(text, style)));
    }
    if let Some(next) = held {
        let what = match (&next.kind, &next.call) {
            (StepKind::ToolCall, Some(call)) => {
                format!("execute_tool {}({})", call.name, call.arguments)
            }
            _ => "chat (a model call)".into(),
        };
        lines.push(Line::from(Span::styled(
            clip(
                &format!(
                    " ⏸ held before step {}: {what} · s step · c continue · e edit",
                    next.index
                ),
                w,
            ),
            Style::default().fg(t.warning).add_modifier(Modifier::BOLD),
        )));
    }
    if shown.steps.is_empty() && held.is_none() {
        lines.push(Line::from(Span::styled(
            "no steps yet",
            Style::default().fg(t.muted),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The selected step in full: what went in, what came out, the checks.
fn detail_lines(shown: &LoadedRun, index: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let heading = |text: String| {
        Line::from(Span::styled(
            text,
            Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
        ))
    };
    let Some(step) = shown.steps.get(index) else {
        if let Some(e) = &shown.run.error {
            lines.push(Line::from(Span::styled(
                format!("error: {e}"),
                Style::default().fg(t.error),
            )));
        }
        return lines;
    };
    let kind = match step.kind {
        StepKind::ModelCall => "chat",
        StepKind::ToolCall => "execute_tool",
    };
    let mut head = format!(
        "step {} · {kind} · {} · {:.0} ms",
        step.index, step.outcome, step.latency_ms
    );
    if step.kind == StepKind::ModelCall {
        head.push_str(&format!(
            " · {} in / {} out tokens{}",
            step.usage.input_tokens,
            step.usage.output_tokens,
            if step.usage_estimated { " (est.)" } else { "" }
        ));
    }
    if let Some(record) = step.record_id {
        head.push_str(&format!(" · record {}", short_id(record)));
    }
    lines.push(heading(head));
    let muted = Style::default().fg(t.muted);
    match step.kind {
        StepKind::ModelCall => {
            if let Some(system) = &step.system {
                lines.push(heading("instructions".into()));
                lines.extend(system.lines().map(|l| Line::from(format!("  {l}"))));
            }
            lines.push(heading(format!(
                "input ({} message(s){})",
                step.input.len(),
                if step.dropped_messages > 0 {
                    format!(", {} left out to fit", step.dropped_messages)
                } else {
                    String::new()
                }
            )));
            for m in &step.input {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::Tool => "tool",
                };
                let mut text = m.content.replace('\n', " ");
                for c in &m.tool_calls {
                    text.push_str(&format!(" → {}({})", c.name, c.arguments));
                }
                lines.push(Line::from(vec![
                    Span::styled(format!("  {role}: "), muted),
                    Span::raw(text),
                ]));
            }
            lines.push(heading("output".into()));
            lines.extend(step.output.lines().map(|l| Line::from(format!("  {l}"))));
            for c in &step.tool_calls {
                lines.push(Line::from(Span::styled(
                    format!("  calls {}({})", c.name, c.arguments),
                    Style::default().fg(t.accent),
                )));
            }
        }
        StepKind::ToolCall => {
            if let Some(call) = step.tool_calls.first() {
                lines.push(heading("call".into()));
                lines.push(Line::from(format!("  {}({})", call.name, call.arguments)));
            }
            if let Some(edited) = step.tool_calls.get(1) {
                lines.push(Line::from(Span::styled(
                    format!("  run with edited arguments {}", edited.arguments),
                    Style::default().fg(t.warning),
                )));
            }
            lines.push(heading("result".into()));
            lines.extend(step.output.lines().map(|l| Line::from(format!("  {l}"))));
        }
    }
    if !step.checks.is_empty() {
        lines.push(heading("checks".into()));
        for c in &step.checks {
            lines.push(Line::from(format!(
                "  {} {:?} {:?}{} ({} µs)",
                c.check,
                c.stage,
                c.action,
                c.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default(),
                c.time_us
            )));
        }
    }
    lines
}

fn draw_detail(s: &AgentsScreen, frame: &mut Frame, r: Rect, t: &Theme) {
    let b = pane_block(t, " Step ".into(), false);
    let inner = b.inner(r);
    frame.render_widget(b, r);
    let Some(shown) = &s.shown else {
        return;
    };
    let mut lines = Vec::new();
    if let Some((_, summary)) = s.scored.as_ref().filter(|(run, _)| *run == shown.run.id) {
        lines.push(Line::from(Span::styled(
            format!("scored again as its evaluation item: {summary}"),
            Style::default().fg(t.success).add_modifier(Modifier::BOLD),
        )));
    }
    lines.extend(detail_lines(shown, s.step_selected, t));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((s.detail_scroll, 0)),
        inner,
    );
}

/// One side of a diff row.
fn diff_side(view: &Option<StepView>) -> String {
    match view {
        None => "—".into(),
        Some(v) => {
            let kind = match v.kind {
                StepKind::ModelCall => "chat",
                StepKind::ToolCall => "tool",
            };
            let what = match (v.kind, v.calls.is_empty()) {
                (_, true) => v.output.replace('\n', " "),
                // The result first: it is what a fork with an edited result changes.
                (StepKind::ToolCall, false) => {
                    format!("⇒ {} · {}", v.output.replace('\n', " "), v.calls.join(", "))
                }
                (StepKind::ModelCall, false) => format!("→ {}", v.calls.join(", ")),
            };
            format!("{}. {kind} {what}", v.index)
        }
    }
}

fn draw_diff(d: &LoadedDiff, frame: &mut Frame, r: Rect, t: &Theme) {
    let title = match d.diff.first_divergence {
        Some(i) => format!(" Diff · first divergence at step {} · Esc closes ", i + 1),
        None => " Diff · the runs match step for step · Esc closes ".into(),
    };
    let b = pane_block(t, title, true);
    let inner = b.inner(r);
    frame.render_widget(b, r);
    let half = usize::from(inner.width.saturating_sub(5)) / 2;
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "  {:<half$} │ {}",
            clip(&format!("A {} {}", short_id(d.a.id), d.a.agent.model), half),
            clip(&format!("B {} {}", short_id(d.b.id), d.b.agent.model), half)
        ),
        Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
    ))];
    for (i, row) in d.diff.rows.iter().enumerate() {
        let first = Some(i) == d.diff.first_divergence;
        let mark = if first {
            "▶"
        } else if row.same {
            " "
        } else {
            "≠"
        };
        let style = if first {
            Style::default().fg(t.warning).add_modifier(Modifier::BOLD)
        } else if row.same {
            Style::default().fg(t.muted)
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{mark} {:<half$} │ {}",
                clip(&diff_side(&row.a), half),
                clip(&diff_side(&row.b), half)
            ),
            style,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
