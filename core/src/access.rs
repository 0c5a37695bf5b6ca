//! The router's access lines: one [`AccessRecord`] per request it answered for an app,
//! sent to the controller in batches ([`ACCESS_PATH`], a JSON [`AccessBatch`]) and shown
//! among the app's logs Heroku style:
//!
//! ```text
//! 2026-12-01T20:31:02.123456Z paas[router]: at=info method=GET path="/" host=hello.localhost request_id=4f1c… fwd="127.0.0.1" dyno=web.2 service=3ms status=200 bytes=12
//! ```
//!
//! A batch comes from the network, so [`AccessBatch::decode`] bounds its size, its
//! record count and every string in it, and [`AccessRecord::render`] escapes what a
//! client sent (method, path, host, request id), so no request can add a line of its
//! own to the log.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::AppName;

/// Where routers post their batches on the controller.
pub const ACCESS_PATH: &str = "/v1/internal/access";
/// The largest batch body the controller reads.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The most records in one batch.
pub const MAX_BATCH_RECORDS: usize = 2000;
/// The longest string field a record may carry (a path is cut to this by the router).
pub const MAX_FIELD_LEN: usize = 2048;

/// One request the router answered for an app.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccessRecord {
    /// When the request arrived: nanoseconds since the Unix epoch.
    pub at: i64,
    /// The app whose route the host matched.
    pub app: AppName,
    /// The request method, as the client sent it.
    pub method: String,
    /// The host, as the client sent it.
    pub host: String,
    /// The path and query.
    pub path: String,
    /// The status the client got.
    pub status: u16,
    /// The response body's bytes sent to the client.
    pub bytes: u64,
    /// From the request's arrival to the response's last byte, in microseconds.
    pub service_us: u64,
    /// The process that answered (`web.2`); none when no process was asked.
    pub upstream: Option<String>,
    /// The request's id (`X-Request-Id`).
    pub request_id: String,
    /// The client's address as the router saw it.
    pub client: String,
}

/// An [`AccessRecord`] borrowed from wherever its fields are: what the JSON of a
/// record is made from, so that a router encodes its requests' records without first
/// copying every field into one.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AccessRecordView<'a> {
    pub at: i64,
    pub app: &'a AppName,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub service_us: u64,
    pub upstream: Option<&'a str>,
    pub request_id: &'a str,
    pub client: &'a str,
}

impl Serialize for AccessRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

impl AccessRecord {
    /// The record, borrowed.
    pub fn view(&self) -> AccessRecordView<'_> {
        AccessRecordView {
            at: self.at,
            app: &self.app,
            method: &self.method,
            host: &self.host,
            path: &self.path,
            status: self.status,
            bytes: self.bytes,
            service_us: self.service_us,
            upstream: self.upstream.as_deref(),
            request_id: &self.request_id,
            client: &self.client,
        }
    }

    /// The line's text, without time and source: `at=info method=GET path="/" …`.
    /// `at=error` for the router's own 5xx answers (no process answered). Every field a
    /// client chose is quoted or escaped, so the text never holds a line break.
    pub fn render(&self) -> String {
        let level = if self.status >= 500 && self.upstream.is_none() { "error" } else { "info" };
        let mut out = String::with_capacity(160);
        let _ = write!(out, "at={level} method=");
        push_bare(&mut out, &self.method);
        out.push_str(" path=");
        push_quoted(&mut out, &self.path);
        out.push_str(" host=");
        push_bare(&mut out, &self.host);
        out.push_str(" request_id=");
        push_bare(&mut out, &self.request_id);
        out.push_str(" fwd=");
        push_quoted(&mut out, &self.client);
        out.push_str(" dyno=");
        push_bare(&mut out, self.upstream.as_deref().unwrap_or("none"));
        let _ =
            write!(out, " service={}ms status={} bytes={}", self.service_us / 1000, self.status, self.bytes);
        out
    }
}

/// Appends `value` as one token: characters other than printable ASCII (and space,
/// `"` and `\`) as `\xNN` or `\u{…}` escapes; `-` when empty.
fn push_bare(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('-');
        return;
    }
    for c in value.chars() {
        match c {
            '!' | '#'..='[' | ']'..='~' => out.push(c),
            c => push_escape(out, c),
        }
    }
}

/// Appends `value` in double quotes, with `"`, `\` and control characters escaped.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => push_escape(out, c),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_escape(out: &mut String, c: char) {
    if c.is_ascii() {
        let _ = write!(out, "\\x{:02x}", u32::from(c));
    } else {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    }
}

/// What a router posts to [`ACCESS_PATH`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessBatch {
    /// The records, oldest first.
    pub records: Vec<AccessRecord>,
    /// How many records the router dropped since its last batch (its queue was full).
    #[serde(default)]
    pub dropped: u64,
}

/// One record's JSON, made where the record's fields are (a router makes it as its
/// request ends) and added to a batch later by [`BatchEncoder::push`].
#[derive(Debug, Clone)]
pub struct EncodedRecord(Vec<u8>);

impl EncodedRecord {
    /// The record's JSON: the bytes `serde_json` makes of the [`AccessRecordView`],
    /// written by hand (a router makes one per request: the names are written as they
    /// are, and most strings need no escaping).
    pub fn new(record: &AccessRecordView<'_>) -> Self {
        // Room for the names, numbers and short fields, and the long ones as they are:
        // one allocation for most records.
        let mut json = Vec::with_capacity(RECORD_JSON_BYTES + record.path.len() + record.host.len());
        let mut numbers = itoa::Buffer::new();
        json.extend_from_slice(b"{\"at\":");
        json.extend_from_slice(numbers.format(record.at).as_bytes());
        for (name, value) in [
            (&b",\"app\":"[..], record.app.as_str()),
            (b",\"method\":", record.method),
            (b",\"host\":", record.host),
            (b",\"path\":", record.path),
        ] {
            json.extend_from_slice(name);
            push_json_string(&mut json, value);
        }
        json.extend_from_slice(b",\"status\":");
        json.extend_from_slice(numbers.format(record.status).as_bytes());
        json.extend_from_slice(b",\"bytes\":");
        json.extend_from_slice(numbers.format(record.bytes).as_bytes());
        json.extend_from_slice(b",\"service_us\":");
        json.extend_from_slice(numbers.format(record.service_us).as_bytes());
        json.extend_from_slice(b",\"upstream\":");
        match record.upstream {
            Some(upstream) => push_json_string(&mut json, upstream),
            None => json.extend_from_slice(b"null"),
        }
        json.extend_from_slice(b",\"request_id\":");
        push_json_string(&mut json, record.request_id);
        json.extend_from_slice(b",\"client\":");
        push_json_string(&mut json, record.client);
        json.push(b'}');
        Self(json)
    }
}

/// Whether any of eight bytes is below 0x20, a quote or a backslash (the bit tricks of
/// "Bit Twiddling Hacks": a byte less than n, a byte equal to zero).
fn word_needs_escape(word: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let is = |byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    below_space | is(b'"') | is(b'\\') != 0
}

/// `text` as a JSON string, escaped as `serde_json` escapes it: a backslash before a
/// quote or a backslash, the short escapes of backspace, form feed, LF, CR and tab,
/// `\u00xx` for other control characters; the rest as it is (UTF-8).
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let needs_escape = |b: &u8| *b < 0x20 || *b == b'"' || *b == b'\\';
    // Most strings have nothing to escape: one quick look (eight bytes at a time),
    // then one copy.
    let clean = bytes.chunks_exact(8).take_while(|word| !word_needs_escape(word)).count() * 8;
    let Some(first) = bytes[clean..].iter().position(needs_escape).map(|at| clean + at) else {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    };
    out.extend_from_slice(&bytes[..first]);
    let mut plain = first;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..0x20 => &[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        out.extend_from_slice(escape);
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

/// An [`AccessBatch`]'s body, put together a record at a time as the records come: a
/// router spreads the cost of encoding over its requests instead of stopping for a
/// whole batch at once, keeps no record once it is encoded, and never makes a body
/// the controller refuses. [`BatchEncoder::finish`] gives what [`AccessBatch::encode`]
/// gives for the same records.
#[derive(Debug)]
pub struct BatchEncoder {
    body: Vec<u8>,
    records: usize,
}

/// A record's JSON beside its path and host: names and punctuation (about 110 bytes),
/// the numbers, app, method, process, a UUID request id and an IPv6 client, with room
/// to spare.
const RECORD_JSON_BYTES: usize = 320;
/// Room kept at the end of a batch for `],"dropped":N}`.
const BATCH_TAIL_BYTES: usize = 40;

impl Default for BatchEncoder {
    fn default() -> Self {
        Self { body: br#"{"records":["#.to_vec(), records: 0 }
    }
}

impl BatchEncoder {
    /// An empty batch with room for `bytes` of records (a router sizes it by its last
    /// batch, so that a batch rarely grows, copying what it holds, as it fills).
    pub fn with_capacity(bytes: usize) -> Self {
        let mut batch = Self::default();
        batch.body.reserve(bytes.min(MAX_BATCH_BYTES));
        batch
    }

    /// Adds `record`; false, and nothing added, when the batch is full: it has
    /// [`MAX_BATCH_RECORDS`] records, or would grow past [`MAX_BATCH_BYTES`] with this
    /// one. A first record always fits: a record's fields are at most
    /// [`MAX_FIELD_LEN`] bytes each.
    pub fn push(&mut self, record: &EncodedRecord) -> bool {
        if self.records == MAX_BATCH_RECORDS {
            return false;
        }
        if self.records > 0 {
            if self.body.len() + 1 + record.0.len() + BATCH_TAIL_BYTES > MAX_BATCH_BYTES {
                return false;
            }
            self.body.push(b',');
        }
        self.body.extend_from_slice(&record.0);
        self.records += 1;
        true
    }

    /// How many records the batch has.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the batch has no record.
    /// How many bytes the batch's body has so far.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The batch's body, saying that `dropped` records were dropped since the last one.
    pub fn finish(mut self, dropped: u64) -> Vec<u8> {
        self.body.extend_from_slice(br#"],"dropped":"#);
        self.body.extend_from_slice(dropped.to_string().as_bytes());
        self.body.push(b'}');
        self.body
    }
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessBatchError {
    /// Over [`MAX_BATCH_BYTES`].
    #[error("the batch is over {MAX_BATCH_BYTES} bytes")]
    TooLarge,
    /// Over [`MAX_BATCH_RECORDS`].
    #[error("the batch has over {MAX_BATCH_RECORDS} records")]
    TooManyRecords,
    /// A string over [`MAX_FIELD_LEN`].
    #[error("record {0} has a field over {MAX_FIELD_LEN} bytes")]
    FieldTooLong(usize),
    /// Not JSON of the batch's shape.
    #[error("not an access batch: {0}")]
    Malformed(String),
}

impl AccessBatch {
    /// The batch as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a batch is plain data")
    }

    /// Reads a batch from a request body, within the limits above.
    pub fn decode(body: &[u8]) -> Result<Self, AccessBatchError> {
        if body.len() > MAX_BATCH_BYTES {
            return Err(AccessBatchError::TooLarge);
        }
        let batch: Self =
            serde_json::from_slice(body).map_err(|e| AccessBatchError::Malformed(e.to_string()))?;
        if batch.records.len() > MAX_BATCH_RECORDS {
            return Err(AccessBatchError::TooManyRecords);
        }
        for (i, r) in batch.records.iter().enumerate() {
            let fields = [&r.method, &r.host, &r.path, &r.request_id, &r.client];
            if fields.iter().any(|f| f.len() > MAX_FIELD_LEN)
                || r.upstream.as_ref().is_some_and(|u| u.len() > MAX_FIELD_LEN)
            {
                return Err(AccessBatchError::FieldTooLong(i));
            }
        }
        Ok(batch)
    }
}

/// `value` cut to at most [`MAX_FIELD_LEN`] bytes, at a character boundary.
pub fn truncate_field(value: &str) -> &str {
    if value.len() <= MAX_FIELD_LEN {
        return value;
    }
    let mut end = MAX_FIELD_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record() -> AccessRecord {
        AccessRecord {
            at: 1_764_620_000_000_000_000,
            app: AppName::parse("hello").unwrap(),
            method: "GET".into(),
            host: "hello.localhost".into(),
            path: "/?q=1".into(),
            status: 200,
            bytes: 12,
            service_us: 3_400,
            upstream: Some("web.2".into()),
            request_id: "abc".into(),
            client: "127.0.0.1".into(),
        }
    }

    #[test]
    fn a_line_reads_like_herokus() {
        expect_test::expect![[r#"at=info method=GET path="/?q=1" host=hello.localhost request_id=abc fwd="127.0.0.1" dyno=web.2 service=3ms status=200 bytes=12"#]]
            .assert_eq(&record().render());
        let none = AccessRecord { status: 503, upstream: None, bytes: 0, ..record() };
        assert!(none.render().starts_with("at=error "), "{}", none.render());
        assert!(none.render().contains(" dyno=none "));
    }

    #[test]
    fn what_a_client_sent_is_escaped() {
        let evil = AccessRecord {
            method: "GET\n2026 app[web.1]: forged".into(),
            path: "/\"x\\\r\n".into(),
            host: "h ost".into(),
            request_id: String::new(),
            ..record()
        };
        let text = evil.render();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert!(text.contains(r#"path="/\"x\\\x0d\x0a""#), "{text}");
        assert!(text.contains("host=h\\x20ost request_id=- "), "{text}");
    }

    #[test]
    fn batches_round_trip_and_limits_hold() {
        let batch = AccessBatch { records: vec![record(), record()], dropped: 3 };
        assert_eq!(AccessBatch::decode(&batch.encode()).unwrap(), batch);
        let many = AccessBatch { records: vec![record(); MAX_BATCH_RECORDS + 1], dropped: 0 };
        assert_eq!(AccessBatch::decode(&many.encode()), Err(AccessBatchError::TooManyRecords));
        let long = AccessBatch {
            records: vec![AccessRecord { path: "x".repeat(MAX_FIELD_LEN + 1), ..record() }],
            dropped: 0,
        };
        assert_eq!(AccessBatch::decode(&long.encode()), Err(AccessBatchError::FieldTooLong(0)));
        let bad_app = br#"{"records":[{"at":1,"app":"Not An App","method":"GET","host":"h","path":"/","status":200,"bytes":0,"service_us":0,"upstream":null,"request_id":"r","client":"c"}]}"#;
        assert!(matches!(AccessBatch::decode(bad_app), Err(AccessBatchError::Malformed(_))));
        assert_eq!(AccessBatch::decode(&vec![b' '; MAX_BATCH_BYTES + 1]), Err(AccessBatchError::TooLarge));
    }

    #[test]
    fn a_batch_encoded_record_by_record_is_the_batch_and_stays_within_the_limits() {
        let mut encoder = BatchEncoder::default();
        assert!(encoder.is_empty());
        let records = vec![record(), AccessRecord { upstream: None, path: "/\"é\n".into(), ..record() }];
        for record in &records {
            assert!(encoder.push(&EncodedRecord::new(&record.view())));
        }
        assert_eq!(encoder.len(), 2);
        let batch = AccessBatch { records, dropped: 7 };
        assert_eq!(encoder.finish(7), batch.encode());
        assert_eq!(BatchEncoder::default().finish(0), AccessBatch::default().encode());

        let mut full = BatchEncoder::default();
        let one = EncodedRecord::new(&record().view());
        while full.push(&one) {}
        assert_eq!(full.len(), MAX_BATCH_RECORDS);
        assert_eq!(AccessBatch::decode(&full.finish(0)).unwrap().records.len(), MAX_BATCH_RECORDS);

        // Long fields fill the bytes before the count: every body is one the controller reads.
        let long =
            AccessRecord { path: "/".repeat(MAX_FIELD_LEN), host: "h".repeat(MAX_FIELD_LEN), ..record() };
        let mut big = BatchEncoder::default();
        let long = EncodedRecord::new(&long.view());
        while big.push(&long) {}
        assert!(big.len() < MAX_BATCH_RECORDS, "{} records", big.len());
        let body = big.finish(u64::MAX);
        assert!(body.len() <= MAX_BATCH_BYTES);
        assert_eq!(AccessBatch::decode(&body).unwrap().dropped, u64::MAX);
    }

    proptest::proptest! {
        #[test]
        fn a_record_is_encoded_as_serde_json_encodes_it(
            at in proptest::prelude::any::<i64>(),
            method in "\\PC{0,8}",
            path in proptest::prelude::any::<String>(),
            host in "[\\x00-\\x7f]{0,20}",
            status in proptest::prelude::any::<u16>(),
            bytes in proptest::prelude::any::<u64>(),
            service_us in proptest::prelude::any::<u64>(),
            upstream in proptest::option::of("[a-z]{1,5}\\.[0-9]{1,3}"),
            request_id in "[\\x00-\\x20\"\\\\a-f0-9-]{0,40}",
        ) {
            let record = AccessRecord { at, method, path, host, status, bytes, service_us, upstream, request_id, ..record() };
            let view = record.view();
            proptest::prop_assert_eq!(EncodedRecord::new(&view).0, serde_json::to_vec(&view).unwrap());
        }
    }

    #[test]
    fn fields_are_cut_at_a_character_boundary() {
        let s = "é".repeat(MAX_FIELD_LEN);
        let cut = truncate_field(&s);
        assert!(cut.len() <= MAX_FIELD_LEN && cut.len() >= MAX_FIELD_LEN - 1);
        assert_eq!(truncate_field("/short"), "/short");
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = AccessBatch::decode(&bytes);
        }

        #[test]
        fn rendered_lines_are_one_line(method in "(?s).{0,40}", path in "(?s).{0,40}", host in "(?s).{0,40}", id in "(?s).{0,40}") {
            let r = AccessRecord { method, path, host, request_id: id, ..record() };
            let text = r.render();
            prop_assert!(!text.contains('\n') && !text.contains('\r'));
            prop_assert!(text.starts_with("at=info method="));
        }

        #[test]
        fn records_round_trip(path in ".{0,64}", status in 100u16..600, bytes in any::<u64>(), at in any::<i64>()) {
            let batch = AccessBatch { records: vec![AccessRecord { path, status, bytes, at, ..record() }], dropped: 0 };
            prop_assert_eq!(AccessBatch::decode(&batch.encode()).unwrap(), batch);
        }
    }
}
