//! Tests of the loop: input applied in batches, effects performed.

use ratatui::crossterm::event::Event;

use super::*;

#[test]
fn pending_input_is_applied_in_one_batch_before_the_next_draw() {
    // Regression: a pasted 40k-character filter redrew the screen after every key (minutes).
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app =
        App::new(CollectSettings::default(), String::new(), crate::ports::services::Services::default(), false);
    let shown = present::shown(&app);
    let mut d = Dash { app: &mut app, shown, settings: None };
    apply_event(&mut d, Event::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
    let mut keys = (0..40_000)
        .map(|i| Event::Key(KeyEvent::new(KeyCode::Char(if i % 2 == 0 { 'a' } else { ' ' }), KeyModifiers::NONE)));
    let applied = apply_pending(&mut d, || Ok(keys.next())).unwrap();
    assert_eq!(applied, 40_000, "every waiting key before one draw");
    assert_eq!(d.app.filter_input.as_ref().map(String::len), Some(40_000));
    // Bracketed paste arrives as one event.
    apply_event(&mut d, Event::Paste("x\ny".into()));
    assert!(d.app.filter_input.as_ref().unwrap().ends_with("x y"));
}
