//! The evaluations screen: running a job file with progress, the summary and charts, and
//! drilling down to the outputs.

use super::*;

/// The evaluation screen runs a job file from a prompt with a live progress bar, shows
/// the summary (best highlighted) with charts, and drills down to the outputs side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_screen_runs_a_job_and_drills_down() {
    let first =
        common::scripted::start(vec!["Paris".into()], common::scripted::Ending::Finished).await;
    let second = common::scripted::start(
        vec!["I think ".into(), "it is Lyon".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("data.jsonl"),
        "{\"prompt\": \"Capital of France?\", \"reference\": \"Paris\", \"tags\": [\"geo\"]}\n\
         {\"prompt\": \"Largest city of France?\", \"reference\": \"Paris\", \"tags\": [\"geo\", \"size\"]}\n\
         {\"prompt\": \"Say Paris\", \"reference\": \"Paris\"}\n",
    )
    .unwrap();
    let file = dir.path().join("job.toml");
    std::fs::write(
        &file,
        "name = \"france\"\ndataset = \"data.jsonl\"\nmodels = [\"scripted/model\", \"other/m\"]\n\
         metrics = [\"exact_match\", \"contains\", \"token_f1\"]\n",
    )
    .unwrap();
    let mut h = Harness::with_config(dir.path(), two_models(&first, &second)).await;
    for _ in 0..4 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Evals);
    h.type_text("o");
    assert!(matches!(h.app.top_layer(), Some(Layer::Prompt(..))));
    h.type_text(&file.display().to_string());
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.evals().is_running());
    h.pump_until(|app| !app.evals().is_running()).await;
    assert!(h
        .app
        .cx
        .flash
        .as_deref()
        .unwrap_or("")
        .contains("france finished"));
    h.pump_until(|app| {
        app.evals()
            .loaded
            .as_ref()
            .is_some_and(|l| l.results.len() == 6)
    })
    .await;
    let loaded = h.app.evals().loaded.as_ref().unwrap();
    assert_eq!(loaded.summaries[0].mean("exact_match"), Some(1.0));
    assert_eq!(loaded.summaries[1].mean("contains"), Some(0.0));
    assert_eq!(
        strata::eval::report::best(&loaded.summaries, "token_f1"),
        Some(0)
    );
    let latency = text(&draw(&mut h.app, 120, 40));
    assert!(latency.contains("Latency (ms)"), "{latency}");
    // Score by tag: a chart people read at a glance.
    h.type_text("v");
    for (w, hgt) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, hgt));
        assert!(screen.contains("france"), "{screen}");
        assert!(screen.contains("exact_match by tag"), "{screen}");
        insta::assert_snapshot!(format!("evals_screen_{w}x{hgt}"), redact_times(&screen));
    }
    // Drill down: the items, every model's output side by side.
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.evals().item, Some(0));
    h.type_text("j");
    let items = text(&draw(&mut h.app, 120, 40));
    assert!(items.contains("Largest city of France?"), "{items}");
    assert!(items.contains("I think it is Lyon"), "{items}");
    assert!(items.contains("reference Paris"), "{items}");
    insta::assert_snapshot!("evals_items_120x40", redact_times(&items));
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(h.app.evals().item, None);
    // A file that is not there: the error names it, nothing runs.
    h.type_text("o");
    h.type_text("/nope/missing.toml");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.evals().is_running()).await;
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("/nope/missing.toml"),
        "{:?}",
        h.app.cx.flash
    );
}
