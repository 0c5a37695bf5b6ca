//! Feeds arbitrary process bytes to the router's HTTP/1.1 client parsers: as a
//! response head (a prefix of a head is never complete, a head parsed whole parses
//! the same with bytes after it, the body framing is one the head allows) and as a
//! chunked body, whole and in pieces the input chooses (the same data and end either
//! way, never more data than input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paas_router::upstream_wire::{parse_response_head, ChunkedDecoder, Decoded, Framing};

/// Decodes `input` in steps of `piece` bytes: the data and where the body ended.
fn decode(input: &[u8], piece: usize) -> Result<(Vec<u8>, Option<usize>), String> {
    let mut decoder = ChunkedDecoder::new();
    let (mut data, mut at, mut end) = (Vec::new(), 0, piece.min(input.len()));
    loop {
        let (taken, decoded) = decoder.decode(&input[at..end]).map_err(|e| e.to_string())?;
        assert!(taken <= end - at);
        match decoded {
            Decoded::Data(range) => {
                assert!(range.end <= taken && !range.is_empty());
                data.extend_from_slice(&input[at + range.start..at + range.end]);
            }
            Decoded::End => return Ok((data, Some(at + taken))),
            Decoded::NeedMore if end == input.len() => return Ok((data, None)),
            Decoded::NeedMore => assert_eq!(taken, end - at, "framing is taken whole"),
        }
        at += taken;
        if at == end {
            end = (end + piece).min(input.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&at, input)) = data.split_first() else { return };
    let method = if at % 2 == 0 { hyper::Method::GET } else { hyper::Method::HEAD };
    if let Ok(Some((head, len))) = parse_response_head(input, &method) {
        assert!(len <= input.len());
        for cut in [0, len / 2, len.saturating_sub(1)] {
            if cut < len {
                assert!(!matches!(parse_response_head(&input[..cut], &method), Ok(Some(_))));
            }
        }
        if method == hyper::Method::HEAD || head.status.is_informational() {
            assert_eq!(head.framing, Framing::Empty);
        }
        if head.framing == Framing::UntilClose {
            assert!(!head.keep_alive);
        }
    }
    let piece = usize::from(at).max(1);
    let whole = decode(input, input.len().max(1));
    assert_eq!(decode(input, piece), whole);
    if let Ok((body, end)) = whole {
        assert!(body.len() <= end.unwrap_or(input.len()));
    }
});
