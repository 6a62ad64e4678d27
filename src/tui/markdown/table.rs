//! Tables: column widths that fit the line, box-drawn rows whose cells wrap in their column,
//! or rows as plain text when the columns cannot fit. Not responsible for the cells' markup.

use ratatui::style::Style;
use ratatui::text::Span;

use std::mem;

use super::wrap::{
    cells_to_spans, cells_width, display_width, spaces, text_cells, wrap_frags, wrap_spans, Cell,
    Frag,
};
use crate::tui::theme::Theme;
use pulldown_cmark::Alignment;

/// The narrowest a table column may be shrunk to before the table is drawn as text.
const MIN_COL: usize = 2;

/// A table being collected: rows of cells of fragments, with a header flag.
#[derive(Default)]
pub(super) struct OpenTable {
    aligns: Vec<Alignment>,
    rows: Vec<(bool, Vec<Vec<Frag>>)>,
    row: Vec<Vec<Frag>>,
}

/// The table's lines, each without the container prefix it is drawn after.
type TableLines = Vec<Vec<Span<'static>>>;

impl OpenTable {
    /// A table with these column alignments and no rows yet.
    pub(super) fn new(aligns: Vec<Alignment>) -> OpenTable {
        OpenTable {
            aligns,
            ..OpenTable::default()
        }
    }

    /// Adds a finished cell to the row being collected.
    pub(super) fn push_cell(&mut self, cell: Vec<Frag>) {
        self.row.push(cell);
    }

    /// Closes the row being collected (`header` for the table head).
    pub(super) fn end_row(&mut self, header: bool) {
        let row = mem::take(&mut self.row);
        self.rows.push((header, row));
    }

    /// Draws the table in `avail` cells: a grid when the columns fit, else text rows.
    pub(super) fn draw(&self, avail: usize, theme: &Theme) -> TableLines {
        let ncols = self
            .rows
            .iter()
            .map(|(_, cells)| cells.len())
            .max()
            .unwrap_or(0);
        if ncols == 0 {
            return Vec::new();
        }
        let natural: Vec<usize> = (0..ncols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|(_, cells)| cells.get(c))
                    .map(|cell| frags_width(cell))
                    .max()
                    .unwrap_or(0)
                    .max(1)
            })
            .collect();
        match fit_columns(&natural, avail) {
            Some(widths) => self.grid(&widths, theme),
            None => self.as_text(avail, theme),
        }
    }

    /// The table with box-drawing borders.
    fn grid(&self, widths: &[usize], theme: &Theme) -> TableLines {
        let border = Style::new().fg(theme.border);
        let rule =
            |left, mid, right| vec![Span::styled(border_line(widths, left, mid, right), border)];
        let mut out = vec![rule('┌', '┬', '┐')];
        let last_header = self.rows.iter().rposition(|(header, _)| *header);
        for (i, (_, cells)) in self.rows.iter().enumerate() {
            out.extend(row_lines(cells, widths, &self.aligns, border));
            if Some(i) == last_header && i + 1 < self.rows.len() {
                out.push(rule('├', '┼', '┤'));
            }
        }
        out.push(rule('└', '┴', '┘'));
        out
    }

    /// A table too wide for its columns to fit: each row as wrapped `a │ b` text.
    fn as_text(&self, avail: usize, theme: &Theme) -> TableLines {
        let sep = Style::new().fg(theme.border);
        let mut out = Vec::new();
        for (_, cells) in &self.rows {
            let mut frags: Vec<Frag> = Vec::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    frags.push((" │ ".to_string(), sep));
                }
                frags.extend(cell.iter().cloned());
            }
            out.extend(wrap_spans(&frags, avail));
        }
        out
    }
}

/// The lines of one grid row; cells wrap within their column.
fn row_lines(
    cells: &[Vec<Frag>],
    widths: &[usize],
    aligns: &[Alignment],
    border: Style,
) -> TableLines {
    let wrapped: Vec<Vec<Vec<Cell>>> = widths
        .iter()
        .enumerate()
        .map(|(c, w)| cells.get(c).map_or_else(Vec::new, |f| wrap_frags(f, *w)))
        .collect();
    let height = wrapped.iter().map(Vec::len).max().unwrap_or(0).max(1);
    (0..height)
        .map(|row| {
            let mut line = text_cells("│", border);
            for (c, w) in widths.iter().enumerate() {
                let content = wrapped
                    .get(c)
                    .and_then(|lines| lines.get(row))
                    .cloned()
                    .unwrap_or_default();
                let align = aligns.get(c).copied().unwrap_or(Alignment::None);
                line.extend(spaces(1, Style::new()));
                line.extend(align_cells(content, *w, align));
                line.extend(text_cells(" │", border));
            }
            cells_to_spans(line)
        })
        .collect()
}

/// The single-line display width of a cell's fragments.
fn frags_width(frags: &[Frag]) -> usize {
    frags.iter().map(|(t, _)| display_width(t)).sum()
}

/// Column widths that fit `avail` with borders, shrinking the widest columns first;
/// `None` when even `MIN_COL`-wide columns do not fit.
fn fit_columns(natural: &[usize], avail: usize) -> Option<Vec<usize>> {
    let n = natural.len();
    let budget = avail.checked_sub(3 * n + 1)?;
    let capped_sum = |cap: usize| natural.iter().map(|w| (*w).min(cap)).sum::<usize>();
    if capped_sum(MIN_COL) > budget {
        return None;
    }
    let widest = natural.iter().copied().max().unwrap_or(MIN_COL);
    let (mut lo, mut hi) = (MIN_COL, widest.max(MIN_COL));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if capped_sum(mid) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut widths: Vec<usize> = natural.iter().map(|w| (*w).min(lo)).collect();
    let mut spare = budget.saturating_sub(widths.iter().sum());
    for (w, nat) in widths.iter_mut().zip(natural) {
        if spare > 0 && *nat > *w {
            *w += 1;
            spare -= 1;
        }
    }
    Some(widths)
}

/// A horizontal table border such as `┌───┬───┐`.
fn border_line(widths: &[usize], left: char, mid: char, right: char) -> String {
    let segments: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
    format!("{left}{}{right}", segments.join(&mid.to_string()))
}

/// Pads a cell's line to `width` according to the column alignment.
fn align_cells(content: Vec<Cell>, width: usize, align: Alignment) -> Vec<Cell> {
    let fill = width.saturating_sub(cells_width(&content));
    let (left, right) = match align {
        Alignment::Right => (fill, 0),
        Alignment::Center => (fill / 2, fill - fill / 2),
        Alignment::Left | Alignment::None => (0, fill),
    };
    let mut cells: Vec<Cell> = spaces(left, Style::new()).collect();
    cells.extend(content);
    cells.extend(spaces(right, Style::new()));
    cells
}

#[cfg(test)]
mod tests {
    use crate::tui::markdown::render;
    use crate::tui::markdown::test_support::{assert_fits, hl, text_of};
    use crate::tui::theme::Theme;

    #[test]
    fn table_renders_within_width() {
        let theme = Theme::default();
        let md = "| Name | Description | Score |\n|:-----|-------------|------:|\n\
                  | 한국어 | a rather long description that needs wrapping | 10 |\n\
                  | b | short | 7 |\n";
        for width in [80u16, 40, 30, 20] {
            let out = render(md, width, &theme, hl());
            assert_fits(&out.lines, usize::from(width));
            let all: String = out.lines.iter().map(text_of).collect();
            assert!(all.contains("한국어") || width < 30, "width {width}");
            assert_eq!(all.matches('어').count(), 1, "width {width}");
        }
        let out = render(md, 40, &theme, hl());
        assert!(text_of(&out.lines[0]).starts_with('┌'));
        assert!(out.lines.iter().any(|l| text_of(l).starts_with('├')));
        let tiny = render(md, 8, &theme, hl());
        assert_fits(&tiny.lines, 8);
    }
}
