//! Requests to responses: routing, the bearer token, content negotiation, the JSON API. hyper parses HTTP;
//! this only looks at the method, the path, the query string and two headers.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::Shared;
use super::collection::Data;
use crate::collect::cgroup::Namer;
use crate::collect::workloads::Workloads;
use crate::filter::{self, Expr};
use crate::group;
use crate::model::owners::ProcessMap;
use crate::model::{Socket, StateSet};
use crate::output::metrics::Format;
use crate::output::{Names, json};

pub type Body = Full<Bytes>;

/// Longest filter accepted in a query string.
const MAX_FILTER: usize = 4096;

const INDEX: &str = "\
sockscope exporter

/metrics                      Prometheus metrics
/api/v1/sockets?filter=EXPR   sockets as JSON (the --json schema)
/api/v1/groups?filter=EXPR    listening endpoints and outbound groups as JSON
/healthz                      health
";

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `{"error": msg}` with `status`.
pub fn error(status: StatusCode, msg: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": msg }).to_string() + "\n";
    respond(status, "application/json", body)
}

/// Constant-time comparison of the presented token with ours.
fn token_matches(presented: &[u8], ours: &[u8]) -> bool {
    if presented.len() != ours.len() {
        return false;
    }
    presented.iter().zip(ours).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Does the request carry our bearer token (when we have one)?
fn authorized(req: &Request<impl Sized>, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return false };
    let v = value.as_bytes();
    let Some(presented) = v.get(..7).filter(|p| p.eq_ignore_ascii_case(b"bearer ")).and(v.get(7..)) else {
        return false;
    };
    token_matches(presented.trim_ascii(), token.as_bytes())
}

/// The `filter` parameter of the query string, percent-decoded; `Err` with a 400 when it is too long.
fn filter_param(req: &Request<impl Sized>) -> Result<String, Box<Response<Body>>> {
    let Some(q) = req.uri().query() else { return Ok(String::new()) };
    let text = form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "filter")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if text.len() > MAX_FILTER {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, &format!("the filter is longer than {MAX_FILTER} bytes"))));
    }
    Ok(text)
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
        return health(&shared).await;
    }
    if !authorized(&req, shared.token.as_deref()) {
        let mut r = error(StatusCode::UNAUTHORIZED, "a bearer token is required (Authorization: Bearer TOKEN)");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sockscope\""));
        return r;
    }
    match path {
        "/" => respond(StatusCode::OK, "text/plain; charset=utf-8", INDEX),
        "/metrics" => {
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept);
            let data = shared.data(false).await;
            match (&data.error, data.text.is_empty()) {
                // Nothing to show at all (the collection panicked): say why.
                (Some(e), true) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
                // A failed collection still has the exporter's own families (collection_success 0).
                _ => respond(StatusCode::OK, format.content_type(), data.metrics(format)),
            }
        }
        "/api/v1/sockets" | "/api/v1/groups" => {
            let text = match filter_param(&req) {
                Ok(t) => t,
                Err(r) => return *r,
            };
            let groups = path.ends_with("groups");
            api(shared, text, groups).await
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint; see / for the list"),
    }
}

async fn health(shared: &Shared) -> Response<Body> {
    match shared.last().await {
        Some(d) if d.error.is_some() => {
            error(StatusCode::SERVICE_UNAVAILABLE, d.error.as_deref().unwrap_or("the last collection failed"))
        }
        _ => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
    }
}

/// `/api/v1/sockets` and `/api/v1/groups`: this interval's sockets narrowed by the filter, as JSON.
async fn api(shared: Arc<Shared>, text: String, groups: bool) -> Response<Body> {
    let data = shared.data(true).await;
    if let Some(e) = &data.error {
        return error(StatusCode::SERVICE_UNAVAILABLE, e);
    }
    let work = move || -> Result<Vec<u8>, (StatusCode, String)> {
        let services = &shared.services;
        // The client's filter: addresses only (no DNS on its behalf), cgroup paths below the cgroup2 mount.
        let lookup = filter::UntrustedLookup {
            system: filter::SystemLookup::new(&shared.proc_root),
            cgroup_ids: shared.cgroup_ids,
        };
        let parsed = filter::parse(&text, services, &lookup)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad filter: {}", e.render(&text))))?;
        let expr =
            if parsed.expr.needs_processes() { shared.resolve_processes(&parsed.expr, &data) } else { parsed.expr };
        let selected = select(&data, parsed.states, &expr);
        let pick = |idx: &[usize]| -> Vec<Socket> { idx.iter().map(|&i| data.sockets[i].clone()).collect() };
        let mut out = Vec::with_capacity(64 * 1024);
        let written = match (groups, selected) {
            (true, None) => json::render_groups(&mut out, &data.groups, Some(services)),
            (true, Some(idx)) => json::render_groups(&mut out, &group::group(&pick(&idx)), Some(services)),
            (false, selected) => {
                let picked = selected.map(|idx| pick(&idx));
                let socks = picked.as_deref().unwrap_or(&data.sockets);
                let mut names = Names::default();
                names.load_interfaces(socks);
                if data.namespaces.len() > 1 {
                    // The --json schema's `netns` and `container`: each socket's namespace and its container.
                    names.workloads = Workloads::load(
                        data.namespaces.clone(),
                        Some(&ProcessMap::default()),
                        &shared.proc_root,
                        &mut Namer::new(&shared.proc_root, Default::default()),
                    );
                }
                json::render_array(&mut out, socks, &names)
            }
        };
        written.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(out)
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(body)) => respond(StatusCode::OK, "application/json", body),
        Ok(Err((status, msg))) => error(status, &msg),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the request handler panicked"),
    }
}

/// Indices of the sockets matching the states and the expression; `None` when everything matches.
fn select(data: &Data, states: Option<StateSet>, expr: &Expr) -> Option<Vec<usize>> {
    if states.is_none() && expr.is_true() {
        return None;
    }
    let states = states.unwrap_or(StateSet::ALL);
    Some(
        data.sockets
            .iter()
            .enumerate()
            .filter(|(_, s)| states.contains(s.state) && expr.matches(s))
            .map(|(i, _)| i)
            .collect(),
    )
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
        assert!(authorized(&req(None), None));
        assert!(!authorized(&req(None), Some("t0k")));
        assert!(authorized(&req(Some("Bearer t0k")), Some("t0k")));
        assert!(authorized(&req(Some("bearer  t0k ")), Some("t0k")));
        assert!(!authorized(&req(Some("Bearer t0kk")), Some("t0k")));
        assert!(!authorized(&req(Some("Basic t0k")), Some("t0k")));
        assert!(!authorized(&req(Some("Bearer")), Some("t0k")));
        assert!(!authorized(&req(Some("")), Some("t0k")));
    }

    #[test]
    fn filter_from_the_query_string() {
        let req = |uri: &str| Request::builder().uri(uri).body(()).unwrap();
        assert_eq!(filter_param(&req("/api/v1/sockets")).unwrap(), "");
        assert_eq!(filter_param(&req("/api/v1/sockets?filter=sport+%3D+%3A22&x=1")).unwrap(), "sport = :22");
        let long = format!("/api/v1/sockets?filter={}", "a".repeat(MAX_FILTER + 1));
        assert_eq!(filter_param(&req(&long)).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
