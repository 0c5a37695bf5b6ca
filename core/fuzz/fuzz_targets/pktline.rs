//! Feeds arbitrary bytes to the pkt-line parser: it must never panic, and every line it
//! reads must lie inside the buffer and re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paas_core::pktline::{self, Pkt};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((pkt, used))) = pktline::parse(rest) {
        assert!((4..=rest.len()).contains(&used));
        if let Pkt::Data(payload) = pkt {
            let mut again = Vec::new();
            pktline::write_data(&mut again, payload).unwrap();
            assert!(again.eq_ignore_ascii_case(&rest[..used]));
        }
        rest = &rest[used..];
    }
});
