//! Feeds arbitrary bytes to the run stream's parsers, the frames and the `Paas-Run`
//! request header: they must never panic, every frame read must lie inside the buffer
//! and re-encode to the same bytes, the same bytes in two pieces give the same frames,
//! and every request read, written out again, reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paas_core::run_stream::{self, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = run_stream::decode(rest) {
        assert!((run_stream::HEADER_LEN..=rest.len()).contains(&used));
        assert_eq!(frame.to_bytes(), &rest[..used]);
        rest = &rest[used..];
    }

    // The same bytes in two pieces give the same frames.
    let mut whole = FrameDecoder::new();
    whole.push(data);
    let mut split = FrameDecoder::new();
    let (a, b) = data.split_at(data.len() / 2);
    split.push(a);
    let mut from_split = Vec::new();
    while let Ok(Some(frame)) = split.next_frame() {
        from_split.push(frame);
    }
    split.push(b);
    while let Ok(Some(frame)) = split.next_frame() {
        from_split.push(frame);
    }
    let mut from_whole = Vec::new();
    while let Ok(Some(frame)) = whole.next_frame() {
        from_whole.push(frame);
    }
    assert_eq!(from_whole, from_split);

    if let Ok(request) = run_stream::decode_request(data) {
        // Written out again (defaults included, so possibly longer), it reads the same.
        match run_stream::encode_request(&request) {
            Ok(again) => assert_eq!(run_stream::decode_request(again.as_bytes()).as_ref(), Ok(&request)),
            Err(e) => assert!(matches!(e, run_stream::RequestError::TooLong(_))),
        }
    }
});
