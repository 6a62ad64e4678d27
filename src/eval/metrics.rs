//! Deterministic metrics that score a model's output against a reference.
//!
//! Every score lies in `[0, 1]`. The inputs are user data (model outputs,
//! references, patterns and schemas), so nothing here panics on any input:
//! empty strings, multibyte text and malformed JSON all give a score.
//!
//! Most text metrics work on the SQuAD normalisation ([`normalize`]); BLEU
//! keeps articles and punctuation and has its own tokenizer (see [`bleu`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// The English articles that the SQuAD normalisation drops.
const ARTICLES: [&str; 3] = ["a", "an", "the"];

/// The highest n-gram order that BLEU counts.
const BLEU_MAX_ORDER: usize = 4;

/// The numerator that smoothing method 1 puts in place of a zero count.
const BLEU_EPSILON: f64 = 0.1;

/// The error text of [`json_schema`] when the output holds no JSON value.
const NO_JSON: &str = "no JSON value in the output";

/// One punctuation character: Unicode punctuation (`\p{P}`) plus the ASCII
/// punctuation that Python's `string.punctuation` lists (which takes in
/// symbols such as `$`, `+` and `|`).
fn punctuation() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"[\p{P}[:punct:]]").expect("the constant punctuation pattern compiles")
    })
}

/// One BLEU token: a lone punctuation character, or a run of characters that
/// are neither whitespace nor punctuation.
fn bleu_token() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"[\p{P}[:punct:]]|[^\s\p{P}[:punct:]]+")
            .expect("the constant BLEU token pattern compiles")
    })
}

/// 1.0 for `true`, 0.0 for `false`.
fn score(passed: bool) -> f64 {
    if passed {
        1.0
    } else {
        0.0
    }
}

/// SQuAD-style normalisation: lowercase, punctuation removed (Unicode
/// punctuation too), the articles a/an/the removed, whitespace collapsed to
/// single spaces, trimmed.
///
/// Punctuation is deleted, not replaced by a space, as SQuAD does: "don't"
/// becomes "dont". Articles are dropped as whole whitespace-separated words.
pub fn normalize(text: &str) -> String {
    let lowered = text.to_lowercase();
    let without_punctuation = punctuation().replace_all(&lowered, "");
    without_punctuation
        .split_whitespace()
        .filter(|word| !ARTICLES.contains(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The normalised text's tokens (split on whitespace).
pub fn tokens(text: &str) -> Vec<String> {
    normalize(text)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// 1.0 when the normalised texts are equal, else 0.0.
pub fn exact_match(output: &str, reference: &str) -> f64 {
    score(normalize(output) == normalize(reference))
}

/// 1.0 when the normalised output contains the normalised reference (as a
/// whole-token sequence: "paris" is in "it is paris" but "par" is not in
/// "paris"), else 0.0. An empty normalised reference gives 0.0.
pub fn contains(output: &str, reference: &str) -> f64 {
    let needle = tokens(reference);
    if needle.is_empty() {
        return 0.0;
    }
    let haystack = tokens(output);
    score(
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_slice()),
    )
}

/// 1.0 when the regex finds a match in the raw output.
pub fn regex_match(output: &str, pattern: &Regex) -> f64 {
    score(pattern.is_match(output))
}

/// The JSON value in a model's output: the whole trimmed text, else the first
/// ```` ```json ```` (or plain ```` ``` ````) fenced block, else the first
/// balanced `{...}` or `[...]` span that parses. None when there is none.
///
/// Fenced blocks whose body does not parse are skipped in favour of later
/// ones. The span search tries each `{` or `[` in turn and keeps the first
/// whose JSON value parses; text after the value is ignored.
pub fn extract_json(output: &str) -> Option<Value> {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        return None;
    }
    serde_json::from_str(trimmed)
        .ok()
        .or_else(|| fenced_json(output))
        .or_else(|| embedded_json(output))
}

/// The first JSON-tagged or untagged fenced block whose body parses.
fn fenced_json(text: &str) -> Option<Value> {
    // The pieces between fences alternate outside/inside, starting outside.
    text.split("```")
        .skip(1)
        .step_by(2)
        .filter_map(json_fence_body)
        .find_map(|body| serde_json::from_str(body.trim()).ok())
}

/// The body of a fenced block whose info string is empty or `json`.
fn json_fence_body(block: &str) -> Option<&str> {
    let (info, body) = block.split_once('\n')?;
    let info = info.trim();
    (info.is_empty() || info.eq_ignore_ascii_case("json")).then_some(body)
}

/// The first JSON object or array that parses from a `{` or `[` in the text.
fn embedded_json(text: &str) -> Option<Value> {
    text.match_indices(['{', '['])
        .filter_map(|(start, _)| text.get(start..))
        .find_map(leading_json)
}

/// The JSON value at the very start of `text`, ignoring whatever follows it.
fn leading_json(text: &str) -> Option<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// 1.0 when [`extract_json`] finds a value.
pub fn json_valid(output: &str) -> f64 {
    score(extract_json(output).is_some())
}

/// Validates the extracted JSON against a compiled schema: (1.0, None) when
/// valid, (0.0, Some(first error as text, naming the instance path)) when
/// invalid or when no JSON was found ("no JSON value in the output").
///
/// The error reads `at <JSON pointer>: <message>`, with `(root)` standing for
/// the empty pointer, e.g. `at /age: "x" is not of type "integer"`.
pub fn json_schema(output: &str, schema: &jsonschema::Validator) -> (f64, Option<String>) {
    let Some(value) = extract_json(output) else {
        return (0.0, Some(NO_JSON.to_owned()));
    };
    match schema.validate(&value) {
        Ok(()) => (1.0, None),
        Err(error) => (0.0, Some(describe_schema_error(&error))),
    }
}

/// A validation error as `at <instance path>: <message>`.
fn describe_schema_error(error: &jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path.as_str();
    let path = if path.is_empty() { "(root)" } else { path };
    format!("at {path}: {error}")
}

/// Compiles a JSON Schema value; the error text says what is wrong.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|error| format!("invalid JSON Schema: {error}"))
}

/// SQuAD token F1 over normalised tokens (bag of tokens with multiplicity).
/// Both empty → 1.0; one empty → 0.0.
pub fn token_f1(output: &str, reference: &str) -> f64 {
    let output = tokens(output);
    let reference = tokens(reference);
    if output.is_empty() || reference.is_empty() {
        return score(output.is_empty() && reference.is_empty());
    }
    f1(
        bag_overlap(&output, &reference),
        output.len(),
        reference.len(),
    )
}

/// How many items the two bags share, counting multiplicity.
fn bag_overlap(output: &[String], reference: &[String]) -> usize {
    let reference_counts = counts(reference.iter());
    counts(output.iter())
        .into_iter()
        .map(|(token, count)| count.min(reference_counts.get(token).copied().unwrap_or(0)))
        .sum()
}

/// How often each item occurs.
fn counts<T: Eq + Hash>(items: impl Iterator<Item = T>) -> HashMap<T, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

/// F1 from a match count: P = matched/output_len, R = matched/reference_len,
/// F = 2PR/(P+R); 0.0 when nothing matched.
fn f1(matched: usize, output_len: usize, reference_len: usize) -> f64 {
    if matched == 0 || output_len == 0 || reference_len == 0 {
        return 0.0;
    }
    let precision = matched as f64 / output_len as f64;
    let recall = matched as f64 / reference_len as f64;
    2.0 * precision * recall / (precision + recall)
}

/// ROUGE-L F1: longest common subsequence of the normalised tokens;
/// P = lcs/len(output), R = lcs/len(reference), F = 2PR/(P+R). Both empty →
/// 1.0; one empty → 0.0. The LCS takes O(n·m) time and O(min(n, m)) memory.
pub fn rouge_l(output: &str, reference: &str) -> f64 {
    let output = tokens(output);
    let reference = tokens(reference);
    if output.is_empty() || reference.is_empty() {
        return score(output.is_empty() && reference.is_empty());
    }
    f1(
        lcs_length(&output, &reference),
        output.len(),
        reference.len(),
    )
}

/// Length of the longest common subsequence, by dynamic programming over two
/// rows as long as the shorter sequence.
fn lcs_length<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut previous = vec![0usize; short.len() + 1];
    let mut current = vec![0usize; short.len() + 1];
    for x in long {
        for (j, y) in short.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                current[j].max(previous[j + 1])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[short.len()]
}

/// Sentence BLEU-4 of the output against one reference, matching NLTK's
/// `sentence_bleu([reference], output, smoothing_function=SmoothingFunction().method1)`
/// with its default uniform weights (1/4 each) on the tokens described below.
///
/// * Tokens: the text is lowercased and split on whitespace, and every
///   punctuation character (Unicode `\p{P}` or ASCII punctuation) is a token
///   of its own: "Hello, world!" → `hello , world !`. Articles are kept.
/// * Modified precision p_n for n = 1..=4: output n-gram counts clipped by the
///   reference's counts, over max(1, number of output n-grams). So an output
///   shorter than n tokens has p_n = 0/1.
/// * No unigram matches at all (including an empty reference) → 0.0, and an
///   empty output → 0.0, as in NLTK.
/// * Smoothing method 1 (Chen & Cherry 2014): a p_n whose numerator is 0
///   becomes epsilon/denominator with epsilon = 0.1.
/// * Brevity penalty with c output tokens and r reference tokens: 1 when
///   c > r, else exp(1 - r/c).
/// * BLEU = BP · exp(Σ ¼ · ln p_n).
pub fn bleu(output: &str, reference: &str) -> f64 {
    let output = bleu_tokens(output);
    let reference = bleu_tokens(reference);
    if output.is_empty() {
        return 0.0;
    }
    let precisions: Vec<(usize, usize)> = (1..=BLEU_MAX_ORDER)
        .map(|order| modified_precision(&output, &reference, order))
        .collect();
    let unigram_matches = precisions.first().map_or(0, |&(matched, _)| matched);
    if unigram_matches == 0 {
        return 0.0;
    }
    let weight = 1.0 / BLEU_MAX_ORDER as f64;
    let log_sum: f64 = precisions
        .iter()
        .map(|&(matched, total)| weight * smoothed_precision(matched, total).ln())
        .sum();
    brevity_penalty(output.len(), reference.len()) * log_sum.exp()
}

/// The tokens BLEU counts: lowercased words with punctuation split off.
fn bleu_tokens(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    bleu_token()
        .find_iter(&lowered)
        .map(|token| token.as_str().to_owned())
        .collect()
}

/// (clipped n-gram matches, max(1, output n-gram count)) for one order.
fn modified_precision(output: &[String], reference: &[String], order: usize) -> (usize, usize) {
    let reference_counts = counts(reference.windows(order));
    let output_counts = counts(output.windows(order));
    let matched = output_counts
        .iter()
        .map(|(ngram, &count)| count.min(reference_counts.get(ngram).copied().unwrap_or(0)))
        .sum();
    let total: usize = output_counts.values().sum();
    (matched, total.max(1))
}

/// Smoothing method 1: a zero count becomes epsilon over the same denominator.
fn smoothed_precision(matched: usize, total: usize) -> f64 {
    let numerator = if matched == 0 {
        BLEU_EPSILON
    } else {
        matched as f64
    };
    numerator / total as f64
}

/// 1 when the output is longer than the reference, else exp(1 - r/c); 0 for
/// an empty output.
fn brevity_penalty(output_len: usize, reference_len: usize) -> f64 {
    if output_len > reference_len {
        1.0
    } else if output_len == 0 {
        0.0
    } else {
        (1.0 - reference_len as f64 / output_len as f64).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "expected {expected}, got {actual}"
        );
    }

    #[test]
    fn normalize_lowercases_strips_punctuation_and_articles() {
        // "The" and "a" go, "," "!" go, case folds, spaces collapse.
        assert_eq!(normalize("  The Cat,  sat on a MAT! "), "cat sat on mat");
        // Unicode punctuation (em dash, guillemets) goes; accents stay.
        assert_eq!(normalize("Zürich — «café»"), "zürich café");
        // Punctuation is deleted, not spaced: SQuAD gives "dont".
        assert_eq!(normalize("Don't"), "dont");
        // "an" inside a word is not an article.
        assert_eq!(normalize("an answer"), "answer");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("the a an ..."), "");
    }

    #[test]
    fn tokens_split_the_normalised_text() {
        assert_eq!(tokens("The quick, brown fox."), ["quick", "brown", "fox"]);
        assert!(tokens("   ").is_empty());
    }

    #[test]
    fn exact_match_ignores_case_punctuation_and_articles() {
        // Both normalise to "paris".
        assert_close(exact_match("The Paris.", "paris"), 1.0);
        // "paris france" != "paris".
        assert_close(exact_match("Paris, France", "Paris"), 0.0);
        // Both normalise to "".
        assert_close(exact_match("", "the"), 1.0);
        assert_close(exact_match("Zürich!", "zürich"), 1.0);
    }

    #[test]
    fn contains_matches_whole_token_sequences() {
        // [it, is, paris] holds [paris].
        assert_close(contains("It is Paris.", "paris"), 1.0);
        // [paris] does not hold [par]: no partial tokens.
        assert_close(contains("Paris", "par"), 0.0);
        // [capital, is, new, york, city] holds [new, york] in order...
        assert_close(contains("The capital is New York City", "new york"), 1.0);
        // ...but not [york, new].
        assert_close(contains("The capital is New York City", "york new"), 0.0);
        // An empty normalised reference ("the" → "") never matches.
        assert_close(contains("anything", "the"), 0.0);
        assert_close(contains("", ""), 0.0);
        assert_close(contains("", "paris"), 0.0);
        assert_close(contains("Ich wohne in Zürich — café", "ZÜRICH"), 1.0);
    }

    #[test]
    fn regex_match_searches_the_raw_output() {
        let pattern = Regex::new(r"\b\d{4}\b").expect("test pattern");
        assert_close(regex_match("It was 1969.", &pattern), 1.0);
        assert_close(regex_match("It was long ago.", &pattern), 0.0);
        assert_close(regex_match("", &pattern), 0.0);
        let case_sensitive = Regex::new("Paris").expect("test pattern");
        assert_close(regex_match("paris", &case_sensitive), 0.0);
    }

    #[test]
    fn extract_json_reads_the_whole_text() {
        assert_eq!(extract_json("  {\"a\": 1}\n"), Some(json!({"a": 1})));
        assert_eq!(extract_json("[1, 2]"), Some(json!([1, 2])));
        assert_eq!(extract_json("42"), Some(json!(42)));
    }

    #[test]
    fn extract_json_reads_fenced_blocks() {
        let tagged = "Here you go:\n```json\n{\"name\": \"Ada\"}\n```\nDone.";
        assert_eq!(extract_json(tagged), Some(json!({"name": "Ada"})));
        let plain = "Result:\n```\n[true, false]\n```";
        assert_eq!(extract_json(plain), Some(json!([true, false])));
        // A fence tagged with another language is not taken as JSON, and a
        // broken JSON fence is skipped for the next good one.
        let mixed = "```python\nprint(1)\n```\n```json\n{oops}\n```\n```JSON\n{\"ok\": 1}\n```";
        assert_eq!(extract_json(mixed), Some(json!({"ok": 1})));
    }

    #[test]
    fn extract_json_finds_json_in_prose() {
        let prose = "Sure! The answer is {\"city\": \"Zürich\", \"tags\": [\"a}\"]} as asked.";
        assert_eq!(
            extract_json(prose),
            Some(json!({"city": "Zürich", "tags": ["a}"]}))
        );
        // A brace that does not start JSON is skipped for the next one.
        let skipped = "Use {braces} wisely: [1, 2, 3] is the list.";
        assert_eq!(extract_json(skipped), Some(json!([1, 2, 3])));
    }

    #[test]
    fn extract_json_gives_none_without_json() {
        assert_eq!(extract_json(""), None);
        assert_eq!(extract_json("   "), None);
        assert_eq!(extract_json("no json here"), None);
        assert_eq!(extract_json("{\"a\": 1,"), None);
        assert_eq!(extract_json("```json\n{broken\n```"), None);
        assert_eq!(extract_json("[[[[[[[[[[{{{{{"), None);
        assert_eq!(extract_json("Zürich — café {"), None);
    }

    #[test]
    fn json_valid_scores_extraction() {
        assert_close(json_valid("```json\n{\"a\": 1}\n```"), 1.0);
        assert_close(json_valid("prose [1,2] prose"), 1.0);
        assert_close(json_valid("{not: json}"), 0.0);
        assert_close(json_valid(""), 0.0);
    }

    fn person_schema() -> jsonschema::Validator {
        compile_schema(&json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 0}
            },
            "required": ["name", "age"]
        }))
        .expect("the test schema compiles")
    }

    #[test]
    fn json_schema_accepts_a_valid_value() {
        let schema = person_schema();
        let output = "Here:\n```json\n{\"name\": \"Ada\", \"age\": 36}\n```";
        assert_eq!(json_schema(output, &schema), (1.0, None));
    }

    #[test]
    fn json_schema_names_the_failing_path() {
        let schema = person_schema();
        let (value, error) = json_schema("{\"name\": \"Ada\", \"age\": \"old\"}", &schema);
        assert_close(value, 0.0);
        let error = error.expect("an error message");
        assert!(error.contains("/age"), "{error}");
        assert!(error.contains("integer"), "{error}");

        let (value, error) = json_schema("{\"name\": \"Ada\"}", &schema);
        assert_close(value, 0.0);
        let error = error.expect("an error message");
        assert!(error.contains("(root)") && error.contains("age"), "{error}");
    }

    #[test]
    fn json_schema_reports_missing_json() {
        let schema = person_schema();
        assert_eq!(
            json_schema("I cannot answer that.", &schema),
            (0.0, Some(NO_JSON.to_owned()))
        );
        assert_eq!(json_schema("", &schema), (0.0, Some(NO_JSON.to_owned())));
    }

    #[test]
    fn compile_schema_rejects_a_bad_schema() {
        let error = compile_schema(&json!({"type": 12})).expect_err("invalid schema");
        assert!(error.starts_with("invalid JSON Schema"), "{error}");
        assert!(compile_schema(&json!({"minimum": "zero"})).is_err());
        assert!(compile_schema(&json!(true)).is_ok());
    }

    #[test]
    fn token_f1_counts_the_bag_overlap() {
        // [cat, sat, on, mat] vs [cat, on, mat]: common 3 → P = 3/4, R = 3/3,
        // F1 = 2·(3/4)·1 / (3/4 + 1) = (3/2)/(7/4) = 6/7.
        assert_close(
            token_f1("the cat sat on the mat", "a cat on a mat"),
            6.0 / 7.0,
        );
        // Multiplicity: [cat, cat, cat] vs [cat]: common min(3,1) = 1 →
        // P = 1/3, R = 1 → F1 = (2/3)/(4/3) = 1/2.
        assert_close(token_f1("cat cat cat", "cat"), 0.5);
        // No common tokens → 0.
        assert_close(token_f1("dog", "cat"), 0.0);
        // Both empty after normalisation → 1; one empty → 0.
        assert_close(token_f1("", "the"), 1.0);
        assert_close(token_f1("", "cat"), 0.0);
        assert_close(token_f1("cat", ""), 0.0);
        // [zürich, café] vs [café]: common 1 → P = 1/2, R = 1 → F1 = 2/3.
        assert_close(token_f1("Zürich — café", "café"), 2.0 / 3.0);
    }

    #[test]
    fn rouge_l_rewards_order() {
        // [cat, sat, on, mat] vs [mat, on, sat, cat]: the bags are equal
        // (token F1 = 1) but the LCS is 1 token long → P = R = 1/4 → F = 1/4.
        assert_close(token_f1("cat sat on mat", "mat on sat cat"), 1.0);
        assert_close(rouge_l("cat sat on mat", "mat on sat cat"), 0.25);
        // [police, killed, gunman] vs [police, kill, gunman]: LCS [police,
        // gunman] = 2 → P = 2/3, R = 2/3 → F = 2/3.
        assert_close(
            rouge_l("police killed the gunman", "police kill the gunman"),
            2.0 / 3.0,
        );
        // [v, w, x, y, z] vs [w, y, z]: LCS [w, y, z] = 3 → P = 3/5,
        // R = 3/3 → F = 2·(3/5)·1 / (3/5 + 1) = (6/5)/(8/5) = 3/4.
        assert_close(rouge_l("v w x y z", "w y z"), 0.75);
        assert_close(rouge_l("", ""), 1.0);
        assert_close(rouge_l("", "cat"), 0.0);
        assert_close(rouge_l("cat", "dog"), 0.0);
    }

    #[test]
    fn lcs_length_handles_either_order() {
        let long = ["a", "b", "c", "b", "d", "a", "b"];
        let short = ["b", "d", "c", "a", "b", "a"];
        // The textbook pair ABCBDAB / BDCABA has an LCS of length 4 (BCBA).
        assert_eq!(lcs_length(&long, &short), 4);
        assert_eq!(lcs_length(&short, &long), 4);
        assert_eq!(lcs_length::<&str>(&[], &long), 0);
    }

    #[test]
    fn bleu_tokens_split_off_punctuation_and_keep_articles() {
        assert_eq!(
            bleu_tokens("Hello, the World!  It's"),
            ["hello", ",", "the", "world", "!", "it", "'", "s"]
        );
        assert_eq!(bleu_tokens("Zürich — café"), ["zürich", "—", "café"]);
        assert!(bleu_tokens(" \n ").is_empty());
    }

    #[test]
    fn bleu_of_a_perfect_match_is_one() {
        // 6 tokens: p1 = 6/6, p2 = 5/5, p3 = 4/4, p4 = 3/3; c = r → BP = 1.
        assert_close(
            bleu("The cat sat on the mat.", "the cat sat on the mat ."),
            1.0,
        );
    }

    #[test]
    fn bleu_applies_the_brevity_penalty() {
        // Output [the, cat, sat, on] (c = 4), reference 6 tokens (r = 6).
        // p1 = 4/4, p2 = 3/3, p3 = 2/2, p4 = 1/1 → geometric mean 1.
        // BP = exp(1 - 6/4) = exp(-0.5) ≈ 0.6065306597.
        assert_close(
            bleu("the cat sat on", "the cat sat on the mat"),
            (-0.5f64).exp(),
        );
        // A longer output has no penalty: [the, cat, sat, on, the, mat, mat]
        // vs 6 tokens: p1 = 6/7 (second "mat" clipped), p2 = 5/6, p3 = 4/5,
        // p4 = 3/4 → (6/7 · 5/6 · 4/5 · 3/4)^(1/4) = (3/7)^(1/4); BP = 1.
        assert_close(
            bleu("the cat sat on the mat mat", "the cat sat on the mat"),
            (3.0f64 / 7.0).powf(0.25),
        );
    }

    #[test]
    fn bleu_smooths_a_zero_four_gram_count() {
        // Output [the, cat, ran, on, the, mat] vs [the, cat, sat, on, the, mat]:
        // p1 = 5/6 (the×2, cat, on, mat; "ran" misses)
        // p2 = 3/5 (the cat, on the, the mat)
        // p3 = 1/4 (on the mat)
        // p4 = 0/3 → smoothed 0.1/3
        // c = r = 6 → BP = 1.
        // BLEU = (5/6 · 3/5 · 1/4 · 1/30)^(1/4) = (1/240)^(1/4) ≈ 0.2540663.
        // NLTK: sentence_bleu([ref], hyp, smoothing_function=
        // SmoothingFunction().method1) gives the same on these tokens.
        assert_close(
            bleu("the cat ran on the mat", "the cat sat on the mat"),
            (1.0f64 / 240.0).powf(0.25),
        );
    }

    #[test]
    fn bleu_scores_outputs_shorter_than_four_tokens() {
        // Output [the, cat] (c = 2) vs 6 reference tokens (r = 6):
        // p1 = 2/2, p2 = 1/1, p3 = 0/max(1, 0) → 0.1/1, p4 → 0.1/1.
        // BP = exp(1 - 6/2) = exp(-2).
        // BLEU = exp(-2) · (1 · 1 · 0.1 · 0.1)^(1/4) = exp(-2) · 0.1^(1/2)
        //      ≈ 0.1353353 · 0.3162278 ≈ 0.0427971.
        assert_close(
            bleu("the cat", "the cat sat on the mat"),
            (-2.0f64).exp() * 0.1f64.sqrt(),
        );
    }

    #[test]
    fn bleu_matches_nltk_method1() {
        // Values from NLTK 3.10 `sentence_bleu([ref.split()], hyp.split(),
        // smoothing_function=SmoothingFunction().method1)`, on texts whose
        // whitespace split equals this module's tokens.
        let hypothesis = "It is a guide to action which ensures that the military \
                          always obeys the commands of the party";
        let reference = "It is a guide to action that ensures that the military \
                         will forever heed Party commands";
        assert_close(bleu(hypothesis, reference), 0.4208598069524091);
        // [zürich, —, café, ☕, 東京] vs [zürich, café]: p1 = 2/5,
        // p2 = 0.1/4, p3 = 0.1/3, p4 = 0.1/2, BP = 1 (c = 5 > r = 2).
        assert_close(
            bleu("Zürich — café ☕ 東京", "zürich café"),
            0.06389431042462725,
        );
    }

    #[test]
    fn bleu_is_zero_without_unigram_matches_or_output() {
        assert_close(bleu("dog barked", "the cat sat"), 0.0);
        assert_close(bleu("", "the cat sat"), 0.0);
        assert_close(bleu("the cat", ""), 0.0);
        assert_close(bleu("", ""), 0.0);
    }

    #[test]
    fn metrics_survive_multibyte_input() {
        let output = "Zürich — café ☕ 東京";
        let reference = "zürich café";
        assert_close(exact_match(output, reference), 0.0);
        assert_close(contains(output, reference), 1.0);
        // [zürich, café, ☕, 東京] vs [zürich, café]: P = 2/4, R = 1 → 2/3.
        assert_close(token_f1(output, reference), 2.0 / 3.0);
        assert_close(rouge_l(output, reference), 2.0 / 3.0);
        let value = bleu(output, reference);
        assert!((0.0..=1.0).contains(&value));
        assert_close(json_valid(output), 0.0);
    }
}
