//! Requests to responses: routing, the bearer token, content negotiation, the JSON API. hyper parses HTTP;
//! this only looks at the method, the path, the query string and two headers.

use std::sync::Arc;

use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::Shared;
use super::api::{self, Params};
use super::body::Body;
use crate::filter;
use crate::model::StateSet;
use crate::output::metrics::Format;

const INDEX: &str = "\
sockscope exporter

/metrics                      Prometheus metrics
/api/v1/sockets?filter=EXPR   sockets as JSON (the --json schema)
/api/v1/groups?filter=EXPR    listening endpoints and outbound groups as JSON
                              both: at most limit=N items (default 10000); a Link header (rel=\"next\")
                              gives the next page's query (after=CURSOR)
/healthz                      health
";

fn respond(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, content_type, Body::whole(body))
}

/// `{"error": msg}` with `status`.
pub fn error(status: StatusCode, msg: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": msg }).to_string() + "\n";
    text(status, "application/json", body)
}

/// Constant-time comparison of the presented token with ours.
fn token_matches(presented: &[u8], ours: &[u8]) -> bool {
    if presented.len() != ours.len() {
        return false;
    }
    presented.iter().zip(ours).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Does the request carry the bearer token `token`?
fn authorized(req: &Request<impl Sized>, token: &str) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return false };
    let v = value.as_bytes();
    let Some(presented) = v.get(..7).filter(|p| p.eq_ignore_ascii_case(b"bearer ")).and(v.get(7..)) else {
        return false;
    };
    token_matches(presented.trim_ascii(), token.as_bytes())
}

/// `None` when the request may go on; else the refusal. The token is the token file's as it is now.
fn refused(req: &Request<impl Sized>, shared: &Shared) -> Option<Response<Body>> {
    let token = match shared.token.as_ref()?.current() {
        Ok(t) => t,
        // Said in the log (the client learns nothing of the file).
        Err(_) => return Some(error(StatusCode::SERVICE_UNAVAILABLE, "the exporter's token file cannot be read")),
    };
    if authorized(req, &token) {
        return None;
    }
    let mut r = error(StatusCode::UNAUTHORIZED, "a bearer token is required (Authorization: Bearer TOKEN)");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sockscope\""));
    Some(r)
}

/// Answer one request.
pub async fn handle<B>(shared: Arc<Shared>, req: Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path();
    if path == "/healthz" {
        return health(&shared);
    }
    if let Some(r) = refused(&req, &shared) {
        return r;
    }
    match path {
        "/" => text(StatusCode::OK, "text/plain; charset=utf-8", INDEX),
        "/metrics" => {
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept);
            let data = shared.data(false, false).await;
            match (&data.error, data.text.is_empty()) {
                // Nothing to show at all (the collection panicked): say why.
                (Some(e), true) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
                // A failed collection still has the exporter's own families (collection_success 0).
                _ => text(StatusCode::OK, format.content_type(), data.metrics(format)),
            }
        }
        "/api/v1/sockets" | "/api/v1/groups" => match Params::parse(req.uri().query()) {
            Ok(params) => api(shared, params, path.ends_with("groups")).await,
            Err(msg) => error(StatusCode::BAD_REQUEST, &msg),
        },
        _ => error(StatusCode::NOT_FOUND, "no such endpoint; see / for the list"),
    }
}

/// The last collection's outcome: never waits for a running one (a slow collection is no failure).
fn health(shared: &Shared) -> Response<Body> {
    match shared.last_error() {
        Some(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
        None => text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
    }
}

/// A client's filter, parsed: addresses only (no DNS on its behalf), cgroup paths below the cgroup2 mount.
fn parse_filter(shared: &Shared, text: &str) -> Result<filter::Parsed, String> {
    let lookup =
        filter::UntrustedLookup { system: filter::SystemLookup::new(&shared.proc_root), cgroup_ids: shared.cgroup_ids };
    filter::parse(text, &shared.services, &lookup).map_err(|e| format!("bad filter: {}", e.render(text)))
}

/// `/api/v1/sockets` and `/api/v1/groups`: a page of this interval's sockets or groups narrowed by the
/// filter, as JSON. A filter that names processes asks for an interval whose collection looked up who holds
/// every socket, and binds to that.
async fn api(shared: Arc<Shared>, params: Params, groups: bool) -> Response<Body> {
    let parse = {
        let (shared, text) = (shared.clone(), params.filter.clone());
        move || parse_filter(&shared, &text)
    };
    let parsed = match tokio::task::spawn_blocking(parse).await {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(msg)) => return error(StatusCode::BAD_REQUEST, &msg),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "the request handler panicked"),
    };
    let data = shared.data(true, parsed.expr.needs().processes).await;
    if let Some(e) = &data.error {
        return error(StatusCode::SERVICE_UNAVAILABLE, e);
    }
    let work = move || -> Result<api::Page, String> {
        let expr = shared.bind(&parsed.expr, &data).map_err(|e| format!("bad filter: {e}"))?;
        let states = parsed.states.unwrap_or(StateSet::ALL);
        let mut page = if groups {
            api::groups(&shared.latest, &shared.services, &data, states, &expr, &params)?
        } else {
            api::sockets(&shared.latest, &data, states, expr, &params)?
        };
        page.next = page.next.map(|cursor| params.next(&cursor));
        Ok(page)
    };
    let page = match tokio::task::spawn_blocking(work).await {
        Ok(Ok(page)) => page,
        Ok(Err(msg)) => return error(StatusCode::BAD_REQUEST, &msg),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "the request handler panicked"),
    };
    let mut r = respond(StatusCode::OK, "application/json", page.body);
    let endpoint = if groups { "/api/v1/groups" } else { "/api/v1/sockets" };
    if let Some(link) = page.next.and_then(|q| HeaderValue::from_str(&format!("<{endpoint}?{q}>; rel=\"next\"")).ok()) {
        r.headers_mut().insert(header::LINK, link);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let req = |auth: Option<&str>| {
            let mut b = Request::builder();
            if let Some(a) = auth {
                b = b.header(header::AUTHORIZATION, a);
            }
            b.body(()).unwrap()
        };
        assert!(!authorized(&req(None), "t0k"));
        assert!(authorized(&req(Some("Bearer t0k")), "t0k"));
        assert!(authorized(&req(Some("bearer  t0k ")), "t0k"));
        assert!(!authorized(&req(Some("Bearer t0kk")), "t0k"));
        assert!(!authorized(&req(Some("Basic t0k")), "t0k"));
        assert!(!authorized(&req(Some("Bearer")), "t0k"));
        assert!(!authorized(&req(Some("")), "t0k"));
    }

    /// A test exporter over an empty proc tree (nothing is collected by these tests).
    fn shared() -> Arc<Shared> {
        use crate::collect::{Query, SourceChoice};
        let settings = super::super::collection::CollectionSettings {
            query: Query::default(),
            filter: crate::filter::Expr::True,
            source: SourceChoice::Proc,
            proc_root: "/nonexistent-proc".into(),
            services: crate::ports::services::Services::parse("".as_bytes()),
            caps: Default::default(),
            processes: false,
            netns: Default::default(),
            state_roots: Default::default(),
        };
        Arc::new(Shared::new(settings, std::time::Duration::from_secs(5), None))
    }

    /// Poll `f` once: its output if it is ready then.
    fn poll_once<F: std::future::Future>(f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => None,
        }
    }

    /// `/healthz` waited for the interval's data lock, held for as long as a collection runs (seconds with
    /// the process lookup on a busy host): a liveness probe could fail because the exporter was working. It
    /// now answers at once from the last collection's outcome.
    #[test]
    fn healthz_does_not_wait_for_a_running_collection() {
        let shared = shared();
        let running = shared.current.try_lock().expect("the data lock, as a collection holds it");
        let get = || Request::builder().uri("/healthz").body(()).unwrap();
        let r = poll_once(handle(shared.clone(), get())).expect("an answer while the collection runs");
        assert_eq!(r.status(), StatusCode::OK);
        *shared.last_error.lock().unwrap() = Some("net/tcp:2: garbage".into());
        let r = poll_once(handle(shared.clone(), get())).expect("an answer while the collection runs");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(String::from_utf8(r.into_body().collect()).unwrap().contains("net/tcp:2: garbage"));
        drop(running);
    }
}
