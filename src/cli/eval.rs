//! `strata eval …` and `strata batch run`: run evaluation jobs from TOML files (with a
//! progress bar, resumable, `--fail-under` for CI), list, show, export and compare them,
//! and run batch inference over a JSONL file. Both go through the same job runner.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::eval::report::{self, ModelSummary};
use crate::eval::runner::{JobEvent, Progress};
use crate::eval::spec::{EvalSpec, Metric};
use crate::eval::store::{Job, JobKind, JobStatus};
use crate::eval::{Evals, Prepared};
use crate::orchestrator::Orchestrator;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::Runtime;
use crate::store::format_micros;

/// Exit code of a job stopped by Ctrl-C (run the same command again to resume).
const EXIT_INTERRUPTED: i32 = 130;
/// Exit code when a `--fail-under` or `--fail-over` threshold is not met.
const EXIT_BELOW_THRESHOLD: i32 = 1;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run a job file (resumes the unfinished job of the same file and data).
    Run {
        file: PathBuf,
        /// Print the job id and, per model, the mean of every metric as JSON.
        #[arg(long)]
        json: bool,
        /// Exit with 1 when a model's mean of METRIC is below VALUE (repeatable; quality
        /// metrics, where higher is better).
        #[arg(long = "fail-under", value_name = "METRIC=VALUE")]
        fail_under: Vec<String>,
        /// Exit with 1 when a model's mean of METRIC is above VALUE (repeatable; latency_ms,
        /// ttft_ms, tokens, cost_usd, errors, where lower is better).
        #[arg(long = "fail-over", value_name = "METRIC=VALUE")]
        fail_over: Vec<String>,
        /// Start a new job even if an unfinished one of this file exists.
        #[arg(long)]
        fresh: bool,
        /// Items in flight at once (default: the file's `concurrency`, else 4).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Every job: name, status, items, models.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A job's summary (models × metrics) and skipped lines; --items lists every item.
    Show {
        /// Job id (or a unique start or end of it), or its name.
        job: String,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        items: bool,
    },
    /// A job as CSV, JSON or Markdown.
    Export {
        job: String,
        /// csv, json or md.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Two jobs item by item: per-metric differences and whether they are significant
    /// (paired bootstrap).
    Compare {
        job_a: String,
        job_b: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a job, its results and its runs.
    Delete { job: String },
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Run every line's prompt or message list through a model, into a JSONL file.
    Run(BatchArgs),
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// JSONL input: lines with `prompt` or `messages` (and optionally `id`, `system`).
    pub input: PathBuf,
    #[arg(short, long)]
    pub model: String,
    /// JSONL output, in input order: id, line, output, status, tokens, cost, latency.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Calls in flight at once.
    #[arg(long, default_value_t = crate::eval::spec::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long)]
    pub temperature: Option<f32>,
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// A guardrail (NAME or NAME@VERSION) on every call.
    #[arg(long)]
    pub guardrail: Option<String>,
    /// Start over even if an unfinished batch of this input exists.
    #[arg(long)]
    pub fresh: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn evals(runtime: Arc<Runtime>) -> Result<Evals> {
    let evals = Evals::new(Orchestrator::new(runtime)?);
    evals.recover()?;
    Ok(evals)
}

pub async fn run(runtime: Arc<Runtime>, cmd: EvalCommand) -> Result<i32> {
    let evals = evals(runtime.clone())?;
    match cmd {
        EvalCommand::Run {
            file,
            json,
            fail_under,
            fail_over,
            fresh,
            concurrency,
        } => {
            let mut spec = EvalSpec::load(&file)?;
            if concurrency.is_some() {
                spec.concurrency = concurrency;
            }
            // Thresholds are checked against the job's columns before anything runs.
            let columns = spec.columns();
            let thresholds = fail_under
                .iter()
                .map(|t| parse_threshold(t, Bound::Under, &columns))
                .chain(
                    fail_over
                        .iter()
                        .map(|t| parse_threshold(t, Bound::Over, &columns)),
                )
                .collect::<Result<Vec<_>>>()?;
            let prepared = evals.prepare(JobKind::Eval, spec, fresh)?;
            let (job, code) = drive(&runtime, &evals, prepared, json).await?;
            if code != 0 {
                return Ok(code);
            }
            let results = evals.jobs.results(job.id)?;
            let summaries = report::summarize(&job, &results);
            if json {
                println!("{}", report::summary_json(&job, &summaries));
            } else {
                print_summary(&job, &summaries);
            }
            Ok(check_thresholds(&summaries, &thresholds))
        }
        EvalCommand::List { json } => {
            let jobs = evals.jobs.list()?;
            if json {
                let list: Vec<_> = jobs
                    .iter()
                    .map(|j| {
                        serde_json::json!({
                            "job": j.id.to_string(), "name": j.spec.name, "kind": j.kind,
                            "status": j.status.as_str(), "items": j.items,
                            "models": j.spec.models, "created_us": j.created_us,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
                return Ok(0);
            }
            if jobs.is_empty() {
                println!("no jobs yet; `strata eval run FILE.toml` runs one");
            }
            for j in jobs {
                let done = evals.jobs.done(j.id)?.len();
                println!(
                    "{}  {:<20} {:<6} {:<11} {:>5}/{:<5} {}  {}",
                    j.id,
                    crate::eval::clip(&j.spec.name, 20),
                    match j.kind {
                        JobKind::Eval => "eval",
                        JobKind::Batch => "batch",
                    },
                    j.status.as_str(),
                    done,
                    j.total(),
                    format_micros(j.created_us),
                    j.spec.models.join(", ")
                );
            }
            Ok(0)
        }
        EvalCommand::Show { job, json, items } => {
            let job = evals.find(&job)?;
            let results = evals.jobs.results(job.id)?;
            if json {
                let mut value = report::to_json(&job, &results);
                if !items {
                    value.as_object_mut().map(|o| o.remove("results"));
                }
                println!("{value}");
                return Ok(0);
            }
            print_summary(&job, &report::summarize(&job, &results));
            if items {
                for r in &results {
                    let scores: Vec<String> = r
                        .scores
                        .iter()
                        .map(|(k, v)| format!("{k}={}", report::format_value(k, *v)))
                        .collect();
                    println!(
                        "\n[{}] {} · {} ({})\n  prompt: {}\n  output: {}\n  {}",
                        r.line,
                        r.item_id,
                        r.model,
                        r.status,
                        crate::eval::clip(r.prompt.trim(), 200),
                        crate::eval::clip(r.output.trim(), 400),
                        scores.join("  ")
                    );
                    for (k, note) in &r.notes {
                        println!("  {k}: {}", crate::eval::clip(note, 300));
                    }
                }
            }
            Ok(0)
        }
        EvalCommand::Export {
            job,
            format,
            output,
        } => {
            let job = evals.find(&job)?;
            let results = evals.jobs.results(job.id)?;
            let text = match format.as_str() {
                "csv" => report::to_csv(&job, &results)?,
                "json" => serde_json::to_string_pretty(&report::to_json(&job, &results))?,
                "md" | "markdown" => report::to_markdown(&job, &results),
                other => bail!("`{other}` is not an export format; use csv, json or md"),
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(0)
        }
        EvalCommand::Compare { job_a, job_b, json } => {
            let a = evals.find(&job_a)?;
            let b = evals.find(&job_b)?;
            let ra = evals.jobs.results(a.id)?;
            let rb = evals.jobs.results(b.id)?;
            let pairs = report::compare(&a, &ra, &b, &rb).map_err(anyhow::Error::msg)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "a": a.id.to_string(),
                        "b": b.id.to_string(),
                        "same_dataset": a.dataset_sha256 == b.dataset_sha256,
                        "pairs": pairs,
                    })
                );
                return Ok(0);
            }
            if a.dataset_sha256 != b.dataset_sha256 {
                eprintln!("note: {}", report::DIFFERENT_DATASETS);
            }
            for line in report::compare_lines(&a, &b, &pairs, 50) {
                println!("{line}");
            }
            Ok(0)
        }
        EvalCommand::Delete { job } => {
            let job = evals.find(&job)?;
            evals.delete(&job)?;
            println!("deleted job {} ({})", job.id, job.spec.name);
            Ok(0)
        }
    }
}

/// `strata batch run`.
pub async fn batch(runtime: Arc<Runtime>, cmd: BatchCommand) -> Result<i32> {
    let BatchCommand::Run(args) = cmd;
    let evals = evals(runtime.clone())?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let input = std::path::absolute(&args.input).unwrap_or(args.input.clone());
    let spec = EvalSpec {
        name: format!(
            "batch {}",
            input
                .file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        ),
        dataset: input,
        models: vec![args.model.clone()],
        template: None,
        system: args.system.clone(),
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        top_p: None,
        seed: None,
        concurrency: Some(args.concurrency),
        guardrail: args.guardrail.clone(),
        cache: false,
        judge: None,
        embedding_model: None,
        metrics: Vec::new(),
    };
    let prepared = evals.prepare(JobKind::Batch, spec, args.fresh)?;
    let (job, code) = drive(&runtime, &evals, prepared, args.json).await?;
    if code != 0 {
        return Ok(code);
    }
    let results = evals.jobs.results(job.id)?;
    crate::eval::batch::write_output(&args.output, &job, &results)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let s = crate::eval::batch::summarize(&job, &results);
    if args.json {
        let mut value = serde_json::to_value(&s)?;
        value["output"] = args.output.display().to_string().into();
        println!("{value}");
    } else {
        println!(
            "{} items → {}: {} ok, {} failed, {} bad lines; {} input + {} output tokens, ${:.5}, {:.1}s",
            s.items,
            args.output.display(),
            s.ok,
            s.failed,
            s.bad_lines,
            s.input_tokens,
            s.output_tokens,
            s.cost_usd,
            s.elapsed_ms / 1000.0
        );
        for r in results.iter().filter(|r| r.failed()).take(10) {
            println!(
                "  line {}: {}",
                r.line,
                r.error.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(0)
}

/// Pulls the job's local models, runs it with a progress bar (or progress lines when
/// stderr is not a terminal) and handles Ctrl-C; returns the job and the exit code.
async fn drive(
    runtime: &Runtime,
    evals: &Evals,
    prepared: Prepared,
    quiet: bool,
) -> Result<(Job, i32)> {
    for model in &Evals::models_needed(&prepared.job)? {
        ensure_pulled(runtime, model).await?;
    }
    for bad in &prepared.job.bad_lines {
        eprintln!("{}: skipped {bad}", prepared.job.spec.dataset.display());
    }
    if prepared.resumed > 0 {
        eprintln!(
            "resuming job {} ({}): {} of {} items already done",
            prepared.job.id,
            prepared.job.spec.name,
            prepared.resumed,
            prepared.job.total()
        );
    }
    let cancel = super::cancel_on_ctrl_c();
    let bar = ProgressBar::new(prepared.job.total() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:24!} [{bar:30}] {pos}/{len} items  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let plain = !std::io::stderr().is_terminal();
    if plain {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_message(prepared.job.spec.name.clone());
    let mut last_line = 0usize;
    let job = evals
        .run(prepared, cancel.clone(), |event| {
            let progress: &Progress = match &event {
                JobEvent::Started { progress, .. } | JobEvent::Item { progress, .. } => progress,
            };
            bar.set_position(progress.done as u64);
            // Without a terminal: a line every ~5% (and the last one).
            let step = (progress.total / 20).max(1);
            if plain
                && !quiet
                && (progress.done >= last_line + step || progress.done == progress.total)
            {
                last_line = progress.done;
                eprintln!(
                    "{}/{} items, {} failed, {:.2} items/s",
                    progress.done,
                    progress.total,
                    progress.failed,
                    progress.rate()
                );
            }
        })
        .await;
    bar.finish_and_clear();
    let job = job?;
    if job.status != JobStatus::Done {
        let done = evals.jobs.done(job.id)?.len();
        eprintln!(
            "stopped: {done} of {} items done and kept; run the same command again to resume \
             job {}",
            job.total(),
            job.id
        );
        return Ok((job, EXIT_INTERRUPTED));
    }
    let _ = std::io::stderr().flush();
    Ok((job, 0))
}

/// Which side of a threshold fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// `--fail-under`: a mean below the value fails.
    Under,
    /// `--fail-over`: a mean above the value fails.
    Over,
}

/// A `METRIC=VALUE` threshold, checked against the job's columns.
fn parse_threshold(text: &str, bound: Bound, columns: &[String]) -> Result<(String, f64, Bound)> {
    let flag = match bound {
        Bound::Under => "--fail-under",
        Bound::Over => "--fail-over",
    };
    let (metric, value) = text
        .split_once('=')
        .with_context(|| format!("{flag} `{text}`: write METRIC=VALUE, e.g. exact_match=0.8"))?;
    let metric = metric.trim().to_string();
    let value: f64 = value
        .trim()
        .parse()
        .with_context(|| format!("{flag} `{text}`: `{value}` is not a number"))?;
    if !columns.contains(&metric) {
        bail!(
            "{flag}: the job has no metric `{metric}`; it has {}",
            columns.join(", ")
        );
    }
    let lower_better = Metric::lower_is_better(&metric);
    match bound {
        Bound::Under if lower_better => {
            bail!("--fail-under: lower is better for `{metric}`; use --fail-over {metric}={value}")
        }
        Bound::Over if !lower_better => {
            bail!("--fail-over: higher is better for `{metric}`; use --fail-under {metric}={value}")
        }
        _ => Ok((metric, value, bound)),
    }
}

/// Exit code 1 (with a line per miss) when a model's mean is on the wrong side of a
/// threshold.
fn check_thresholds(summaries: &[ModelSummary], thresholds: &[(String, f64, Bound)]) -> i32 {
    let mut failed = false;
    for (metric, limit, bound) in thresholds {
        for s in summaries {
            let mean = s.mean(metric);
            let ok = match (mean, bound) {
                (Some(m), Bound::Under) => m >= *limit,
                (Some(m), Bound::Over) => m <= *limit,
                (None, _) => false,
            };
            if !ok {
                failed = true;
                eprintln!(
                    "{}: {} {metric} = {} is {} {limit}",
                    match bound {
                        Bound::Under => "fail-under",
                        Bound::Over => "fail-over",
                    },
                    s.model,
                    mean.map_or("n/a (no item scored)".into(), |m| format!("{m:.4}")),
                    match bound {
                        Bound::Under => "below",
                        Bound::Over => "above",
                    }
                );
            }
        }
    }
    if failed {
        EXIT_BELOW_THRESHOLD
    } else {
        0
    }
}

/// The models × metrics table.
fn print_summary(job: &Job, summaries: &[ModelSummary]) {
    println!(
        "{} · job {} · {} · {} items{}",
        job.spec.name,
        job.id,
        job.status.as_str(),
        job.items,
        if job.bad_lines.is_empty() {
            String::new()
        } else {
            format!(", {} bad lines skipped", job.bad_lines.len())
        }
    );
    let columns: Vec<String> = summaries
        .first()
        .map(|s| s.columns.iter().map(|c| c.column.clone()).collect())
        .unwrap_or_default();
    let width = summaries
        .iter()
        .map(|s| s.model.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut header = format!("{:<width$} {:>6} {:>6}", "model", "items", "failed");
    for c in &columns {
        header.push_str(&format!(" {:>w$}", c, w = c.len().max(8)));
    }
    println!("{header}");
    for (i, s) in summaries.iter().enumerate() {
        let mut line = format!("{:<width$} {:>6} {:>6}", s.model, s.items, s.failed);
        for c in &columns {
            let mark = if report::best(summaries, c) == Some(i) {
                "*"
            } else {
                ""
            };
            let cell = s
                .mean(c)
                .map(|v| format!("{}{mark}", report::format_value(c, v)))
                .unwrap_or_else(|| "–".into());
            line.push_str(&format!(" {:>w$}", cell, w = c.len().max(8)));
        }
        println!("{line}");
    }
    if summaries.len() > 1 {
        println!("(* best in its column)");
    }
    for s in summaries {
        println!(
            "{}: {} input + {} output tokens, ${:.5}",
            s.model, s.input_tokens, s.output_tokens, s.cost_usd
        );
    }
}
