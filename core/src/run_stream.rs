//! The run stream: what `paas run` and the controller exchange while a one-off process
//! runs (`POST /v1/apps/{app}/run`).
//!
//! Both directions are a sequence of frames `[kind u8][len u32 big-endian][len bytes]`,
//! carried in the body of one HTTP/1.1 request and of its response, both chunked and
//! both open at once (full duplex). A frame may span chunks and a chunk may hold many
//! frames: the framing does not depend on the chunking.
//!
//! - client to controller: first [`Frame::Start`] (the JSON `RunRequest`), then
//!   [`Frame::Stdin`] (an empty one closes the process's stdin) and, with a TTY,
//!   [`Frame::Resize`];
//! - controller to client: [`Frame::Stdout`] and [`Frame::Stderr`] (with a TTY the
//!   terminal's bytes are all `Stdout`), then one [`Frame::Exit`] with the exit status,
//!   or one [`Frame::Error`] when the process could not be followed to its end; nothing
//!   comes after either.
//!
//! [`chunked`] is HTTP/1.1's chunked transfer coding, the layer beneath, for clients
//! that speak HTTP over a plain socket. Both parsers read bytes from the network: they
//! are property-tested and fuzzed (`core/fuzz`), and bound what they buffer.

use thiserror::Error;

/// The media type of both bodies.
pub const CONTENT_TYPE: &str = "application/vnd.paas.run-stream";

/// The largest payload a frame may carry (1 MiB).
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// The bytes before a frame's payload: kind and length.
pub const HEADER_LEN: usize = 5;

const START: u8 = 0;
const STDIN: u8 = 1;
const STDOUT: u8 = 2;
const STDERR: u8 = 3;
const EXIT: u8 = 4;
const RESIZE: u8 = 5;
const ERROR: u8 = 6;

/// One frame of the run stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The request, JSON: what to run (client to controller, first and once).
    Start(Vec<u8>),
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
            Frame::Start(_) => START,
            Frame::Stdin(_) => STDIN,
            Frame::Stdout(_) => STDOUT,
            Frame::Stderr(_) => STDERR,
            Frame::Exit(_) => EXIT,
            Frame::Resize { .. } => RESIZE,
            Frame::Error(_) => ERROR,
        }
    }

    /// Appends the frame's bytes to `out`. A payload over [`MAX_PAYLOAD`] is split into
    /// several frames of the same kind (for `Start` and `Error`, which are one frame,
    /// the caller keeps them small).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let put = |out: &mut Vec<u8>, kind: u8, payload: &[u8]| {
            out.push(kind);
            // At most MAX_PAYLOAD, which fits.
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(payload);
        };
        let kind = self.kind();
        match self {
            Frame::Start(bytes) | Frame::Stdin(bytes) | Frame::Stdout(bytes) | Frame::Stderr(bytes) => {
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
    if kind > ERROR {
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
        START => Frame::Start(payload.to_vec()),
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

/// HTTP/1.1's chunked transfer coding (RFC 9112, section 7.1): the encoder and an
/// incremental decoder. Chunk extensions and trailers are read and ignored.
pub mod chunked {
    use thiserror::Error;

    /// The longest size line (digits, extensions) or trailer line read, in bytes.
    pub const MAX_LINE: usize = 4096;

    /// The largest chunk accepted: 16 MiB.
    pub const MAX_CHUNK: u64 = 16 * 1024 * 1024;

    /// Appends `data` as one chunk; nothing for empty data (an empty chunk would end the
    /// body: see [`encode_last`]).
    pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the last chunk, which ends the body.
    pub fn encode_last(out: &mut Vec<u8>) {
        out.extend_from_slice(b"0\r\n\r\n");
    }

    /// Why bytes are not a chunked body.
    #[derive(Debug, Clone, PartialEq, Eq, Error)]
    pub enum ChunkedError {
        /// A size line that is not hex digits (and extensions) ending in CRLF.
        #[error("a chunk size line is malformed")]
        BadSize,
        /// A chunk over [`MAX_CHUNK`].
        #[error("a chunk is larger than {MAX_CHUNK} bytes")]
        TooLarge,
        /// A chunk's data not followed by CRLF.
        #[error("a chunk does not end with CRLF")]
        BadChunkEnd,
        /// A size or trailer line over [`MAX_LINE`].
        #[error("a chunk size or trailer line is over {MAX_LINE} bytes")]
        LineTooLong,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum State {
        Size { value: u64, digits: usize },
        Extension { value: u64, read: usize },
        SizeLf { value: u64 },
        Data { left: u64 },
        DataCr,
        DataLf,
        TrailerStart,
        Trailer { read: usize },
        EndLf,
        Done,
    }

    /// Decodes a chunked body as its bytes arrive.
    #[derive(Debug, Clone)]
    pub struct ChunkedDecoder {
        state: State,
    }

    impl Default for ChunkedDecoder {
        fn default() -> Self {
            Self { state: State::Size { value: 0, digits: 0 } }
        }
    }

    impl ChunkedDecoder {
        /// A decoder at the start of a body.
        pub fn new() -> Self {
            Self::default()
        }

        /// Whether the last chunk and the trailers have been read.
        pub fn is_done(&self) -> bool {
            self.state == State::Done
        }

        /// Decodes `input`, appending the body's data to `out`; returns how many bytes
        /// of `input` it used, which is all of them unless the body ended within them.
        pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkedError> {
            let mut i = 0;
            while i < input.len() {
                let byte = input[i];
                self.state = match self.state {
                    State::Done => return Ok(i),
                    State::Data { left } => {
                        let available = (input.len() - i) as u64;
                        let take = left.min(available) as usize;
                        out.extend_from_slice(&input[i..i + take]);
                        i += take;
                        let left = left - take as u64;
                        self.state = if left == 0 { State::DataCr } else { State::Data { left } };
                        continue;
                    }
                    State::Size { value, digits } => match byte {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let digit = (byte as char).to_digit(16).map_or(0, u64::from);
                            let value = value * 16 + digit;
                            if value > MAX_CHUNK {
                                return Err(ChunkedError::TooLarge);
                            }
                            if digits >= MAX_LINE {
                                return Err(ChunkedError::LineTooLong);
                            }
                            State::Size { value, digits: digits + 1 }
                        }
                        b';' | b' ' | b'\t' if digits > 0 => State::Extension { value, read: digits + 1 },
                        b'\r' if digits > 0 => State::SizeLf { value },
                        _ => return Err(ChunkedError::BadSize),
                    },
                    State::Extension { value, read } => match byte {
                        b'\r' => State::SizeLf { value },
                        b'\n' => return Err(ChunkedError::BadSize),
                        _ if read >= MAX_LINE => return Err(ChunkedError::LineTooLong),
                        _ => State::Extension { value, read: read + 1 },
                    },
                    State::SizeLf { value } => match byte {
                        b'\n' if value == 0 => State::TrailerStart,
                        b'\n' => State::Data { left: value },
                        _ => return Err(ChunkedError::BadSize),
                    },
                    State::DataCr => match byte {
                        b'\r' => State::DataLf,
                        _ => return Err(ChunkedError::BadChunkEnd),
                    },
                    State::DataLf => match byte {
                        b'\n' => State::Size { value: 0, digits: 0 },
                        _ => return Err(ChunkedError::BadChunkEnd),
                    },
                    State::TrailerStart => match byte {
                        b'\r' => State::EndLf,
                        _ => State::Trailer { read: 1 },
                    },
                    State::Trailer { read } => match byte {
                        b'\n' => State::TrailerStart,
                        _ if read >= MAX_LINE => return Err(ChunkedError::LineTooLong),
                        _ => State::Trailer { read: read + 1 },
                    },
                    State::EndLf => match byte {
                        b'\n' => State::Done,
                        _ => return Err(ChunkedError::BadChunkEnd),
                    },
                };
                i += 1;
            }
            Ok(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunked::{encode_chunk, encode_last, ChunkedDecoder, ChunkedError};
    use super::*;
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
    fn chunked_reads_extensions_and_trailers() {
        let body = b"5;name=x\r\nhello\r\n1\r\n!\r\n0\r\nExpires: never\r\n\r\nNEXT";
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let used = decoder.decode(body, &mut out).unwrap();
        assert_eq!(out, b"hello!");
        assert!(decoder.is_done());
        assert_eq!(&body[used..], b"NEXT");
    }

    #[test]
    fn bad_chunked_bodies_are_refused() {
        for (body, want) in [
            (&b"x\r\n"[..], ChunkedError::BadSize),
            (b"\r\n", ChunkedError::BadSize),
            (b"2\r\nhiX", ChunkedError::BadChunkEnd),
            (b"1000001\r\n", ChunkedError::TooLarge),
            (b"1\n", ChunkedError::BadSize),
        ] {
            let mut out = Vec::new();
            assert_eq!(ChunkedDecoder::new().decode(body, &mut out), Err(want), "{body:?}");
        }
    }

    fn frame() -> impl Strategy<Value = Frame> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            bytes().prop_map(Frame::Start),
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
        fn chunked_round_trips_however_the_bytes_are_cut(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..10),
            cuts in proptest::collection::vec(1usize..7, 1..20),
        ) {
            let mut body = Vec::new();
            for p in &pieces {
                encode_chunk(p, &mut body);
            }
            encode_last(&mut body);
            let mut decoder = ChunkedDecoder::new();
            let mut out = Vec::new();
            let mut rest = &body[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                let used = decoder.decode(&rest[..n], &mut out).unwrap();
                prop_assert_eq!(used, n);
                rest = &rest[n..];
            }
            prop_assert!(decoder.is_done());
            prop_assert_eq!(out, pieces.concat());
        }

        #[test]
        fn chunked_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            if let Ok(used) = ChunkedDecoder::new().decode(&bytes, &mut out) {
                prop_assert!(used <= bytes.len());
                prop_assert!(out.len() <= bytes.len());
            }
        }
    }
}
