//! The knowledge screen: syncing a base, the query playground, and cited answers in the
//! chat.

use super::*;

/// The knowledge screen syncs a base off the UI task (progress, then the counts), the
/// playground lists retrieved chunks with scores and sources; in the chat, F5 attaches the
/// base, the answer lists its sources with the cited one marked, and `o` opens it in
/// context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_screen_and_cited_answers() {
    let url = common::scripted::start(
        vec!["Water tomatoes ".into(), "twice a week [1].".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("garden.md"),
        "# Garden\n\n## Tomatoes\n\nTomatoes need full sun and deep watering twice a week.\n\n## Compost\n\nTurn the compost every two weeks.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("bikes.md"),
        "# Bikes\n\n## Tyres\n\nPump the tyres every week.\n",
    )
    .unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    h.runner
        .orchestrator()
        .knowledge
        .create(strata::knowledge::KbSpec {
            name: "home".into(),
            sources: vec![docs.display().to_string()],
            include: vec![],
            exclude: vec![],
            chunking: Default::default(),
            embedding: strata::knowledge::spec::DEFAULT_EMBEDDING.into(),
        })
        .unwrap();

    h.key(KeyCode::F(3), KeyModifiers::NONE);
    h.key(KeyCode::F(3), KeyModifiers::NONE);
    assert_eq!(h.app.active, ScreenId::Knowledge);
    h.pump_until(|app| !app.knowledge().list.is_empty()).await;
    h.key(KeyCode::Char('s'), KeyModifiers::NONE);
    assert!(
        h.app.knowledge().syncs.contains_key("home"),
        "the sync runs in the background"
    );
    h.pump_until(|app| app.knowledge().syncs.is_empty() && app.knowledge().list[0].chunks > 0)
        .await;
    assert_eq!(h.app.knowledge().list[0].files, 2);
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.type_text("how often to water tomatoes");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.knowledge().results.is_empty())
        .await;
    assert!(h.app.knowledge().results[0]
        .source
        .file
        .ends_with("garden.md"));
    let decimals = regex::Regex::new(r"\d+\.\d+").unwrap();
    let dates = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?").unwrap();
    for (w, hgt) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, hgt));
        assert!(
            screen.contains("garden.md:5-5") && screen.contains("Garden > Tomatoes"),
            "{screen}"
        );
        let redacted = decimals
            .replace_all(
                &redact_times(&screen.replace(&docs.display().to_string(), "DOCS")),
                "N",
            )
            .into_owned();
        let redacted = dates.replace_all(&redacted, "DATE").into_owned();
        insta::assert_snapshot!(format!("knowledge_screen_{w}x{hgt}"), redacted);
    }

    // Back to the chat (past the compare, evaluation and agents screens): attach the base,
    // ask, see the cited source, open it.
    for _ in 0..4 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Chat);
    h.app.chat_mut().session.agent.model = "scripted/model".into();
    // F5 lists the bases that exist (none, then each with its size) to mark.
    h.key(KeyCode::F(5), KeyModifiers::NONE);
    h.pump_until(|app| matches!(app.cx.layers.last(), Some(Layer::Choose(_))))
        .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("[ ] home"), "{screen}");
    h.type_text("home");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| app.chat().session.agent.knowledge_bases == ["home"])
        .await;
    h.type_text("How often should I water tomatoes?");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| {
        app.chat().streaming.is_none()
            && app
                .chat()
                .messages
                .last()
                .is_some_and(|m| !m.sources.is_empty())
    })
    .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("Sources (1 cited) · o opens"), "{screen}");
    assert!(screen.contains("✓ [1] garden.md:5-5"), "{screen}");
    h.app.chat_mut().focus = Focus::Chat;
    h.key(KeyCode::Char('o'), KeyModifiers::NONE);
    h.pump_until(|app| matches!(app.cx.layers.last(), Some(Layer::Citation(_))))
        .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(
        screen.contains("garden.md:5-5") && screen.contains("e opens $EDITOR"),
        "{screen}"
    );
    assert!(screen.contains("deep watering twice a week"), "{screen}");
}
