//! The bytes of HTTP/1.1 between the router and a process, without any I/O: the
//! request head the router writes ([`write_request_head`], and the chunk framing of a
//! body of unknown length), the response head it reads ([`parse_response_head`], with
//! where the body ends: [`Framing`]) and chunked response bodies ([`ChunkedDecoder`]).
//!
//! A response head is refused (the router answers `502`) when httparse cannot parse
//! it, when it is over [`MAX_HEAD_BYTES`] or has over [`MAX_HEADERS`] headers, or when
//! its `Content-Length` is not one decimal number. Where the body ends follows
//! RFC 9112 section 6.3: no body for a `HEAD` request, a `1xx`, `204` or `304`; chunks
//! when `Transfer-Encoding` ends in `chunked`; else `Content-Length` bytes; else up to
//! the close. A connection is kept for another request only after an HTTP/1.1
//! response without `Connection: close` whose body had a length or chunks and no
//! `Transfer-Encoding` beside a `Content-Length`.

use std::ops::Range;

use bytes::Bytes;
use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{Method, StatusCode, Version};

/// The longest response head read.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most headers a response may have.
pub const MAX_HEADERS: usize = 100;
/// Headers parsed on the first try; a response with more is parsed again with room
/// for [`MAX_HEADERS`] (most have a dozen).
const FEW_HEADERS: usize = 32;
/// The longest chunk-size line or trailer section of a chunked body.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Where a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// There is no body.
    Empty,
    /// This many bytes.
    Length(u64),
    /// Chunks, up to the last (empty) one and the trailers.
    Chunked,
    /// Everything up to the close of the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The reason phrase, when it is not the status's usual one.
    pub reason: Option<ReasonPhrase>,
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Why a response head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the response head is malformed")]
    Malformed,
    #[error("the response head is longer than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("the response has more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("the response's Content-Length is not one decimal number")]
    ContentLength,
}

/// Parses the response head at the start of `buf`, the answer to a `method` request:
/// the head and its length, or `None` when `buf` holds only part of one.
pub fn parse_response_head(buf: &[u8], method: &Method) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    match parse_with::<FEW_HEADERS>(buf, method) {
        Err(HeadError::TooManyHeaders) => parse_with::<MAX_HEADERS>(buf, method),
        parsed => parsed,
    }
}

/// Where the parts of a head are in the buffer it was parsed from.
#[derive(Clone, Copy, Default)]
struct Spans {
    name: (usize, usize),
    value: (usize, usize),
}

fn parse_with<const N: usize>(
    buf: &[u8],
    method: &Method,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; N];
    let mut response = httparse::Response::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(_) => return Err(HeadError::Malformed),
    };
    if len > MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }
    let code = response.code.ok_or(HeadError::Malformed)?;
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Malformed)?;
    let version = match response.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let reason = response
        .reason
        .filter(|reason| status.canonical_reason() != Some(*reason) && !reason.is_empty())
        .and_then(|reason| ReasonPhrase::try_from(reason.as_bytes()).ok());
    // The values are cut out of one copy of the head, so a header costs no copy.
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        (start, start + part.len())
    };
    let mut spans = [Spans::default(); N];
    let count = response.headers.len();
    for (span, header) in spans.iter_mut().zip(response.headers.iter()) {
        *span = Spans { name: at(header.name.as_bytes()), value: at(header.value) };
    }
    let head = Bytes::copy_from_slice(&buf[..len]);
    let mut headers = HeaderMap::with_capacity(count);
    let mut seen = Seen::default();
    for span in &spans[..count] {
        let name =
            HeaderName::from_bytes(&head[span.name.0..span.name.1]).map_err(|_| HeadError::Malformed)?;
        let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
            .map_err(|_| HeadError::Malformed)?;
        seen.note(&name, value.as_bytes());
        headers.append(name, value);
    }
    let (framing, keep_alive) = framing(method, status, version, &mut headers, seen)?;
    Ok(Some((ResponseHead { status, version, headers, reason, framing, keep_alive }, len)))
}

/// What a response's headers say of where its body ends, gathered as they are read.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// `Connection` names `close`.
    close: bool,
    /// Whether `Transfer-Encoding` was sent, and its last coding is `chunked`.
    transfer_encoding: Option<bool>,
    /// Whether `Content-Length` was sent, and the length it gave.
    content_length: Option<Result<u64, HeadError>>,
}

impl Seen {
    fn note(&mut self, name: &HeaderName, value: &[u8]) {
        if *name == CONNECTION {
            self.close |= comma_tokens(value).any(|token| token.eq_ignore_ascii_case(b"close"));
        } else if *name == TRANSFER_ENCODING {
            let last = comma_tokens(value).last().map(|coding| coding.eq_ignore_ascii_case(b"chunked"));
            self.transfer_encoding = last.or(self.transfer_encoding).or(Some(false));
        } else if *name == CONTENT_LENGTH {
            let mut tokens = comma_tokens(value).peekable();
            if tokens.peek().is_none() {
                self.content_length = Some(Err(HeadError::ContentLength));
            }
            for token in tokens {
                let length = parse_decimal(token).ok_or(HeadError::ContentLength);
                self.content_length = match (self.content_length, length) {
                    (None, length) => Some(length),
                    (Some(Ok(seen)), Ok(length)) if seen == length => Some(Ok(seen)),
                    _ => Some(Err(HeadError::ContentLength)),
                };
            }
        }
    }
}

/// Where the body of a response ends, and whether its connection can be kept; drops a
/// `Content-Length` that comes with `Transfer-Encoding`.
fn framing(
    method: &Method,
    status: StatusCode,
    version: Version,
    headers: &mut HeaderMap,
    seen: Seen,
) -> Result<(Framing, bool), HeadError> {
    let mut keep_alive = version == Version::HTTP_11 && !seen.close;
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Empty, keep_alive));
    }
    if let Some(chunked) = seen.transfer_encoding {
        if seen.content_length.is_some() {
            headers.remove(CONTENT_LENGTH);
            keep_alive = false;
        }
        return Ok(match chunked {
            true => (Framing::Chunked, keep_alive),
            false => (Framing::UntilClose, false),
        });
    }
    Ok(match seen.content_length.transpose()? {
        Some(length) => (Framing::Length(length), keep_alive),
        None => (Framing::UntilClose, false),
    })
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
pub(crate) fn comma_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii).filter(|token| !token.is_empty())
}

/// A decimal number of at most 19 digits.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Writes the head of a request to a process: `method target HTTP/1.1`, `headers`
/// and `added`, then `Transfer-Encoding: chunked` when `chunked` (a body of unknown length), or
/// `Content-Length: 0` when `empty_body_length` (a request whose method usually has a
/// body, sent without one).
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    added: &[(HeaderName, HeaderValue)],
    chunked: bool,
    empty_body_length: bool,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers.iter().chain(added.iter().map(|(name, value)| (name, value))) {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    } else if empty_body_length {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The line before a chunk of `len` bytes (`len` in hex, CRLF).
pub fn chunk_size_line(len: usize) -> Bytes {
    Bytes::from(format!("{len:x}\r\n"))
}

/// What follows a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk of a body, with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("a chunk size is not 1 to 16 hex digits")]
    Size,
    #[error("a line of the chunked body does not end in CRLF")]
    LineEnd,
    #[error("a chunk-size line or the trailers are too long, or hold a control character")]
    Line,
}

/// What [`ChunkedDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body data: this range of the input.
    Data(Range<usize>),
    /// The input was framing only: more is needed.
    NeedMore,
    /// The body ended (after the trailers, which are dropped).
    End,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In the size's hex digits: the size so far and how many digits.
    Size { size: u64, digits: u8 },
    /// In the extensions after the size, `line` bytes of the line so far.
    Extension { size: u64, line: usize },
    /// After the size line's CR.
    SizeLf { size: u64 },
    /// This many bytes of data to come.
    Data { left: u64 },
    /// Data done, its CR to come.
    DataCr,
    /// Its LF to come.
    DataLf,
    /// In the trailers: `bytes` of them so far, `line` of the current line.
    Trailers { bytes: usize, line: usize },
    /// After a trailer line's CR.
    TrailerLf { bytes: usize, line: usize },
    /// The body ended.
    Done,
}

/// A strict reader of chunked framing: hex sizes (at most 16 digits), extensions
/// without control characters, CRLF line ends, trailers read and dropped.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    at: Chunk,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self { at: Chunk::Size { size: 0, digits: 0 } }
    }

    /// Reads from `input`: returns how many of its bytes were taken, and what they
    /// were. Data is returned as soon as any is in the input, one range at a time.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Decoded), ChunkError> {
        let mut taken = 0;
        while taken < input.len() {
            if let Chunk::Data { left } = self.at {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len() - taken);
                let left = left - n as u64;
                self.at = if left == 0 { Chunk::DataCr } else { Chunk::Data { left } };
                return Ok((taken + n, Decoded::Data(taken..taken + n)));
            }
            if self.at == Chunk::Done {
                break;
            }
            self.at = step(self.at, input[taken])?;
            taken += 1;
        }
        Ok((taken, if self.at == Chunk::Done { Decoded::End } else { Decoded::NeedMore }))
    }
}

/// Where one framing byte `b` takes the decoder from `at` (not in data, not done).
fn step(at: Chunk, b: u8) -> Result<Chunk, ChunkError> {
    let line_byte = |line: usize| match line < MAX_CHUNK_LINE_BYTES && (b == b'\t' || !b.is_ascii_control()) {
        true => Ok(line + 1),
        false => Err(ChunkError::Line),
    };
    Ok(match at {
        Chunk::Size { size, digits } => match (b, hex(b)) {
            (_, Some(digit)) if digits < 16 => {
                Chunk::Size { size: size << 4 | u64::from(digit), digits: digits + 1 }
            }
            (_, Some(_)) => return Err(ChunkError::Size),
            (b';' | b' ' | b'\t', None) if digits > 0 => {
                Chunk::Extension { size, line: usize::from(digits) + 1 }
            }
            (b'\r', None) if digits > 0 => Chunk::SizeLf { size },
            (b'\n', None) => return Err(ChunkError::LineEnd),
            _ => return Err(ChunkError::Size),
        },
        Chunk::Extension { size, line } => match b {
            b'\r' => Chunk::SizeLf { size },
            b'\n' => return Err(ChunkError::LineEnd),
            _ => Chunk::Extension { size, line: line_byte(line)? },
        },
        Chunk::SizeLf { size } => match (b, size) {
            (b'\n', 0) => Chunk::Trailers { bytes: 0, line: 0 },
            (b'\n', left) => Chunk::Data { left },
            _ => return Err(ChunkError::LineEnd),
        },
        Chunk::DataCr => match b {
            b'\r' => Chunk::DataLf,
            _ => return Err(ChunkError::LineEnd),
        },
        Chunk::DataLf => match b {
            b'\n' => Chunk::Size { size: 0, digits: 0 },
            _ => return Err(ChunkError::LineEnd),
        },
        Chunk::Trailers { bytes, line } => match b {
            b'\r' => Chunk::TrailerLf { bytes, line },
            b'\n' => return Err(ChunkError::LineEnd),
            _ if bytes + line < MAX_CHUNK_LINE_BYTES => Chunk::Trailers { bytes, line: line_byte(line)? },
            _ => return Err(ChunkError::Line),
        },
        Chunk::TrailerLf { bytes, line } => match (b, line) {
            (b'\n', 0) => Chunk::Done,
            (b'\n', line) if bytes + line + 2 <= MAX_CHUNK_LINE_BYTES => {
                Chunk::Trailers { bytes: bytes + line + 2, line: 0 }
            }
            (b'\n', _) => return Err(ChunkError::Line),
            _ => return Err(ChunkError::LineEnd),
        },
        Chunk::Data { .. } | Chunk::Done => unreachable!("data and the end are not framing"),
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &str) -> Result<Option<(ResponseHead, usize)>, HeadError> {
        parse_response_head(text.as_bytes(), &Method::GET)
    }

    fn framing_of(text: &str, method: &Method) -> (Framing, bool) {
        let (head, _) = parse_response_head(text.as_bytes(), method).unwrap().unwrap();
        (head.framing, head.keep_alive)
    }

    #[test]
    fn a_head_is_parsed_once_whole_and_its_values_are_kept() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: one\r\nx-a: two\r\n\r\nok";
        for cut in 0..text.len() - 2 {
            assert!(head(&text[..cut]).unwrap().is_none(), "{cut}");
        }
        let (parsed, len) = head(text).unwrap().unwrap();
        assert_eq!(len, text.len() - 2);
        assert_eq!(parsed.status, StatusCode::OK);
        assert_eq!(parsed.version, Version::HTTP_11);
        assert!(parsed.reason.is_none());
        let values: Vec<_> = parsed.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["one", "two"]);
        assert_eq!((parsed.framing, parsed.keep_alive), (Framing::Length(2), true));
    }

    #[test]
    fn a_reason_of_its_own_is_kept() {
        let (parsed, _) = head("HTTP/1.1 200 Fine\r\ncontent-length: 0\r\n\r\n").unwrap().unwrap();
        assert_eq!(parsed.reason.unwrap().as_bytes(), b"Fine");
    }

    #[test]
    fn the_body_ends_where_rfc_9112_says() {
        let get = &Method::GET;
        let cases = [
            ("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", get, (Framing::Length(5), true)),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\ncontent-length: 5\r\n\r\n",
                get,
                (Framing::Length(5), true),
            ),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", get, (Framing::Chunked, true)),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n", get, (Framing::Chunked, true)),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
                get,
                (Framing::Chunked, false),
            ),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", get, (Framing::UntilClose, false)),
            ("HTTP/1.1 200 OK\r\n\r\n", get, (Framing::UntilClose, false)),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\n",
                get,
                (Framing::Length(5), false),
            ),
            (
                "HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\ncontent-length: 5\r\n\r\n",
                get,
                (Framing::Length(5), false),
            ),
            ("HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n", get, (Framing::Length(5), false)),
            ("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", &Method::HEAD, (Framing::Empty, true)),
            ("HTTP/1.1 204 No Content\r\n\r\n", get, (Framing::Empty, true)),
            ("HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n", get, (Framing::Empty, true)),
            ("HTTP/1.1 100 Continue\r\n\r\n", get, (Framing::Empty, true)),
            ("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", get, (Framing::Empty, true)),
        ];
        for (text, method, expected) in cases {
            assert_eq!(framing_of(text, method), expected, "{text:?}");
        }
        let (both, _) = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!both.headers.contains_key(CONTENT_LENGTH), "the length beside chunks is dropped");
    }

    #[test]
    fn malformed_heads_are_refused() {
        let cases = [
            ("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n", HeadError::ContentLength),
            ("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", HeadError::ContentLength),
            ("HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n", HeadError::ContentLength),
            ("HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n", HeadError::ContentLength),
            ("HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n", HeadError::ContentLength),
            ("HTTP/1.1 200 OK\r\nx: a\0b\r\n\r\n", HeadError::Malformed),
            ("HTTP/1.1 2000 OK\r\n\r\n", HeadError::Malformed),
            ("HTTP/2 200 OK\r\n\r\n", HeadError::Malformed),
            ("SSH-2.0-OpenSSH\r\n\r\n", HeadError::Malformed),
        ];
        for (text, expected) in cases {
            assert_eq!(head(text).unwrap_err(), expected, "{text:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")).unwrap_err(), HeadError::TooManyHeaders);
        let some: String = (0..MAX_HEADERS - 1).map(|i| format!("x-{i}: v\r\n")).collect();
        let (parsed, _) =
            head(&format!("HTTP/1.1 200 OK\r\n{some}content-length: 0\r\n\r\n")).unwrap().unwrap();
        assert_eq!(parsed.headers.len(), MAX_HEADERS);
        let long = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(head(&long).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn a_request_head_names_its_framing() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("app.example"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            &Method::GET,
            "/a?b",
            &headers,
            &[(HeaderName::from_static("x-b"), HeaderValue::from_static("3"))],
            false,
            false,
        );
        assert_eq!(out, b"GET /a?b HTTP/1.1\r\nhost: app.example\r\nx-a: 1\r\nx-a: 2\r\nx-b: 3\r\n\r\n");
        out.clear();
        write_request_head(&mut out, &Method::POST, "/", &HeaderMap::new(), &[], true, false);
        assert_eq!(out, b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
        out.clear();
        write_request_head(&mut out, &Method::PUT, "/", &HeaderMap::new(), &[], false, true);
        assert_eq!(out, b"PUT / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    }

    /// Decodes `input` fed in `pieces`-sized steps (re-feeding what was not taken, as
    /// a reader does): the data, and how many bytes the body took.
    pub(crate) fn decode_all(input: &[u8], piece: usize) -> Result<(Vec<u8>, Option<usize>), ChunkError> {
        let mut decoder = ChunkedDecoder::new();
        let (mut data, mut at, mut end) = (Vec::new(), 0, piece.max(1).min(input.len()));
        loop {
            let (taken, decoded) = decoder.decode(&input[at..end])?;
            match decoded {
                Decoded::Data(range) => data.extend_from_slice(&input[at + range.start..at + range.end]),
                Decoded::End => return Ok((data, Some(at + taken))),
                Decoded::NeedMore if end == input.len() => return Ok((data, None)),
                Decoded::NeedMore => {}
            }
            at += taken;
            if at == end {
                end = (end + piece.max(1)).min(input.len());
            }
        }
    }

    #[test]
    fn chunks_are_read_strictly() {
        let body = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\nNEXT";
        for piece in 1..body.len() {
            assert_eq!(
                decode_all(body, piece).unwrap(),
                (b"hello world".to_vec(), Some(body.len() - 4)),
                "{piece}"
            );
        }
        let bad: [(&[u8], ChunkError); 9] = [
            (b"5\nhello\r\n0\r\n\r\n", ChunkError::LineEnd),
            (b"5\r\nhelloX\r\n", ChunkError::LineEnd),
            (b"5\r\nhello\r0\r\n\r\n", ChunkError::LineEnd),
            (b"\r\n", ChunkError::Size),
            (b"-5\r\n", ChunkError::Size),
            (b"0x5\r\n", ChunkError::Size),
            (b"11111111111111111\r\n", ChunkError::Size),
            (b"5;a\0b\r\n", ChunkError::Line),
            (b"0\r\nx: 1\n\r\n", ChunkError::LineEnd),
        ];
        for (input, expected) in bad {
            assert_eq!(decode_all(input, input.len()), Err(expected), "{:?}", String::from_utf8_lossy(input));
        }
        let long_trailers =
            [&b"0\r\n"[..], &b"x: 1\r\n".repeat(MAX_CHUNK_LINE_BYTES / 6 + 1), b"\r\n"].concat();
        assert_eq!(decode_all(&long_trailers, 64), Err(ChunkError::Line));
        assert_eq!(decode_all(b"ffffffffffffffff\r\nab", 3).unwrap(), (b"ab".to_vec(), None));
    }

    /// A body in chunks of the given sizes, with an extension on some size lines and
    /// trailers when asked.
    fn encode(data: &[u8], sizes: &[usize], trailers: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        for (i, size) in sizes.iter().cycle().enumerate() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).clamp(1, rest.len());
            let ext = if i % 3 == 1 { ";ext=1" } else { "" };
            out.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(CHUNK_END);
            rest = &rest[n..];
        }
        out.extend_from_slice(if trailers { b"0\r\nx-sum: 1\r\n\r\n" } else { LAST_CHUNK });
        out
    }

    proptest! {
        #[test]
        fn any_chunking_fed_in_any_pieces_gives_the_data_back_and_stops_at_its_end(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            sizes in proptest::collection::vec(1usize..80, 1..8),
            piece in 1usize..100,
            trailers in any::<bool>(),
            after in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let body = encode(&data, &sizes, trailers);
            let input = [&body[..], &after[..]].concat();
            prop_assert_eq!(decode_all(&input, piece).unwrap(), (data, Some(body.len())));
        }

        #[test]
        fn arbitrary_bytes_never_give_more_data_than_they_hold(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            piece in 1usize..50,
        ) {
            let whole = decode_all(&input, input.len().max(1));
            let pieces = decode_all(&input, piece);
            prop_assert_eq!(&whole, &pieces);
            if let Ok((data, end)) = whole {
                prop_assert!(data.len() <= end.unwrap_or(input.len()));
            }
        }

        #[test]
        fn a_head_parses_the_same_in_any_prefix_and_keeps_every_header(
            names in proptest::collection::vec("[a-z][a-z0-9-]{0,12}", 0..20),
            length in 0u64..1_000_000,
            cut in 0usize..400,
        ) {
            let mut text = String::from("HTTP/1.1 200 OK\r\n");
            for (i, name) in names.iter().enumerate() {
                text.push_str(&format!("x-{name}: value {i}\r\n"));
            }
            text.push_str(&format!("content-length: {length}\r\n\r\n"));
            let (parsed, len) = head(&text).unwrap().unwrap();
            prop_assert_eq!(len, text.len());
            prop_assert_eq!(parsed.headers.len(), names.len() + 1);
            prop_assert_eq!(parsed.framing, Framing::Length(length));
            if cut < text.len() {
                prop_assert!(head(&text[..cut]).unwrap().is_none());
            }
        }
    }
}
