//! Feeds arbitrary client bytes to the router's head scanner, whole and split in two
//! at a point the input chooses: the outcome never depends on how the bytes arrive,
//! nothing passes after a fault, and only a refused head adds bytes (the poison).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paas_router::head_scan::{Fault, HeadScanner, POISON};

fn scan(pieces: &[&[u8]]) -> (Vec<u8>, Option<Fault>) {
    let mut scanner = HeadScanner::new();
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(fault) = scanner.feed(piece, &mut out) {
            let passed = out.len();
            assert_eq!(scanner.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out), Err(fault));
            assert_eq!(out.len(), passed, "nothing passes after a fault");
            assert_eq!(scanner.fault(), Some(fault));
            return (out, Some(fault));
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&at, input)) = data.split_first() else { return };
    let cut = usize::from(at) * input.len() / 255;
    let whole = scan(&[input]);
    assert_eq!(scan(&[&input[..cut], &input[cut..]]), whole);
    let (out, fault) = whole;
    match fault {
        Some(fault) if fault.in_head() => {
            assert!(out.ends_with(POISON));
            assert!(out.len() - POISON.len() <= input.len());
        }
        _ => assert!(out.len() <= input.len()),
    }
});
