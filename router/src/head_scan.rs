//! A strict reader of the HTTP/1.1 byte stream a client sends, in front of hyper, for
//! the shapes hyper accepts leniently: bare LF line ends (httparse takes them) and
//! `Content-Length` with `Transfer-Encoding` (hyper drops the length and reads
//! chunks). Either is how a request is smuggled past a proxy whose idea of where a
//! request ends differs from the process's, so the router refuses them outright.
//!
//! [`HeadScanner::feed`] takes the bytes as they arrive and gives back the bytes hyper
//! may see. It withholds each request head until its end (`\r\n\r\n`) and then either
//! passes it on whole, or, when the head is one the router refuses, passes [`POISON`]
//! instead: a head hyper itself refuses with `400 Bad Request` and a close, after it
//! has answered every request before it (pipelining keeps its order). It follows each
//! body's framing (`Content-Length`, or chunks, checked as strictly) to find the next
//! head; a body that breaks its framing is a [`Fault`] the caller turns into a read
//! error, which hyper turns into a body error (a 400 from the router). After a request
//! that asks for an upgrade the stream is no longer HTTP: bytes pass unexamined (the
//! router closes the connection after such a request when it is not switched).
//!
//! Refused heads: a bare LF or CR, a NUL, a request line that is not
//! `METHOD SP target SP HTTP/1.x`, `CONNECT`, a header line without a name, more than
//! one `Content-Length` or one that is not decimal digits, `Transfer-Encoding` other
//! than one `chunked` (or on HTTP/1.0), and `Content-Length` with `Transfer-Encoding`.
//! A head longer than [`MAX_HEAD_BYTES`] is passed on unexamined, and then everything
//! after it: hyper refuses it (431) and closes. The scanner is pure: no I/O, no clock.

/// What hyper gets instead of a refused head: a NUL where a method should start, which
/// it answers with `400 Bad Request` and a close.
pub const POISON: &[u8] = b"\0\r\n\r\n";

/// The longest head that is withheld and examined; hyper's read buffer is no larger,
/// so a longer one is refused by hyper.
pub const MAX_HEAD_BYTES: usize = crate::limits::READ_BUFFER_BYTES;

/// Why the scanner stopped the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A line ends in LF without CR (in a head or in chunk framing).
    BareLf,
    /// A CR not followed by LF.
    BareCr,
    /// A NUL byte in a head.
    Nul,
    /// The request line is not `METHOD SP target SP HTTP/1.0|1.1`, or is `CONNECT`.
    RequestLine,
    /// A header line without `name:`.
    HeaderLine,
    /// More than one `Content-Length`.
    DuplicateContentLength,
    /// A `Content-Length` that is not a decimal number that fits in 64 bits.
    InvalidContentLength,
    /// `Transfer-Encoding` other than one `chunked` on an HTTP/1.1 request.
    UnsupportedTransferEncoding,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ContentLengthWithTransferEncoding,
    /// A chunk-size line that is not hex digits (at most 16), optional extensions, CRLF;
    /// or chunk data not followed by CRLF.
    InvalidChunk,
}

impl Fault {
    /// Whether the fault is in a request head, which hyper is told about by [`POISON`];
    /// else it is in a body, which the caller ends with a read error.
    pub fn in_head(self) -> bool {
        !matches!(self, Self::InvalidChunk)
    }
}

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests or in a head (its bytes so far are withheld).
    Head,
    /// A `Content-Length` body with this many bytes to come.
    Body { left: u64, upgrade: bool },
    /// A chunked body.
    Chunked { at: Chunk, upgrade: bool },
    /// After an upgrade request, or a head too long to examine: bytes pass unexamined.
    Opaque,
    /// A fault was found; nothing more passes.
    Failed(Fault),
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In the size's hex digits (`digits` so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// In an extension (`;...`), up to CR.
    Extension {
        size: u64,
    },
    /// After the size line's CR.
    SizeLf {
        size: u64,
    },
    /// In the data.
    Data {
        left: u64,
    },
    /// After the data: CR, then LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer line, up to CR.
    Trailer,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final empty line's CR.
    EndLf,
}

/// The scanner of one connection's client-to-server bytes.
#[derive(Debug, Clone)]
pub struct HeadScanner {
    state: State,
    /// The head being read, withheld.
    head: Vec<u8>,
}

impl Default for HeadScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl HeadScanner {
    /// A scanner at the start of a connection.
    pub fn new() -> Self {
        Self { state: State::Head, head: Vec::new() }
    }

    /// Whether bytes now pass unexamined (after an upgrade request), so a caller may
    /// skip [`HeadScanner::feed`].
    pub fn is_opaque(&self) -> bool {
        self.state == State::Opaque
    }

    /// Whether the stream is inside a request body, where a client that stops sending
    /// is waited for at most the body read timeout.
    pub fn in_body(&self) -> bool {
        matches!(self.state, State::Body { .. } | State::Chunked { .. })
    }

    /// The fault found, if any.
    pub fn fault(&self) -> Option<Fault> {
        match self.state {
            State::Failed(fault) => Some(fault),
            _ => None,
        }
    }

    /// Takes `input`, the next bytes from the client, and appends to `out` the bytes
    /// hyper may read. On a fault it returns it (and every later call returns it again,
    /// passing nothing); for a fault in a head, `out` ends with [`POISON`].
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Fault> {
        while !input.is_empty() {
            let used = match self.state {
                State::Failed(fault) => return Err(fault),
                State::Opaque => {
                    out.extend_from_slice(input);
                    input.len()
                }
                State::Head => self.feed_head(input, out),
                State::Body { left, upgrade } => {
                    let n = usize::try_from(left).map_or(input.len(), |left| left.min(input.len()));
                    out.extend_from_slice(&input[..n]);
                    let left = left - n as u64;
                    self.state = if left == 0 { after_body(upgrade) } else { State::Body { left, upgrade } };
                    n
                }
                State::Chunked { at, upgrade } => self.feed_chunked(at, upgrade, input, out),
            };
            input = &input[used..];
        }
        match self.state {
            State::Failed(fault) => Err(fault),
            _ => Ok(()),
        }
    }

    /// Reads head bytes from `input`; returns how many it used.
    fn feed_head(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        while i < input.len() {
            // A run of bytes that neither end a line nor are refused goes in at once,
            // short of the size limit, which the byte after it checks.
            if self.head.last() != Some(&b'\r') {
                let room = MAX_HEAD_BYTES.saturating_sub(self.head.len() + 1).min(input.len() - i);
                let run =
                    input[i..i + room].iter().position(|&b| matches!(b, b'\r' | b'\n' | 0)).unwrap_or(room);
                if run > 0 {
                    self.head.extend_from_slice(&input[i..i + run]);
                    i += run;
                    continue;
                }
            }
            if let Some(used) = self.feed_head_byte(input[i], i, out) {
                return used;
            }
            i += 1;
        }
        input.len()
    }

    /// Takes one head byte, the `i`th of its input; how many bytes of the input were
    /// used when it ends the head (or the scan).
    fn feed_head_byte(&mut self, byte: u8, i: usize, out: &mut Vec<u8>) -> Option<usize> {
        let previous = self.head.last().copied();
        if previous == Some(b'\r') && byte != b'\n' {
            return Some(self.refuse(Fault::BareCr, out, i + 1));
        }
        match byte {
            b'\n' if previous != Some(b'\r') => return Some(self.refuse(Fault::BareLf, out, i + 1)),
            0 => return Some(self.refuse(Fault::Nul, out, i + 1)),
            _ => {}
        }
        self.head.push(byte);
        if self.head == b"\r\n" {
            // An empty line before a request line: ignored, as hyper does.
            self.head.clear();
        } else if self.head.ends_with(b"\r\n\r\n") {
            let used = i + 1;
            match examine(&self.head) {
                Ok(next) => {
                    out.extend_from_slice(&self.head);
                    self.head.clear();
                    self.state = next;
                }
                Err(fault) => return Some(self.refuse(fault, out, used)),
            }
            return Some(used);
        } else if self.head.len() >= MAX_HEAD_BYTES {
            out.append(&mut self.head);
            self.state = State::Opaque;
            return Some(i + 1);
        }
        None
    }

    fn refuse(&mut self, fault: Fault, out: &mut Vec<u8>, used: usize) -> usize {
        self.head.clear();
        out.extend_from_slice(POISON);
        self.state = State::Failed(fault);
        used
    }

    /// Reads chunk framing or data from `input`; returns how many bytes it used.
    fn feed_chunked(&mut self, mut at: Chunk, upgrade: bool, input: &[u8], out: &mut Vec<u8>) -> usize {
        for (i, &byte) in input.iter().enumerate() {
            if let Chunk::Data { left } = at {
                let n = usize::try_from(left).map_or(input.len() - i, |left| left.min(input.len() - i));
                out.extend_from_slice(&input[i..i + n]);
                let left = left - n as u64;
                at = if left == 0 { Chunk::DataCr } else { Chunk::Data { left } };
                self.state = State::Chunked { at, upgrade };
                return i + n;
            }
            let next = match (at, byte) {
                (Chunk::Size { size, digits }, b) if b.is_ascii_hexdigit() => {
                    (digits < 16).then(|| Chunk::Size { size: size << 4 | hex(b), digits: digits + 1 })
                }
                (Chunk::Size { size, digits: 1.. }, b';') => Some(Chunk::Extension { size }),
                (Chunk::Size { size, digits: 1.. }, b'\r') => Some(Chunk::SizeLf { size }),
                (Chunk::Extension { size }, b'\r') => Some(Chunk::SizeLf { size }),
                (Chunk::Extension { .. }, b'\n') => None,
                (Chunk::Extension { size }, _) => Some(Chunk::Extension { size }),
                (Chunk::SizeLf { size: 0 }, b'\n') => Some(Chunk::TrailerStart),
                (Chunk::SizeLf { size }, b'\n') => Some(Chunk::Data { left: size }),
                (Chunk::DataCr, b'\r') => Some(Chunk::DataLf),
                (Chunk::DataLf, b'\n') => Some(Chunk::Size { size: 0, digits: 0 }),
                (Chunk::TrailerStart, b'\r') => Some(Chunk::EndLf),
                (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
                (Chunk::TrailerStart | Chunk::Trailer, b'\n' | 0) => None,
                (Chunk::TrailerStart | Chunk::Trailer, _) => Some(Chunk::Trailer),
                (Chunk::TrailerLf, b'\n') => Some(Chunk::TrailerStart),
                (Chunk::EndLf, b'\n') => {
                    out.push(byte);
                    self.state = after_body(upgrade);
                    return i + 1;
                }
                _ => None,
            };
            match next {
                Some(next) => at = next,
                None => {
                    // What came before the fault has passed: hyper reads it, then the
                    // error.
                    self.state = State::Failed(Fault::InvalidChunk);
                    return i + 1;
                }
            }
            // Framing bytes pass on as they are checked.
            out.push(byte);
        }
        self.state = State::Chunked { at, upgrade };
        input.len()
    }
}

fn after_body(upgrade: bool) -> State {
    if upgrade {
        State::Opaque
    } else {
        State::Head
    }
}

fn hex(b: u8) -> u64 {
    u64::from(match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    })
}

/// Checks a whole head (ending in `\r\n\r\n`, with no bare CR or LF and no NUL) and
/// says how its body is framed.
fn examine(head: &[u8]) -> Result<State, Fault> {
    let head = &head[..head.len() - 4];
    let mut lines = head.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Fault::RequestLine);
    };
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Err(Fault::RequestLine),
    };
    if method.is_empty() || target.is_empty() || method == b"CONNECT" {
        return Err(Fault::RequestLine);
    }
    let mut length = None;
    let mut chunked = None;
    let mut upgrade = false;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { return Err(Fault::HeaderLine) };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(Fault::HeaderLine);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if length.is_some() {
                return Err(Fault::DuplicateContentLength);
            }
            length = Some(decimal(value).ok_or(Fault::InvalidContentLength)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked.is_some() || !http11 || !value.eq_ignore_ascii_case(b"chunked") {
                return Err(Fault::UnsupportedTransferEncoding);
            }
            chunked = Some(());
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade = true;
        }
    }
    match (length, chunked) {
        (Some(_), Some(())) => Err(Fault::ContentLengthWithTransferEncoding),
        (None, Some(())) => Ok(State::Chunked { at: Chunk::Size { size: 0, digits: 0 }, upgrade }),
        (Some(left @ 1..), None) => Ok(State::Body { left, upgrade }),
        _ => Ok(after_body(upgrade)),
    }
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |end| end + 1);
    &value[start..end]
}

fn decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `input` in one piece: what passes, and the fault.
    fn scan(input: &[u8]) -> (Vec<u8>, Option<Fault>) {
        let mut scanner = HeadScanner::new();
        let mut out = Vec::new();
        let fault = scanner.feed(input, &mut out).err();
        (out, fault)
    }

    /// Feeds `input` split at `cuts`.
    fn scan_split(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<Fault>) {
        let mut scanner = HeadScanner::new();
        let mut out = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain([input.len()]) {
            if let Err(fault) = scanner.feed(&input[start..cut.max(start)], &mut out) {
                return (out, Some(fault));
            }
            start = cut.max(start);
        }
        (out, None)
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";

    #[test]
    fn well_formed_requests_pass_whole_and_in_order() {
        let post = b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let chunked = b"POST /c HTTP/1.1\r\nhost: a\r\ntransfer-encoding: Chunked\r\n\r\n\
                        5;name=value\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-sum: 1\r\n\r\n";
        let mut pipelined = Vec::new();
        for part in [GET, b"\r\n", post, chunked, GET] {
            pipelined.extend_from_slice(part);
        }
        let (out, fault) = scan(&pipelined);
        assert_eq!(fault, None);
        let mut want = pipelined.clone();
        want.drain(GET.len()..GET.len() + 2); // the empty line is dropped
        assert_eq!(out, want);
    }

    #[test]
    fn a_head_is_withheld_until_it_ends() {
        let mut scanner = HeadScanner::new();
        let mut out = Vec::new();
        scanner.feed(&GET[..GET.len() - 1], &mut out).unwrap();
        assert!(out.is_empty());
        scanner.feed(b"\n", &mut out).unwrap();
        assert_eq!(out, GET);
    }

    #[test]
    fn refused_heads_become_poison_after_what_came_before() {
        let cases: &[(&[u8], Fault)] = &[
            (b"GET / HTTP/1.1\nhost: a\n\n", Fault::BareLf),
            (b"GET / HTTP/1.1\r\nhost: a\n\r\n", Fault::BareLf),
            (b"\nGET / HTTP/1.1\r\n\r\n", Fault::BareLf),
            (b"GET / HTTP/1.1\r\nx: a\rb\r\n\r\n", Fault::BareCr),
            (b"GET / HTTP/1.1\r\nx: a\0b\r\n\r\n", Fault::Nul),
            (b"GET /  HTTP/1.1\r\n\r\n", Fault::RequestLine),
            (b"GET / HTTP/2.0\r\n\r\n", Fault::RequestLine),
            (b"CONNECT a:443 HTTP/1.1\r\n\r\n", Fault::RequestLine),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", Fault::HeaderLine),
            (b"GET / HTTP/1.1\r\nx : 1\r\n\r\n", Fault::HeaderLine),
            (b"GET / HTTP/1.1\r\n x: 1\r\n\r\n", Fault::HeaderLine),
            (
                b"POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n",
                Fault::DuplicateContentLength,
            ),
            (b"POST / HTTP/1.1\r\ncontent-length: +5\r\n\r\n", Fault::InvalidContentLength),
            (b"POST / HTTP/1.1\r\ncontent-length: 99999999999999999999\r\n\r\n", Fault::InvalidContentLength),
            (
                b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
                Fault::UnsupportedTransferEncoding,
            ),
            (b"POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n", Fault::UnsupportedTransferEncoding),
            (
                b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n",
                Fault::UnsupportedTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
                Fault::ContentLengthWithTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                Fault::ContentLengthWithTransferEncoding,
            ),
        ];
        for (head, fault) in cases {
            let mut input = GET.to_vec();
            input.extend_from_slice(head);
            input.extend_from_slice(GET);
            let (out, got) = scan(&input);
            assert_eq!(got, Some(*fault), "{}", String::from_utf8_lossy(head));
            assert!(fault.in_head());
            assert_eq!(out, [GET, POISON].concat(), "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn broken_chunk_framing_stops_the_body() {
        let head = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n";
        for body in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX",
            b"5 \r\nhello\r\n",
            b"11111111111111111\r\n",
            b"1;ext\n",
            b"0\r\nx: 1\n\r\n",
            b"0\r\n\n",
        ] {
            let (out, fault) = scan(&[&head[..], body].concat());
            assert_eq!(fault, Some(Fault::InvalidChunk), "{}", String::from_utf8_lossy(body));
            assert!(!Fault::InvalidChunk.in_head());
            assert!(out.starts_with(head) && !out.ends_with(POISON));
        }
    }

    #[test]
    fn after_an_upgrade_request_bytes_pass_unexamined() {
        let ws = b"GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n";
        let mut scanner = HeadScanner::new();
        let mut out = Vec::new();
        scanner.feed(ws, &mut out).unwrap();
        assert!(scanner.is_opaque());
        scanner.feed(b"\x81\x05\nhi\0\n", &mut out).unwrap();
        assert_eq!(out, [&ws[..], b"\x81\x05\nhi\0\n"].concat());
    }

    #[test]
    fn a_head_too_long_to_examine_passes_to_be_refused_by_hyper() {
        let mut input = b"GET / HTTP/1.1\r\nx: ".to_vec();
        input.resize(MAX_HEAD_BYTES + 10, b'a');
        input.extend_from_slice(b"\nmore");
        let (out, fault) = scan(&input);
        assert_eq!((out, fault), (input, None));
    }

    #[test]
    fn the_size_limit_falls_on_the_same_byte_however_the_head_comes() {
        for (lf_at, refused) in [(MAX_HEAD_BYTES - 1, true), (MAX_HEAD_BYTES, false)] {
            let mut input = b"GET / HTTP/1.1\r\nx: ".to_vec();
            input.resize(lf_at, b'a');
            input.extend_from_slice(b"\nmore");
            let whole = scan(&input);
            let every_byte: Vec<usize> = (0..input.len()).collect();
            assert_eq!(scan_split(&input, &every_byte), whole, "LF at {lf_at}");
            assert_eq!(whole.1.is_some(), refused, "LF at {lf_at}");
        }
    }

    #[test]
    fn bodies_are_tracked() {
        let mut scanner = HeadScanner::new();
        let mut out = Vec::new();
        scanner.feed(b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\na\n", &mut out).unwrap();
        assert!(scanner.in_body());
        scanner.feed(b"\0", &mut out).unwrap();
        assert!(!scanner.in_body());
        scanner.feed(b"GET / HTTP/1.1\n", &mut out).unwrap_err();
        assert_eq!(scanner.fault(), Some(Fault::BareLf));
        assert_eq!(scanner.feed(GET, &mut out), Err(Fault::BareLf));
    }

    fn request() -> impl Strategy<Value = Vec<u8>> {
        let body = proptest::collection::vec(any::<u8>(), 0..40);
        (0..3u8, body, "[a-z]{1,8}", "[ -~]{0,20}").prop_map(|(kind, body, name, value)| {
            let mut head = format!("POST /{name} HTTP/1.1\r\nhost: a\r\nx-{name}: {}\r\n", value.trim());
            let mut out = Vec::new();
            match kind {
                0 => {
                    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    out.extend_from_slice(head.as_bytes());
                    out.extend_from_slice(&body);
                }
                1 => {
                    head.push_str("transfer-encoding: chunked\r\n\r\n");
                    out.extend_from_slice(head.as_bytes());
                    for chunk in body.chunks(7) {
                        out.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                _ => {
                    head.push_str("\r\n");
                    out.extend_from_slice(head.as_bytes());
                }
            }
            out
        })
    }

    proptest! {
        #[test]
        fn well_formed_pipelines_pass_unchanged_however_they_are_split(
            requests in proptest::collection::vec(request(), 1..5),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let input = requests.concat();
            let (out, fault) = scan_split(&input, &cuts);
            prop_assert_eq!(fault, None);
            prop_assert_eq!(out, input);
        }

        #[test]
        fn splitting_never_changes_the_outcome(
            input in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(scan_split(&input, &cuts), scan(&input));
        }

        #[test]
        fn byte_by_byte_is_the_same_as_all_at_once(
            parts in proptest::collection::vec((request(), proptest::collection::vec(any::<u8>(), 0..12)), 1..4),
        ) {
            let input: Vec<u8> = parts.into_iter().flat_map(|(request, noise)| [request, noise].concat()).collect();
            let every_byte: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(scan_split(&input, &every_byte), scan(&input));
        }

        #[test]
        fn a_bare_lf_in_a_head_is_always_refused(
            before in proptest::collection::vec(request(), 0..3),
            line in "[a-z]{1,8}: [a-z]{0,8}",
        ) {
            let input = [before.concat(), format!("GET / HTTP/1.1\r\n{line}\n\r\n").into_bytes()].concat();
            let (out, fault) = scan(&input);
            prop_assert_eq!(fault, Some(Fault::BareLf));
            prop_assert_eq!(out, [before.concat(), POISON.to_vec()].concat());
        }
    }
}
