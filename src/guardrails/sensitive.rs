//! Sensitive-information detectors (emails, phone numbers, card numbers, national ids,
//! IBANs, addresses, keys) with validation beyond the shape (Luhn, mod-97, real dates,
//! excluded ranges), and `SensitiveInfoCheck`, which blocks or anonymizes them on the
//! request, the streamed answer and tool-call arguments.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::sync::OnceLock;

use async_trait::async_trait;
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::runtime::checks::{Check, InputDecision, MaskSpan, OutputDecision};
use crate::runtime::types::{ChatRequest, Role, ToolCall};

/// A kind of sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    Email,
    Phone,
    CreditCard,
    UsSsn,
    KrRrn,
    Iban,
    Ipv4,
    Ipv6,
    Url,
    AwsAccessKey,
    PrivateKey,
    ApiKey,
}

impl EntityType {
    pub const ALL: [EntityType; 12] = [
        EntityType::Email,
        EntityType::Phone,
        EntityType::CreditCard,
        EntityType::UsSsn,
        EntityType::KrRrn,
        EntityType::Iban,
        EntityType::Ipv4,
        EntityType::Ipv6,
        EntityType::Url,
        EntityType::AwsAccessKey,
        EntityType::PrivateKey,
        EntityType::ApiKey,
    ];

    /// What stands in place of an anonymized value, e.g. `{EMAIL}`.
    pub fn placeholder(self) -> &'static str {
        match self {
            EntityType::Email => "{EMAIL}",
            EntityType::Phone => "{PHONE}",
            EntityType::CreditCard => "{CREDIT_CARD}",
            EntityType::UsSsn => "{US_SSN}",
            EntityType::KrRrn => "{KR_RRN}",
            EntityType::Iban => "{IBAN}",
            EntityType::Ipv4 => "{IPV4}",
            EntityType::Ipv6 => "{IPV6}",
            EntityType::Url => "{URL}",
            EntityType::AwsAccessKey => "{AWS_ACCESS_KEY}",
            EntityType::PrivateKey => "{PRIVATE_KEY}",
            EntityType::ApiKey => "{API_KEY}",
        }
    }

    /// A phrase for messages ("the answer contains …").
    pub fn describe(self) -> &'static str {
        match self {
            EntityType::Email => "an email address",
            EntityType::Phone => "a phone number",
            EntityType::CreditCard => "a credit card number",
            EntityType::UsSsn => "a US social security number",
            EntityType::KrRrn => "a Korean resident registration number",
            EntityType::Iban => "an IBAN",
            EntityType::Ipv4 => "an IPv4 address",
            EntityType::Ipv6 => "an IPv6 address",
            EntityType::Url => "a URL",
            EntityType::AwsAccessKey => "an AWS access key",
            EntityType::PrivateKey => "a private key",
            EntityType::ApiKey => "an API key",
        }
    }

    /// Higher wins when two findings overlap.
    fn specificity(self) -> u8 {
        match self {
            EntityType::PrivateKey => 100,
            EntityType::AwsAccessKey => 95,
            EntityType::ApiKey => 90,
            EntityType::Iban => 85,
            EntityType::CreditCard => 80,
            EntityType::KrRrn => 78,
            EntityType::UsSsn => 75,
            EntityType::Email => 70,
            EntityType::Url => 60,
            EntityType::Ipv6 => 55,
            EntityType::Phone => 50,
            EntityType::Ipv4 => 45,
        }
    }
}

/// One sensitive value found in a text, in byte offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub entity: EntityType,
    pub start: usize,
    pub end: usize,
    pub confidence: f32,
}

impl Finding {
    /// A finding covering a regex match.
    fn of(entity: EntityType, m: &regex::Match<'_>, confidence: f32) -> Finding {
        Finding {
            entity,
            start: m.start(),
            end: m.end(),
            confidence,
        }
    }
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid sensitive-info pattern"))
}

macro_rules! regex {
    ($pattern:expr) => {{
        static CELL: OnceLock<Regex> = OnceLock::new();
        re(&CELL, $pattern)
    }};
}

/// The character before `i`, if any.
fn before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The character at `i`, if any.
fn after(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// An ASCII word character: values written next to other scripts (Korean particles such
/// as `010-1234-5678로`) still count as separate.
fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// True when the digits at `start..end` are not glued to more digits (or a `-`/`.`
/// followed by a digit), so a fragment of a longer number is not taken for a value.
fn digits_isolated(text: &str, start: usize, end: usize) -> bool {
    let b = before(text, start);
    if is_word(b) {
        return false;
    }
    if matches!(b, Some('-') | Some('.')) && is_digit(before(text, start - 1)) {
        return false;
    }
    let a = after(text, end);
    if is_word(a) {
        return false;
    }
    if matches!(a, Some('-') | Some('.')) && is_digit(after(text, end + 1)) {
        return false;
    }
    true
}

fn digits_of(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn check over a list of digits.
pub fn luhn_valid(digits: &[u32]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The IBAN mod-97 check (spaces ignored).
pub fn iban_valid(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| *c != ' ').collect();
    if !(15..=34).contains(&s.len())
        || !s.is_ascii()
        || !s[..2].chars().all(|c| c.is_ascii_uppercase())
        || !s[2..4].chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn valid_date(y: u32, m: u32, d: u32) -> bool {
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Whether a Korean resident registration number (13 digits) carries a valid check digit.
pub fn rrn_check_digit_valid(digits: &[u32]) -> bool {
    if digits.len() != 13 {
        return false;
    }
    const W: [u32; 12] = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];
    let sum: u32 = digits.iter().zip(W).map(|(d, w)| d * w).sum();
    (11 - sum % 11) % 10 == digits[12]
}

fn find_emails(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}"
    );
    for m in re.find_iter(text) {
        let local = &m.as_str()[..m.as_str().find('@').unwrap_or(0)];
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            continue;
        }
        if is_word(after(text, m.end())) {
            continue;
        }
        out.push(Finding::of(EntityType::Email, &m, 0.95));
    }
}

fn find_urls(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r#"(?i)(?-u:\b)https?://[^\s<>"'`]+"#);
    for m in re.find_iter(text) {
        let s = m.as_str();
        let mut end = m.end();
        // Trailing punctuation belongs to the sentence, an unmatched `)` to the prose.
        let trimmed = s.trim_end_matches(['.', ',', ';', ':', '!', '?', ']', '}']);
        end -= s.len() - trimmed.len();
        let mut t = &text[m.start()..end];
        while t.ends_with(')') && t.matches('(').count() < t.matches(')').count() {
            end -= 1;
            t = &text[m.start()..end];
        }
        if t.len() <= "https://".len() {
            continue;
        }
        out.push(Finding {
            entity: EntityType::Url,
            start: m.start(),
            end,
            confidence: 0.9,
        });
    }
}

fn find_private_keys(text: &str, out: &mut Vec<Finding>) {
    let re =
        regex!(r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----");
    for m in re.find_iter(text) {
        out.push(Finding::of(EntityType::PrivateKey, &m, 0.99));
    }
    // A block cut short (an answer stopped at its token limit) still shows key material:
    // the header and the base64 lines that follow it.
    let cut = regex!(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:\r?\n[A-Za-z0-9+/=]{16,})+");
    for m in cut.find_iter(text) {
        out.push(Finding::of(EntityType::PrivateKey, &m, 0.8));
    }
}

fn find_aws_keys(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)");
    for m in re.find_iter(text) {
        out.push(Finding::of(EntityType::AwsAccessKey, &m, 0.95));
    }
}

fn find_api_keys(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(
        r"(?-u:\b)(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,})"
    );
    for m in re.find_iter(text) {
        if is_word(before(text, m.start())) || before(text, m.start()) == Some('-') {
            continue;
        }
        out.push(Finding::of(EntityType::ApiKey, &m, 0.9));
    }
}

fn find_cards(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"[0-9](?:[ -]?[0-9]){12,18}");
    for m in re.find_iter(text) {
        if !digits_isolated(text, m.start(), m.end()) {
            continue;
        }
        let s = m.as_str();
        // One kind of separator, not a mix.
        if s.contains(' ') && s.contains('-') {
            continue;
        }
        // Six digits, a hyphen, seven: the Korean RRN shape, never how cards are grouped
        // (4-4-4-4, 4-6-5): the RRN detector judges it (by its date and gender digit).
        if s.len() == 14 && s.find('-') == Some(6) && s.matches('-').count() == 1 {
            continue;
        }
        let digits = digits_of(s);
        if !(13..=19).contains(&digits.len()) || !luhn_valid(&digits) {
            continue;
        }
        if digits.iter().all(|d| *d == digits[0]) {
            continue;
        }
        let known_issuer = matches!(digits[0], 3..=6);
        out.push(Finding::of(
            EntityType::CreditCard,
            &m,
            if known_issuer { 0.9 } else { 0.7 },
        ));
    }
}

fn find_ssns(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"(?-u:\b)([0-9]{3})-([0-9]{2})-([0-9]{4})(?-u:\b)");
    for c in re.captures_iter(text) {
        let m = c.get(0).expect("whole match");
        if !digits_isolated(text, m.start(), m.end()) {
            continue;
        }
        let area: u32 = c[1].parse().unwrap_or(0);
        let group: u32 = c[2].parse().unwrap_or(0);
        let serial: u32 = c[3].parse().unwrap_or(0);
        if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
            continue;
        }
        out.push(Finding::of(EntityType::UsSsn, &m, 0.85));
    }
}

fn find_rrns(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"(?-u:\b)([0-9]{2})([0-9]{2})([0-9]{2})-([0-9])([0-9]{6})(?-u:\b)");
    for c in re.captures_iter(text) {
        let m = c.get(0).expect("whole match");
        if !digits_isolated(text, m.start(), m.end()) {
            continue;
        }
        let yy: u32 = c[1].parse().unwrap_or(0);
        let mm: u32 = c[2].parse().unwrap_or(0);
        let dd: u32 = c[3].parse().unwrap_or(0);
        let century = match c[4].parse::<u32>().unwrap_or(0) {
            1 | 2 | 5 | 6 => 1900,
            3 | 4 | 7 | 8 => 2000,
            _ => 1800, // 9 and 0
        };
        if !valid_date(century + yy, mm, dd) {
            continue;
        }
        let digits = digits_of(m.as_str());
        // Numbers issued from late 2020 on carry no valid check digit, so it cannot be
        // required; a valid one only makes the finding more certain.
        let confidence = if rrn_check_digit_valid(&digits) {
            0.95
        } else {
            0.75
        };
        out.push(Finding::of(EntityType::KrRrn, &m, confidence));
    }
}

fn find_ibans(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?-u:\b)");
    for m in re.find_iter(text) {
        if is_word(before(text, m.start())) {
            continue;
        }
        // The pattern may run into following capitals ("… 00 AND"): try shorter
        // candidates, dropping space-separated groups from the end.
        let s = m.as_str();
        let mut end = s.len();
        loop {
            let candidate = &s[..end];
            if iban_valid(candidate) {
                out.push(Finding {
                    entity: EntityType::Iban,
                    start: m.start(),
                    end: m.start() + end,
                    confidence: 0.95,
                });
                break;
            }
            match candidate.rfind(' ') {
                Some(i) if i >= 4 => end = i,
                _ => break,
            }
        }
    }
}

fn find_ipv4(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"(?-u:\b)([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?-u:\b)");
    for c in re.captures_iter(text) {
        let m = c.get(0).expect("whole match");
        if !digits_isolated(text, m.start(), m.end()) {
            continue;
        }
        if (1..=4).all(|i| c[i].parse::<u32>().is_ok_and(|v| v <= 255)) {
            out.push(Finding::of(EntityType::Ipv4, &m, 0.8));
        }
    }
}

fn find_ipv6(text: &str, out: &mut Vec<Finding>) {
    let re = regex!(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*");
    for m in re.find_iter(text) {
        let start = m.start();
        let mut s = m.as_str().trim_end_matches('.');
        if s.ends_with(':') && !s.ends_with("::") {
            s = &s[..s.len() - 1];
        }
        let end = start + s.len();
        if is_word(before(text, start)) || is_word(after(text, end)) {
            continue;
        }
        // Code such as `a::b` parses too: insist on a digit and two colons.
        if s.matches(':').count() < 2 || !s.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        if s.parse::<Ipv6Addr>().is_ok() {
            out.push(Finding {
                entity: EntityType::Ipv6,
                start,
                end,
                confidence: 0.85,
            });
        }
    }
}

fn find_phones(text: &str, out: &mut Vec<Finding>) {
    let patterns: [(&Regex, f32); 6] = [
        // Korean mobile: 010-1234-5678, 01012345678, 010 1234 5678.
        (
            regex!(r"01[016789](?:-[0-9]{3,4}-| [0-9]{3,4} |[0-9]{3,4})[0-9]{4}"),
            0.85,
        ),
        // Korean landline: 02-123-4567, 031-123-4567.
        (
            regex!(r"0(?:2|[3-6][1-5])(?:-[0-9]{3,4}-|\) ?[0-9]{3,4}-)[0-9]{4}"),
            0.8,
        ),
        // Korean international: +82 10 1234 5678, +82-2-123-4567.
        (
            regex!(r"\+82[ -]?(?:\(0\))?(?:1[016789]|2|[3-6][1-5])[ -]?[0-9]{3,4}[ -]?[0-9]{4}"),
            0.9,
        ),
        // US: (555) 123-4567, +1 555 123 4567, 555-123-4567.
        (
            regex!(
                r"(?:\+1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}"
            ),
            0.75,
        ),
        // E.164 without separators: +4915123456789.
        (regex!(r"\+[1-9][0-9]{7,14}"), 0.8),
        // Other international numbers in groups: +44 20 7946 0958.
        (regex!(r"\+[1-9][0-9]{0,3}(?:[ -][0-9]{1,4}){2,5}"), 0.7),
    ];
    for (re, confidence) in patterns {
        for m in re.find_iter(text) {
            if !digits_isolated(text, m.start(), m.end()) {
                continue;
            }
            // A `+` or `(` must not be glued to a word either.
            if m.as_str().starts_with(['+', '('])
                && (is_word(before(text, m.start())) || before(text, m.start()) == Some('+'))
            {
                continue;
            }
            let n = digits_of(m.as_str()).len();
            if !(8..=15).contains(&n) {
                continue;
            }
            out.push(Finding {
                entity: EntityType::Phone,
                start: m.start(),
                end: m.end(),
                confidence,
            });
        }
    }
}

fn overlaps(a: &Finding, b: &Finding) -> bool {
    a.start < b.end && b.start < a.end
}

fn contains(outer: &Finding, inner: &Finding) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Finds sensitive values in `text`, sorted by start. Overlapping findings keep the most
/// specific (a card number is not also a phone number); a URL may keep the findings it
/// contains (an email in a `mailto`-style query, a key in a parameter).
pub fn find(text: &str) -> Vec<Finding> {
    let mut all = Vec::new();
    find_private_keys(text, &mut all);
    find_aws_keys(text, &mut all);
    find_api_keys(text, &mut all);
    find_ibans(text, &mut all);
    find_cards(text, &mut all);
    find_rrns(text, &mut all);
    find_ssns(text, &mut all);
    find_emails(text, &mut all);
    find_urls(text, &mut all);
    find_ipv6(text, &mut all);
    find_phones(text, &mut all);
    find_ipv4(text, &mut all);
    all.sort_by(|a, b| {
        b.entity
            .specificity()
            .cmp(&a.entity.specificity())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<Finding> = Vec::new();
    for f in all {
        let clash = kept.iter().any(|k| {
            overlaps(k, &f)
                && !(k.entity == EntityType::Url && contains(k, &f))
                && !(f.entity == EntityType::Url && contains(&f, k))
        });
        if !clash {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    kept
}

/// What to do with a sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveAction {
    /// Stop the request, answer or tool call.
    Block,
    /// Replace the value with its placeholder (`{EMAIL}`, …).
    Anonymize,
}

/// Blocks or anonymizes sensitive values, per type; types without an action pass.
#[derive(Debug, Clone)]
pub struct SensitiveInfoCheck {
    actions: BTreeMap<EntityType, SensitiveAction>,
    min_confidence: f32,
}

/// The configuration's version, part of the digest: bump it when detection changes.
const VERSION: &str = "sensitive-info-v1";

/// The prefixes of key shapes whose beginning at the end of a stream is held back.
const KEY_PREFIXES: [&str; 12] = [
    "-----BEGIN",
    "https://",
    "http://",
    "sk-",
    "sk_live_",
    "ghp_",
    "xoxb-",
    "AIza",
    "hf_",
    "AKIA",
    "ASIA",
    "github_pat_",
];

impl SensitiveInfoCheck {
    /// A check with the given action per type.
    pub fn new(actions: impl IntoIterator<Item = (EntityType, SensitiveAction)>) -> Self {
        SensitiveInfoCheck {
            actions: actions.into_iter().collect(),
            min_confidence: 0.0,
        }
    }

    /// A check that anonymizes every type.
    pub fn anonymize_all() -> Self {
        Self::new(EntityType::ALL.map(|e| (e, SensitiveAction::Anonymize)))
    }

    /// Sets (or replaces) one type's action.
    pub fn with_action(mut self, entity: EntityType, action: SensitiveAction) -> Self {
        self.actions.insert(entity, action);
        self
    }

    /// Ignores findings below this confidence.
    pub fn with_min_confidence(mut self, min: f32) -> Self {
        self.min_confidence = min;
        self
    }

    /// The findings this check acts on, each with its action.
    fn findings(&self, text: &str) -> Vec<(Finding, SensitiveAction)> {
        self.act_on(find(text))
    }

    fn act_on(&self, found: Vec<Finding>) -> Vec<(Finding, SensitiveAction)> {
        found
            .into_iter()
            .filter(|f| f.confidence >= self.min_confidence)
            .filter_map(|f| self.actions.get(&f.entity).map(|a| (f, *a)))
            .collect()
    }

    /// Spans to mask: anonymized findings not inside another one (masks cannot nest).
    fn spans(findings: &[&Finding]) -> Vec<MaskSpan> {
        findings
            .iter()
            .filter(|f| {
                !findings
                    .iter()
                    .any(|o| contains(o, f) && (o.start, o.end) != (f.start, f.end))
            })
            .map(|f| MaskSpan {
                start: f.start,
                end: f.end,
                placeholder: f.entity.placeholder().to_string(),
            })
            .collect()
    }

    fn block_reason(where_: &str, f: &Finding) -> String {
        format!("{where_} contains {}", f.entity.describe())
    }

    /// Masks or blocks one text (a message or tool arguments); Ok(None) when untouched.
    fn rewrite(
        &self,
        text: &str,
        where_: &str,
    ) -> Result<Option<(String, Vec<EntityType>)>, String> {
        let findings = self.findings(text);
        if let Some((f, _)) = findings.iter().find(|(_, a)| *a == SensitiveAction::Block) {
            return Err(Self::block_reason(where_, f));
        }
        if findings.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&Finding> = findings.iter().map(|(f, _)| f).collect();
        let mut spans = Self::spans(&refs);
        spans.sort_by_key(|s| std::cmp::Reverse(s.start));
        let mut out = text.to_string();
        for s in &spans {
            out.replace_range(s.start..s.end, &s.placeholder);
        }
        Ok(Some((
            out,
            findings.iter().map(|(f, _)| f.entity).collect(),
        )))
    }
}

/// Where the possibly unfinished value at the end of `text` begins: the trailing run of
/// characters that could still grow into (or be the start of) a sensitive value, an
/// unclosed `-----BEGIN` block, or a finding that touches the end. None when the text
/// ends on a clear boundary.
pub fn pending_start(text: &str) -> Option<usize> {
    pending_from(text, &find(text))
}

/// `pending_start` with the text's findings already at hand.
pub fn pending_from(text: &str, found: &[Finding]) -> Option<usize> {
    let mut start: Option<usize> = None;
    let mut earliest = |i: usize| {
        start = Some(start.map_or(i, |s: usize| s.min(i)));
    };
    // An open PEM block: hold from its BEGIN until its END arrives.
    if let Some(i) = text.rfind("-----BEGIN") {
        let rest = &text[i..];
        let label = &rest["-----BEGIN".len()..];
        let private = match label.find("-----") {
            Some(j) => label[..j].ends_with("PRIVATE KEY"),
            None => true, // the header is still arriving
        };
        let pem = regex!(
            r"(?s)^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
        );
        if private && !pem.is_match(rest) {
            earliest(i);
        }
    }
    // The trailing run: printable ASCII without spaces, plus single spaces between
    // digit groups or capitals (card numbers, phones, IBANs written in groups).
    let bytes = text.as_bytes();
    let mut i = text.len();
    while i > 0 {
        let c = bytes[i - 1];
        if c.is_ascii_graphic() {
            i -= 1;
            continue;
        }
        if c == b' ' {
            let prev = if i >= 2 { Some(bytes[i - 2]) } else { None };
            let next = bytes.get(i).copied();
            let groupish = |b: Option<u8>| {
                b.is_some_and(|b| {
                    b.is_ascii_digit() || b.is_ascii_uppercase() || b"()+".contains(&b)
                })
            };
            // A space at the very end may be followed by the next group.
            if groupish(prev) && (next.is_none() || groupish(next)) {
                i -= 1;
                continue;
            }
        }
        break;
    }
    if i < text.len() {
        earliest(i);
    }
    // The end of the text may be the start of a marker ("-----BE", "sk").
    for p in KEY_PREFIXES {
        for n in 1..p.len() {
            if text.ends_with(&p[..n]) {
                earliest(text.len() - n);
            }
        }
    }
    for f in found {
        if f.end == text.len() {
            earliest(f.start);
        }
    }
    start
}

#[async_trait]
impl Check for SensitiveInfoCheck {
    fn name(&self) -> &str {
        "sensitive_info"
    }

    fn config_digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(VERSION.as_bytes());
        for (e, a) in &self.actions {
            h.update(format!("|{e:?}={a:?}").as_bytes());
        }
        h.update(format!("|min={}", self.min_confidence).as_bytes());
        hex::encode(h.finalize())
    }

    async fn check_input(&self, request: &mut ChatRequest) -> InputDecision {
        let mut masked: Vec<EntityType> = Vec::new();
        for m in request.messages.iter_mut().filter(|m| m.role == Role::User) {
            match self.rewrite(&m.content, "the request") {
                Err(reason) => return InputDecision::Block { reason },
                Ok(Some((text, kinds))) => {
                    m.content = text;
                    masked.extend(kinds);
                }
                Ok(None) => {}
            }
        }
        if masked.is_empty() {
            return InputDecision::Allow;
        }
        let count = masked.len();
        masked.sort();
        masked.dedup();
        let kinds: Vec<&str> = masked.iter().map(|e| e.placeholder()).collect();
        InputDecision::Masked {
            detail: format!("masked {count} value(s): {}", kinds.join(", ")),
        }
    }

    async fn check_output(&self, text: &str, released: usize, end: bool) -> OutputDecision {
        // Before the end, the unfinished tail is left alone and held back; findings that
        // end before it are final.
        // Only the line holding `released` and what follows can still change: no value
        // but a PEM block spans a line break, and an open PEM block is never released.
        // Scanning from there keeps a long answer from being rescanned whole per piece.
        let from = text[..released].rfind('\n').map_or(0, |i| i + 1);
        let window = &text[from..];
        let mut found = find(window);
        let pending = if end {
            text.len()
        } else {
            pending_from(window, &found)
                .map_or(text.len(), |p| p + from)
                .max(released)
        };
        for f in &mut found {
            f.start += from;
            f.end += from;
        }
        let findings: Vec<(Finding, SensitiveAction)> = self
            .act_on(found)
            .into_iter()
            .filter(|(f, _)| f.end > released && f.end <= pending)
            .collect();
        if let Some((f, _)) = findings
            .iter()
            .find(|(f, a)| *a == SensitiveAction::Block || f.start < released)
        {
            return OutputDecision::Block {
                reason: Self::block_reason("the answer", f),
            };
        }
        let refs: Vec<&Finding> = findings.iter().map(|(f, _)| f).collect();
        let spans = Self::spans(&refs);
        if !spans.is_empty() {
            return OutputDecision::Mask(spans);
        }
        if end || pending >= text.len() {
            return OutputDecision::Allow;
        }
        OutputDecision::Hold {
            chars: text[pending..].chars().count(),
        }
    }

    async fn check_tool_call(&self, call: &ToolCall) -> OutputDecision {
        let findings = self.findings(&call.arguments);
        if let Some((f, _)) = findings.iter().find(|(_, a)| *a == SensitiveAction::Block) {
            return OutputDecision::Block {
                reason: Self::block_reason(&format!("the arguments of {}", call.name), f),
            };
        }
        let refs: Vec<&Finding> = findings.iter().map(|(f, _)| f).collect();
        let spans = Self::spans(&refs);
        if spans.is_empty() {
            OutputDecision::Allow
        } else {
            OutputDecision::Mask(spans)
        }
    }
}
