//! Response bodies: whole (one `Bytes`, such as the metrics rendered once per interval and shared by every
//! scrape) or a JSON array rendered a chunk at a time as the client reads it (the API). hyper asks for the
//! next chunk only when the last one is written, so a client that does not read holds one chunk, never its
//! whole answer (and, as the API's sources go, no interval's data either: see `api`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Bytes, Frame, SizeHint};

use crate::output::json;

/// A chunk is cut once it holds this much.
pub const CHUNK: usize = 64 * 1024;

/// The chunk being written: items are appended with [`Array::item`].
pub struct Array {
    out: Vec<u8>,
    /// Items written before and in this chunk.
    count: usize,
    chunk: usize,
}

impl Array {
    /// The buffer for the next item's JSON (without separators), the separator written.
    pub fn item(&mut self) -> &mut Vec<u8> {
        self.out.extend_from_slice(json::array_separator(self.count));
        self.count += 1;
        &mut self.out
    }

    /// The chunk is big enough to send.
    pub fn full(&self) -> bool {
        self.out.len() >= self.chunk
    }
}

/// Where an array's items come from.
pub trait Source: Send + 'static {
    /// Append items to `a` until it is [`Array::full`]; `false` when no item is left.
    fn fill(&mut self, a: &mut Array) -> bool;
}

/// A response body.
pub struct Body(Kind);

enum Kind {
    Whole(Option<Bytes>),
    Array { source: Box<dyn Source>, count: usize, chunk: usize, done: bool },
}

impl Body {
    pub fn whole(b: impl Into<Bytes>) -> Body {
        Body(Kind::Whole(Some(b.into())))
    }

    /// The items of `source` as one JSON array, one item per line (the `--json` layout).
    pub fn array(source: impl Source) -> Body {
        Body(Kind::Array { source: Box::new(source), count: 0, chunk: CHUNK, done: false })
    }

    /// Chunks of about `bytes` (tests).
    #[cfg(test)]
    pub fn in_chunks_of(mut self, bytes: usize) -> Body {
        if let Kind::Array { chunk, .. } = &mut self.0 {
            *chunk = bytes;
        }
        self
    }

    /// The next chunk; `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        match &mut self.0 {
            Kind::Whole(b) => b.take(),
            Kind::Array { done: true, .. } => None,
            Kind::Array { source, count, chunk, done } => {
                let mut a = Array { out: Vec::with_capacity(*chunk + *chunk / 4), count: *count, chunk: *chunk };
                // A source that wrote nothing but has more is asked again: an empty chunk would end the body.
                let mut more = true;
                while more && a.out.is_empty() {
                    more = source.fill(&mut a);
                }
                if !more {
                    a.out.extend_from_slice(json::array_end(a.count));
                    *done = true;
                }
                *count = a.count;
                Some(Bytes::from(a.out))
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

    /// `n` items of about 1 kB; asked for more, it sometimes writes nothing (a source whose next items do not
    /// match), which must not end the body.
    struct Numbers {
        n: usize,
        next: usize,
        calls: usize,
    }

    impl Source for Numbers {
        fn fill(&mut self, a: &mut Array) -> bool {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return self.next < self.n;
            }
            while self.next < self.n && !a.full() {
                let pad = "x".repeat(1000);
                a.item().extend_from_slice(format!("{{\"n\":{},\"pad\":\"{pad}\"}}", self.next).as_bytes());
                self.next += 1;
            }
            self.next < self.n
        }
    }

    /// The array is the `--json` layout whatever the chunking, and no chunk is much more than [`CHUNK`].
    #[test]
    fn arrays_come_in_bounded_chunks() {
        assert_eq!(Body::array(Numbers { n: 0, next: 0, calls: 0 }).collect(), b"[]\n");
        let mut body = Body::array(Numbers { n: 500, next: 0, calls: 0 });
        let mut all = Vec::new();
        let mut chunks = 0;
        while let Some(c) = body.next_chunk() {
            assert!(c.len() < CHUNK + 2048, "{}", c.len());
            assert!(!c.is_empty());
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
