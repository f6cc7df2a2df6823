//! Engine.IO HTTP long-polling payloads: packets joined by `\x1e`.
#![no_main]

use confab_protocol::engineio::{self, RECORD_SEPARATOR};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = engineio::decode_payload(data) {
        let records = data.iter().filter(|&&b| b == RECORD_SEPARATOR).count() + 1;
        assert_eq!(packets.len(), records);
    }
});
