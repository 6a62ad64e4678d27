//! The sensitive-information detectors and the guardrail check that acts on them (the
//! production `GuardrailCheck`, from a policy with sensitive-information settings):
//! positive and negative cases per type; the streamed answer (nothing sensitive released
//! before it is masked); the request and tool results (the input side); tool-call
//! arguments (the output side).

use std::sync::Arc;

use strata::guardrails::engine::Guardrail;
use strata::guardrails::policy::Policy;
use strata::guardrails::sensitive::{find, EntityType, Finding};
use strata::guardrails::GuardrailCheck;
use strata::runtime::checks::{Check, DecisionLog, InputDecision, OutputDecision};
use strata::runtime::release::Releaser;
use strata::runtime::types::{ChatRequest, Message, Role, ToolCall};

/// The findings of `text` as (type, matched text).
fn found(text: &str) -> Vec<(EntityType, &str)> {
    find(text)
        .into_iter()
        .map(|f| (f.entity, &text[f.start..f.end]))
        .collect()
}

fn finds(text: &str, entity: EntityType, value: &str) {
    assert!(
        found(text).contains(&(entity, value)),
        "{entity:?} {value:?} not found in {text:?}: {:?}",
        found(text)
    );
}

fn no(text: &str, entity: EntityType) {
    assert!(
        found(text).iter().all(|(e, _)| *e != entity),
        "{entity:?} wrongly found in {text:?}: {:?}",
        found(text)
    );
}

fn finding(text: &str, entity: EntityType) -> Finding {
    find(text)
        .into_iter()
        .find(|f| f.entity == entity)
        .unwrap_or_else(|| panic!("{entity:?} not found in {text:?}"))
}

#[test]
fn credit_cards_need_the_luhn_check() {
    finds(
        "card 4111 1111 1111 1111 ok",
        EntityType::CreditCard,
        "4111 1111 1111 1111",
    );
    finds(
        "5500-0055-5555-5559",
        EntityType::CreditCard,
        "5500-0055-5555-5559",
    );
    finds(
        "amex 378282246310005.",
        EntityType::CreditCard,
        "378282246310005",
    );
    no("card 4111 1111 1111 1112 ok", EntityType::CreditCard);
    no("4111-1111-1111-1112", EntityType::CreditCard);
    // Too short, or part of a longer number.
    no("411111111111", EntityType::CreditCard);
    no("x41111111111111111111111", EntityType::CreditCard);
    // A card is not also a phone number.
    assert_eq!(
        found("4111111111111111"),
        vec![(EntityType::CreditCard, "4111111111111111")]
    );
}

#[test]
fn us_ssns_exclude_invalid_ranges() {
    finds("ssn 123-45-6789.", EntityType::UsSsn, "123-45-6789");
    finds("772-01-0001", EntityType::UsSsn, "772-01-0001");
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "1123-45-6789",
        "123-45-67890",
    ] {
        no(bad, EntityType::UsSsn);
    }
}

#[test]
fn korean_rrns_need_a_real_date_but_not_the_check_digit() {
    // 900101-123456x: the check digit is 8.
    let valid = finding("주민번호 900101-1234568 입니다", EntityType::KrRrn);
    let no_check = finding("주민번호 900101-1234567 입니다", EntityType::KrRrn);
    assert!(valid.confidence > no_check.confidence);
    // Issued after 2020 (no valid check digit), born 2021.
    finds("210315-4123456", EntityType::KrRrn, "210315-4123456");
    // 2000 was a leap year (gender 3), 1900 was not (gender 1), 2001 was not.
    finds("000229-3123456", EntityType::KrRrn, "000229-3123456");
    no("000229-1123456", EntityType::KrRrn);
    no("010229-3123456", EntityType::KrRrn);
    // Impossible dates.
    no("900230-1234567", EntityType::KrRrn);
    no("901301-1234567", EntityType::KrRrn);
    no("900100-1234567", EntityType::KrRrn);
    no("900431-2234567", EntityType::KrRrn);
    // 9 and 0 mean the 1800s: 1900-02-29 does not exist but 1896-02-29 does.
    finds("960229-9123456", EntityType::KrRrn, "960229-9123456");
    no("970229-0123456", EntityType::KrRrn);
}

#[test]
fn ibans_need_the_mod_97_checksum() {
    finds(
        "pay to GB82 WEST 1234 5698 7654 32 please",
        EntityType::Iban,
        "GB82 WEST 1234 5698 7654 32",
    );
    finds(
        "DE89370400440532013000",
        EntityType::Iban,
        "DE89370400440532013000",
    );
    finds(
        "DE89 3704 0044 0532 0130 00 AND MORE",
        EntityType::Iban,
        "DE89 3704 0044 0532 0130 00",
    );
    no("GB82 WEST 1234 5698 7654 33", EntityType::Iban);
    no("DE88370400440532013000", EntityType::Iban);
}

#[test]
fn phones_in_korean_us_and_e164_formats() {
    for (text, value) in [
        ("휴대폰 010-1234-5678 로", "010-1234-5678"),
        ("call 01012345678 now", "01012345678"),
        ("서울 02-123-4567", "02-123-4567"),
        ("경기 031-1234-5678", "031-1234-5678"),
        ("intl +82 10 1234 5678.", "+82 10 1234 5678"),
        ("+82-2-123-4567", "+82-2-123-4567"),
        ("US (555) 123-4567", "(555) 123-4567"),
        ("US +1 555 123 4567", "+1 555 123 4567"),
        ("US 555-123-4567", "555-123-4567"),
        ("DE +4915123456789", "+4915123456789"),
        ("UK +44 20 7946 0958", "+44 20 7946 0958"),
    ] {
        finds(text, EntityType::Phone, value);
    }
    // Plain long numbers and other values are not phones.
    no("order 20231115123456 shipped", EntityType::Phone);
    no("id 1234567890", EntityType::Phone);
    no("123-45-6789", EntityType::Phone);
    no("version 1.2.3", EntityType::Phone);
    no("4111 1111 1111 1111", EntityType::Phone);
}

#[test]
fn emails_urls_and_addresses() {
    finds(
        "mail jane.doe+x@mail.example.co.kr.",
        EntityType::Email,
        "jane.doe+x@mail.example.co.kr",
    );
    no("not an email: jane@localhost", EntityType::Email);
    no("a@b", EntityType::Email);
    finds(
        "see https://example.com/a?b=c).",
        EntityType::Url,
        "https://example.com/a?b=c",
    );
    finds("(http://x.org/path)", EntityType::Url, "http://x.org/path");
    no("ftp://example.com", EntityType::Url);
    // A URL holding an email: both are reported.
    let text = "https://example.com/contact?to=jane@example.com";
    finds(text, EntityType::Url, text);
    finds(text, EntityType::Email, "jane@example.com");

    finds("ip 192.168.0.1.", EntityType::Ipv4, "192.168.0.1");
    finds("255.255.255.255", EntityType::Ipv4, "255.255.255.255");
    no("ip 256.1.1.1", EntityType::Ipv4);
    no("192.168.0.256", EntityType::Ipv4);
    no("version 1.2.3.4.5", EntityType::Ipv4);

    finds("v6 2001:db8::1 here", EntityType::Ipv6, "2001:db8::1");
    finds(
        "fe80::1ff:fe23:4567:890a",
        EntityType::Ipv6,
        "fe80::1ff:fe23:4567:890a",
    );
    finds(
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        EntityType::Ipv6,
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    );
    no("use std::io::Read;", EntityType::Ipv6);
    no("at 12:30:45", EntityType::Ipv6);
    no("2001:db8:::1", EntityType::Ipv6);
}

#[test]
fn keys_and_secrets() {
    finds(
        "key AKIAIOSFODNN7EXAMPLE",
        EntityType::AwsAccessKey,
        "AKIAIOSFODNN7EXAMPLE",
    );
    finds(
        "ASIAIOSFODNN7EXAMPLE",
        EntityType::AwsAccessKey,
        "ASIAIOSFODNN7EXAMPLE",
    );
    no("AKIAIOSFODNN7EXAMPL", EntityType::AwsAccessKey);
    no("AKIAiosfodnn7example", EntityType::AwsAccessKey);

    for key in [
        "sk-abcdefghijklmnopqrstuvwxyz012345",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "xoxb-123456789012-abcdefghijkl",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "hf_abcdefghijklmnopqrstuvwxyzABCDEF",
    ] {
        finds(&format!("token: {key} end"), EntityType::ApiKey, key);
    }
    no("sk-short", EntityType::ApiKey);
    no("task-abcdefghijklmnopqrstuvwxyz", EntityType::ApiKey);

    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234\nabcd==\n-----END RSA PRIVATE KEY-----";
    let text = format!("here:\n{pem}\nthanks");
    finds(&text, EntityType::PrivateKey, pem);
    assert_eq!(find(&text).len(), 1, "{:?}", found(&text));
    no(
        "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
        EntityType::PrivateKey,
    );
    no(
        "-----BEGIN PRIVATE KEY-----\nabc (cut)",
        EntityType::PrivateKey,
    );
    // A block cut short still shows key material.
    let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7";
    finds(&format!("{cut}\n(truncated)"), EntityType::PrivateKey, cut);
    let whole = format!("{cut}\n-----END PRIVATE KEY-----");
    assert_eq!(
        found(&whole),
        vec![(EntityType::PrivateKey, whole.as_str())]
    );
}

/// A policy file giving every sensitive type `action`, except the types in `except`,
/// which get theirs (types named as policy files name them: `credit_card`).
fn policy_for_all(action: &str, except: &[(&str, &str)]) -> String {
    let mut toml = String::from("name = \"pii\"\n[sensitive_information]\n");
    for entity in EntityType::ALL {
        let name = serde_json::to_value(entity).unwrap();
        let name = name.as_str().unwrap();
        let action = except
            .iter()
            .find(|(e, _)| *e == name)
            .map_or(action, |(_, a)| *a);
        toml.push_str(&format!("{name} = \"{action}\"\n"));
    }
    toml
}

/// The streaming check of a guardrail with `policy` (a policy file's text), as a call
/// gets it.
async fn guardrail_check(policy: &str) -> GuardrailCheck {
    let policy = Policy::parse(policy, "pii.toml").unwrap();
    let guardrail = Guardrail::compile("pii@1", policy, None).await.unwrap();
    GuardrailCheck::new(Arc::new(guardrail), None)
}

/// A guardrail check that anonymizes every sensitive type.
async fn anonymize_all() -> GuardrailCheck {
    guardrail_check(&policy_for_all("anonymize", &[])).await
}

/// Feeds `pieces` through a releaser with `check`; returns each released piece.
async fn stream(pieces: &[String], check: Arc<dyn Check>) -> Result<Vec<String>, String> {
    let checks = vec![check];
    let mut r = Releaser::default();
    let mut log = DecisionLog::default();
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        match r.push(p, i + 1 == pieces.len(), &checks, &mut log).await {
            Ok((text, _)) => out.push(text),
            Err(b) => return Err(b.reason),
        }
    }
    Ok(out)
}

fn split(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
    pieces.push(String::new());
    pieces
}

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        system: None,
        messages,
        params: Default::default(),
        tools: Vec::new(),
        tool_choice: Default::default(),
    }
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: "1".into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

#[tokio::test]
async fn a_streamed_email_and_card_are_never_released_raw() {
    let text = "Contact john.doe@example.com or pay with 4111 1111 1111 1111 today. 고마워요!";
    let masked = "Contact {EMAIL} or pay with {CREDIT_CARD} today. 고마워요!";
    for size in 1..=9 {
        let out = stream(&split(text, size), Arc::new(anonymize_all().await))
            .await
            .unwrap();
        let mut seen = String::new();
        for piece in &out {
            assert!(
                !piece.chars().any(|c| c.is_ascii_digit()),
                "size {size}: a card digit was released in {piece:?} ({out:?})"
            );
            seen.push_str(piece);
            for secret in ["john", "doe", "example"] {
                assert!(
                    !seen.contains(secret),
                    "size {size}: {secret:?} released: {seen:?}"
                );
            }
        }
        assert_eq!(out.concat(), masked, "size {size}");
    }
}

#[tokio::test]
async fn a_streamed_key_phone_and_pem_block_are_masked() {
    let text = "key sk-abcdefghijklmnopqrstuvwxyz0123 and 010-1234-5678\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nbye";
    let masked = "key {API_KEY} and {PHONE}\n{PRIVATE_KEY}\nbye";
    for size in [1, 2, 3, 5, 8] {
        let out = stream(&split(text, size), Arc::new(anonymize_all().await))
            .await
            .unwrap();
        for piece in &out {
            assert!(!piece.contains("sk-") && !piece.contains("MII") && !piece.contains("BEGIN"));
            assert!(!piece.chars().any(|c| c.is_ascii_digit()), "{out:?}");
        }
        assert_eq!(out.concat(), masked, "size {size}");
    }
}

#[tokio::test]
async fn a_streamed_korean_answer_is_masked() {
    let text =
        "연락처는 010-1234-5678이고 주민번호는 900101-1234568입니다. 메일은 kim@example.kr으로!";
    let masked = "연락처는 {PHONE}이고 주민번호는 {KR_RRN}입니다. 메일은 {EMAIL}으로!";
    for size in 1..=6 {
        let out = stream(&split(text, size), Arc::new(anonymize_all().await))
            .await
            .unwrap();
        for piece in &out {
            assert!(!piece.chars().any(|c| c.is_ascii_digit()), "{out:?}");
            assert!(!piece.contains("kim"), "{out:?}");
        }
        assert_eq!(out.concat(), masked, "size {size}");
    }
}

#[tokio::test]
async fn a_value_partly_shown_blocks_instead_of_masking() {
    // Released text cannot be masked: the check stops the answer rather than let the
    // rest of the value through.
    let check = anonymize_all().await;
    let text = "mail jane@example.com now";
    let released = "mail jane".len();
    assert!(matches!(
        check.check_output(text, released, true).await,
        OutputDecision::Block { .. }
    ));
}

#[tokio::test]
async fn a_long_multiline_answer_streams_in_small_pieces() {
    let line = "row: mail a.b@example.org, card 5500-0055-5555-5559, ok\n";
    let text = line.repeat(200);
    let masked = "row: mail {EMAIL}, card {CREDIT_CARD}, ok\n".repeat(200);
    let out = stream(&split(&text, 3), Arc::new(anonymize_all().await))
        .await
        .unwrap();
    assert!(out.iter().all(|p| !p.chars().any(|c| c.is_ascii_digit())));
    assert_eq!(out.concat(), masked);
}

#[tokio::test]
async fn a_block_action_stops_the_answer_before_the_value() {
    let check = guardrail_check(&policy_for_all("anonymize", &[("credit_card", "block")])).await;
    let text = "the number is 4111 1111 1111 1111, keep it safe";
    let err = stream(&split(text, 4), Arc::new(check)).await.unwrap_err();
    assert!(err.contains("credit_card"), "{err}");
}

#[tokio::test]
async fn the_hold_covers_unfinished_values() {
    let check = anonymize_all().await;
    for (text, held) in [
        ("write to jane", "jane"),
        ("my card 4111 1111 ", "4111 1111 "),
        ("token sk-", "sk-"),
        ("token s", "s"),
        ("here -----BEGIN", "-----BEGIN"),
        (
            "here:\n-----BEGIN PRIVATE KEY-----\nabc",
            "-----BEGIN PRIVATE KEY-----\nabc",
        ),
        ("call (555) 123-", "(555) 123-"),
    ] {
        assert_eq!(
            check.check_output(text, 0, false).await,
            OutputDecision::Hold {
                chars: held.chars().count()
            },
            "{text:?}"
        );
    }
    assert_eq!(
        check.check_output("all done. ", 0, false).await,
        OutputDecision::Allow
    );
    // At the end there is nothing to wait for.
    assert_eq!(
        check.check_output("write to jane", 0, true).await,
        OutputDecision::Allow
    );
}

#[tokio::test]
async fn the_request_is_masked_or_blocked() {
    let check = anonymize_all().await;
    let mut req = request(vec![
        Message::new(Role::User, "I am jane@example.com, 010-1234-5678"),
        Message::new(Role::Assistant, "ok"),
    ]);
    req.system = Some("mail admin@example.com".into());
    let decision = check.check_input(&mut req).await;
    assert!(
        matches!(decision, InputDecision::Masked { .. }),
        "{decision:?}"
    );
    assert_eq!(req.messages[0].content, "I am {EMAIL}, {PHONE}");
    assert_eq!(req.messages[1].content, "ok");
    assert_eq!(
        req.system.as_deref(),
        Some("mail admin@example.com"),
        "the instructions are the agent's, not the user's"
    );

    let blocking =
        guardrail_check("name = \"ssn\"\n[sensitive_information]\nus_ssn = \"block\"\n").await;
    let mut req = request(vec![Message::new(Role::User, "my ssn is 123-45-6789")]);
    assert!(matches!(
        blocking.check_input(&mut req).await,
        InputDecision::Block { .. }
    ));
    // Types without an action pass.
    let mut req = request(vec![Message::new(Role::User, "mail jane@example.com")]);
    assert_eq!(blocking.check_input(&mut req).await, InputDecision::Allow);
}

/// Tool results are read by the model: they go through the input side, like the question.
#[tokio::test]
async fn tool_results_go_through_the_input_side() {
    let policy = policy_for_all("anonymize", &[("us_ssn", "block")]);
    let asked = |result: &str| {
        let mut called = Message::new(Role::Assistant, "");
        called.tool_calls = vec![call("lookup", "{}")];
        let mut answered = Message::new(Role::Tool, result);
        answered.tool_call_id = Some("1".into());
        request(vec![
            Message::new(Role::User, "who handles it?"),
            called,
            answered,
        ])
    };
    let mut req = asked("ask ops.desk@example.com");
    let decision = guardrail_check(&policy).await.check_input(&mut req).await;
    assert!(
        matches!(decision, InputDecision::Masked { .. }),
        "{decision:?}"
    );
    assert_eq!(req.messages[2].content, "ask {EMAIL}");

    let mut req = asked("the ssn on file is 123-45-6789");
    let decision = guardrail_check(&policy).await.check_input(&mut req).await;
    assert!(
        matches!(decision, InputDecision::Block { .. }),
        "{decision:?}"
    );
}

/// Tool-call arguments are written by the model: they go through the output side (masked
/// or blocked, never held), and a mask keeps the arguments valid JSON.
#[tokio::test]
async fn tool_call_arguments_go_through_the_output_side() {
    let checks: Vec<Arc<dyn Check>> = vec![Arc::new(anonymize_all().await)];
    let mut log = DecisionLog::default();
    let mut masked = call(
        "send",
        r#"{"to":"jane@example.com","card":"4111111111111111"}"#,
    );
    strata::runtime::release::check_tool_call(&mut masked, &checks, &mut log)
        .await
        .unwrap();
    assert_eq!(
        masked.arguments,
        r#"{"to":"{EMAIL}","card":"{CREDIT_CARD}"}"#
    );
    // A bare number is replaced by a string.
    let mut bare = call("pay", r#"{"card": 4111111111111111}"#);
    strata::runtime::release::check_tool_call(&mut bare, &checks, &mut log)
        .await
        .unwrap();
    assert_eq!(bare.arguments, r#"{"card": "{CREDIT_CARD}"}"#);
    assert!(serde_json::from_str::<serde_json::Value>(&bare.arguments).is_ok());

    let blocking = guardrail_check(&policy_for_all("anonymize", &[("us_ssn", "block")])).await;
    match blocking
        .check_tool_call(&call("file", r#"{"ssn":"123-45-6789"}"#))
        .await
    {
        OutputDecision::Block { reason } => {
            assert!(
                reason.contains("file") && reason.contains("us_ssn"),
                "{reason}"
            )
        }
        other => panic!("expected a block, got {other:?}"),
    }
    assert_eq!(
        blocking
            .check_tool_call(&call("file", r#"{"note":"nothing here"}"#))
            .await,
        OutputDecision::Allow
    );
}

#[test]
fn values_glued_to_korean_text_are_found() {
    finds("010-1234-5678로 전화", EntityType::Phone, "010-1234-5678");
    finds(
        "jane@example.com으로 보내",
        EntityType::Email,
        "jane@example.com",
    );
    finds(
        "번호는900101-1234568입니다",
        EntityType::KrRrn,
        "900101-1234568",
    );
    finds(
        "카드4111111111111111을",
        EntityType::CreditCard,
        "4111111111111111",
    );
    finds("서버192.168.0.1에", EntityType::Ipv4, "192.168.0.1");
    finds(
        "링크https://example.com/a입니다",
        EntityType::Url,
        "https://example.com/a입니다",
    );
    finds(
        "키AKIAIOSFODNN7EXAMPLE를",
        EntityType::AwsAccessKey,
        "AKIAIOSFODNN7EXAMPLE",
    );
    // Digits of other scripts are not ASCII digits.
    no("١٢٣-٤٥-٦٧٨٩", EntityType::UsSsn);
}

#[tokio::test]
async fn the_digest_covers_the_configuration() {
    let a = anonymize_all().await;
    let b = guardrail_check(&policy_for_all("anonymize", &[("email", "block")])).await;
    assert_eq!(a.config_digest(), anonymize_all().await.config_digest());
    assert_ne!(a.config_digest(), b.config_digest());
}
