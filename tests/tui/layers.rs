//! Layers and the router: modals and their snapshots, borders hidden beneath them, the
//! command palette, and keys taken by the top layer first.

use super::*;

#[tokio::test]
async fn modal_and_small_screens() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    let mut app = build_app(&rt, &options("dark")).await.unwrap();
    app.update(Msg::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)));
    assert!(matches!(app.top_layer(), Some(Layer::Help(0))));
    let help = text(&draw(&mut app, 80, 24));
    assert!(help.contains("Quit"), "{help}");
    insta::assert_snapshot!("help_80x24", help);
    app.cx.layers.clear();
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('p'),
        KeyModifiers::CONTROL,
    )));
    let picker = text(&draw(&mut app, 120, 40));
    assert!(
        picker.contains("local/qwen2.5-0.5b") && picker.contains("↓ pull"),
        "{picker}"
    );
    insta::assert_snapshot!("picker_120x40", picker);
    app.cx.layers.clear();
    let small = text(&draw(&mut app, 60, 20));
    assert!(
        small.contains("Korean and code"),
        "60x20 still shows the chat: {small}"
    );
    insta::assert_snapshot!("conversation_60x20", small);
    let tiny = text(&draw(&mut app, 30, 8));
    assert!(tiny.contains("Terminal too small"), "{tiny}");

    // The dialogs in every theme, with their colours.
    for theme in Theme::names() {
        let mut app = build_app(&rt, &options(theme)).await.unwrap();
        let t = Theme::builtin(theme).unwrap();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('q'),
            KeyModifiers::CONTROL,
        )));
        let buf = draw(&mut app, 80, 24);
        assert!(text(&buf).contains("Quit Strata?"));
        assert!(
            buf.content().iter().any(|c| c.fg == t.accent),
            "{theme}: dialog border in the accent colour"
        );
        insta::assert_debug_snapshot!(format!("quit_{theme}_80x24_styled"), buf);
        app.cx.layers.clear();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('p'),
            KeyModifiers::CONTROL,
        )));
        insta::assert_snapshot!(
            format!("picker_{theme}_80x24"),
            text(&draw(&mut app, 80, 24))
        );
    }
}

fn is_border(sym: &str) -> bool {
    sym.chars().any(|c| ('\u{2500}'..='\u{257f}').contains(&c))
}

/// Every modal at 80x24 and 120x40: inside its box and on the ring of cells around it no
/// border glyph of the panes beneath shows; the only border glyphs there are the box's own.
#[tokio::test]
async fn modals_hide_the_borders_beneath_them() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let openers = [
        ("confirm", ctrl('q')),
        ("help", KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)),
        ("prompt", ctrl('t')),
        ("picker", ctrl('p')),
        ("palette", ctrl('k')),
    ];
    for (name, key) in openers {
        for (w, h) in [(80, 24), (120, 40)] {
            let mut app = build_app(&rt, &options("dark")).await.unwrap();
            app.update(Msg::Key(key));
            assert!(app.top_layer().is_some(), "{name} opens");
            let buf = draw(&mut app, w, h);
            let screen = text(&buf);
            let r = app.modal_rect(buf.area).unwrap();
            let sym = |x: u16, y: u16| buf[(x, y)].symbol().to_string();
            // The box's own border is where modal_rect says.
            let (x0, y0, x1, y1) = (r.x, r.y, r.right() - 1, r.bottom() - 1);
            assert_eq!(
                [sym(x0, y0), sym(x1, y0), sym(x0, y1), sym(x1, y1)],
                ["┌", "┐", "└", "┘"],
                "{name} {w}x{h}:\n{screen}"
            );
            for y in y0 + 1..y1 {
                assert_eq!((sym(x0, y), sym(x1, y)), ("│".into(), "│".into()));
            }
            // The ring around it, up to the status bar (whose separators are no border).
            let ring_x = x0.saturating_sub(1)..=(x1 + 1).min(w - 1);
            let ring_y = y0.saturating_sub(1)..=(y1 + 1).min(h - 2);
            for y in ring_y {
                for x in ring_x.clone() {
                    let on_edge = (x == x0 || x == x1) && (y0..=y1).contains(&y)
                        || (y == y0 || y == y1) && (x0..=x1).contains(&x);
                    assert!(
                        on_edge || !is_border(&sym(x, y)),
                        "{name} {w}x{h}: a border piece {:?} at ({x},{y}) by the modal:\n{screen}",
                        sym(x, y)
                    );
                }
            }
        }
    }
}

/// The command palette with a query typed, at both sizes.
#[tokio::test]
async fn command_palette_screens() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = build_app(&rt, &options("dark")).await.unwrap();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('k'),
            KeyModifiers::CONTROL,
        )));
        for c in "session".chars() {
            app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        let screen = text(&draw(&mut app, w, h));
        assert!(
            screen.contains("Command: session") && screen.contains("New session"),
            "{screen}"
        );
        insta::assert_snapshot!(format!("palette_{w}x{h}"), screen);
    }
}

#[tokio::test]
async fn command_palette_runs_the_chosen_action() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let before = h.app.chat().sidebar.sessions.len();
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    assert!(matches!(h.app.top_layer(), Some(Layer::Palette(_))));
    h.type_text("new session");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none(), "the palette closes");
    h.pump_until(|app| app.chat().sidebar.sessions.len() == before + 1)
        .await;
    assert!(
        h.app.chat().composer.input.text().is_empty(),
        "the query was not typed into the input"
    );

    // `:` in the conversation opens it too; a sidebar action focuses the sidebar first.
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.key(KeyCode::Char(':'), KeyModifiers::NONE);
    assert!(matches!(h.app.top_layer(), Some(Layer::Palette(_))));
    h.type_text("rename");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.chat().focus, Focus::Sidebar);
    assert!(matches!(h.app.top_layer(), Some(Layer::Prompt(..))));
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none());

    // Esc closes without running anything.
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    h.type_text("new session");
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none());
    assert_eq!(h.app.chat().sidebar.sessions.len(), before + 1);
}

/// Keys through the router: a layer takes keys the screen beneath would take, layers
/// stack, Esc pops only the top one, and the palette lists the screens.
#[tokio::test]
async fn layers_take_keys_first_and_esc_pops_the_top_one() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    let mut app = build_app(&rt, &options("dark")).await.unwrap();
    app.update(Msg::Resize(60, 20));
    let key = |app: &mut App, code: KeyCode, mods: KeyModifiers| {
        app.update(Msg::Key(KeyEvent::new(code, mods)))
    };
    let none = KeyModifiers::NONE;
    // In the conversation, `k` scrolls up a line.
    key(&mut app, KeyCode::Char('2'), KeyModifiers::ALT);
    assert_eq!(app.chat().focus, Focus::Chat);
    let bottom = app.chat().scroll;
    assert!(
        bottom > 1,
        "the seeded conversation is taller than the pane"
    );

    // With the help open, j/k scroll the help instead; the conversation stays put.
    key(&mut app, KeyCode::F(1), none);
    for c in ['j', 'j', 'k'] {
        key(&mut app, KeyCode::Char(c), none);
    }
    assert!(matches!(app.top_layer(), Some(Layer::Help(1))));
    assert_eq!(app.chat().scroll, bottom);

    // Ctrl-Q stacks the confirmation above the help; Esc (its "no") pops only it.
    key(&mut app, KeyCode::Char('q'), KeyModifiers::CONTROL);
    assert_eq!(app.cx.layers.len(), 2);
    assert!(matches!(app.top_layer(), Some(Layer::ConfirmQuit)));
    key(&mut app, KeyCode::Esc, none);
    assert!(matches!(app.top_layer(), Some(Layer::Help(1))));
    assert!(!app.quit);
    key(&mut app, KeyCode::Esc, none);
    assert!(app.top_layer().is_none());

    // With no layer, `k` is the screen's again.
    key(&mut app, KeyCode::Char('k'), none);
    assert_eq!(app.chat().scroll, bottom - 1);

    // The palette takes typed text: `r` would regenerate in the conversation.
    let messages = app.chat().messages.len();
    key(&mut app, KeyCode::Char(':'), none);
    let fx = key(&mut app, KeyCode::Char('r'), none);
    assert!(fx.is_empty(), "no turn started: {fx:?}");
    assert_eq!(app.chat().messages.len(), messages);
    let Some(Layer::Palette(p)) = app.top_layer() else {
        panic!("palette open")
    };
    assert_eq!(p.query.text(), "r");
    key(&mut app, KeyCode::Esc, none);
    assert!(app.top_layer().is_none());

    // The palette lists the screens, generated from the list of screens.
    key(&mut app, KeyCode::Char('k'), KeyModifiers::CONTROL);
    for c in "chat screen".chars() {
        key(&mut app, KeyCode::Char(c), none);
    }
    let Some(Layer::Palette(p)) = app.top_layer() else {
        panic!("palette open")
    };
    assert_eq!(p.chosen().and_then(|e| e.screen), Some(ScreenId::Chat));
    key(&mut app, KeyCode::Enter, none);
    assert!(app.top_layer().is_none());
    assert_eq!(app.active, ScreenId::Chat);
    // The screen key cycles through the screens: guardrails, knowledge, compare,
    // evaluations, agents, back to the chat.
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Guardrails);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Knowledge);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Compare);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Evals);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Agents);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Chat);
    assert!(
        app.chat().composer.input.text().is_empty(),
        "nothing leaked into the input"
    );
}
