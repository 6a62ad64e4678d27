//! What a job's results say: per model, the mean of every score column (with p50/p95 for
//! times), item and failure counts, tokens and cost; exports as CSV, JSON and Markdown;
//! and the comparison of two jobs item by item with a paired bootstrap per metric (items
//! paired by id; by line number only when both jobs ran on the same dataset).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::dataset::line_id;
use super::spec::Metric;
use super::stats::{self, PairedDiff};
use super::store::{ItemResult, Job};

/// Resamples of the paired bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Its seed: the same two jobs always compare the same way.
pub const BOOTSTRAP_SEED: u64 = 7;

/// One column of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnSummary {
    pub column: String,
    pub mean: Option<f64>,
    /// Items that have this score.
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
}

/// One model's results in a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub model: String,
    /// Items answered (stored results).
    pub items: usize,
    pub failed: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub columns: Vec<ColumnSummary>,
}

impl ModelSummary {
    pub fn mean(&self, column: &str) -> Option<f64> {
        self.columns
            .iter()
            .find(|c| c.column == column)
            .and_then(|c| c.mean)
    }
}

/// The score columns of a job's results: the spec's, then any others found.
pub fn columns(job: &Job, results: &[ItemResult]) -> Vec<String> {
    let mut columns = job.spec.columns();
    let extra: BTreeSet<&String> = results.iter().flat_map(|r| r.scores.keys()).collect();
    for c in extra {
        if !columns.contains(c) {
            columns.push(c.clone());
        }
    }
    columns
}

/// Per model (in the job's order): means and counts of every column.
pub fn summarize(job: &Job, results: &[ItemResult]) -> Vec<ModelSummary> {
    let columns = columns(job, results);
    job.spec
        .models
        .iter()
        .enumerate()
        .map(|(index, model)| {
            let mine: Vec<&ItemResult> =
                results.iter().filter(|r| r.model_index == index).collect();
            let columns = columns
                .iter()
                .map(|column| {
                    let values: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| r.scores.get(column).copied())
                        .collect();
                    let timed = column.ends_with("_ms");
                    ColumnSummary {
                        column: column.clone(),
                        mean: stats::mean(&values),
                        count: values.len(),
                        p50: timed.then(|| stats::percentile(&values, 50.0)).flatten(),
                        p95: timed.then(|| stats::percentile(&values, 95.0)).flatten(),
                    }
                })
                .collect();
            ModelSummary {
                model: model.clone(),
                items: mine.len(),
                failed: mine.iter().filter(|r| r.failed()).count(),
                input_tokens: mine.iter().map(|r| r.usage.input_tokens as u64).sum(),
                output_tokens: mine.iter().map(|r| r.usage.output_tokens as u64).sum(),
                cost_usd: mine.iter().map(|r| r.cost_usd).sum(),
                columns,
            }
        })
        .collect()
}

/// The index of the best model in a column (none when fewer than two have a value or
/// they are all equal).
pub fn best(summaries: &[ModelSummary], column: &str) -> Option<usize> {
    let values: Vec<(usize, f64)> = summaries
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.mean(column).map(|m| (i, m)))
        .collect();
    if values.len() < 2 || values.iter().all(|(_, v)| *v == values[0].1) {
        return None;
    }
    let lower = Metric::lower_is_better(column);
    values
        .into_iter()
        .max_by(|a, b| {
            let ord = a.1.total_cmp(&b.1);
            if lower {
                ord.reverse()
            } else {
                ord
            }
        })
        .map(|(i, _)| i)
}

/// Mean score per tag of one model (items without tags under `(none)`).
pub fn by_tag(results: &[ItemResult], model_index: usize, column: &str) -> Vec<(String, f64)> {
    let mut tags: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.model_index == model_index) {
        let Some(score) = r.scores.get(column) else {
            continue;
        };
        if r.tags.is_empty() {
            tags.entry("(none)".into()).or_default().push(*score);
        }
        for t in &r.tags {
            tags.entry(t.clone()).or_default().push(*score);
        }
    }
    tags.into_iter()
        .filter_map(|(t, v)| stats::mean(&v).map(|m| (t, m)))
        .collect()
}

/// A number as tables show it.
pub fn format_value(column: &str, value: f64) -> String {
    if column.ends_with("_ms") {
        format!("{value:.0}")
    } else if column == "cost_usd" {
        format!("{value:.5}")
    } else if column.ends_with("_tokens") {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// The `--json` summary of a run: the job id and, per model, the mean of every column
/// and the item count.
pub fn summary_json(job: &Job, summaries: &[ModelSummary]) -> serde_json::Value {
    serde_json::json!({
        "job": job.id.to_string(),
        "name": job.spec.name,
        "kind": job.kind,
        "status": job.status.as_str(),
        "items": job.items,
        "bad_lines": job.bad_lines,
        "models": summaries.iter().map(|s| {
            let means: serde_json::Map<String, serde_json::Value> = s.columns.iter()
                .map(|c| (c.column.clone(), c.mean.map_or(serde_json::Value::Null, Into::into)))
                .collect();
            serde_json::json!({
                "model": s.model,
                "items": s.items,
                "failed": s.failed,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost_usd": s.cost_usd,
                "metrics": means,
            })
        }).collect::<Vec<_>>(),
    })
}

/// The whole job as JSON: the spec, the summary and every item.
pub fn to_json(job: &Job, results: &[ItemResult]) -> serde_json::Value {
    let summaries = summarize(job, results);
    let mut value = summary_json(job, &summaries);
    value["spec"] = serde_json::to_value(&job.spec).unwrap_or_default();
    value["results"] = serde_json::to_value(results).unwrap_or_default();
    value
}

/// One row per item and model: ids, status, figures, every score column and the output.
pub fn to_csv(job: &Job, results: &[ItemResult]) -> Result<String, csv::Error> {
    let columns = columns(job, results);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "model",
        "line",
        "id",
        "tags",
        "status",
        "error",
        "latency_ms",
        "ttft_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(columns.iter().map(|c| format!("score:{c}")));
    header.extend(["prompt".to_string(), "output".to_string()]);
    w.write_record(&header)?;
    for r in results {
        let mut row = vec![
            r.model.clone(),
            r.line.to_string(),
            r.item_id.clone(),
            r.tags.join(";"),
            r.status.clone(),
            r.error.clone().unwrap_or_default(),
            format!("{:.1}", r.latency_ms),
            r.ttft_ms.map(|t| format!("{t:.1}")).unwrap_or_default(),
            r.usage.input_tokens.to_string(),
            r.usage.output_tokens.to_string(),
            format!("{:.6}", r.cost_usd),
        ];
        row.extend(
            columns
                .iter()
                .map(|c| r.scores.get(c).map(|v| v.to_string()).unwrap_or_default()),
        );
        row.push(r.prompt.clone());
        row.push(r.output.clone());
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Markdown: the summary table (best per column in bold) and the items.
pub fn to_markdown(job: &Job, results: &[ItemResult]) -> String {
    let summaries = summarize(job, results);
    let columns = columns(job, results);
    let mut md = format!(
        "# {} ({})\n\n{} items × {} models, {}. Job `{}`.\n\n",
        job.spec.name,
        job.status.as_str(),
        job.items,
        job.spec.models.len(),
        job.spec.dataset.display(),
        job.id
    );
    md.push_str(&format!(
        "| model | items | failed | {} |\n",
        columns.join(" | ")
    ));
    md.push_str(&format!(
        "|---|---:|---:|{}\n",
        "---:|".repeat(columns.len())
    ));
    for (i, s) in summaries.iter().enumerate() {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match s.mean(c) {
                Some(v) if best(&summaries, c) == Some(i) => format!("**{}**", format_value(c, v)),
                Some(v) => format_value(c, v),
                None => "–".into(),
            })
            .collect();
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            s.model,
            s.items,
            s.failed,
            cells.join(" | ")
        ));
    }
    if !job.bad_lines.is_empty() {
        md.push_str("\nSkipped lines:\n\n");
        for b in &job.bad_lines {
            md.push_str(&format!("- {b}\n"));
        }
    }
    md.push_str("\n## Items\n");
    for r in results {
        let scores: Vec<String> = r
            .scores
            .iter()
            .map(|(k, v)| format!("{k} {}", format_value(k, *v)))
            .collect();
        md.push_str(&format!(
            "\n### {} · {} ({})\n\n**Prompt:** {}\n\n**Output:** {}\n\n{}\n",
            r.item_id,
            r.model,
            r.status,
            r.prompt.trim(),
            r.output.trim(),
            scores.join(", ")
        ));
    }
    md
}

/// Two jobs' results for one model each, paired by item id (a line's `id`, else, on the
/// same dataset, its line number).
#[derive(Debug, Clone, Serialize)]
pub struct PairComparison {
    pub model_a: String,
    pub model_b: String,
    /// Items both answered.
    pub paired: usize,
    /// Items only one of the jobs answered.
    pub only_a: usize,
    pub only_b: usize,
    pub metrics: Vec<MetricComparison>,
    pub items: Vec<ItemDiff>,
}

/// One metric of a paired comparison.
#[derive(Debug, Clone, Serialize)]
pub struct MetricComparison {
    pub column: String,
    pub diff: PairedDiff,
    /// Which job is better in this metric when the difference is significant (never on
    /// fewer than `stats::MIN_PAIRS` items: `diff.too_few_pairs`).
    pub better: Option<char>,
}

/// One item where the jobs' scores differ.
#[derive(Debug, Clone, Serialize)]
pub struct ItemDiff {
    pub line: usize,
    pub id: String,
    pub column: String,
    pub a: f64,
    pub b: f64,
}

/// Said when two compared jobs ran on different data.
pub const DIFFERENT_DATASETS: &str = "the jobs ran on different datasets; items are paired by \
    their id, so check that an id means the same question in both";

/// The paired comparison as text: which job is A and B, then per model pair the metrics
/// (means, B - A, the 95% interval, p, the verdict) and up to `max_items` items that
/// differ. The CLI prints it; the TUI shows it.
pub fn compare_lines(a: &Job, b: &Job, pairs: &[PairComparison], max_items: usize) -> Vec<String> {
    let mut out = vec![
        format!("A = {} ({})", a.spec.name, a.id),
        format!("B = {} ({})", b.spec.name, b.id),
    ];
    for p in pairs {
        out.push(String::new());
        out.push(format!(
            "{} (A) vs {} (B): {} items paired ({} only in A, {} only in B)",
            p.model_a, p.model_b, p.paired, p.only_a, p.only_b
        ));
        out.push(format!(
            "  {:<22} {:>10} {:>10} {:>10} {:>22} {:>8}  verdict",
            "metric", "A", "B", "B - A", "95% interval", "p"
        ));
        for m in &p.metrics {
            let d = &m.diff;
            let verdict = match m.better {
                Some(side) => format!("{side} better (significant)"),
                None if d.too_few_pairs => format!(
                    "too few pairs to tell ({} of at least {})",
                    d.n,
                    stats::MIN_PAIRS
                ),
                None => "no significant difference".into(),
            };
            out.push(format!(
                "  {:<22} {:>10} {:>10} {:>+10.4} {:>22} {:>8.3}  {verdict}",
                m.column,
                format_value(&m.column, d.mean_a),
                format_value(&m.column, d.mean_b),
                d.diff,
                format!("[{:+.4}, {:+.4}]", d.ci_low, d.ci_high),
                d.p_value
            ));
        }
        if !p.items.is_empty() {
            out.push("  items that differ:".into());
            for d in p.items.iter().take(max_items) {
                out.push(format!(
                    "    line {:<5} {:<16} {:<20} A {} → B {}",
                    d.line,
                    super::clip(&d.id, 16),
                    d.column,
                    format_value(&d.column, d.a),
                    format_value(&d.column, d.b)
                ));
            }
            if p.items.len() > max_items {
                out.push(format!(
                    "    … and {} more (`strata eval compare --json` has them all)",
                    p.items.len() - max_items
                ));
            }
        }
    }
    out
}

/// Compares two jobs: models paired by name when both jobs have them, else (one model
/// each) the two models; items paired by id (a line's `id`, else its line number).
///
/// Refused, with what to do, when the jobs ran on different datasets and an item has no
/// `id` (its line number would pair it with another question), or when a job holds one
/// id twice (jobs stored before datasets with repeated ids were refused), or when the
/// jobs share no model.
pub fn compare(
    a: &Job,
    ra: &[ItemResult],
    b: &Job,
    rb: &[ItemResult],
) -> Result<Vec<PairComparison>, String> {
    if a.dataset_sha256 != b.dataset_sha256 {
        for (job, results) in [(a, ra), (b, rb)] {
            if let Some(r) = results.iter().find(|r| r.item_id == line_id(r.line)) {
                return Err(format!(
                    "the jobs ran on different datasets, and line {} of {} has no `id`: \
                     items without ids would be paired by line number, which pairs \
                     different questions. Give every line an `id` (the same id for the \
                     same question in both files) and run the jobs again, or compare jobs \
                     of the same dataset",
                    r.line,
                    job.spec.dataset.display()
                ));
            }
        }
    }
    let pairs: Vec<(usize, usize)> = {
        let same: Vec<(usize, usize)> = a
            .spec
            .models
            .iter()
            .enumerate()
            .filter_map(|(i, m)| b.spec.models.iter().position(|x| x == m).map(|j| (i, j)))
            .collect();
        if same.is_empty() && a.spec.models.len() == 1 && b.spec.models.len() == 1 {
            vec![(0, 0)]
        } else {
            same
        }
    };
    if pairs.is_empty() {
        return Err(format!(
            "the jobs share no model ({} vs {}); compare jobs of the same models, or jobs \
             of one model each",
            a.spec.models.join(", "),
            b.spec.models.join(", ")
        ));
    }
    let in_b = columns(b, rb);
    let columns: Vec<String> = columns(a, ra)
        .into_iter()
        .filter(|c| in_b.contains(c))
        .collect();
    pairs
        .into_iter()
        .map(|(ia, ib)| {
            let left = by_id(a, ra, ia)?;
            let right = by_id(b, rb, ib)?;
            let ids: Vec<&str> = left
                .keys()
                .filter(|l| right.contains_key(*l))
                .copied()
                .collect();
            let mut metrics = Vec::new();
            let mut items = Vec::new();
            for column in &columns {
                let mut xs = Vec::new();
                let mut ys = Vec::new();
                for id in &ids {
                    let (x, y) = (left[id], right[id]);
                    if let (Some(sx), Some(sy)) = (x.scores.get(column), y.scores.get(column)) {
                        xs.push(*sx);
                        ys.push(*sy);
                        if (sx - sy).abs() > 1e-9 && !column.ends_with("_ms") {
                            items.push(ItemDiff {
                                line: x.line,
                                id: x.item_id.clone(),
                                column: column.clone(),
                                a: *sx,
                                b: *sy,
                            });
                        }
                    }
                }
                if let Some(diff) =
                    stats::paired_bootstrap(&xs, &ys, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
                {
                    let better = diff.significant.then(|| {
                        let b_higher = diff.diff > 0.0;
                        if b_higher != Metric::lower_is_better(column) {
                            'B'
                        } else {
                            'A'
                        }
                    });
                    metrics.push(MetricComparison {
                        column: column.clone(),
                        diff,
                        better,
                    });
                }
            }
            Ok(PairComparison {
                model_a: a.spec.models[ia].clone(),
                model_b: b.spec.models[ib].clone(),
                paired: ids.len(),
                only_a: left.len() - ids.len(),
                only_b: right.len() - ids.len(),
                metrics,
                items,
            })
        })
        .collect()
}

/// One model's results in a job by item id; an id held twice is an error.
fn by_id<'a>(
    job: &Job,
    results: &'a [ItemResult],
    model: usize,
) -> Result<BTreeMap<&'a str, &'a ItemResult>, String> {
    let mut map = BTreeMap::new();
    for r in results.iter().filter(|r| r.model_index == model) {
        if let Some(first) = map.insert(r.item_id.as_str(), r) {
            return Err(format!(
                "job {} has the id `{}` on line {} and on line {} of {}; give each line \
                 its own `id` and run the job again",
                job.id,
                r.item_id,
                first.line,
                r.line,
                job.spec.dataset.display()
            ));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::store::{JobKind, JobStatus};
    use crate::store::Id;

    /// A done job of one model on `dataset` (the name doubles as the file's sha256).
    fn job(dataset: &str) -> Job {
        let spec = toml::from_str(&format!(
            "name = \"j\"\ndataset = \"{dataset}\"\nmodels = [\"m\"]\nmetrics = [\"exact_match\"]\n"
        ))
        .unwrap();
        Job {
            id: Id::new(),
            kind: JobKind::Eval,
            spec,
            fingerprint: String::new(),
            dataset_sha256: dataset.into(),
            status: JobStatus::Done,
            items: 0,
            bad_lines: Vec::new(),
            created_us: 0,
            updated_us: 0,
            elapsed_ms: 0.0,
        }
    }

    /// Results of `job`: (line, id, exact_match) each; an id of None is the line's.
    fn results(job: &Job, items: &[(usize, Option<&str>, f64)]) -> Vec<ItemResult> {
        items
            .iter()
            .enumerate()
            .map(|(i, (line, id, score))| ItemResult {
                job: job.id,
                model_index: 0,
                model: "m".into(),
                item: i,
                line: *line,
                item_id: id.map_or_else(|| line_id(*line), str::to_string),
                tags: Vec::new(),
                prompt: String::new(),
                reference: None,
                output: String::new(),
                status: "complete".into(),
                error: None,
                usage: Default::default(),
                usage_estimated: false,
                cost_usd: 0.0,
                latency_ms: 0.0,
                ttft_ms: None,
                scores: [("exact_match".to_string(), *score)].into(),
                notes: Default::default(),
                session: Id::new(),
                run: Id::new(),
                finished_us: 0,
            })
            .collect()
    }

    #[test]
    fn items_without_ids_on_different_datasets_are_not_paired_by_line() {
        let (a, b) = (job("a.jsonl"), job("b.jsonl"));
        let ra = results(&a, &[(1, None, 0.0), (2, None, 1.0)]);
        let rb = results(&b, &[(1, None, 1.0)]);
        let e = compare(&a, &ra, &b, &rb).unwrap_err();
        assert!(
            e.contains("different datasets") && e.contains("line 1 of a.jsonl"),
            "{e}"
        );
        assert!(e.contains("`id`"), "says what to do: {e}");
        // With ids, different datasets pair by them (whatever the lines).
        let ra = results(&a, &[(1, Some("fr"), 0.0), (2, Some("it"), 1.0)]);
        let rb = results(&b, &[(7, Some("it"), 1.0)]);
        let pairs = compare(&a, &ra, &b, &rb).unwrap();
        assert_eq!((pairs[0].paired, pairs[0].only_a), (1, 1));
        // The same dataset pairs lines without ids.
        let same = job("a.jsonl");
        let ra = results(&a, &[(1, None, 0.0), (2, None, 1.0)]);
        let rs = results(&same, &[(1, None, 1.0), (2, None, 1.0)]);
        assert_eq!(compare(&a, &ra, &same, &rs).unwrap()[0].paired, 2);
    }

    #[test]
    fn a_job_holding_an_id_twice_is_not_compared() {
        let (a, b) = (job("a.jsonl"), job("a.jsonl"));
        let ra = results(&a, &[(1, Some("q"), 0.0), (3, Some("q"), 1.0)]);
        let rb = results(&b, &[(1, Some("q"), 1.0)]);
        let e = compare(&a, &ra, &b, &rb).unwrap_err();
        assert!(
            e.contains("`q`") && e.contains("line 1") && e.contains("line 3"),
            "{e}"
        );
    }

    #[test]
    fn one_pair_is_never_significant() {
        let (a, b) = (job("a.jsonl"), job("a.jsonl"));
        let ra = results(&a, &[(1, None, 0.0)]);
        let rb = results(&b, &[(1, None, 1.0)]);
        let pairs = compare(&a, &ra, &b, &rb).unwrap();
        let m = &pairs[0].metrics[0];
        assert_eq!(m.column, "exact_match");
        assert!(m.diff.too_few_pairs && !m.diff.significant);
        assert_eq!(m.better, None);
        // Enough pairs, all better: B is.
        let lines: Vec<usize> = (1..=stats::MIN_PAIRS).collect();
        let ra = results(
            &a,
            &lines.iter().map(|l| (*l, None, 0.0)).collect::<Vec<_>>(),
        );
        let rb = results(
            &b,
            &lines.iter().map(|l| (*l, None, 1.0)).collect::<Vec<_>>(),
        );
        let pairs = compare(&a, &ra, &b, &rb).unwrap();
        assert_eq!(pairs[0].metrics[0].better, Some('B'));
    }
}
