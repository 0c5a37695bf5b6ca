//! Response bodies: a whole buffer, or a stream of chunks fed through a channel while
//! the push is handled.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

/// The builder's response body.
pub enum ResponseBody {
    /// All at once.
    Full(Full<Bytes>),
    /// Chunks as they come; the body ends when every sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl From<Vec<u8>> for ResponseBody {
    fn from(v: Vec<u8>) -> Self {
        Self::Full(Full::new(Bytes::from(v)))
    }
}

impl From<String> for ResponseBody {
    fn from(s: String) -> Self {
        Self::Full(Full::new(Bytes::from(s)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Self::Full(full) => Pin::new(full).poll_frame(cx),
            Self::Stream(rx) => rx.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c)))),
        }
    }
}
