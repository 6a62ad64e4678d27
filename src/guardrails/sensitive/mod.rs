//! Sensitive-information detection: the kinds of value (`EntityType`) and what a finding
//! is, with the detectors (`detectors`: emails, phone numbers, card numbers, national ids,
//! IBANs, addresses, keys, validated beyond the shape by Luhn, mod-97, real dates and
//! excluded ranges), and where a streamed value may still be arriving (`pending`). Acting
//! on them (blocking or anonymizing the request, the streamed answer and tool-call
//! arguments) is the guardrail's (`guardrails::engine`, `guardrails::check`).

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid sensitive-info pattern"))
}

macro_rules! regex {
    ($pattern:expr) => {{
        static CELL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        $crate::guardrails::sensitive::re(&CELL, $pattern)
    }};
}

mod detectors;
mod pending;

pub use detectors::{find, iban_valid, luhn_valid, rrn_check_digit_valid};
pub use pending::{pending_from, pending_start};

/// What a guardrail policy does with a sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveAction {
    /// Stop the request, answer or tool call.
    Block,
    /// Replace the value with its placeholder (`{EMAIL}`, …).
    Anonymize,
}

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
