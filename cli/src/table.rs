//! Aligned plain-text tables and `Key: value` lists for human output.
//!
//! Pure functions from cells to text: a header row, every column padded to its widest
//! cell, two spaces between columns, no trailing spaces. Widths count characters, and
//! control characters in cells are shown as spaces so a row stays one line.

/// A table with a header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { header: header.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> =
            cells.into_iter().map(|c| clean(&c.into())).take(self.header.len()).collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
        self
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let header: Vec<String> = self.header.iter().map(|h| clean(h)).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> =
            (0..header.len()).map(|i| lines.iter().map(|l| width(&l[i])).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for line in lines {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', widths[i] - width(cell)));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `Key: value` lines with the values aligned, Heroku style:
///
/// ```text
/// DATABASE_URL: postgres://db
/// PORT:         5000
/// ```
pub fn key_values<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let pairs: Vec<(String, String)> =
        pairs.into_iter().map(|(k, v)| (clean(k.as_ref()), clean(v.as_ref()))).collect();
    let key_width = pairs.iter().map(|(k, _)| width(k) + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let mut line = format!("{key}:");
        line.extend(std::iter::repeat_n(' ', key_width - width(&key) - 1));
        line.push(' ');
        line.push_str(&value);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut t = Table::new(["NAME", "OWNER", "URL"]);
        t.row(["hello", "alice", "http://hello.localhost"]);
        t.row(["a-much-longer-name", "bob", "http://x"]);
        assert_eq!(
            t.render(),
            "NAME                OWNER  URL\n\
             hello               alice  http://hello.localhost\n\
             a-much-longer-name  bob    http://x\n"
        );
    }

    #[test]
    fn no_trailing_spaces_even_with_empty_last_cells() {
        let mut t = Table::new(["A", "B"]);
        t.row(["x", ""]);
        t.row(["longer", "y"]);
        assert_eq!(t.render(), "A       B\nx\nlonger  y\n");
    }

    #[test]
    fn header_only() {
        let t = Table::new(["ID", "DESCRIPTION"]);
        assert!(t.is_empty());
        assert_eq!(t.render(), "ID  DESCRIPTION\n");
    }

    #[test]
    fn rows_are_fitted_to_the_header() {
        let mut t = Table::new(["A", "B"]);
        t.row(["1"]);
        t.row(["1", "2", "3"]);
        assert_eq!(t.render(), "A  B\n1\n1  2\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::new(["NAME", "X"]);
        t.row(["héllo", "1"]);
        assert_eq!(t.render(), "NAME   X\nhéllo  1\n");
    }

    #[test]
    fn line_breaks_in_cells_do_not_break_rows() {
        let mut t = Table::new(["A"]);
        t.row(["one\ntwo"]);
        assert_eq!(t.render(), "A\none two\n");
    }

    #[test]
    fn key_values_are_aligned() {
        let text = key_values([("PORT", "5000"), ("DATABASE_URL", "postgres://db"), ("E", "")]);
        assert_eq!(
            text,
            "PORT:         5000\n\
             DATABASE_URL: postgres://db\n\
             E:\n"
        );
        assert_eq!(key_values(Vec::<(String, String)>::new()), "");
    }

    proptest! {
        #[test]
        fn every_line_is_aligned_and_untrimmed_text_survives(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z]{0,6}", 3), 0..6),
        ) {
            let mut t = Table::new(["AA", "B", "CCC"]);
            for r in &rows {
                t.row(r.clone());
            }
            let text = t.render();
            let lines: Vec<&str> = text.lines().collect();
            prop_assert_eq!(lines.len(), rows.len() + 1);
            for line in &lines {
                prop_assert!(!line.ends_with(' '));
            }
            // The second column starts at the same offset on every line that has one.
            let start = 2 + 2.max(rows.iter().map(|r| r[0].len()).max().unwrap_or(0));
            for (line, r) in lines[1..].iter().zip(&rows) {
                if !r[1].is_empty() {
                    prop_assert_eq!(&line[start..start + r[1].len()], r[1].as_str());
                }
            }
        }
    }
}
