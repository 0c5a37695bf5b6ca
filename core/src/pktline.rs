//! Git's pkt-line framing, as read from and written to the network.
//!
//! A pkt-line is four lowercase or uppercase hex digits giving the length of the whole
//! line (the four digits included), then the payload. Three lengths are special:
//! `0000` (flush), `0001` (delim) and `0002` (response end); `0003` is never valid. The
//! longest line is [`MAX_LINE_LEN`] bytes, so a payload holds at most
//! [`MAX_PAYLOAD_LEN`] bytes.
//!
//! [`parse`] reads one line from the front of a buffer without copying and tells how
//! many bytes it used, or that more bytes are needed; it never panics, whatever the
//! bytes. [`write_data`] and friends append lines to a buffer.

/// The longest pkt-line, length prefix included.
pub const MAX_LINE_LEN: usize = 65520;
/// The longest payload of a data line.
pub const MAX_PAYLOAD_LEN: usize = MAX_LINE_LEN - 4;
/// The flush line.
pub const FLUSH: &[u8; 4] = b"0000";
/// The delimiter line (protocol v2).
pub const DELIM: &[u8; 4] = b"0001";

/// One line, borrowing its payload from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkt<'a> {
    /// `0000`: the end of a section.
    Flush,
    /// `0001`: a section delimiter.
    Delim,
    /// `0002`: the end of a response (protocol v2).
    ResponseEnd,
    /// A data line; the payload may end with `\n`.
    Data(&'a [u8]),
}

impl<'a> Pkt<'a> {
    /// The payload of a data line without its trailing `\n`, if it is one.
    pub fn text(&self) -> Option<&'a [u8]> {
        match self {
            Pkt::Data(payload) => Some(payload.strip_suffix(b"\n").unwrap_or(payload)),
            _ => None,
        }
    }
}

/// Why bytes are not a pkt-line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PktLineError {
    /// The length prefix is not four hex digits.
    #[error("pkt-line length {0:?} is not four hex digits")]
    BadLength(String),
    /// The length is `0003`, or longer than the protocol allows.
    #[error("pkt-line length {0} is not allowed (lines are 4 to {MAX_LINE_LEN} bytes)")]
    LengthOutOfRange(usize),
    /// A payload given to a writer is longer than a line can hold.
    #[error("a pkt-line payload of {0} bytes is longer than {MAX_PAYLOAD_LEN}")]
    PayloadTooLong(usize),
}

/// Reads one pkt-line from the front of `buf`: `Ok(None)` when `buf` does not yet hold
/// a whole line, otherwise the line and how many bytes of `buf` it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Pkt<'_>, usize)>, PktLineError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let len = parse_len(prefix)?;
    let pkt_len = match len {
        0 => return Ok(Some((Pkt::Flush, 4))),
        1 => return Ok(Some((Pkt::Delim, 4))),
        2 => return Ok(Some((Pkt::ResponseEnd, 4))),
        3 => return Err(PktLineError::LengthOutOfRange(len)),
        n if n > MAX_LINE_LEN => return Err(PktLineError::LengthOutOfRange(len)),
        n => n,
    };
    Ok(buf.get(4..pkt_len).map(|payload| (Pkt::Data(payload), pkt_len)))
}

fn parse_len(prefix: &[u8]) -> Result<usize, PktLineError> {
    let mut len = 0usize;
    for &b in prefix {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(PktLineError::BadLength(String::from_utf8_lossy(prefix).into_owned())),
        };
        len = len * 16 + usize::from(digit);
    }
    Ok(len)
}

/// Appends a data line carrying `payload`.
pub fn write_data(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), PktLineError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(PktLineError::PayloadTooLong(payload.len()));
    }
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a data line carrying `text` and a `\n`.
pub fn write_text(out: &mut Vec<u8>, text: &str) -> Result<(), PktLineError> {
    if text.len() + 1 > MAX_PAYLOAD_LEN {
        return Err(PktLineError::PayloadTooLong(text.len() + 1));
    }
    out.extend_from_slice(format!("{:04x}", text.len() + 5).as_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
    Ok(())
}

/// Appends a flush line.
pub fn write_flush(out: &mut Vec<u8>) {
    out.extend_from_slice(FLUSH);
}

/// Appends a delim line.
pub fn write_delim(out: &mut Vec<u8>) {
    out.extend_from_slice(DELIM);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_the_special_lines_and_data() {
        assert_eq!(parse(b"0000rest").unwrap(), Some((Pkt::Flush, 4)));
        assert_eq!(parse(b"0001").unwrap(), Some((Pkt::Delim, 4)));
        assert_eq!(parse(b"0002").unwrap(), Some((Pkt::ResponseEnd, 4)));
        assert_eq!(parse(b"0009hello").unwrap(), Some((Pkt::Data(b"hello"), 9)));
        assert_eq!(parse(b"000Ahello\n").unwrap().unwrap().0.text(), Some(&b"hello"[..]));
        assert_eq!(parse(b"0004").unwrap(), Some((Pkt::Data(b""), 4)));
    }

    #[test]
    fn asks_for_more_bytes() {
        assert_eq!(parse(b"").unwrap(), None);
        assert_eq!(parse(b"00").unwrap(), None);
        assert_eq!(parse(b"0009hell").unwrap(), None);
    }

    #[test]
    fn refuses_bad_lengths() {
        assert!(matches!(parse(b"zzzz"), Err(PktLineError::BadLength(_))));
        assert_eq!(parse(b"0003"), Err(PktLineError::LengthOutOfRange(3)));
        assert_eq!(parse(b"fff1"), Err(PktLineError::LengthOutOfRange(0xfff1)));
        assert!(parse(b"fff0").unwrap().is_none());
    }

    #[test]
    fn writes_lines() {
        let mut out = Vec::new();
        write_text(&mut out, "# service=git-receive-pack").unwrap();
        write_flush(&mut out);
        write_delim(&mut out);
        write_data(&mut out, b"x").unwrap();
        assert_eq!(out, b"001f# service=git-receive-pack\n000000010005x");
        assert_eq!(write_data(&mut out, &[0; MAX_PAYLOAD_LEN + 1]), Err(PktLineError::PayloadTooLong(65517)));
        assert!(write_data(&mut Vec::new(), &[0; MAX_PAYLOAD_LEN]).is_ok());
    }

    proptest! {
        #[test]
        fn round_trips(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8)) {
            let mut out = Vec::new();
            for p in &payloads {
                write_data(&mut out, p).unwrap();
            }
            write_flush(&mut out);
            let mut rest = &out[..];
            for p in &payloads {
                let (pkt, used) = parse(rest).unwrap().unwrap();
                prop_assert_eq!(pkt, Pkt::Data(p));
                rest = &rest[used..];
            }
            prop_assert_eq!(parse(rest).unwrap(), Some((Pkt::Flush, 4)));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut rest = &bytes[..];
            while let Ok(Some((_, used))) = parse(rest) {
                prop_assert!(used >= 4 && used <= rest.len());
                rest = &rest[used..];
            }
        }

        #[test]
        fn never_panics_on_hex_prefixes(len in 0usize..0x10000, tail in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut bytes = format!("{len:04x}").into_bytes();
            bytes.extend(tail);
            let _ = parse(&bytes);
        }
    }
}
