//! Access lines: one [`AccessRecord`](paas_core::access::AccessRecord) per request
//! answered for an app, shipped to the controller, which shows them among the app's
//! logs (`paas logs`), and written to the router's own log (target
//! `paas_router::access`).
//!
//! A shipped record is written to the router's own log only at debug level
//! (`PAAS_LOG=paas_router::access=debug`): the app's log stream is where access lines
//! are read, and at production rates they would fill the router's log, which is only
//! rotated when a router starts. Without a feed they are logged at info.
//!
//! While its request runs, a record is a [`RequestLine`], which shares what it can with
//! the request and its route instead of copying it. It is finished when the response
//! body is done (or the client went away), so it carries the bytes sent and the whole
//! service time: [`AccessLog::wrap`] puts a counting body around the response. Then it
//! is encoded at once ([`EncodedRecord`]: the cost is spread over the requests, and
//! nothing of the request is kept) and waits in a bounded queue; a shipper task puts
//! the records together into batches ([`BatchEncoder`]) and posts them to the
//! controller's [`ACCESS_PATH`](paas_core::access::ACCESS_PATH) with the feed's token.
//! A full queue or an unreachable controller costs records, never a request: the loss
//! is counted, logged and reported with the next batch.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::http::uri::PathAndQuery;
use hyper::http::HeaderValue;
use hyper::Method;
use hyper::Response;
use paas_core::access::{self, AccessRecordView, BatchEncoder, EncodedRecord, ACCESS_PATH};
use paas_core::AppName;
use tokio::sync::{mpsc, watch};

use crate::config::FeedConfig;
use crate::controller::Controller;
use crate::headers::Peer;
use crate::proxy::ProxyBody;

/// How many records may wait for the shipper.
const QUEUE: usize = 8192;
/// How long the shipper gathers records before it posts what it has.
const LINGER: Duration = Duration::from_millis(200);

/// Writes `$record` to the router's log at `$level`.
macro_rules! log_record {
    ($level:expr, $record:expr) => {
        tracing::event!(
            target: "paas_router::access",
            $level,
            app = %$record.app,
            method = %$record.method,
            host = %$record.host,
            path = %$record.path,
            status = $record.status,
            bytes = $record.bytes,
            us = $record.service_us,
            process = $record.upstream.unwrap_or("-"),
            request_id = %$record.request_id,
        )
    };
}

/// A request's access line while the request runs: the parts of the request and its
/// route it shares (no copies), written out as an [`AccessRecordView`] when it ends.
pub(crate) struct RequestLine {
    /// When the request arrived: nanoseconds since the Unix epoch.
    pub at: i64,
    pub app: Arc<AppName>,
    pub method: Method,
    /// The host, normalised.
    pub host: String,
    pub path: Option<PathAndQuery>,
    pub status: u16,
    pub bytes: u64,
    pub service_us: u64,
    /// The process that answered, if one was asked.
    pub upstream: Option<Arc<str>>,
    pub request_id: Option<HeaderValue>,
    pub client: Peer,
}

impl RequestLine {
    /// The line as a record, its client-sent fields cut to the record's limit.
    fn view(&self) -> AccessRecordView<'_> {
        AccessRecordView {
            at: self.at,
            app: &self.app,
            method: access::truncate_field(self.method.as_str()),
            host: access::truncate_field(&self.host),
            path: access::truncate_field(self.path.as_ref().map_or("", PathAndQuery::as_str)),
            status: self.status,
            bytes: self.bytes,
            service_us: self.service_us,
            upstream: self.upstream.as_deref(),
            request_id: access::truncate_field(
                self.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
            ),
            client: self.client.ip_text(),
        }
    }
}

/// Where finished records go: the router's log and, with a feed, the shipper's queue.
#[derive(Clone)]
pub(crate) struct AccessLog {
    queue: Option<mpsc::Sender<EncodedRecord>>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// An access log that only writes the router's own log.
    pub fn local() -> Self {
        Self { queue: None, dropped: Arc::new(AtomicU64::new(0)) }
    }

    /// An access log that also ships to the controller of `feed`, and the shipper to
    /// run; it posts what is queued once more when `stop` changes, then ends.
    pub fn shipping(
        feed: &FeedConfig,
        stop: watch::Receiver<()>,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let shipper = Shipper::new(feed, dropped.clone());
        (Self { queue: Some(tx), dropped }, shipper.run(rx, stop))
    }

    /// The response, with a body that finishes `record` when it is done.
    pub fn wrap(
        &self,
        response: Response<ProxyBody>,
        record: RequestLine,
        started: Instant,
    ) -> Response<ProxyBody> {
        let (parts, body) = response.into_parts();
        let mut record = record;
        record.status = parts.status.as_u16();
        let counted =
            CountingBody { inner: body, pending: Some(Pending { record, started, log: self.clone() }) };
        Response::from_parts(parts, counted.boxed())
    }

    fn finish(&self, line: &RequestLine) {
        let record = line.view();
        match &self.queue {
            Some(queue) => {
                // Shipped lines reach the router's log only when asked for
                // (`PAAS_LOG=paas_router::access=debug`).
                log_record!(tracing::Level::DEBUG, record);
                if queue.try_send(EncodedRecord::new(&record)).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => log_record!(tracing::Level::INFO, record),
        }
    }
}

struct Pending {
    record: RequestLine,
    started: Instant,
    log: AccessLog,
}

/// A response body that counts the bytes it passes on and, when dropped (done, or the
/// client gone), hands its request's record to the access log.
struct CountingBody {
    inner: ProxyBody,
    pending: Option<Pending>,
}

impl Body for CountingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(pending)) = (&polled, &mut this.pending) {
            if let Some(data) = frame.data_ref() {
                pending.record.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountingBody {
    fn drop(&mut self) {
        if let Some(Pending { mut record, started, log }) = self.pending.take() {
            record.service_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            log.finish(&record);
        }
    }
}

/// Posts batches of records to the controller.
struct Shipper {
    controller: Controller,
    dropped: Arc<AtomicU64>,
}

impl Shipper {
    fn new(feed: &FeedConfig, dropped: Arc<AtomicU64>) -> Self {
        Self { controller: Controller::new(feed), dropped }
    }

    async fn run(self, mut queue: mpsc::Receiver<EncodedRecord>, mut stop: watch::Receiver<()>) {
        // Whether the last post failed: the next failure is not logged again.
        let mut failing = false;
        // A record the last batch had no room for: the next batch's first.
        let mut carried: Option<EncodedRecord> = None;
        // How large the last batch was: the next is made with that much room.
        let mut last_bytes = 0;
        loop {
            let mut batch = BatchEncoder::with_capacity(last_bytes);
            if let Some(record) = carried.take() {
                batch.push(&record);
            }
            if batch.is_empty() {
                tokio::select! {
                    received = queue.recv() => match received {
                        Some(record) => { batch.push(&record); }
                        None => break,
                    },
                    _ = stop.changed() => {
                        while let Ok(record) = queue.try_recv() {
                            if !batch.push(&record) {
                                self.post(std::mem::take(&mut batch), &mut failing).await;
                                batch.push(&record);
                            }
                        }
                        self.post(batch, &mut failing).await;
                        break;
                    }
                }
            }
            let linger = tokio::time::sleep(LINGER);
            tokio::pin!(linger);
            loop {
                tokio::select! {
                    received = queue.recv() => match received {
                        Some(record) if !batch.push(&record) => {
                            carried = Some(record);
                            break;
                        }
                        Some(_) => {}
                        None => break,
                    },
                    () = &mut linger => break,
                }
            }
            last_bytes = batch.bytes();
            self.post(batch, &mut failing).await;
        }
    }

    async fn post(&self, batch: BatchEncoder, failing: &mut bool) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if batch.is_empty() && dropped == 0 {
            return;
        }
        let count = batch.len() as u64;
        if dropped > 0 {
            tracing::warn!(dropped, "access lines were dropped: the queue to the controller was full");
        }
        let body = batch.finish(dropped);
        let outcome = self.controller.post_json(ACCESS_PATH, body).await;
        match outcome {
            Ok(()) => *failing = false,
            Err(error) => {
                if !*failing {
                    tracing::warn!(%error, lost = count, "cannot ship access lines to the controller; dropping them until it answers");
                }
                *failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::FeedUrl;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Request, StatusCode};
    use hyper_util::rt::TokioIo;
    use paas_core::access::{AccessBatch, MAX_BATCH_RECORDS, MAX_FIELD_LEN};

    /// A controller that keeps every access batch posted to it.
    async fn controller() -> (FeedConfig, Arc<Mutex<Vec<AccessBatch>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            FeedUrl::parse(&format!("http://{}/v1/internal/routes/watch", listener.local_addr().unwrap()));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let kept = batches.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let kept = kept.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let kept = kept.clone();
                    async move {
                        assert_eq!(req.uri().path(), ACCESS_PATH);
                        let body = req.into_body().collect().await?.to_bytes();
                        kept.lock()
                            .unwrap()
                            .push(AccessBatch::decode(&body).expect("a batch the controller reads"));
                        let mut response = hyper::Response::new(http_body_util::Empty::<Bytes>::new());
                        *response.status_mut() = StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (FeedConfig::new(url.unwrap(), None), batches)
    }

    fn line(n: u64) -> RequestLine {
        RequestLine {
            at: 1,
            app: Arc::new(AppName::parse("hello").unwrap()),
            method: Method::GET,
            host: "hello.localhost".into(),
            path: Some(PathAndQuery::try_from(format!("/{n}")).unwrap()),
            status: 200,
            bytes: n,
            service_us: 10,
            upstream: Some("web.1".into()),
            request_id: Some(HeaderValue::from_str(&format!("r{n}")).unwrap()),
            client: Peer::new("127.0.0.1:40000".parse().unwrap()),
        }
    }

    #[test]
    fn a_line_is_the_record_the_controller_reads_with_long_fields_cut() {
        let mut long = line(7);
        long.path = Some(PathAndQuery::try_from(format!("/{}", "p".repeat(MAX_FIELD_LEN + 10))).unwrap());
        long.host = "h".repeat(MAX_FIELD_LEN + 1);
        long.request_id = None;
        let mut batch = BatchEncoder::default();
        assert!(batch.push(&EncodedRecord::new(&long.view())));
        let records = AccessBatch::decode(&batch.finish(0)).expect("the controller reads it").records;
        let record = &records[0];
        assert_eq!((record.path.len(), record.host.len()), (MAX_FIELD_LEN, MAX_FIELD_LEN));
        assert_eq!(
            (record.app.as_str(), record.method.as_str(), record.client.as_str()),
            ("hello", "GET", "127.0.0.1")
        );
        assert_eq!(
            (record.upstream.as_deref(), record.request_id.as_str(), record.bytes),
            (Some("web.1"), "", 7)
        );
    }

    fn shipped(batches: &Mutex<Vec<AccessBatch>>) -> Vec<u64> {
        batches.lock().unwrap().iter().flat_map(|b| b.records.iter().map(|r| r.bytes)).collect()
    }

    #[tokio::test]
    async fn records_go_in_order_in_full_batches_and_those_left_go_when_it_stops() {
        let (feed, batches) = controller().await;
        let (stop, stopped) = watch::channel(());
        let (log, shipper) = AccessLog::shipping(&feed, stopped);
        let queued = MAX_BATCH_RECORDS as u64 + 500;
        for n in 0..queued {
            log.finish(&line(n));
        }
        let shipping = tokio::spawn(shipper);
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while shipped(&batches).len() < usize::try_from(queued).unwrap() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        waited.await.expect("every queued record is shipped");
        let sizes: Vec<usize> = batches.lock().unwrap().iter().map(|b| b.records.len()).collect();
        // A full batch, then the record it had no room for with the rest.
        assert_eq!(sizes, [MAX_BATCH_RECORDS, 500]);
        assert_eq!(shipped(&batches), (0..queued).collect::<Vec<_>>());

        for n in queued..queued + 3 {
            log.finish(&line(n));
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), shipping).await.expect("the shipper ends").unwrap();
        assert_eq!(shipped(&batches), (0..queued + 3).collect::<Vec<_>>());
        assert!(batches.lock().unwrap().iter().all(|b| b.dropped == 0));
    }
}
