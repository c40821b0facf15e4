//! Response bodies: whole (one `Bytes`, such as the metrics rendered once per interval and shared by every
//! scrape) or a JSON array rendered a chunk at a time as the client reads it (the API). hyper asks for the
//! next chunk only when the last one is written, so a client that does not read holds one chunk and a share
//! of the interval's data, never its whole answer.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};

use crate::output::json;

/// A chunk is cut once it holds this much.
pub const CHUNK: usize = 64 * 1024;

/// The items of a JSON array, rendered one at a time.
pub trait Items: Send + 'static {
    /// How many items.
    fn count(&self) -> usize;
    /// Append item `i`'s JSON (without separators) to `out`.
    fn write(&self, i: usize, out: &mut Vec<u8>);
}

/// A response body.
pub struct Body(Kind);

enum Kind {
    Whole(Option<Bytes>),
    Array { items: Box<dyn Items>, next: usize, done: bool },
}

impl Body {
    pub fn whole(b: impl Into<Bytes>) -> Body {
        Body(Kind::Whole(Some(b.into())))
    }

    /// `items` as one JSON array, one item per line (the `--json` layout).
    pub fn array(items: impl Items) -> Body {
        Body(Kind::Array { items: Box::new(items), next: 0, done: false })
    }

    /// The next chunk; `None` at the end.
    fn next_chunk(&mut self) -> Option<Bytes> {
        match &mut self.0 {
            Kind::Whole(b) => b.take(),
            Kind::Array { done: true, .. } => None,
            Kind::Array { items, next, done } => {
                let mut out = Vec::with_capacity(CHUNK + CHUNK / 4);
                let n = items.count();
                while *next < n && out.len() < CHUNK {
                    out.extend_from_slice(json::array_separator(*next));
                    items.write(*next, &mut out);
                    *next += 1;
                }
                if *next == n {
                    out.extend_from_slice(json::array_end(n));
                    *done = true;
                }
                Some(Bytes::from(out))
            }
        }
    }

    /// The whole body in memory (tests).
    #[cfg(test)]
    pub fn collect(mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(b) = self.next_chunk() {
            all.extend_from_slice(&b);
        }
        all
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().next_chunk().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Kind::Whole(None) | Kind::Array { done: true, .. })
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Whole(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Array { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Numbers(usize);

    impl Items for Numbers {
        fn count(&self) -> usize {
            self.0
        }
        fn write(&self, i: usize, out: &mut Vec<u8>) {
            out.extend_from_slice(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(1000)).as_bytes());
        }
    }

    /// The array is the `--json` layout whatever the chunking, and no chunk is much more than [`CHUNK`].
    #[test]
    fn arrays_come_in_bounded_chunks() {
        assert_eq!(Body::array(Numbers(0)).collect(), b"[]\n");
        let mut body = Body::array(Numbers(500));
        let mut all = Vec::new();
        let mut chunks = 0;
        while let Some(c) = body.next_chunk() {
            assert!(c.len() < CHUNK + 2048, "{}", c.len());
            all.extend_from_slice(&c);
            chunks += 1;
        }
        assert!(chunks > 5);
        let v: serde_json::Value = serde_json::from_slice(&all).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 500);
        assert_eq!(v[499]["n"], 499);
        assert!(all.starts_with(b"[\n{") && all.ends_with(b"}\n]\n"));
    }
}
