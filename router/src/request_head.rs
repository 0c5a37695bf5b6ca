//! The head of a request as a client sends it on HTTP/1.1, read strictly: the router's
//! own reader, for the shapes a lenient parser would take and that smuggle a request
//! past a proxy whose idea of where a request ends differs from the process's.
//!
//! [`head_end`] finds where a head ends as its bytes arrive, refusing a bare LF at
//! once (httparse would take it as a line end) and a head longer than
//! [`MAX_HEAD_BYTES`]; it resumes where it stopped, so a head trickling in byte by
//! byte is scanned once. [`parse_request_head`] then reads the whole head with
//! httparse (which refuses a bare CR, a NUL or other control bytes, a space before a
//! colon, obsolete line folding and malformed request lines) and checks what httparse
//! leaves: `CONNECT`, more than one `Content-Length` or one that is not decimal
//! digits, `Transfer-Encoding` other than one `chunked` (or on HTTP/1.0), and
//! `Content-Length` with `Transfer-Encoding`. It says how the body is framed and what
//! the head asks of the connection. Pure: no I/O, no clock; property-tested and fuzzed.

use bytes::Bytes;
use hyper::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::upstream_wire::{comma_tokens, parse_decimal};

/// The longest head read: the longest target, the most header bytes, and room for the
/// request line's method and version and the line ends. A longer one is a 431.
pub const MAX_HEAD_BYTES: usize = crate::limits::READ_BUFFER_BYTES;

/// The most header fields a request may carry; more is a 431.
pub const MAX_HEADERS: usize = crate::limits::MAX_HEADERS;

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A line ends in LF without CR.
    BareLf,
    /// Longer than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// httparse refused it: a bare CR, a NUL or another control byte, a malformed
    /// request line, a header line without a name or with a space before its colon.
    Malformed,
    /// `CONNECT`, a method, target or version the router does not take.
    RequestLine,
    /// More than one `Content-Length`.
    DuplicateContentLength,
    /// A `Content-Length` that is not a decimal number of at most 19 digits.
    InvalidContentLength,
    /// `Transfer-Encoding` other than one `chunked` on an HTTP/1.1 request.
    UnsupportedTransferEncoding,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ContentLengthWithTransferEncoding,
}

impl Fault {
    /// The status the client gets (with a close).
    pub fn status(self) -> StatusCode {
        match self {
            Self::TooLarge | Self::TooManyHeaders => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no `Content-Length`, or zero).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head, read.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: BodyFraming,
    /// Whether it names an `Upgrade`: the bytes after it are not requests unless the
    /// process answers something other than a switch.
    pub upgrade: bool,
    /// Whether the client keeps the connection after this request: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// Whether it says `Expect: 100-continue`.
    pub expects_continue: bool,
}

/// Where the head at the start of `buf` ends: the index just past its blank line,
/// once that has come. `scanned` is how far the scan got, kept by the caller between
/// calls on a growing `buf` (0 for a new head). The head must not start with a line
/// end (the caller drops empty lines before a request line, as RFC 9112 allows).
pub fn head_end(buf: &[u8], scanned: &mut usize) -> Result<Option<usize>, Fault> {
    let limit = buf.len().min(MAX_HEAD_BYTES);
    let mut at = *scanned;
    while let Some(offset) = memchr::memchr(b'\n', &buf[at..limit]) {
        let lf = at + offset;
        if lf == 0 || buf[lf - 1] != b'\r' {
            return Err(Fault::BareLf);
        }
        if lf >= 3 && &buf[lf - 3..lf - 1] == b"\r\n" {
            return Ok(Some(lf + 1));
        }
        at = lf + 1;
    }
    if limit == MAX_HEAD_BYTES {
        return Err(Fault::TooLarge);
    }
    // Every LF so far was looked at (a blank line is found from its LF, looking back).
    *scanned = limit;
    Ok(None)
}

/// Reads a whole head, `head` being exactly its bytes (through the blank line, as
/// [`head_end`] found it). The header values are cut out of `head`, not copied.
pub fn parse_request_head(head: &Bytes) -> Result<RequestHead, Fault> {
    match parse_with::<32>(head) {
        Err(Fault::TooManyHeaders) => parse_with::<MAX_HEADERS>(head),
        parsed => parsed,
    }
}

fn parse_with<const N: usize>(head: &Bytes) -> Result<RequestHead, Fault> {
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; N];
    let mut request = httparse::Request::new(&mut []);
    match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, head, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) if len == head.len() => {}
        Err(httparse::Error::TooManyHeaders) => return Err(Fault::TooManyHeaders),
        _ => return Err(Fault::Malformed),
    }
    let method =
        Method::from_bytes(request.method.unwrap_or_default().as_bytes()).map_err(|_| Fault::RequestLine)?;
    if method == Method::CONNECT {
        return Err(Fault::RequestLine);
    }
    let version = match request.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(Fault::RequestLine),
    };
    let target = request.path.unwrap_or_default().as_bytes();
    let uri = Uri::from_maybe_shared(head.slice_ref(target)).map_err(|_| Fault::RequestLine)?;
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    let mut seen = Seen::default();
    for header in request.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| Fault::Malformed)?;
        let value =
            HeaderValue::from_maybe_shared(head.slice_ref(header.value)).map_err(|_| Fault::Malformed)?;
        seen.note(&name, value.as_bytes(), version)?;
        headers.append(name, value);
    }
    let body = match (seen.length, seen.chunked) {
        (Some(_), true) => return Err(Fault::ContentLengthWithTransferEncoding),
        (None, true) => BodyFraming::Chunked,
        (Some(length @ 1..), false) => BodyFraming::Length(length),
        _ => BodyFraming::Empty,
    };
    let keep_alive = match version {
        Version::HTTP_11 => !seen.close,
        _ => seen.keep_alive && !seen.close,
    };
    Ok(RequestHead {
        method,
        uri,
        version,
        headers,
        body,
        upgrade: seen.upgrade,
        keep_alive,
        expects_continue: seen.expects_continue,
    })
}

/// What a request's headers say of its body and connection, gathered as they are read.
#[derive(Debug, Default)]
struct Seen {
    length: Option<u64>,
    chunked: bool,
    upgrade: bool,
    close: bool,
    keep_alive: bool,
    expects_continue: bool,
}

impl Seen {
    fn note(&mut self, name: &HeaderName, value: &[u8], version: Version) -> Result<(), Fault> {
        if *name == CONTENT_LENGTH {
            if self.length.is_some() {
                return Err(Fault::DuplicateContentLength);
            }
            self.length = Some(parse_decimal(value.trim_ascii()).ok_or(Fault::InvalidContentLength)?);
        } else if *name == TRANSFER_ENCODING {
            if self.chunked
                || version != Version::HTTP_11
                || !value.trim_ascii().eq_ignore_ascii_case(b"chunked")
            {
                return Err(Fault::UnsupportedTransferEncoding);
            }
            self.chunked = true;
        } else if *name == CONNECTION {
            for token in comma_tokens(value) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if *name == UPGRADE {
            self.upgrade = true;
        } else if *name == EXPECT {
            self.expects_continue |= value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Finds and reads the head at the start of `input`, fed whole.
    fn read(input: &[u8]) -> Result<Option<(RequestHead, usize)>, Fault> {
        let Some(end) = head_end(input, &mut 0)? else { return Ok(None) };
        Ok(Some((parse_request_head(&Bytes::copy_from_slice(&input[..end]))?, end)))
    }

    fn fault(input: &str) -> Fault {
        read(input.as_bytes()).expect_err(input)
    }

    fn body(input: &str) -> BodyFraming {
        read(input.as_bytes()).unwrap().unwrap().0.body
    }

    #[test]
    fn a_head_is_read_whole_with_its_framing_and_what_it_asks_of_the_connection() {
        let input =
            "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Two: 1\r\nx-two: 2\r\n\r\nhello";
        let (head, end) = read(input.as_bytes()).unwrap().unwrap();
        assert_eq!(end, input.len() - 5);
        assert_eq!((head.method, head.version), (Method::POST, Version::HTTP_11));
        assert_eq!(head.uri, "/a?b=1");
        assert_eq!(head.headers["host"], "x");
        assert_eq!(head.headers.get_all("x-two").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(head.body, BodyFraming::Length(5));
        assert!(head.keep_alive && !head.upgrade && !head.expects_continue);

        assert_eq!(body("GET / HTTP/1.1\r\n\r\n"), BodyFraming::Empty);
        assert_eq!(body("POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n"), BodyFraming::Empty);
        assert_eq!(body("POST / HTTP/1.1\r\ntransfer-encoding: Chunked \r\n\r\n"), BodyFraming::Chunked);
        let ask = |input: &str| {
            let head = read(input.as_bytes()).unwrap().unwrap().0;
            (head.keep_alive, head.upgrade, head.expects_continue)
        };
        assert_eq!(ask("GET / HTTP/1.1\r\nconnection: keep-alive, Close\r\n\r\n"), (false, false, false));
        assert_eq!(ask("GET / HTTP/1.0\r\n\r\n"), (false, false, false));
        assert_eq!(ask("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"), (true, false, false));
        assert_eq!(ask("GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n"), (true, true, false));
        assert_eq!(ask("PUT / HTTP/1.1\r\nexpect: 100-Continue\r\n\r\n"), (true, false, true));
        let absolute = read(b"GET http://x.test/p HTTP/1.1\r\n\r\n").unwrap().unwrap().0;
        assert_eq!(absolute.uri.authority().unwrap(), "x.test");
    }

    #[test]
    fn a_head_that_has_not_ended_is_waited_for() {
        assert!(read(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap().is_none());
        assert!(read(b"GET / HTTP/1.1\r\nhost: x\r\n\r").unwrap().is_none());
        assert!(read(b"GET / HTTP/1.1\r").unwrap().is_none());
    }

    #[test]
    fn smuggling_and_malformed_shapes_are_refused() {
        let head = |extra: &str| format!("POST / HTTP/1.1\r\nhost: x\r\n{extra}\r\n");
        let cases = [
            ("GET / HTTP/1.1\nhost: x\n\n".to_owned(), Fault::BareLf),
            (head("x-a: 1\n"), Fault::BareLf),
            ("GET / HTTP/1.1\r\nhost: x\r\n\n".to_owned(), Fault::BareLf),
            (head("x-a: 1\rx-b: 2\r\n"), Fault::Malformed),
            (head("x-nul: a\0b\r\n"), Fault::Malformed),
            (head("transfer-encoding : chunked\r\n"), Fault::Malformed),
            (head("x-a: 1\r\n chunked\r\n"), Fault::Malformed),
            (head(": nameless\r\n"), Fault::Malformed),
            ("GET  / HTTP/1.1\r\n\r\n".into(), Fault::Malformed),
            ("GET / HTTP/2.0\r\n\r\n".into(), Fault::Malformed),
            ("CONNECT x:443 HTTP/1.1\r\n\r\n".into(), Fault::RequestLine),
            (head("content-length: 5\r\ncontent-length: 5\r\n"), Fault::DuplicateContentLength),
            (head("content-length: 5\r\ncontent-length: 6\r\n"), Fault::DuplicateContentLength),
            (head("content-length: 5, 5\r\n"), Fault::InvalidContentLength),
            (head("content-length: +5\r\n"), Fault::InvalidContentLength),
            (head("content-length: 99999999999999999999\r\n"), Fault::InvalidContentLength),
            (head("transfer-encoding: gzip\r\n"), Fault::UnsupportedTransferEncoding),
            (head("transfer-encoding: chunked, gzip\r\n"), Fault::UnsupportedTransferEncoding),
            (
                head("transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n"),
                Fault::UnsupportedTransferEncoding,
            ),
            (
                "POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n".into(),
                Fault::UnsupportedTransferEncoding,
            ),
            (
                head("content-length: 6\r\ntransfer-encoding: chunked\r\n"),
                Fault::ContentLengthWithTransferEncoding,
            ),
            (
                head("transfer-encoding: chunked\r\ncontent-length: 3\r\n"),
                Fault::ContentLengthWithTransferEncoding,
            ),
            (head(&(0..101).map(|i| format!("x-h{i}: 1\r\n")).collect::<String>()), Fault::TooManyHeaders),
            (head(&format!("x-big: {}\r\n", "b".repeat(MAX_HEAD_BYTES))), Fault::TooLarge),
        ];
        for (input, expected) in cases {
            assert_eq!(fault(&input), expected, "{input:?}");
        }
        assert_eq!(Fault::TooLarge.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(Fault::BareLf.status(), StatusCode::BAD_REQUEST);
        // As many headers as allowed, and a head just within the size limit, are read.
        let hundred = head(&(0..99).map(|i| format!("x-h{i}: 1\r\n")).collect::<String>());
        assert_eq!(read(hundred.as_bytes()).unwrap().unwrap().0.headers.len(), 100);
        let filler = MAX_HEAD_BYTES - head("x-big: \r\n").len();
        let largest = head(&format!("x-big: {}\r\n", "b".repeat(filler)));
        assert_eq!(largest.len(), MAX_HEAD_BYTES);
        assert!(read(largest.as_bytes()).unwrap().is_some());
    }

    /// A well-formed head with a few headers and a body framing.
    fn request() -> impl Strategy<Value = String> {
        let header = ("[a-z][a-z0-9-]{0,11}", "[ -~]{0,20}").prop_map(|(name, value)| {
            let value = value.trim().to_owned();
            format!("x-{name}: {value}\r\n")
        });
        let framing = prop_oneof![
            Just(String::new()),
            (0u64..1 << 40).prop_map(|n| format!("content-length: {n}\r\n")),
            Just("transfer-encoding: chunked\r\n".to_owned()),
        ];
        ("(GET|POST|PUT|DELETE)", "/[a-z0-9/?=&]{0,30}", prop::collection::vec(header, 0..8), framing)
            .prop_map(|(method, path, headers, framing)| {
                format!("{method} {path} HTTP/1.1\r\nhost: a.test\r\n{}{framing}\r\n", headers.concat())
            })
    }

    proptest! {
        #[test]
        fn the_end_is_found_at_the_same_byte_however_the_head_arrives(
            head in request(), rest in "[ -~]{0,40}", cuts in prop::collection::vec(0usize..200, 0..6),
        ) {
            let input = format!("{head}{rest}").into_bytes();
            let whole = head_end(&input, &mut 0).unwrap();
            prop_assert_eq!(whole, Some(head.len()));
            let mut scanned = 0;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(input.len())).collect();
            cuts.sort_unstable();
            let mut found = None;
            for cut in cuts.into_iter().chain([input.len()]) {
                found = head_end(&input[..cut], &mut scanned).unwrap();
                if found.is_some() {
                    break;
                }
            }
            prop_assert_eq!(found, whole);
            let parsed = parse_request_head(&Bytes::copy_from_slice(&input[..head.len()]));
            prop_assert!(parsed.is_ok(), "{:?}", parsed);
        }

        #[test]
        fn any_bytes_are_refused_or_read_never_past_the_head(input in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut scanned = 0;
            match head_end(&input, &mut scanned) {
                Ok(Some(end)) => {
                    prop_assert!(end <= input.len() && input[..end].ends_with(b"\r\n\r\n"));
                    let _ = parse_request_head(&Bytes::copy_from_slice(&input[..end]));
                }
                Ok(None) => prop_assert!(scanned <= input.len()),
                Err(fault) => prop_assert!(matches!(fault, Fault::BareLf | Fault::TooLarge)),
            }
        }

        #[test]
        fn a_bare_lf_anywhere_in_a_head_is_refused(head in request(), at in any::<prop::sample::Index>()) {
            let lines: Vec<usize> = head.match_indices("\r\n").map(|(i, _)| i).collect();
            let cr = lines[at.index(lines.len())];
            let mut input = head.into_bytes();
            input.remove(cr);
            prop_assert_eq!(head_end(&input, &mut 0), Err(Fault::BareLf));
        }
    }
}
