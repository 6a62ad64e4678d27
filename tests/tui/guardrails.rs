//! Guardrails in the TUI: attaching one to a chat with the live panel, the guardrails
//! screen (versions, diffs, sandbox), and answers held for review.

use super::*;

const PANEL_POLICY: &str = r#"
name = "secrets"
[[denied_topics]]
name = "investment advice"
definition = "Recommendations about which stocks, bonds or crypto assets to buy or sell."
examples = ["Should I buy Tesla shares now?"]
[sensitive_information]
email = "anonymize"
[word_filters]
words = ["frobnicate"]
"#;

/// Attach a guardrail from the keyboard (Ctrl-G), ask, and see the masked answer with the
/// live panel beside it; detach again. Snapshots of the panel at 80x24 and 120x40.
#[tokio::test]
async fn attach_a_guardrail_and_see_a_masked_answer() {
    let url = common::scripted::start(
        vec![
            "Write to ja".into(),
            "ne.doe@exam".into(),
            "ple.com today.".into(),
        ],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    store_guardrail(&h, PANEL_POLICY);
    h.app.chat_mut().session.agent.model = "scripted/model".into();

    // Ctrl-G lists what exists (read off the UI task): none, the guardrail, its version,
    // its draft.
    h.key(KeyCode::Char('g'), KeyModifiers::CONTROL);
    h.pump_until(|app| matches!(app.top_layer(), Some(Layer::Choose(_))))
        .await;
    let Some(Layer::Choose(list)) = h.app.top_layer() else {
        unreachable!()
    };
    let values: Vec<&str> = list.items.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(values, ["none", "secrets", "secrets@1", "secrets@draft"]);
    let screen = text(&draw(&mut h.app, 80, 24));
    assert!(
        screen.contains("secrets@1") && screen.contains("v1 ") && screen.contains("Enter picks"),
        "the list fits at 80x24:\n{screen}"
    );
    h.type_text("secrets@1");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| app.chat().session.agent.guardrail.is_some())
        .await;
    assert_eq!(
        h.app.chat().session.agent.guardrail.as_deref(),
        Some("secrets@1")
    );
    assert!(
        text(&draw(&mut h.app, 120, 40)).contains("guardrail: secrets@1"),
        "the status bar names it"
    );

    h.type_text("Where do I write?");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.settle().await;
    let answer = h.last().clone();
    assert_eq!(answer.content, "Write to {EMAIL} today.");
    assert_eq!(answer.status, MessageStatus::Complete);
    let stored = h.store.messages(h.app.chat().session.id).unwrap();
    assert_eq!(stored.last().unwrap().content, "Write to {EMAIL} today.");
    let output = h
        .app
        .chat()
        .guard
        .output
        .clone()
        .expect("the panel got the answer's assessments");
    assert!(output
        .rows
        .iter()
        .any(|r| r.name == "investment advice" && r.score.is_some()));

    // 120 wide: the panel shows by itself beside the chat; 80 wide: F4 shows it.
    let wide = text(&draw(&mut h.app, 120, 40));
    assert!(
        wide.contains("Guardrail") && wide.contains("secrets@1"),
        "{wide}"
    );
    assert!(
        wide.contains("{EMAIL}") && wide.contains("investment advice"),
        "{wide}"
    );
    insta::assert_snapshot!("guardrail_panel_120x40", redact_times(&wide));
    let narrow = text(&draw(&mut h.app, 80, 24));
    assert!(
        !narrow.contains("investment advice"),
        "hidden at 80 until asked: {narrow}"
    );
    h.key(KeyCode::F(4), KeyModifiers::NONE);
    let narrow = text(&draw(&mut h.app, 80, 24));
    assert!(
        narrow.contains("Guardrail") && narrow.contains("sensitive"),
        "{narrow}"
    );
    insta::assert_snapshot!("guardrail_panel_80x24", redact_times(&narrow));

    // The masked span is marked in the conversation.
    let buf = draw(&mut h.app, 120, 40);
    let marked = (0..buf.area.height).any(|y| {
        (0..buf.area.width).any(|x| {
            buf[(x, y)].symbol() == "{"
                && buf[(x, y)]
                    .modifier
                    .contains(ratatui::style::Modifier::REVERSED)
        })
    });
    assert!(marked, "the {{EMAIL}} span is marked");

    // Detach: "none" from the list, which opens on the guardrail attached now.
    h.key(KeyCode::Char('g'), KeyModifiers::CONTROL);
    h.pump_until(|app| matches!(app.top_layer(), Some(Layer::Choose(_))))
        .await;
    let Some(Layer::Choose(list)) = h.app.top_layer() else {
        unreachable!()
    };
    assert_eq!(
        list.items[list.selected].value, "secrets@1",
        "the current one is selected"
    );
    h.type_text("none");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.chat().session.agent.guardrail, None);
}

/// The guardrails screen: the list, versions with the diff from the one before, and the
/// sandbox assessing as you type (debounced, off the UI task). Snapshots at both sizes.
#[tokio::test]
async fn guardrails_screen_versions_and_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    store_guardrail(&h, PANEL_POLICY);
    // A second version with one more word, so there is a diff.
    let store = h.runner.orchestrator().guardrails.store().clone();
    let v2 = PANEL_POLICY.replace("[\"frobnicate\"]", "[\"frobnicate\", \"quux\"]");
    store
        .save_draft(
            &strata::guardrails::policy::Policy::parse(&v2, "t").unwrap(),
            &v2,
            true,
        )
        .unwrap();
    store
        .create_version("secrets", Some("quux too".into()))
        .unwrap();

    h.key(KeyCode::F(3), KeyModifiers::NONE);
    assert_eq!(h.app.active, ScreenId::Guardrails);
    h.pump_until(|app| !app.guardrails().revisions.is_empty())
        .await;
    assert_eq!(h.app.guardrails().revisions[0].label, "secrets@draft");
    assert!(h
        .app
        .guardrails()
        .revisions
        .iter()
        .any(|r| r.label == "secrets@2" && r.diff.contains("+words = [\"frobnicate\", \"quux\"]")));
    // To the versions, pick version 2, then to the sandbox and type.
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.key(KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(h.app.guardrails().reference().as_deref(), Some("secrets@2"));
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.type_text("mail jane@example.com to frobnicate");
    h.pump_until(|app| {
        matches!(&app.guardrails().result, Some(Ok(a)) if a.action == strata::guardrails::FinalAction::Blocked)
            && !app.guardrails().pending
    })
    .await;
    for (w, hgt) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, hgt));
        assert!(
            screen.contains("Sandbox") && screen.contains("blocked"),
            "{screen}"
        );
        assert!(screen.contains("secrets@2"), "{screen}");
        insta::assert_snapshot!(
            format!("guardrails_screen_{w}x{hgt}"),
            redact_times(&screen)
        );
    }
}

/// An answer held for review shows as awaiting review; A approves it (stored as final).
#[tokio::test]
async fn approve_an_answer_held_for_review() {
    let url = common::scripted::start(
        vec!["Held ".into(), "answer.".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    store_guardrail(&h, "name = \"reviewed\"\n[review]\nall_outputs = true\n");
    h.app.chat_mut().session.agent.model = "scripted/model".into();
    h.app.chat_mut().session.agent.guardrail = Some("reviewed".into());
    h.type_text("q");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.settle().await;
    assert_eq!(h.last().status, MessageStatus::AwaitingReview);
    assert_eq!(h.last().content, "Held answer.");
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("awaiting review"), "{screen}");
    // A in the chat pane approves.
    h.key(KeyCode::Tab, KeyModifiers::SHIFT);
    h.key(KeyCode::Char('A'), KeyModifiers::SHIFT);
    h.pump_until(|app| app.chat().messages.last().unwrap().status == MessageStatus::Complete)
        .await;
    let stored = h.store.messages(h.app.chat().session.id).unwrap();
    assert_eq!(stored.last().unwrap().status, MessageStatus::Complete);
}
