//! A guardrail's policy as its TOML file holds it: content filters, denied topics, word
//! filters, sensitive information, grounding and review. Parsing names the file, line and
//! key of a problem; validation checks what types cannot (regexes, thresholds, names).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sensitive::{EntityType, SensitiveAction};
use crate::config::parse_toml;

pub const DEFAULT_BLOCKED_INPUT: &str = "Sorry, I can't help with that request.";
pub const DEFAULT_BLOCKED_OUTPUT: &str = "The answer was withheld by policy.";

/// One guardrail policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Shown instead of the answer when the request is blocked.
    #[serde(default = "default_blocked_input")]
    pub blocked_input_message: String,
    /// Shown in place of the answer when the answer is blocked.
    #[serde(default = "default_blocked_output")]
    pub blocked_output_message: String,
    #[serde(default, skip_serializing_if = "ContentFilters::is_empty")]
    pub content_filters: ContentFilters,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_topics: Vec<DeniedTopic>,
    #[serde(default, skip_serializing_if = "WordFilters::is_empty")]
    pub word_filters: WordFilters,
    #[serde(default, skip_serializing_if = "SensitiveInformation::is_empty")]
    pub sensitive_information: SensitiveInformation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding: Option<Grounding>,
    #[serde(default, skip_serializing_if = "Review::is_off")]
    pub review: Review,
}

fn default_blocked_input() -> String {
    DEFAULT_BLOCKED_INPUT.to_string()
}

fn default_blocked_output() -> String {
    DEFAULT_BLOCKED_OUTPUT.to_string()
}

/// How hard a content filter bites: `none` is off; `high` flags the most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    #[default]
    None,
    Low,
    Medium,
    High,
}

/// What a matched policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    /// Stop the request or the answer.
    #[default]
    Block,
    /// Hold the answer for a person to approve (outputs; on inputs it blocks).
    Review,
    /// Replace the match with a placeholder (word filters and sensitive information).
    Anonymize,
}

/// One content filter: its strength per direction.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterStrength {
    #[serde(default)]
    pub input: Strength,
    #[serde(default)]
    pub output: Strength,
    /// `block` (default) or `review` (outputs only).
    #[serde(default)]
    pub action: PolicyAction,
}

/// The content-filter categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Hate,
    Insults,
    Sexual,
    Violence,
    Misconduct,
    PromptAttack,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Hate,
        Category::Insults,
        Category::Sexual,
        Category::Violence,
        Category::Misconduct,
        Category::PromptAttack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Hate => "hate",
            Category::Insults => "insults",
            Category::Sexual => "sexual",
            Category::Violence => "violence",
            Category::Misconduct => "misconduct",
            Category::PromptAttack => "prompt_attack",
        }
    }
}

/// Content filters by category; a category left out is off.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hate: Option<FilterStrength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insults: Option<FilterStrength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sexual: Option<FilterStrength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violence: Option<FilterStrength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misconduct: Option<FilterStrength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_attack: Option<FilterStrength>,
}

impl ContentFilters {
    pub fn get(&self, category: Category) -> Option<FilterStrength> {
        match category {
            Category::Hate => self.hate,
            Category::Insults => self.insults,
            Category::Sexual => self.sexual,
            Category::Violence => self.violence,
            Category::Misconduct => self.misconduct,
            Category::PromptAttack => self.prompt_attack,
        }
    }

    /// The categories switched on for at least one direction.
    pub fn active(&self) -> Vec<(Category, FilterStrength)> {
        Category::ALL
            .iter()
            .filter_map(|c| self.get(*c).map(|f| (*c, f)))
            .filter(|(_, f)| f.input != Strength::None || f.output != Strength::None)
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.active().is_empty()
    }
}

/// A topic the guardrail refuses, matched by meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeniedTopic {
    pub name: String,
    /// What the topic covers, in a sentence or two.
    pub definition: String,
    /// Phrases that belong to the topic.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Phrases near the topic that must pass (sharpen the border).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_examples: Vec<String>,
    /// Similarity from which a text is on the topic (0–0.99; default per the built-in
    /// calibration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    #[serde(default)]
    pub action: PolicyAction,
    /// Which directions the topic is checked on (default both).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub input: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub output: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Custom words and phrases, plus the built-in profanity list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordFilters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub profanity: bool,
    /// `block` (default), `anonymize` (mask as `{WORD}`) or `review`.
    #[serde(default)]
    pub action: PolicyAction,
}

impl WordFilters {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && !self.profanity
    }
}

/// Built-in entity types (each `block` or `anonymize`) and custom regex entities.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveInformation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_card: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub us_ssn: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kr_rrn: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_access_key: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SensitiveAction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex: Vec<RegexEntity>,
}

impl SensitiveInformation {
    /// The built-in types with an action.
    pub fn actions(&self) -> Vec<(EntityType, SensitiveAction)> {
        let all = [
            (EntityType::Email, self.email),
            (EntityType::Phone, self.phone),
            (EntityType::CreditCard, self.credit_card),
            (EntityType::UsSsn, self.us_ssn),
            (EntityType::KrRrn, self.kr_rrn),
            (EntityType::Iban, self.iban),
            (EntityType::Ipv4, self.ipv4),
            (EntityType::Ipv6, self.ipv6),
            (EntityType::Url, self.url),
            (EntityType::AwsAccessKey, self.aws_access_key),
            (EntityType::PrivateKey, self.private_key),
            (EntityType::ApiKey, self.api_key),
        ];
        all.into_iter()
            .filter_map(|(e, a)| a.map(|a| (e, a)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.actions().is_empty() && self.regex.is_empty()
    }
}

/// A custom sensitive entity: a regex and what to do with its matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexEntity {
    pub name: String,
    pub pattern: String,
    pub action: SensitiveAction,
}

/// Contextual grounding (is the answer supported by its source?) and relevance (does it
/// answer the query?), each a score from 0 to 1 against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grounding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding_threshold: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevance_threshold: Option<f32>,
    #[serde(default)]
    pub action: PolicyAction,
}

/// The response-approval workflow: which answers wait for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Every answer waits for approval (not only those a `review` policy flagged).
    #[serde(default)]
    pub all_outputs: bool,
}

impl Review {
    fn is_off(&self) -> bool {
        !self.all_outputs
    }
}

/// A policy file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}:{line}:{column}: `{key}`: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    #[error("{file}:{line}: `{key}`: {message}")]
    Invalid {
        file: String,
        /// Where the key is written (0 when it could not be found).
        line: usize,
        key: String,
        message: String,
    },
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            file: file.clone(),
            source,
        })?;
        Policy::parse(&text, &file)
    }

    /// Parses and validates policy text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = parse_toml(text).map_err(|e| PolicyError::Parse {
            file: file.to_string(),
            line: e.line,
            column: e.column,
            key: e.key,
            message: e.message,
        })?;
        policy.validate(file).map_err(|e| match e {
            PolicyError::Invalid {
                file, key, message, ..
            } => PolicyError::Invalid {
                line: line_of(text, &key),
                file,
                key,
                message,
            },
            other => other,
        })?;
        Ok(policy)
    }

    /// The policy as TOML (what `guardrail export` writes and `create --file` reads).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Checks names, thresholds, regexes and actions.
    pub fn validate(&self, file: &str) -> Result<(), PolicyError> {
        let invalid = |key: String, message: String| PolicyError::Invalid {
            file: file.to_string(),
            line: 0,
            key,
            message,
        };
        if self.name == "none" {
            return Err(invalid(
                "name".into(),
                "`none` means \"no guardrail\" wherever a guardrail is named: pick another name"
                    .into(),
            ));
        }
        if !valid_name(&self.name) {
            return Err(invalid(
                "name".into(),
                format!(
                    "{:?} is not a usable name: use letters, digits, `-`, `_` or `.` (1–64 characters, no `@`)",
                    self.name
                ),
            ));
        }
        let threshold = |key: String, v: Option<f32>| match v {
            Some(v) if !(0.0..=0.99).contains(&v) || v.is_nan() => Err(invalid(
                key,
                format!("{v} is out of range: thresholds go from 0 to 0.99"),
            )),
            _ => Ok(()),
        };
        for (i, t) in self.denied_topics.iter().enumerate() {
            let key = format!("denied_topics[{i}]");
            if t.name.trim().is_empty() {
                return Err(invalid(format!("{key}.name"), "must not be empty".into()));
            }
            if t.definition.trim().is_empty() {
                return Err(invalid(
                    format!("{key}.definition"),
                    format!(
                        "topic {:?} needs a definition (a sentence saying what it covers)",
                        t.name
                    ),
                ));
            }
            threshold(format!("{key}.threshold"), t.threshold)?;
            if t.action == PolicyAction::Anonymize {
                return Err(invalid(
                    format!("{key}.action"),
                    "a topic can `block` or `review`, not `anonymize`".into(),
                ));
            }
            if self.denied_topics[..i].iter().any(|o| o.name == t.name) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("topic {:?} is defined twice", t.name),
                ));
            }
        }
        for c in Category::ALL {
            if let Some(f) = self.content_filters.get(c) {
                if f.action == PolicyAction::Anonymize {
                    return Err(invalid(
                        format!("content_filters.{}.action", c.as_str()),
                        "a content filter can `block` or `review`, not `anonymize`".into(),
                    ));
                }
            }
        }
        for (i, w) in self.word_filters.words.iter().enumerate() {
            if w.trim().is_empty() {
                return Err(invalid(
                    format!("word_filters.words[{i}]"),
                    "must not be empty".into(),
                ));
            }
        }
        for (i, r) in self.sensitive_information.regex.iter().enumerate() {
            let key = format!("sensitive_information.regex[{i}]");
            if !valid_name(&r.name) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!(
                        "{:?} is not a usable entity name (letters, digits, `-`, `_`)",
                        r.name
                    ),
                ));
            }
            if let Err(e) = regex::Regex::new(&r.pattern) {
                return Err(invalid(
                    format!("{key}.pattern"),
                    format!("entity {:?}: the regex does not compile: {e}", r.name),
                ));
            }
            if regex::Regex::new(&r.pattern).is_ok_and(|re| re.is_match("")) {
                return Err(invalid(
                    format!("{key}.pattern"),
                    format!("entity {:?}: the regex matches the empty string", r.name),
                ));
            }
        }
        if let Some(g) = &self.grounding {
            threshold(
                "grounding.grounding_threshold".into(),
                g.grounding_threshold,
            )?;
            threshold(
                "grounding.relevance_threshold".into(),
                g.relevance_threshold,
            )?;
            if g.action == PolicyAction::Anonymize {
                return Err(invalid(
                    "grounding.action".into(),
                    "grounding can `block` or `review`, not `anonymize`".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether any policy needs the embeddings model.
    pub fn needs_embeddings(&self) -> bool {
        !self.content_filters.is_empty()
            || !self.denied_topics.is_empty()
            || self.grounding.is_some()
    }

    /// Whether answers may be held for review.
    pub fn may_review(&self) -> bool {
        self.review.all_outputs
            || self.word_filters.action == PolicyAction::Review && !self.word_filters.is_empty()
            || self
                .denied_topics
                .iter()
                .any(|t| t.output && t.action == PolicyAction::Review)
            || self
                .content_filters
                .active()
                .iter()
                .any(|(_, f)| f.output != Strength::None && f.action == PolicyAction::Review)
            || self
                .grounding
                .is_some_and(|g| g.action == PolicyAction::Review)
    }
}

/// The line where `key` (`denied_topics[1].threshold`) is written in `text`: the n-th
/// table of an array, then the last part's `name =` line inside it. 0 when not found.
fn line_of(text: &str, key: &str) -> usize {
    let parts: Vec<&str> = key.split('.').collect();
    let mut from = 0usize;
    for part in &parts[..parts.len().saturating_sub(1)] {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().unwrap_or(0)),
            None => (*part, 0),
        };
        let header = |l: &str| {
            let l = l.trim();
            l == format!("[[{name}]]")
                || l.ends_with(&format!(".{name}]]"))
                || l == format!("[{name}]")
        };
        match text
            .lines()
            .enumerate()
            .skip(from)
            .filter(|(_, l)| header(l))
            .nth(index)
        {
            Some((n, _)) => from = n,
            None => continue,
        }
    }
    let last = parts.last().copied().unwrap_or_default();
    let last = last.split('[').next().unwrap_or(last);
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| {
            let l = l.trim_start();
            l.strip_prefix(last)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |(n, _)| n + 1)
}

/// Names of guardrails and custom entities: letters, digits, `-`, `_`, `.`; 1–64 long.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
