//! The evaluation screen: the jobs (left, with a live progress bar while one runs; runs
//! keep going while other screens are shown), the selected job's summary table (models ×
//! metrics, the best of each column highlighted) and a chart (latency distribution,
//! score by tag, the compare view's votes per model pair; `v` cycles), and a drill-down
//! (Enter) listing the items with every model's output side by side. From the keyboard: a
//! new job (a form of dataset with path completion, models and metrics, then the file in
//! `$EDITOR`, checked, saved in the data dir's `jobs/` and run), run a job file, run the
//! selected job again (resume), stop, delete (naming what is lost), and the paired
//! comparison of two jobs.

use std::path::PathBuf;

use ratatui::layout::{Direction, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Wrap};
use ratatui::Frame;
use tokio_util::sync::CancellationToken;

use super::{Event, Screen, ScreenId, Shared};
use crate::eval::report;
use crate::eval::runner::Progress;
use crate::eval::spec::Metric;
use crate::eval::store::ItemResult;
use crate::eval::votes::PairTally;
use crate::store::Id;
use crate::tui::editor::{EditPurpose, EditRequest};
use crate::tui::eval_jobs::{EvalJob, EvalMsg, JobRow, Loaded};
use crate::tui::fields::{Field, FieldForm, FormKind};
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::{Confirm, Destroy, Reply};
use crate::tui::layers::{Layer, PromptKind};
use crate::tui::msg::{Effect, ScreenMsg};

/// How often the shown job's table follows a run (it is read again from sled).
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Latency,
    ByTag,
    Votes,
}

impl Chart {
    fn next(self) -> Chart {
        match self {
            Chart::Latency => Chart::ByTag,
            Chart::ByTag => Chart::Votes,
            Chart::Votes => Chart::Latency,
        }
    }
}

/// A job running from this screen.
#[derive(Debug, Clone)]
pub struct RunningJob {
    pub path: PathBuf,
    pub job: Option<Id>,
    pub name: Option<String>,
    pub progress: Option<Progress>,
    pub cancel: CancellationToken,
}

/// The evaluation screen's state.
pub struct EvalsScreen {
    pub jobs: Vec<JobRow>,
    pub selected: usize,
    pub loaded: Option<Loaded>,
    load_seq: u64,
    pub running: Option<RunningJob>,
    /// Drill-down: the selected item (index into `Loaded::items`), when open.
    pub item: Option<usize>,
    pub chart: Chart,
    pub votes: Vec<PairTally>,
    pub output_scroll: u16,
    pub error: Option<String>,
    /// When the shown job was last read again while it runs.
    followed: Option<std::time::Instant>,
    /// Where job files made in the TUI are kept.
    pub jobs_dir: PathBuf,
    /// A job file written in `$EDITOR` that did not check: the folder it was to go in, the text
    /// and why (n edits it again, Esc drops it).
    pub kept: Option<(PathBuf, String, String)>,
    /// The job marked for a comparison (c on another compares them).
    pub marked: Option<Id>,
}

impl Default for EvalsScreen {
    fn default() -> Self {
        EvalsScreen {
            jobs: Vec::new(),
            selected: 0,
            loaded: None,
            load_seq: 0,
            running: None,
            item: None,
            chart: Chart::Latency,
            votes: Vec::new(),
            output_scroll: 0,
            error: None,
            followed: None,
            jobs_dir: PathBuf::from("jobs"),
            kept: None,
            marked: None,
        }
    }
}

impl EvalsScreen {
    /// The screen, keeping the job files it makes in `jobs_dir`.
    pub fn new(jobs_dir: PathBuf) -> EvalsScreen {
        EvalsScreen {
            jobs_dir,
            ..EvalsScreen::default()
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// `T`: the selected item's run (its first model's answer) in the Agents debugger,
    /// where a fork of it is scored again with this job's metrics.
    fn open_run(&mut self, cx: &mut Shared) -> Vec<Effect> {
        let found = self.loaded.as_ref().and_then(|l| {
            let item = *l.items.get(self.item?)?;
            l.results
                .iter()
                .filter(|r| r.item == item)
                .min_by_key(|r| r.model_index)
                .map(|r| {
                    let item = crate::eval::rescore::ItemRef {
                        job: r.job,
                        model_index: r.model_index,
                        item: r.item,
                    };
                    (r.run, item)
                })
        });
        match found {
            Some((run, item)) => vec![
                Effect::Show(ScreenId::Agents),
                Effect::Send(
                    ScreenId::Agents,
                    ScreenMsg::OpenRun {
                        run,
                        item: Some(item),
                    },
                ),
            ],
            None => {
                cx.flash = Some("open a job's items (Enter) and select one first".into());
                Vec::new()
            }
        }
    }

    fn load_selected(&mut self) -> Vec<Effect> {
        let Some(row) = self.jobs.get(self.selected) else {
            return Vec::new();
        };
        self.load_seq += 1;
        vec![Effect::Eval(
            ScreenId::Evals,
            EvalJob::Load {
                id: row.job.id,
                seq: self.load_seq,
            },
        )]
    }

    fn on_msg(&mut self, msg: EvalMsg, cx: &mut Shared) -> Vec<Effect> {
        match msg {
            EvalMsg::List(Ok(jobs)) => {
                let keep = self.jobs.get(self.selected).map(|r| r.job.id);
                self.jobs = jobs;
                self.selected = keep
                    .and_then(|id| self.jobs.iter().position(|r| r.job.id == id))
                    .unwrap_or(0);
                self.error = None;
                let stale = self.loaded.as_ref().map(|l| l.job.id)
                    != self.jobs.get(self.selected).map(|r| r.job.id);
                if stale || self.loaded.is_none() {
                    return self.load_selected();
                }
            }
            EvalMsg::List(Err(e)) => self.error = Some(e),
            EvalMsg::Loaded { seq, result } if seq == self.load_seq => match result {
                Ok(loaded) => {
                    self.loaded = Some(*loaded);
                    if let Some(i) = self.item {
                        let n = self.loaded.as_ref().map_or(0, |l| l.items.len());
                        self.item = (n > 0).then(|| i.min(n - 1));
                    }
                }
                Err(e) => self.error = Some(e),
            },
            EvalMsg::Loaded { .. } => {}
            EvalMsg::Started { job, progress } => {
                if let Some(r) = &mut self.running {
                    r.job = Some(job.id);
                    r.name = Some(job.spec.name.clone());
                    r.progress = Some(progress);
                }
                return vec![Effect::Eval(ScreenId::Evals, EvalJob::List)];
            }
            EvalMsg::Progress { job, progress } => {
                if let Some(r) = &mut self.running {
                    r.progress = Some(progress);
                }
                // The shown job's table follows the run, at most once a second.
                let shown = self.loaded.as_ref().map(|l| l.job.id) == Some(job);
                let due = self.followed.is_none_or(|at| at.elapsed() >= FOLLOW_EVERY);
                if shown && due {
                    self.followed = Some(std::time::Instant::now());
                    return self.load_selected();
                }
            }
            EvalMsg::Finished { path, result } => {
                self.running = None;
                cx.flash = Some(match result {
                    Ok(job) if job.status == crate::eval::store::JobStatus::Done => {
                        format!("{} finished: {} items", job.spec.name, job.total())
                    }
                    Ok(job) => format!(
                        "{} stopped; running {} again resumes it",
                        job.spec.name,
                        path.display()
                    ),
                    Err(e) => format!("cannot run {}: {e}", path.display()),
                });
                self.loaded = None;
                return vec![Effect::Eval(ScreenId::Evals, EvalJob::List)];
            }
            EvalMsg::Votes(Ok(v)) => self.votes = v,
            EvalMsg::Votes(Err(e)) => self.error = Some(e),
            EvalMsg::Saved { dir, text, result } => match result {
                Ok(path) => {
                    self.kept = None;
                    if self.running.is_some() {
                        cx.flash = Some(format!(
                            "saved {}; a job is running: o runs this one after it",
                            path.display()
                        ));
                        return vec![Effect::Eval(ScreenId::Evals, EvalJob::List)];
                    }
                    let mut fx = self.start(path.display().to_string(), cx);
                    cx.flash = Some(format!("saved {}; running it…", path.display()));
                    fx.push(Effect::Eval(ScreenId::Evals, EvalJob::List));
                    return fx;
                }
                Err(e) => {
                    cx.flash =
                        Some("the job file does not check: n edits it again, Esc drops it".into());
                    self.kept = Some((dir, text, e));
                }
            },
            EvalMsg::Deleted { name, result } => {
                cx.flash = Some(match result {
                    Ok(()) => format!("deleted job {name} with its results and runs"),
                    Err(e) => format!("cannot delete {name}: {e}"),
                });
                self.loaded = None;
                return vec![Effect::Eval(ScreenId::Evals, EvalJob::List)];
            }
            EvalMsg::Compared(Ok((title, lines))) => cx.open(Layer::Report {
                title: format!("Paired comparison: {title}"),
                lines,
                scroll: 0,
            }),
            EvalMsg::Compared(Err(e)) => cx.flash = Some(format!("cannot compare: {e}")),
        }
        Vec::new()
    }

    /// `n`: the kept job file again, else the form of a new job.
    fn new_job(&mut self, cx: &mut Shared) -> Vec<Effect> {
        if let Some((path, text, _)) = self.kept.clone() {
            return vec![Effect::OpenEditor(EditRequest::new(
                ScreenId::Evals,
                EditPurpose::NewEvalJob(path),
                text,
            ))];
        }
        cx.open(Layer::Fields(Box::new(new_job_form(cx))));
        Vec::new()
    }

    /// The form filled: the job file with its choices, in `$EDITOR`.
    fn submit_form(&mut self, form: FieldForm, cx: &mut Shared) -> Vec<Effect> {
        let name = form.text("name");
        let (dataset, models, metrics) = (
            form.text("dataset"),
            form.marked("models"),
            form.marked("metrics"),
        );
        let problem = if crate::knowledge::spec::check_name(&name).is_err() {
            Some((
                "name",
                format!("{name:?} is not a usable job name: use letters, digits, . _ -"),
            ))
        } else if dataset.is_empty() {
            Some((
                "dataset",
                "name the dataset: a JSONL file (Tab completes)".to_string(),
            ))
        } else if models.is_empty() {
            Some(("models", "mark at least one model (Space)".to_string()))
        } else if metrics.is_empty() {
            Some(("metrics", "mark at least one metric (Space)".to_string()))
        } else {
            None
        };
        if let Some((field, e)) = problem {
            cx.open(Layer::Fields(Box::new(form.with_error(Some(field), e))));
            return Vec::new();
        }
        let dataset = crate::tilde::expand_home(&dataset);
        let dataset = std::path::absolute(&dataset).unwrap_or(dataset);
        let text = crate::eval::template::job_file(&name, &dataset, &models, &metrics);
        vec![Effect::OpenEditor(EditRequest::new(
            ScreenId::Evals,
            EditPurpose::NewEvalJob(self.jobs_dir.clone()),
            text,
        ))]
    }

    /// `c`: mark the selected job, or compare it with the marked one.
    fn compare(&mut self, cx: &mut Shared) -> Vec<Effect> {
        let Some(id) = self.jobs.get(self.selected).map(|r| r.job.id) else {
            return Vec::new();
        };
        match self.marked.take() {
            Some(a) if a != id => {
                cx.flash = Some("comparing…".into());
                vec![Effect::Eval(ScreenId::Evals, EvalJob::Compare { a, b: id })]
            }
            Some(_) => {
                cx.flash = Some("unmarked".into());
                Vec::new()
            }
            None => {
                self.marked = Some(id);
                cx.flash = Some("marked as A: select another job and press c to compare".into());
                Vec::new()
            }
        }
    }

    /// `r`: the selected job again (an unfinished one resumes).
    fn resume(&mut self, cx: &mut Shared) -> Vec<Effect> {
        let Some(row) = self.jobs.get(self.selected) else {
            return Vec::new();
        };
        if self.running.is_some() {
            cx.flash = Some("a job is running; Esc stops it".into());
            return Vec::new();
        }
        let cancel = CancellationToken::new();
        self.running = Some(RunningJob {
            path: PathBuf::from(&row.job.spec.name),
            job: Some(row.job.id),
            name: Some(row.job.spec.name.clone()),
            progress: None,
            cancel: cancel.clone(),
        });
        cx.flash = Some(format!("running {} again…", row.job.spec.name));
        vec![Effect::Eval(
            ScreenId::Evals,
            EvalJob::Resume {
                id: row.job.id,
                cancel,
            },
        )]
    }

    fn start(&mut self, path: String, cx: &mut Shared) -> Vec<Effect> {
        let path = path.trim();
        if path.is_empty() {
            return Vec::new();
        }
        if self.running.is_some() {
            cx.flash = Some("a job is running; Esc stops it".into());
            return Vec::new();
        }
        let path = crate::tilde::expand_home(path);
        let cancel = CancellationToken::new();
        self.running = Some(RunningJob {
            path: path.clone(),
            job: None,
            name: None,
            progress: None,
            cancel: cancel.clone(),
        });
        cx.flash = Some(format!("running {}…", path.display()));
        vec![Effect::Eval(ScreenId::Evals, EvalJob::Run { path, cancel })]
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        match (self.item, &self.loaded) {
            (Some(i), Some(l)) if !l.items.is_empty() => {
                let n = l.items.len() as isize;
                self.item = Some((i as isize + delta).rem_euclid(n) as usize);
                self.output_scroll = 0;
                Vec::new()
            }
            (None, _) if !self.jobs.is_empty() => {
                let n = self.jobs.len() as isize;
                self.selected = (self.selected as isize + delta).rem_euclid(n) as usize;
                self.load_selected()
            }
            _ => Vec::new(),
        }
    }
}

/// `~/x` as a path under $HOME.
/// A progress bar as text.
fn bar(p: &Progress, width: usize) -> String {
    let w = width.clamp(4, 30);
    let filled = (p.done * w).checked_div(p.total).unwrap_or(0).min(w);
    let eta = p
        .eta()
        .map_or(String::new(), |e| format!(" eta {:.0}s", e.as_secs_f64()));
    format!(
        "[{}{}] {}/{} {:.1}/s{eta}",
        "=".repeat(filled),
        " ".repeat(w - filled),
        p.done,
        p.total,
        p.rate()
    )
}

impl Screen for EvalsScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Evals
    }

    fn contexts(&self) -> Vec<Context> {
        vec![Context::Evals]
    }

    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![
            Effect::Eval(ScreenId::Evals, EvalJob::List),
            Effect::Eval(ScreenId::Evals, EvalJob::Votes),
        ]
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        use Action as A;
        match event {
            Event::Msg(ScreenMsg::Eval(msg)) => self.on_msg(msg, cx),
            Event::Action(A::ListUp | A::ScrollUp) => self.move_by(-1),
            Event::Action(A::ListDown | A::ScrollDown) => self.move_by(1),
            Event::Action(A::PageDown) => {
                self.output_scroll = self.output_scroll.saturating_add(5);
                Vec::new()
            }
            Event::Action(A::PageUp) => {
                self.output_scroll = self.output_scroll.saturating_sub(5);
                Vec::new()
            }
            Event::Action(A::OpenSession) => {
                if self.item.is_none() && self.loaded.as_ref().is_some_and(|l| !l.items.is_empty())
                {
                    self.item = Some(0);
                    self.output_scroll = 0;
                }
                Vec::new()
            }
            Event::Action(A::Cancel) if self.item.is_some() => {
                self.item = None;
                Vec::new()
            }
            Event::Action(A::Cancel) if self.kept.is_some() && self.running.is_none() => {
                self.kept = None;
                cx.flash = Some("dropped the job file".into());
                Vec::new()
            }
            Event::Action(A::NewItem) => self.new_job(cx),
            Event::Reply(Reply::Fields(form)) if form.kind == FormKind::NewEvalJob => {
                self.submit_form(*form, cx)
            }
            Event::Msg(ScreenMsg::EditorDone(EditPurpose::NewEvalJob(dir), result)) => match result
            {
                Ok(text) => vec![Effect::Eval(ScreenId::Evals, EvalJob::Save { dir, text })],
                Err(e) => {
                    cx.flash = Some(format!("editor: {e}"));
                    Vec::new()
                }
            },
            Event::Action(A::ResumeEval) => self.resume(cx),
            Event::Action(A::CompareJobs) => self.compare(cx),
            Event::Action(A::DeleteItem) => {
                let running = self.running.as_ref().and_then(|r| r.job);
                match self.jobs.get(self.selected) {
                    Some(row) if Some(row.job.id) == running => {
                        cx.flash = Some("the job is running: Esc stops it, then delete it".into())
                    }
                    Some(row) => cx.open(Layer::Confirm(Box::new(Confirm {
                        what: Destroy::EvalJob {
                            id: row.job.id,
                            name: row.job.spec.name.clone(),
                        },
                        question: format!("Delete the job {} ({})?", row.job.spec.name, row.job.id),
                        lost: vec![
                            format!(
                                "its {} results of {} calls, with their scores",
                                row.done,
                                row.job.total()
                            ),
                            "the runs of its answers (the Agents debugger's steps)".into(),
                        ],
                        kept: vec!["its job file and dataset".into()],
                    }))),
                    None => {}
                }
                Vec::new()
            }
            Event::Reply(Reply::Destroy(Destroy::EvalJob { id, .. })) => {
                if self.marked == Some(id) {
                    self.marked = None;
                }
                vec![Effect::Eval(ScreenId::Evals, EvalJob::Delete { id })]
            }
            Event::Action(A::Cancel) => {
                self.cancel_work(cx);
                Vec::new()
            }
            Event::Action(A::OpenRun) => self.open_run(cx),
            Event::Action(A::NextChart) => {
                self.chart = self.chart.next();
                Vec::new()
            }
            Event::Action(A::RunEval) => {
                cx.open(Layer::Prompt(PromptKind::EvalFile, Default::default()));
                Vec::new()
            }
            Event::Reply(Reply::Prompt(PromptKind::EvalFile, input)) => {
                self.start(input.text().to_string(), cx)
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, cx: &Shared) {
        let t = &cx.theme;
        let list_w = if area.width >= 100 { 32 } else { 24 }.min(area.width / 2);
        let list = Rect::new(area.x, area.y, list_w, area.height);
        let right = Rect::new(area.x + list_w, area.y, area.width - list_w, area.height);
        let block = |title: String, focused: bool| crate::tui::view::pane_block(t, title, focused);

        // Jobs.
        let b = block(" Evaluation jobs ".into(), self.item.is_none());
        let inner = b.inner(list);
        frame.render_widget(b, list);
        let mut lines: Vec<Line> = Vec::new();
        if let Some(r) = &self.running {
            let name = r
                .name
                .clone()
                .unwrap_or_else(|| r.path.display().to_string());
            lines.push(Line::from(Span::styled(
                crate::eval::clip(&format!("▶ {name}"), usize::from(inner.width)),
                Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
            )));
            let text = r.progress.as_ref().map_or("  starting…".into(), |p| {
                format!("  {}", bar(p, usize::from(inner.width).saturating_sub(20)))
            });
            lines.push(Line::from(Span::styled(
                crate::eval::clip(&text, usize::from(inner.width)),
                Style::default().fg(t.accent),
            )));
        }
        if self.jobs.is_empty() {
            let hint = self.error.clone().unwrap_or_else(|| {
                "No jobs yet.\nn makes one (a form, then $EDITOR); o runs a job file such as examples/capitals.toml".into()
            });
            lines.extend(crate::tui::view::hint_lines(t, &hint, inner.width));
        }
        // Two lines a job; the list scrolls to keep the selected one in view.
        let fits = (usize::from(inner.height).saturating_sub(lines.len()) / 2).max(1);
        let first = self.selected.saturating_sub(fits - 1);
        for (i, row) in self.jobs.iter().enumerate().skip(first).take(fits) {
            let style = if i == self.selected {
                crate::tui::view::selected_style(t)
            } else {
                Style::default()
            };
            let mark = if self.marked == Some(row.job.id) {
                "A "
            } else {
                ""
            };
            lines.push(Line::from(Span::styled(
                crate::eval::clip(
                    &format!("{mark}{}", row.job.spec.name),
                    usize::from(inner.width),
                ),
                style,
            )));
            lines.push(Line::from(Span::styled(
                format!(
                    "  {} · {}/{}",
                    row.job.status.as_str(),
                    row.done,
                    row.job.total()
                ),
                Style::default().fg(t.muted),
            )));
        }
        frame.render_widget(Paragraph::new(lines), inner);

        let Some(loaded) = &self.loaded else {
            let b = block(" Summary ".into(), false);
            let inner = b.inner(right);
            frame.render_widget(b, right);
            frame.render_widget(
                Paragraph::new(match &self.kept {
                    Some((path, _, e)) => format!(
                        "The new job file (for {}) did not check:\n{e}\n\nn edits it again · Esc drops it",
                        path.display()
                    ),
                    None => "n makes a job · o runs a job file · r runs the selected job again · c compares two jobs · d deletes".into(),
                })
                .wrap(Wrap { trim: true })
                .style(Style::default().fg(t.muted)),
                inner,
            );
            return;
        };
        match self.item {
            None => self.draw_summary(frame, right, loaded, cx),
            Some(i) => self.draw_item(frame, right, loaded, i, cx),
        }
    }

    fn status(&self, _cx: &Shared) -> Vec<String> {
        let running = self.running.as_ref().map_or(String::new(), |r| {
            r.progress.as_ref().map_or(" · starting".into(), |p| {
                format!(" · {}/{} running", p.done, p.total)
            })
        });
        vec![
            format!(" {} job(s){running} ", self.jobs.len()),
            if self.item.is_some() {
                "↑↓ item · PgUp/PgDn outputs · Esc back".into()
            } else {
                "n new · o run file · r again · c compare · Esc stop · v chart".into()
            },
        ]
    }

    fn focus_context(&mut self, _context: Context, _cx: &mut Shared) {}

    fn cancel_work(&mut self, cx: &mut Shared) -> bool {
        match &self.running {
            Some(r) => {
                r.cancel.cancel();
                cx.flash = Some("stopping the job (finished items are kept)…".into());
                true
            }
            None => false,
        }
    }

    fn on_quit(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        if let Some(r) = &self.running {
            r.cancel.cancel();
        }
        Vec::new()
    }

    fn is_busy(&self) -> bool {
        self.is_running()
    }
}

impl EvalsScreen {
    fn draw_summary(&self, frame: &mut Frame, area: Rect, l: &Loaded, cx: &Shared) {
        let t = &cx.theme;
        let table_h = (l.summaries.len() as u16 + 5).min(area.height / 2).max(5);
        let top = Rect::new(area.x, area.y, area.width, table_h);
        let bottom = Rect::new(area.x, area.y + table_h, area.width, area.height - table_h);
        let b = crate::tui::view::pane_block(
            t,
            format!(
                " {} · {} · {} items ",
                l.job.spec.name,
                l.job.status.as_str(),
                l.job.items
            ),
            false,
        );
        let inner = b.inner(top);
        frame.render_widget(b, top);
        let columns: Vec<String> = l
            .summaries
            .first()
            .map(|s| s.columns.iter().map(|c| c.column.clone()).collect())
            .unwrap_or_default();
        let model_w = l
            .summaries
            .iter()
            .map(|s| s.model.len())
            .max()
            .unwrap_or(5)
            .clamp(5, 22);
        let mut header = vec![Span::styled(
            format!("{:<model_w$}", "model"),
            Style::default().fg(t.muted),
        )];
        let mut widths = Vec::new();
        let mut used = model_w;
        for c in &columns {
            let w = c.len().clamp(7, 12) + 1;
            if used + w > usize::from(inner.width) {
                break;
            }
            used += w;
            widths.push(w);
            header.push(Span::styled(
                format!("{:>w$}", crate::eval::clip(c, w - 1)),
                Style::default().fg(t.muted),
            ));
        }
        let mut lines = vec![Line::from(header)];
        for (i, s) in l.summaries.iter().enumerate() {
            let mut spans = vec![Span::raw(format!(
                "{:<model_w$}",
                crate::eval::clip(&s.model, model_w)
            ))];
            for (c, w) in columns.iter().zip(&widths) {
                let cell = s.mean(c).map_or("–".into(), |v| report::format_value(c, v));
                let style = if report::best(&l.summaries, c) == Some(i) {
                    Style::default().fg(t.success).add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                spans.push(Span::styled(format!("{cell:>w$}"), style));
            }
            lines.push(Line::from(spans));
        }
        if widths.len() < columns.len() {
            lines.push(Line::from(Span::styled(
                format!(
                    "{} more column(s): widen the terminal or `strata eval show`",
                    columns.len() - widths.len()
                ),
                Style::default().fg(t.muted),
            )));
        }
        let failed: usize = l.summaries.iter().map(|s| s.failed).sum();
        lines.push(Line::from(Span::styled(
            format!(
                "{} answered · {failed} failed · {} bad lines · best in green",
                l.results.len(),
                l.job.bad_lines.len()
            ),
            Style::default().fg(t.muted),
        )));
        frame.render_widget(Paragraph::new(lines), inner);
        self.draw_chart(frame, bottom, l, cx);
    }

    fn draw_chart(&self, frame: &mut Frame, area: Rect, l: &Loaded, cx: &Shared) {
        let t = &cx.theme;
        let palette = [t.accent, t.success, t.warning, t.user];
        let colour = |i: usize| palette[i % palette.len()];
        let legend: String = l
            .summaries
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}={}", i + 1, s.model))
            .collect::<Vec<_>>()
            .join(" ");
        let (title, chart) = match self.chart {
            Chart::Latency => {
                let mut chart = BarChart::default().bar_width(1).bar_gap(0).group_gap(1);
                for (low, counts) in &l.latency_bins {
                    let bars: Vec<Bar> = counts
                        .iter()
                        .enumerate()
                        .map(|(m, n)| {
                            Bar::default()
                                .value(*n as u64)
                                .style(Style::default().fg(colour(m)))
                        })
                        .collect();
                    chart = chart.data(
                        BarGroup::default()
                            .label(Line::from(format!("{low:.0}")))
                            .bars(&bars),
                    );
                }
                (
                    format!(" Latency (ms): items per bin · {legend} · v next "),
                    chart,
                )
            }
            Chart::ByTag => {
                let mut chart = BarChart::default()
                    .direction(Direction::Horizontal)
                    .bar_width(1)
                    .bar_gap(0)
                    .group_gap(1)
                    .max(100);
                let mut title = " Score by tag: no quality metric · v next ".to_string();
                if let Some((column, tags)) = &l.by_tag {
                    for (tag, means) in tags {
                        let bars: Vec<Bar> = means
                            .iter()
                            .enumerate()
                            .map(|(m, v)| {
                                Bar::default()
                                    .value((v * 100.0).round() as u64)
                                    .text_value(format!("{v:.2}"))
                                    .style(Style::default().fg(colour(m)))
                            })
                            .collect();
                        chart = chart.data(
                            BarGroup::default()
                                .label(Line::from(tag.clone()))
                                .bars(&bars),
                        );
                    }
                    title = format!(" {column} by tag · {legend} · v next ");
                }
                (title, chart)
            }
            Chart::Votes => {
                let mut chart = BarChart::default()
                    .direction(Direction::Horizontal)
                    .bar_width(1)
                    .bar_gap(1)
                    .max(100);
                let bars: Vec<Bar> = self
                    .votes
                    .iter()
                    .map(|p| {
                        let rate = p.win_rate.map_or(0.0, |w| w.rate);
                        let short = crate::tui::view::short_model;
                        Bar::default()
                            .label(Line::from(format!("{} vs {}", short(&p.a), short(&p.b))))
                            .value((rate * 100.0).round() as u64)
                            .text_value(format!(
                                "{:.0}% ({}-{}-{})",
                                rate * 100.0,
                                p.a_wins,
                                p.b_wins,
                                p.ties
                            ))
                            .style(Style::default().fg(t.accent))
                    })
                    .collect();
                chart = chart.data(BarGroup::default().bars(&bars));
                let title = if self.votes.is_empty() {
                    " Votes per model pair: none yet (compare view: w / t) · v next ".to_string()
                } else {
                    " Votes: first model's win rate (win-loss-tie) · v next ".to_string()
                };
                (title, chart)
            }
        };
        let b = crate::tui::view::pane_block(t, title, false);
        frame.render_widget(chart.block(b), area);
    }

    fn draw_item(&self, frame: &mut Frame, area: Rect, l: &Loaded, index: usize, cx: &Shared) {
        let t = &cx.theme;
        let list_h = (area.height / 3).max(4);
        let top = Rect::new(area.x, area.y, area.width, list_h);
        let bottom = Rect::new(area.x, area.y + list_h, area.width, area.height - list_h);
        let first_column = l
            .summaries
            .first()
            .and_then(|s| {
                s.columns
                    .iter()
                    .find(|c| !Metric::lower_is_better(&c.column))
            })
            .map(|c| c.column.clone());
        let b = crate::tui::view::pane_block(
            t,
            format!(
                " Items ({}/{}){} ",
                index + 1,
                l.items.len(),
                first_column
                    .as_ref()
                    .map_or(String::new(), |c| format!(" · {c} per model"))
            ),
            true,
        );
        let inner = b.inner(top);
        frame.render_widget(b, top);
        let visible = usize::from(inner.height);
        let start = index.saturating_sub(visible.saturating_sub(1));
        let lines: Vec<Line> = l
            .items
            .iter()
            .enumerate()
            .skip(start)
            .take(visible)
            .map(|(row, item)| {
                let of_item: Vec<&ItemResult> =
                    l.results.iter().filter(|r| r.item == *item).collect();
                let id = of_item.first().map_or(String::new(), |r| {
                    // Lines without an `id` are named by their number already.
                    let id = if r.item_id == format!("line {}", r.line) {
                        String::new()
                    } else {
                        crate::eval::clip(&r.item_id, 14)
                    };
                    format!("line {:>4} {id}", r.line)
                });
                let scores: Vec<String> = of_item
                    .iter()
                    .map(|r| match (&first_column, r.failed()) {
                        (_, true) => "fail".into(),
                        (Some(c), false) => {
                            r.scores.get(c).map_or("–".into(), |v| format!("{v:.2}"))
                        }
                        (None, false) => format!("{:.0}ms", r.latency_ms),
                    })
                    .collect();
                let style = if row == index {
                    crate::tui::view::selected_style(t)
                } else {
                    Style::default()
                };
                Line::from(Span::styled(
                    format!("{id:<20} {}", scores.join("  ")),
                    style,
                ))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);

        // The outputs side by side.
        let Some(item) = l.items.get(index) else {
            return;
        };
        let of_item: Vec<&ItemResult> = l.results.iter().filter(|r| r.item == *item).collect();
        if of_item.is_empty() {
            return;
        }
        let header_h = 2u16.min(bottom.height);
        let first = of_item[0];
        let head = vec![
            Line::from(vec![
                Span::styled("prompt ", Style::default().fg(t.muted)),
                Span::raw(crate::eval::clip(
                    &first.prompt.replace('\n', " "),
                    usize::from(bottom.width),
                )),
            ]),
            Line::from(Span::styled(
                crate::eval::clip(
                    &format!(
                        "reference {} · tags {}",
                        first.reference.as_deref().unwrap_or("–").replace('\n', " "),
                        first.tags.join(", ")
                    ),
                    usize::from(bottom.width),
                ),
                Style::default().fg(t.muted),
            )),
        ];
        frame.render_widget(
            Paragraph::new(head),
            Rect::new(bottom.x, bottom.y, bottom.width, header_h),
        );
        let body = Rect::new(
            bottom.x,
            bottom.y + header_h,
            bottom.width,
            bottom.height - header_h,
        );
        let n = of_item.len().min(4) as u16;
        let w = body.width / n.max(1);
        for (i, r) in of_item.iter().take(4).enumerate() {
            let x = body.x + i as u16 * w;
            let width = if i as u16 + 1 == n {
                body.right() - x
            } else {
                w
            };
            let rect = Rect::new(x, body.y, width, body.height);
            let b = crate::tui::view::pane_block(t, format!(" {} · {} ", r.model, r.status), false);
            let inner = b.inner(rect);
            frame.render_widget(b, rect);
            let scores: Vec<String> = r
                .scores
                .iter()
                .map(|(k, v)| format!("{k} {}", report::format_value(k, *v)))
                .collect();
            let mut text = vec![Line::from(Span::styled(
                scores.join(" · "),
                Style::default().fg(t.accent),
            ))];
            if let Some(e) = &r.error {
                text.push(Line::from(Span::styled(
                    e.clone(),
                    Style::default().fg(t.error),
                )));
            }
            text.extend(r.output.lines().map(|l| Line::from(l.to_string())));
            for (k, note) in &r.notes {
                text.push(Line::from(Span::styled(
                    format!("{k}: {note}"),
                    Style::default().fg(t.muted),
                )));
            }
            frame.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .scroll((self.output_scroll, 0)),
                inner,
            );
        }
    }
}

/// The form of a new job: its name, the dataset (Tab completes), the models (the chat's
/// model marked) and the metrics.
pub fn new_job_form(cx: &Shared) -> FieldForm {
    let models: Vec<String> = cx.catalog.iter().map(|m| m.id.clone()).collect();
    let metrics: Vec<String> = crate::eval::template::METRICS
        .iter()
        .map(|(m, _)| m.to_string())
        .collect();
    FieldForm::new(
        FormKind::NewEvalJob,
        "New evaluation job (then the file in $EDITOR)",
        vec![
            Field::text("name", "Name", "letters, digits, . _ -", ""),
            Field::path("dataset", "Dataset", "a JSONL file; Tab completes", ""),
            Field::any_of(
                "models",
                "Models",
                "←→ walk, Space marks",
                models,
                &[cx.default_model.as_str()],
            ),
            Field::any_of(
                "metrics",
                "Metrics",
                "←→ walk, Space marks",
                metrics,
                &["exact_match", "token_f1", "latency"],
            ),
        ],
    )
}
