//! Where a possibly unfinished sensitive value at the end of a streamed text begins, so
//! the stream holds it back. Not responsible for finding complete values (`detectors`).

use super::{find, Finding};

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
