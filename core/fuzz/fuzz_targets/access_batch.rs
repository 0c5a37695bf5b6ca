//! Feeds arbitrary bytes to the access batch decoder: it must never panic, every batch
//! it accepts stays within the limits and renders to one line per record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paas_core::access::{AccessBatch, MAX_BATCH_RECORDS};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = AccessBatch::decode(data) {
        assert!(batch.records.len() <= MAX_BATCH_RECORDS);
        for record in &batch.records {
            let text = record.render();
            assert!(!text.contains('\n') && !text.contains('\r'));
        }
        assert_eq!(AccessBatch::decode(&batch.encode()).as_ref(), Ok(&batch));
    }
});
