//! The run stream: what `paas run` and the controller exchange while a one-off process
//! runs (`GET /v1/apps/{app}/run`, upgraded to a WebSocket).
//!
//! The request is the upgrade request itself: a `GET` with `Connection: Upgrade`,
//! `Upgrade: websocket` (RFC 6455) and the JSON `RunRequest` in the [`REQUEST_HEADER`]
//! header, base64url without padding ([`encode_request`], [`decode_request`]), so that
//! a request the controller refuses (an empty command, no build, no engine) is an
//! ordinary JSON error before anything starts. After the `101`, WebSocket **binary**
//! messages carry a sequence of frames `[kind u8][len u32 big-endian][len bytes]`, in
//! both directions. Senders put whole frames in each message; the framing does not
//! depend on the messages, so a receiver decodes the messages' bytes as one stream.
//!
//! - client to controller: [`Frame::Stdin`] (an empty one closes the process's stdin)
//!   and, with a TTY, [`Frame::Resize`];
//! - controller to client: [`Frame::Stdout`] and [`Frame::Stderr`] (with a TTY the
//!   terminal's bytes are all `Stdout`), then one [`Frame::Exit`] with the exit status,
//!   or one [`Frame::Error`] when the process could not be followed to its end; nothing
//!   comes after either but the WebSocket's close.
//!
//! A client that closes the WebSocket, or whose connection goes, ends the process.
//! Kind 0 (once `start`, which carried the request) is no longer a frame. Both parsers
//! read bytes from the network: they are property-tested and fuzzed (`core/fuzz`), and
//! bound what they buffer.

use base64::Engine as _;
use thiserror::Error;

use crate::api::RunRequest;

/// The header of the upgrade request that carries the `RunRequest` (`Paas-Run`).
pub const REQUEST_HEADER: &str = "paas-run";

/// The longest [`REQUEST_HEADER`] value, in bytes (16 KiB).
pub const MAX_REQUEST_HEADER: usize = 16 * 1024;

/// The largest payload a frame may carry (1 MiB).
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// The bytes before a frame's payload: kind and length.
pub const HEADER_LEN: usize = 5;

const STDIN: u8 = 1;
const STDOUT: u8 = 2;
const STDERR: u8 = 3;
const EXIT: u8 = 4;
const RESIZE: u8 = 5;
const ERROR: u8 = 6;

/// One frame of the run stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Bytes for the process's stdin; empty: stdin is closed.
    Stdin(Vec<u8>),
    /// Bytes the process wrote to stdout (or to its terminal).
    Stdout(Vec<u8>),
    /// Bytes the process wrote to stderr (never with a TTY).
    Stderr(Vec<u8>),
    /// The process ended with this status; the last frame.
    Exit(i32),
    /// The client's terminal changed size (TTY only).
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// The process could not be followed to its end; the last frame. For the user.
    Error(String),
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The kind byte names no frame.
    #[error("unknown run stream frame kind {0}")]
    UnknownKind(u8),
    /// The length is over [`MAX_PAYLOAD`].
    #[error("a run stream frame of {0} bytes is over the limit of {MAX_PAYLOAD}")]
    TooLong(u32),
    /// An `Exit` or `Resize` frame whose payload is not 4 bytes.
    #[error("a run stream {kind} frame must carry 4 bytes, not {len}")]
    BadLength {
        /// Which frame.
        kind: &'static str,
        /// Its length.
        len: u32,
    },
    /// An `Error` frame that is not UTF-8.
    #[error("a run stream error frame is not UTF-8")]
    NotUtf8,
}

impl Frame {
    fn kind(&self) -> u8 {
        match self {
            Frame::Stdin(_) => STDIN,
            Frame::Stdout(_) => STDOUT,
            Frame::Stderr(_) => STDERR,
            Frame::Exit(_) => EXIT,
            Frame::Resize { .. } => RESIZE,
            Frame::Error(_) => ERROR,
        }
    }

    /// Appends the frame's bytes to `out`. A payload over [`MAX_PAYLOAD`] is split into
    /// several frames of the same kind (an `Error`, which is one frame, is cut at the
    /// limit).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let put = |out: &mut Vec<u8>, kind: u8, payload: &[u8]| {
            out.push(kind);
            // At most MAX_PAYLOAD, which fits.
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(payload);
        };
        let kind = self.kind();
        match self {
            Frame::Stdin(bytes) | Frame::Stdout(bytes) | Frame::Stderr(bytes) => {
                if bytes.is_empty() {
                    put(out, kind, &[]);
                }
                for piece in bytes.chunks(MAX_PAYLOAD) {
                    put(out, kind, piece);
                }
            }
            Frame::Error(text) => {
                let mut end = text.len().min(MAX_PAYLOAD);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                put(out, kind, &text.as_bytes()[..end]);
            }
            Frame::Exit(code) => put(out, kind, &code.to_be_bytes()),
            Frame::Resize { cols, rows } => {
                let mut payload = [0; 4];
                payload[..2].copy_from_slice(&cols.to_be_bytes());
                payload[2..].copy_from_slice(&rows.to_be_bytes());
                put(out, kind, &payload);
            }
        }
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Reads one frame from the start of `buf`: `Ok(None)` when `buf` holds only part of
/// one, else the frame and how many bytes it took. An error is final: the stream is
/// broken.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else { return Ok(None) };
    let kind = header[0];
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if !(STDIN..=ERROR).contains(&kind) {
        return Err(FrameError::UnknownKind(kind));
    }
    if len as usize > MAX_PAYLOAD {
        return Err(FrameError::TooLong(len));
    }
    let four = |name: &'static str| -> Result<(), FrameError> {
        if len == 4 {
            Ok(())
        } else {
            Err(FrameError::BadLength { kind: name, len })
        }
    };
    match kind {
        EXIT => four("exit")?,
        RESIZE => four("resize")?,
        _ => {}
    }
    let end = HEADER_LEN + len as usize;
    let Some(payload) = buf.get(HEADER_LEN..end) else { return Ok(None) };
    let frame = match kind {
        STDIN => Frame::Stdin(payload.to_vec()),
        STDOUT => Frame::Stdout(payload.to_vec()),
        STDERR => Frame::Stderr(payload.to_vec()),
        EXIT => Frame::Exit(i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])),
        RESIZE => Frame::Resize {
            cols: u16::from_be_bytes([payload[0], payload[1]]),
            rows: u16::from_be_bytes([payload[2], payload[3]]),
        },
        _ => Frame::Error(String::from_utf8(payload.to_vec()).map_err(|_| FrameError::NotUtf8)?),
    };
    Ok(Some((frame, end)))
}

/// Frames out of bytes that arrive in pieces of any size. Holds at most one frame's
/// worth of bytes ([`HEADER_LEN`] + [`MAX_PAYLOAD`]) plus the last piece pushed.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if the bytes so far hold one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        match decode(&self.buf[self.start..])? {
            Some((frame, used)) => {
                self.start += used;
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// Whether bytes of an unfinished frame are waiting.
    pub fn has_partial(&self) -> bool {
        self.start < self.buf.len()
    }
}

/// Why a [`REQUEST_HEADER`] value is not a run request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// Over [`MAX_REQUEST_HEADER`].
    #[error("the Paas-Run header of {0} bytes is over the limit of {MAX_REQUEST_HEADER}")]
    TooLong(usize),
    /// Not base64url without padding.
    #[error("the Paas-Run header is not base64url (without padding)")]
    NotBase64,
    /// Not the JSON of a run request.
    #[error("the Paas-Run header is not a run request: {0}")]
    NotARequest(String),
}

/// The [`REQUEST_HEADER`] value for `request`; too long when the request would not fit.
pub fn encode_request(request: &RunRequest) -> Result<String, RequestError> {
    // Serialising a struct of strings, lists and maps with string keys cannot fail.
    let json = serde_json::to_vec(request).unwrap_or_default();
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    if value.len() > MAX_REQUEST_HEADER {
        return Err(RequestError::TooLong(value.len()));
    }
    Ok(value)
}

/// Reads a [`REQUEST_HEADER`] value.
pub fn decode_request(value: &[u8]) -> Result<RunRequest, RequestError> {
    if value.len() > MAX_REQUEST_HEADER {
        return Err(RequestError::TooLong(value.len()));
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| RequestError::NotBase64)?;
    serde_json::from_slice(&json).map_err(|e| RequestError::NotARequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::RunCommand;
    use proptest::prelude::*;

    #[test]
    fn frames_have_the_documented_bytes() {
        assert_eq!(Frame::Stdout(b"hi".to_vec()).to_bytes(), [2, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(Frame::Stdin(Vec::new()).to_bytes(), [1, 0, 0, 0, 0]);
        assert_eq!(Frame::Exit(3).to_bytes(), [4, 0, 0, 0, 4, 0, 0, 0, 3]);
        assert_eq!(Frame::Exit(-1).to_bytes(), [4, 0, 0, 0, 4, 255, 255, 255, 255]);
        assert_eq!(Frame::Resize { cols: 80, rows: 24 }.to_bytes(), [5, 0, 0, 0, 4, 0, 80, 0, 24]);
    }

    #[test]
    fn bad_frames_are_refused_early() {
        assert_eq!(decode(&[7, 0, 0, 0, 0]), Err(FrameError::UnknownKind(7)));
        assert_eq!(decode(&[2, 0, 0x10, 0, 1]), Err(FrameError::TooLong(0x0010_0001)));
        assert_eq!(decode(&[4, 0, 0, 0, 3]), Err(FrameError::BadLength { kind: "exit", len: 3 }));
        assert_eq!(decode(&[6, 0, 0, 0, 1, 0xff]), Err(FrameError::NotUtf8));
        assert_eq!(decode(&[2, 0, 0, 0, 2, b'h']), Ok(None));
        assert_eq!(decode(&[2, 0]), Ok(None));
    }

    #[test]
    fn big_output_is_split_into_frames() {
        let big = vec![7u8; MAX_PAYLOAD + 10];
        let bytes = Frame::Stdout(big.clone()).to_bytes();
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        let mut got = Vec::new();
        while let Some(Frame::Stdout(piece)) = decoder.next_frame().unwrap() {
            got.extend(piece);
        }
        assert_eq!(got, big);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn kind_zero_is_no_longer_a_frame() {
        // Once `start`; the request travels in the upgrade request now.
        assert_eq!(decode(&[0, 0, 0, 0, 0]), Err(FrameError::UnknownKind(0)));
    }

    #[test]
    fn requests_travel_as_base64url_json() {
        let request =
            RunRequest { command: RunCommand::Argv(vec!["true".into()]), tty: false, env: BTreeMap::new() };
        let value = encode_request(&request).unwrap();
        // {"command":["true"],"tty":false,"env":{}}
        assert_eq!(value, "eyJjb21tYW5kIjpbInRydWUiXSwidHR5IjpmYWxzZSwiZW52Ijp7fX0");
        assert_eq!(decode_request(value.as_bytes()), Ok(request));
        // Defaults, as the JSON body had them.
        let shell = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"command":"echo $PORT"}"#);
        let read = decode_request(shell.as_bytes()).unwrap();
        assert_eq!((read.command, read.tty), (RunCommand::Shell("echo $PORT".into()), false));
    }

    #[test]
    fn bad_request_headers_are_refused() {
        assert_eq!(decode_request(b"e30="), Err(RequestError::NotBase64), "padding");
        assert_eq!(decode_request(b"not base64!"), Err(RequestError::NotBase64));
        assert!(matches!(decode_request(b"e30"), Err(RequestError::NotARequest(_))), "{{}}");
        let long = vec![b'A'; MAX_REQUEST_HEADER + 1];
        assert_eq!(decode_request(&long), Err(RequestError::TooLong(MAX_REQUEST_HEADER + 1)));
        let huge = RunRequest {
            command: RunCommand::Shell("x".repeat(MAX_REQUEST_HEADER)),
            tty: false,
            env: BTreeMap::new(),
        };
        assert!(matches!(encode_request(&huge), Err(RequestError::TooLong(_))));
    }

    fn frame() -> impl Strategy<Value = Frame> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            bytes().prop_map(Frame::Stdin),
            bytes().prop_map(Frame::Stdout),
            bytes().prop_map(Frame::Stderr),
            any::<i32>().prop_map(Frame::Exit),
            (any::<u16>(), any::<u16>()).prop_map(|(cols, rows)| Frame::Resize { cols, rows }),
            ".{0,40}".prop_map(Frame::Error),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip_however_the_bytes_are_cut(
            frames in proptest::collection::vec(frame(), 0..12),
            cuts in proptest::collection::vec(1usize..9, 1..40),
        ) {
            let mut bytes = Vec::new();
            for f in &frames {
                f.encode(&mut bytes);
            }
            let mut decoder = FrameDecoder::new();
            let mut got = Vec::new();
            let mut rest = &bytes[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                decoder.push(&rest[..n]);
                rest = &rest[n..];
                while let Some(f) = decoder.next_frame().unwrap() {
                    got.push(f);
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert!(!decoder.has_partial());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics_and_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Some((frame, used))) = decode(&bytes) {
                prop_assert!((HEADER_LEN..=bytes.len()).contains(&used));
                prop_assert_eq!(frame.to_bytes(), bytes[..used].to_vec());
            }
        }

        #[test]
        fn requests_round_trip(
            argv in proptest::collection::vec(".{0,20}", 0..6),
            shell in proptest::option::of(".{0,40}"),
            tty in any::<bool>(),
            env in proptest::collection::btree_map("[A-Z_]{1,8}", ".{0,20}", 0..4),
        ) {
            let command = shell.map_or(RunCommand::Argv(argv), RunCommand::Shell);
            let request = RunRequest { command, tty, env };
            let value = encode_request(&request).unwrap();
            prop_assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(decode_request(value.as_bytes()), Ok(request));
        }

        #[test]
        fn decoding_arbitrary_request_headers_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_request(&bytes);
        }
    }
}
