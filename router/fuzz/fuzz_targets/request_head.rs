//! Feeds arbitrary client bytes to the router's request head reader, whole and split
//! in two at a point the input chooses: the head ends at the same byte (or is refused
//! for the same fault) however the bytes arrive, never past the input, and a head
//! found is read or refused without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use paas_router::request_head::{head_end, parse_request_head, MAX_HEAD_BYTES};

fuzz_target!(|data: &[u8]| {
    let Some((&at, input)) = data.split_first() else { return };
    let cut = usize::from(at) * input.len() / 255;
    let whole = head_end(input, &mut 0);
    let mut scanned = 0;
    let split = match head_end(&input[..cut], &mut scanned) {
        Ok(None) => {
            assert!(scanned <= cut);
            head_end(input, &mut scanned)
        }
        found => found,
    };
    assert_eq!(whole, split);
    if let Ok(Some(end)) = whole {
        assert!(end <= input.len() && end <= MAX_HEAD_BYTES && input[..end].ends_with(b"\r\n\r\n"));
        if let Ok(head) = parse_request_head(&Bytes::copy_from_slice(&input[..end])) {
            assert!(head.headers.len() <= 100);
        }
    }
});
