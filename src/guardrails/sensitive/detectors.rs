//! The detectors: each kind of sensitive value found by its shape and validated beyond it
//! (Luhn, mod-97, real dates, excluded ranges), and `find`, which runs them all and keeps
//! the most specific of overlapping findings. Not responsible for acting on findings.

use std::net::Ipv6Addr;

use regex::Regex;

use super::{EntityType, Finding};

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

pub(super) fn contains(outer: &Finding, inner: &Finding) -> bool {
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
