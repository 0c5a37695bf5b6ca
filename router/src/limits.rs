//! The limits a request must keep to before any process hears of it.
//!
//! On HTTP/1.1 the head reader (`request_head`) comes first: bare LF or CR, NUL,
//! `Content-Length` with `Transfer-Encoding`, repeated or malformed lengths, codings
//! other than `chunked` and malformed request lines are a 400, a head that does not
//! fit the read buffer ([`READ_BUFFER_BYTES`]) or has more than [`MAX_HEADERS`]
//! headers a 431, and broken chunk framing is a 400. [`check_head`] adds the rest, on
//! HTTP/2 too: a request target over [`MAX_TARGET_BYTES`] is a 414, headers over
//! [`MAX_HEADER_BYTES`] (or too many, on HTTP/2) a 431, `Content-Length` together
//! with `Transfer-Encoding` a 400 (a second line of defence), and a declared body over
//! the router's limit a 413. Every refusal closes the connection.

use hyper::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::http::request::Parts;
use hyper::StatusCode;

/// The longest request target (path and query, or absolute URI).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;
/// The read buffer for an HTTP/1.1 request head: the longest target, the most header
/// bytes, and room for the request line's method and version and the line ends.
pub const READ_BUFFER_BYTES: usize = MAX_TARGET_BYTES + MAX_HEADER_BYTES + 100 * 4 + 1024;

/// Why a request is refused before it is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 414.
    TargetTooLong,
    /// 431.
    HeadersTooLarge,
    /// 400: the body's length is ambiguous.
    AmbiguousLength,
    /// 413.
    BodyTooLarge,
}

impl Refusal {
    /// The status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            Self::TargetTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::AmbiguousLength => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// Checks a request head against the limits; `max_body` is the router's body limit.
pub(crate) fn check_head(parts: &Parts, max_body: u64) -> Result<(), Refusal> {
    let target = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + parts.uri.authority().map_or(0, |a| a.as_str().len())
        + parts.uri.scheme_str().map_or(0, str::len);
    if target > MAX_TARGET_BYTES {
        return Err(Refusal::TargetTooLong);
    }
    let header_bytes: usize =
        parts.headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > MAX_HEADER_BYTES || parts.headers.len() > MAX_HEADERS {
        return Err(Refusal::HeadersTooLarge);
    }
    let lengths = parts.headers.get_all(CONTENT_LENGTH);
    if lengths.iter().next().is_some() && parts.headers.contains_key(TRANSFER_ENCODING) {
        return Err(Refusal::AmbiguousLength);
    }
    // The HTTP/1.1 reader refuses repeated or unparsable lengths, hyper's HTTP/2 server
    // differing ones; equal repeats are one length.
    let declared = lengths.iter().filter_map(|v| v.to_str().ok()?.trim().parse::<u64>().ok()).max();
    if declared.is_some_and(|length| length > max_body) {
        return Err(Refusal::BodyTooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn head(target: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = Request::post(target);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn limits() {
        let ok = |parts: &Parts| check_head(parts, 1000);
        assert_eq!(ok(&head("/", &[("content-length", "1000")])), Ok(()));
        assert_eq!(ok(&head(&format!("/{}", "a".repeat(MAX_TARGET_BYTES - 1)), &[])), Ok(()));
        assert_eq!(
            ok(&head(&format!("/{}", "a".repeat(MAX_TARGET_BYTES)), &[])),
            Err(Refusal::TargetTooLong)
        );
        let big = "v".repeat(MAX_HEADER_BYTES);
        assert_eq!(ok(&head("/", &[("x", &big)])), Err(Refusal::HeadersTooLarge));
        let many: Vec<(String, &str)> = (0..=MAX_HEADERS).map(|i| (format!("x-{i}"), "1")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(ok(&head("/", &many)), Err(Refusal::HeadersTooLarge));
        assert_eq!(ok(&head("/", &many[1..])), Ok(()));
        assert_eq!(
            ok(&head("/", &[("content-length", "3"), ("transfer-encoding", "chunked")])),
            Err(Refusal::AmbiguousLength)
        );
        assert_eq!(ok(&head("/", &[("content-length", "1001")])), Err(Refusal::BodyTooLarge));
    }
}
