//! An evaluation job's definition as written in its TOML file: the dataset, the models,
//! the prompt template and parameters, and the metrics (names, or tables for metrics that
//! take settings). `EvalSpec::load` resolves paths against the file, reads JSON schemas
//! and checks everything before a model is called, with errors that name the field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::EvalError;
use crate::runtime::types::Params;

/// The embedding model `embedding_similarity` uses unless the file names another.
pub const DEFAULT_EMBEDDING: &str = crate::knowledge::spec::DEFAULT_EMBEDDING;
/// Items run at once unless the file says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Most calls one job keeps in flight.
pub const MAX_CONCURRENCY: usize = 256;
/// Answer length cap of judge calls.
pub const JUDGE_MAX_TOKENS: u32 = 256;

/// An evaluation job as its file defines it (paths resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSpec {
    pub name: String,
    /// The JSONL dataset (absolute once loaded).
    pub dataset: PathBuf,
    pub models: Vec<String>,
    /// A minijinja template for the question: `{{ prompt }}`, `{{ context }}`,
    /// `{{ reference }}`, `{{ tags }}` and any other field of the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The system prompt of every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Items (model calls) in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// A guardrail (NAME or NAME@VERSION) on every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    /// Answer repeated identical deterministic calls from the response cache.
    #[serde(default)]
    pub cache: bool,
    /// The model that grades `rubric` and `groundedness` unless the metric names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// The embedding model of `embedding_similarity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
    #[serde(default)]
    pub metrics: Vec<MetricEntry>,
}

/// A metric as written: a name, or a table with settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricEntry {
    Name(String),
    Table(MetricTable),
}

/// A metric with settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTable {
    pub name: String,
    /// The column the scores appear under (default: the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `regex`: the pattern the output must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `json_schema`: a schema file (relative to the job file) or an inline table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<toml::Value>,
    /// `rubric`: what a good answer is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    /// `rubric` / `groundedness`: the grading model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
}

/// A metric, ready to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    ExactMatch,
    Contains,
    Regex { pattern: String },
    JsonValid,
    JsonSchema { schema: serde_json::Value },
    TokenF1,
    RougeL,
    Bleu,
    EmbeddingSimilarity { model: String },
    Rubric { rubric: String, judge: String },
    Groundedness { judge: String },
    Latency,
    Ttft,
    Tokens,
    Cost,
    Errors,
}

/// Every metric name a job file may use.
pub const METRIC_NAMES: &str = "exact_match, contains, regex, json_valid, json_schema, token_f1, \
     rouge_l, bleu, embedding_similarity, rubric, groundedness, latency, ttft, tokens, cost, errors";

/// A metric and the column its scores go in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedMetric {
    pub label: String,
    pub metric: Metric,
}

impl Metric {
    /// Whether the metric needs the line's reference answer.
    pub fn needs_reference(&self) -> bool {
        matches!(
            self,
            Metric::ExactMatch
                | Metric::Contains
                | Metric::TokenF1
                | Metric::RougeL
                | Metric::Bleu
                | Metric::EmbeddingSimilarity { .. }
        )
    }

    /// The model the metric calls (a judge, an embedding model), if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            Metric::Rubric { judge, .. } | Metric::Groundedness { judge } => Some(judge),
            Metric::EmbeddingSimilarity { model } => Some(model),
            _ => None,
        }
    }

    /// Whether a higher score is better (latency, tokens, cost and errors: lower is).
    pub fn higher_is_better(&self) -> bool {
        !self.columns("").iter().any(|c| Metric::lower_is_better(c))
    }

    /// Whether a lower value of this column is better (the columns of times, tokens, cost
    /// and errors that `columns` names; a quality metric's label is higher-is-better).
    pub fn lower_is_better(column: &str) -> bool {
        matches!(
            column,
            "latency_ms" | "ttft_ms" | "input_tokens" | "output_tokens" | "cost_usd" | "errors"
        )
    }

    /// The columns an operational metric reports (a quality metric reports its label).
    pub fn columns(&self, label: &str) -> Vec<String> {
        match self {
            Metric::Latency => vec!["latency_ms".into()],
            Metric::Ttft => vec!["ttft_ms".into()],
            Metric::Tokens => vec!["input_tokens".into(), "output_tokens".into()],
            Metric::Cost => vec!["cost_usd".into()],
            Metric::Errors => vec!["errors".into()],
            _ => vec![label.to_string()],
        }
    }
}

impl EvalSpec {
    /// Reads and checks a job file; the dataset and schema paths are resolved against
    /// the file's folder.
    pub fn load(path: &Path) -> Result<EvalSpec, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            EvalError::Spec(format!("cannot read the job file {}: {e}", path.display()))
        })?;
        let mut spec: EvalSpec = toml::from_str(&text).map_err(|e| {
            EvalError::Spec(format!("{}: {}", path.display(), e.to_string().trim()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if spec.dataset.is_relative() {
            spec.dataset = base.join(&spec.dataset);
        }
        spec.dataset = std::path::absolute(&spec.dataset).unwrap_or(spec.dataset);
        // Schemas given as files are read now, so the stored job holds what was used.
        for entry in &mut spec.metrics {
            if let MetricEntry::Table(t) = entry {
                if let Some(toml::Value::String(file)) = &t.schema {
                    let file = base.join(file);
                    let text = std::fs::read_to_string(&file).map_err(|e| {
                        EvalError::Spec(format!(
                            "metric `{}`: cannot read the schema {}: {e}",
                            t.name,
                            file.display()
                        ))
                    })?;
                    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        EvalError::Spec(format!(
                            "metric `{}`: the schema {} is not JSON: {e}",
                            t.name,
                            file.display()
                        ))
                    })?;
                    t.schema = Some(toml::Value::try_from(value).map_err(|e| {
                        EvalError::Spec(format!("metric `{}`: schema: {e}", t.name))
                    })?);
                }
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the fields and the metrics (without reading the dataset).
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.name.trim().is_empty() {
            return Err(EvalError::Spec(
                "`name` is empty; give the job a name".into(),
            ));
        }
        if self.models.is_empty() {
            return Err(EvalError::Spec(
                "`models` is empty; list at least one model id (`strata models list`)".into(),
            ));
        }
        if self.models.len() > 16 {
            return Err(EvalError::Spec("`models` lists more than 16 models".into()));
        }
        if let Some(n) = self.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&n) {
                return Err(EvalError::Spec(format!(
                    "`concurrency` is {n}; use 1 to {MAX_CONCURRENCY}"
                )));
            }
        }
        self.params()
            .validate()
            .map_err(|e| EvalError::Spec(e.to_string()))?;
        if let Some(template) = &self.template {
            minijinja::Environment::new()
                .template_from_str(template)
                .map_err(|e| EvalError::Spec(format!("`template` does not parse: {e}")))?;
        }
        let metrics = self.resolved_metrics()?;
        let mut labels = std::collections::BTreeSet::new();
        for m in &metrics {
            if !labels.insert(&m.label) {
                return Err(EvalError::Spec(format!(
                    "two metrics are labelled `{}`; give one a `label`",
                    m.label
                )));
            }
        }
        Ok(())
    }

    /// The sampling parameters of every call.
    pub fn params(&self) -> Params {
        Params {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            seed: self.seed,
            ..Params::default()
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    }

    /// The metrics with their settings checked (patterns compile, schemas are schemas,
    /// model-graded metrics have a judge).
    pub fn resolved_metrics(&self) -> Result<Vec<NamedMetric>, EvalError> {
        self.metrics.iter().map(|e| self.resolve(e)).collect()
    }

    fn resolve(&self, entry: &MetricEntry) -> Result<NamedMetric, EvalError> {
        let table = match entry {
            MetricEntry::Name(name) => MetricTable {
                name: name.clone(),
                ..MetricTable::default()
            },
            MetricEntry::Table(t) => t.clone(),
        };
        let name = table.name.as_str();
        let bad = |what: &str| EvalError::Spec(format!("metric `{name}`: {what}"));
        let judge = || {
            table
                .judge
                .clone()
                .or_else(|| self.judge.clone())
                .ok_or_else(|| {
                    bad("needs a judge model: set `judge` in the metric's table or at the top")
                })
        };
        let metric = match name {
            "exact_match" => Metric::ExactMatch,
            "contains" => Metric::Contains,
            "regex" => {
                let pattern = table.pattern.clone().ok_or_else(|| {
                    bad("needs a `pattern`: metrics = [{ name = \"regex\", pattern = \"^\\\\d+$\" }]")
                })?;
                regex::Regex::new(&pattern).map_err(|e| bad(&format!("bad pattern: {e}")))?;
                Metric::Regex { pattern }
            }
            "json_valid" | "json" => Metric::JsonValid,
            "json_schema" => {
                let schema = table
                    .schema
                    .clone()
                    .ok_or_else(|| bad("needs a `schema` (a file or an inline table)"))?;
                let schema = serde_json::to_value(schema).map_err(|e| bad(&e.to_string()))?;
                super::metrics::compile_schema(&schema)
                    .map_err(|e| bad(&format!("not a valid JSON Schema: {e}")))?;
                Metric::JsonSchema { schema }
            }
            "token_f1" | "f1" => Metric::TokenF1,
            "rouge_l" | "rouge" => Metric::RougeL,
            "bleu" => Metric::Bleu,
            "embedding_similarity" => Metric::EmbeddingSimilarity {
                model: self
                    .embedding_model
                    .clone()
                    .unwrap_or_else(|| DEFAULT_EMBEDDING.into()),
            },
            "rubric" => Metric::Rubric {
                rubric: table
                    .rubric
                    .clone()
                    .ok_or_else(|| bad("needs a `rubric` (what a good answer is)"))?,
                judge: judge()?,
            },
            "groundedness" => Metric::Groundedness { judge: judge()? },
            "latency" => Metric::Latency,
            "ttft" => Metric::Ttft,
            "tokens" => Metric::Tokens,
            "cost" => Metric::Cost,
            "errors" => Metric::Errors,
            other => {
                return Err(EvalError::Spec(format!(
                    "unknown metric `{other}`; use {METRIC_NAMES}"
                )))
            }
        };
        let label = table.label.clone().unwrap_or_else(|| match &metric {
            Metric::JsonValid => "json_valid".into(),
            Metric::TokenF1 => "token_f1".into(),
            Metric::RougeL => "rouge_l".into(),
            _ => name.to_string(),
        });
        Ok(NamedMetric { label, metric })
    }

    /// The score columns of a job, in the order of its metrics (an operational metric
    /// may report several).
    pub fn columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        for m in self.resolved_metrics().unwrap_or_default() {
            for c in m.metric.columns(&m.label) {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
        }
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> Result<EvalSpec, EvalError> {
        let s: EvalSpec = toml::from_str(toml).map_err(|e| EvalError::Spec(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn the_issue_example_parses() {
        let s = spec(
            r#"name = "capitals"
dataset = "capitals.jsonl"
models = ["local/smollm2-135m"]
temperature = 0.0
max_tokens = 32
metrics = ["exact_match", "contains", "token_f1", "rouge_l", "embedding_similarity", "latency"]"#,
        )
        .unwrap();
        assert_eq!(
            s.columns(),
            [
                "exact_match",
                "contains",
                "token_f1",
                "rouge_l",
                "embedding_similarity",
                "latency_ms"
            ]
        );
    }

    #[test]
    fn bad_metrics_are_named() {
        let base = "name = \"x\"\ndataset = \"d.jsonl\"\nmodels = [\"m\"]\n";
        let err = |m: &str| {
            spec(&format!("{base}metrics = {m}"))
                .unwrap_err()
                .to_string()
        };
        assert!(err("[\"exact\"]").contains("unknown metric `exact`"));
        assert!(err("[{ name = \"regex\" }]").contains("needs a `pattern`"));
        assert!(err("[{ name = \"regex\", pattern = \"(\" }]").contains("bad pattern"));
        assert!(err("[\"rubric\"]").contains("needs a `rubric`"));
        assert!(err("[{ name = \"rubric\", rubric = \"r\" }]").contains("judge"));
        assert!(err("[\"bleu\", \"bleu\"]").contains("two metrics are labelled `bleu`"));
        assert!(
            err("[{ name = \"json_schema\", schema = { type = \"nope\" } }]")
                .contains("not a valid JSON Schema")
        );
        let no_models = spec("name = \"x\"\ndataset = \"d\"\nmodels = []").unwrap_err();
        assert!(no_models.to_string().contains("`models` is empty"));
        let bad_temp =
            spec("name = \"x\"\ndataset = \"d\"\nmodels = [\"m\"]\ntemperature = 9.0").unwrap_err();
        assert!(bad_temp.to_string().contains("temperature"));
    }
}
