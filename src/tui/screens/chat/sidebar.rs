//! The chat screen's session list: the sessions as last listed, the selection, the
//! session-search filter and its hits, and drawing the pane. Listing and searching run
//! elsewhere (the screen asks for them as effects); this component only keeps and shows
//! their answers.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use super::super::Shared;
use crate::sessions::Session;
use crate::store::Id;
use crate::tui::msg::{Effect, ScreenId};

/// The sidebar's state.
#[derive(Debug, Default)]
pub struct Sidebar {
    /// Every session, most recently updated first, as last listed.
    pub sessions: Vec<Session>,
    /// Index into the visible sessions.
    pub selected: usize,
    /// The session search the list is filtered by.
    pub filter: Option<String>,
    /// Sessions matching `filter`, as the latest search answered.
    pub filter_hits: Vec<Id>,
    /// Number of the latest session search.
    search_seq: u64,
}

impl Sidebar {
    /// The list with `current` selected.
    pub fn new(sessions: Vec<Session>, current: Id) -> Sidebar {
        let selected = sessions.iter().position(|s| s.id == current).unwrap_or(0);
        Sidebar {
            sessions,
            selected,
            ..Sidebar::default()
        }
    }

    /// The sessions shown (filtered by a session search).
    pub fn items(&self) -> Vec<&Session> {
        match &self.filter {
            None => self.sessions.iter().collect(),
            Some(_) => self
                .sessions
                .iter()
                .filter(|s| self.filter_hits.contains(&s.id))
                .collect(),
        }
    }

    /// The highlighted session.
    pub fn selected_session(&self) -> Option<&Session> {
        self.items().get(self.selected).copied()
    }

    /// Moves the highlight by `delta`, staying in the list.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.items().len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// Highlights the first or the last session.
    pub fn jump(&mut self, bottom: bool) {
        let n = self.items().len();
        self.selected = if bottom { n.saturating_sub(1) } else { 0 };
    }

    /// Highlights session `id` if it is shown (else the first).
    pub fn select(&mut self, id: Id) {
        self.selected = self.items().iter().position(|s| s.id == id).unwrap_or(0);
    }

    /// A fresh list arrived: show it, keeping the same session highlighted (the list
    /// reorders, most recently updated first). Returns the search to run again, if any.
    pub fn apply(&mut self, sessions: Vec<Session>) -> Option<Effect> {
        let selected = self.selected_session().map(|s| s.id);
        self.sessions = sessions;
        if let Some(pos) = selected.and_then(|id| self.sessions.iter().position(|s| s.id == id)) {
            if self.filter.is_none() {
                self.selected = pos;
            }
        }
        let shown = self.items().len();
        self.selected = self.selected.min(shown.saturating_sub(1));
        self.refresh_filter()
    }

    /// Sets the session search (None clears it); the list is filtered once hits arrive.
    pub fn set_filter(&mut self, filter: Option<String>) {
        self.filter = filter;
        self.selected = 0;
    }

    /// Re-runs the session search (once per change, not per frame): a full-text scan that
    /// runs off the UI task and answers with `ScreenMsg::SessionHits`.
    pub fn refresh_filter(&mut self) -> Option<Effect> {
        match &self.filter {
            Some(q) => {
                self.search_seq += 1;
                Some(Effect::SearchSessions {
                    owner: ScreenId::Chat,
                    query: q.clone(),
                    seq: self.search_seq,
                })
            }
            None => {
                self.filter_hits.clear();
                None
            }
        }
    }

    /// Search hits arrived; only the latest search's count. Returns an error to show.
    pub fn on_hits(&mut self, seq: u64, result: Result<Vec<Id>, String>) -> Option<String> {
        if seq != self.search_seq || self.filter.is_none() {
            return None;
        }
        let error = match result {
            Ok(ids) => {
                self.filter_hits = ids;
                None
            }
            Err(e) => Some(format!("search failed: {e}")),
        };
        let shown = self.items().len();
        self.selected = self.selected.min(shown.saturating_sub(1));
        error
    }

    /// Draws the list, `current` in bold.
    pub fn draw(&self, cx: &Shared, frame: &mut Frame, area: Rect, current: Id, focused: bool) {
        let t = &cx.theme;
        let title = match &self.filter {
            Some(q) => format!(" Sessions /{q} "),
            None => " Sessions ".to_string(),
        };
        let items: Vec<ListItem> = self
            .items()
            .iter()
            .map(|s| {
                let style = if s.id == current {
                    Style::default().fg(t.accent).add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(t.fg)
                };
                ListItem::new(Line::from(Span::styled(s.title.clone(), style)))
            })
            .collect();
        let mut state = ListState::default();
        state.select(Some(self.selected));
        let list = List::new(items)
            .block(super::pane(cx, title, focused))
            .highlight_style(Style::default().bg(t.selection_bg))
            .highlight_symbol("▌");
        frame.render_stateful_widget(list, area, &mut state);
    }
}
