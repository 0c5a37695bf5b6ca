//! What the user reads of a buildpack's output: its bytes cut into lines ([`Lines`]) and
//! each line shown Heroku style ([`format_line`]). Pure.

/// The longest line passed on, in bytes; a longer one is cut into pieces of this size.
pub const MAX_LINE_LEN: usize = 4096;

/// The indentation of a buildpack line that is not a header.
const INDENT: &str = "       ";

/// A buildpack's line as the user reads it, or `None` for a blank one. Headers
/// (`----->`) and Heroku's warnings (` !`) are kept as they are, and so are lines the
/// buildpack indented itself; every other line is indented by 7 spaces, under the
/// headers.
pub fn format_line(line: &str) -> Option<String> {
    let line = line.trim_end();
    if line.trim_start().is_empty() {
        None
    } else if line.starts_with("----->") || line.starts_with(" !") || line.starts_with(INDENT) {
        Some(line.to_owned())
    } else {
        Some(format!("{INDENT}{line}"))
    }
}

/// Cuts a stream of bytes into lines. A line ends at `\n`; of a line rewritten with
/// `\r` (a progress bar), only what a terminal would leave, the last part, is kept.
/// Bytes that are not UTF-8 become U+FFFD.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Takes the next chunk; returns the lines it completes.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.take(&chunk[..end], &mut lines);
            lines.push(self.line());
            chunk = &chunk[end + 1..];
        }
        self.take(chunk, &mut lines);
        lines
    }

    /// The unfinished last line, when the stream ended without a `\n`.
    pub fn finish(&mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| self.line())
    }

    /// Appends bytes of the current line, passing on a full piece when it grows too long.
    fn take(&mut self, mut bytes: &[u8], lines: &mut Vec<String>) {
        while self.pending.len() + bytes.len() > MAX_LINE_LEN {
            let room = MAX_LINE_LEN - self.pending.len();
            self.pending.extend_from_slice(&bytes[..room]);
            lines.push(self.line());
            bytes = &bytes[room..];
        }
        self.pending.extend_from_slice(bytes);
    }

    fn line(&mut self) -> String {
        let bytes = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        text.rsplit('\r').next().unwrap_or_default().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn headers_and_warnings_stay_and_the_rest_is_indented() {
        assert_eq!(
            format_line("-----> Installing requirements").as_deref(),
            Some("-----> Installing requirements")
        );
        assert_eq!(format_line(" !     Push rejected").as_deref(), Some(" !     Push rejected"));
        assert_eq!(
            format_line("Collecting six==1.16.0\r\n").as_deref(),
            Some("       Collecting six==1.16.0")
        );
        assert_eq!(format_line("  Downloading six.whl").as_deref(), Some("         Downloading six.whl"));
        assert_eq!(format_line("       already indented").as_deref(), Some("       already indented"));
        assert_eq!(format_line(""), None);
        assert_eq!(format_line(" \t "), None);
    }

    #[test]
    fn chunks_become_lines_wherever_they_are_cut() {
        let mut lines = Lines::default();
        assert!(lines.push(b"Coll").is_empty());
        assert_eq!(lines.push(b"ecting six\nInstalled\r\n\npart"), ["Collecting six", "Installed", ""]);
        assert_eq!(lines.finish().as_deref(), Some("part"));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn a_progress_bar_keeps_its_last_state_and_bad_bytes_are_replaced() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b" 10%\r 50%\r100%\n"), ["100%"]);
        assert_eq!(lines.push(b"caf\xe9\n"), ["caf\u{fffd}"]);
    }

    #[test]
    fn long_lines_are_cut() {
        let mut lines = Lines::default();
        let out = lines.push(&vec![b'x'; MAX_LINE_LEN * 2 + 10]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|l| l.len() == MAX_LINE_LEN));
        assert_eq!(lines.finish().map(|l| l.len()), Some(10));
    }

    proptest! {
        #[test]
        fn lines_are_the_text_between_newlines(text in "[a-z \n]{0,200}", cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= bytes.len()).collect();
            cuts.sort_unstable();
            let mut lines = Lines::default();
            let mut out = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                out.extend(lines.push(&bytes[start..cut]));
                start = cut;
            }
            out.extend(lines.finish());
            let mut expected: Vec<&str> = text.split('\n').collect();
            if expected.last() == Some(&"") {
                expected.pop();
            }
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn a_formatted_line_is_one_line_under_a_header_or_indented(line in "\\PC{0,80}") {
            if let Some(shown) = format_line(&line) {
                prop_assert!(!shown.contains('\n'));
                prop_assert!(shown.starts_with("----->") || shown.starts_with(" !") || shown.starts_with(INDENT));
                prop_assert!(shown.ends_with(line.trim_end()));
            }
        }
    }
}
