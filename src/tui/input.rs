//! The input box's editing state: text with a cursor, grapheme-aware movement, and the
//! wrapped layout (with the cursor's cell) for a given width.

use unicode_segmentation::UnicodeSegmentation;

use super::markdown::display_width;

/// Editable text with a cursor (a byte offset on a grapheme boundary).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputBox {
    text: String,
    cursor: usize,
}

impl InputBox {
    pub fn with_text(text: &str) -> InputBox {
        InputBox {
            text: text.to_string(),
            cursor: text.len(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Replaces the text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
    }

    /// Empties the box and returns what it held.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub fn insert_str(&mut self, s: &str) {
        // Terminals send \r for Enter inside pastes; keep one newline style.
        let s = s.replace("\r\n", "\n").replace('\r', "\n");
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
    }

    pub fn insert_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.insert_str(c.encode_utf8(&mut buf));
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map_or(self.cursor, |g| self.cursor + g.len())
    }

    pub fn backspace(&mut self) {
        let start = self.prev_boundary();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    pub fn delete(&mut self) {
        let end = self.next_boundary();
        self.text.replace_range(self.cursor..end, "");
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary();
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary();
    }

    /// Start of the current line.
    pub fn home(&mut self) {
        self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
    }

    /// End of the current line.
    pub fn end(&mut self) {
        self.cursor = self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i);
    }

    /// Deletes the word before the cursor.
    pub fn delete_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| {
            i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
        });
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// The text wrapped to `width` cells, and the cursor's (row, column).
    pub fn layout(&self, width: u16) -> (Vec<String>, (u16, u16)) {
        let width = usize::from(width.max(2));
        let mut rows = vec![String::new()];
        let mut cursor = (0usize, 0usize);
        let mut col = 0usize;
        let mut offset = 0usize;
        for g in self.text.graphemes(true) {
            if offset == self.cursor {
                cursor = (rows.len() - 1, col);
            }
            offset += g.len();
            if g == "\n" {
                rows.push(String::new());
                col = 0;
                continue;
            }
            let w = display_width(g).max(1);
            if col + w > width {
                rows.push(String::new());
                col = 0;
            }
            if let Some(row) = rows.last_mut() {
                row.push_str(g);
            }
            col += w;
        }
        if offset == self.cursor {
            if col >= width {
                rows.push(String::new());
                col = 0;
            }
            cursor = (rows.len() - 1, col);
        }
        let to_u16 = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
        (rows, (to_u16(cursor.0), to_u16(cursor.1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_by_grapheme_and_keeps_korean_intact() {
        let mut b = InputBox::default();
        b.insert_str("안녕 👋🏽");
        b.backspace();
        assert_eq!(b.text(), "안녕 ");
        b.left();
        b.left();
        b.insert_char('x');
        assert_eq!(b.text(), "안x녕 ");
        b.home();
        b.delete();
        assert_eq!(b.text(), "x녕 ");
        b.end();
        b.insert_str("a\r\nb");
        assert_eq!(b.text(), "x녕 a\nb");
        assert_eq!(b.take(), "x녕 a\nb");
        assert!(b.is_blank());
    }

    #[test]
    fn layout_wraps_wide_characters_and_places_the_cursor() {
        let b = InputBox::with_text("한국어 텍스트");
        let (rows, cursor) = b.layout(6);
        assert!(rows.iter().all(|r| display_width(r) <= 6), "{rows:?}");
        assert_eq!(rows.concat(), "한국어 텍스트");
        assert_eq!(
            cursor,
            (
                rows.len() as u16 - 1,
                display_width(rows.last().unwrap()) as u16
            )
        );
        let (rows, cursor) = InputBox::with_text("ab\ncd").layout(10);
        assert_eq!(rows, ["ab", "cd"]);
        assert_eq!(cursor, (1, 2));
    }

    #[test]
    fn delete_word() {
        let mut b = InputBox::with_text("hello big world  ");
        b.delete_word();
        assert_eq!(b.text(), "hello big ");
    }
}
