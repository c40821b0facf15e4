//! `sockscope serve`: the Prometheus exporter and JSON API. A small tokio runtime (one thread, plus the
//! blocking pool for collections) runs hyper's HTTP/1 server; `collection` makes one interval's data,
//! `http` answers requests from it (`api` pages the JSON, `body` streams it), `conn` keeps hostile clients
//! from holding the connections, `token` is the bearer token.

pub mod api;
pub mod body;
pub mod collection;
pub mod conn;
pub mod http;
pub mod token;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use hyper::StatusCode;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use crate::filter::Expr;
use crate::ports::services::Services;
use collection::{Collection, CollectionSettings, Data};
use conn::{AcceptErrors, Guarded, Limits, Slot, Table, Tracked};
use token::TokenFile;

/// A checked exporter configuration.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub interval: Duration,
    /// What is collected and how it is exported.
    pub collection: CollectionSettings,
    pub token: Option<TokenFile>,
    /// Connections and their timeouts.
    pub limits: Limits,
    pub request_timeout: Duration,
}

/// Largest request head (request line and headers) accepted; larger ones get 431.
const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request.
const MAX_HEADERS: usize = 64;
/// A connection is closed after this long whatever it does (a backstop for idle keep-alive connections).
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(300);

/// What the request handlers share.
pub struct Shared {
    interval: Duration,
    token: Option<TokenFile>,
    services: Arc<Services>,
    proc_root: std::path::PathBuf,
    /// The collection asks for each socket's cgroup id (its own filter has a `cgroup PATH` term): a request's
    /// `cgroup PATH` term can match only then.
    cgroup_ids: bool,
    /// Where container and pod names are read (an API filter's `container` term).
    state_roots: crate::collect::cgroup::StateRoots,
    /// The current interval's data. Held locked while a collection runs, so concurrent requests wait for
    /// that one collection instead of starting their own.
    current: tokio::sync::Mutex<Option<Arc<Data>>>,
    /// The latest data with the sockets, which the API's pages are rendered from.
    latest: Arc<api::Latest>,
    /// Why the last collection failed (`None`: it worked, or none ran yet), for /healthz, which does not wait
    /// for a running collection.
    last_error: Mutex<Option<String>>,
    collection: Arc<Mutex<Collection>>,
}

impl Shared {
    pub fn new(settings: CollectionSettings, interval: Duration, token: Option<TokenFile>) -> Shared {
        Shared {
            interval,
            token,
            services: Arc::new(settings.services.clone()),
            proc_root: settings.proc_root.clone(),
            cgroup_ids: settings.query.details,
            state_roots: settings.state_roots.clone(),
            current: tokio::sync::Mutex::new(None),
            latest: Arc::default(),
            last_error: Mutex::new(None),
            collection: Arc::new(Mutex::new(Collection::new(settings))),
        }
    }

    /// This interval's data: collected now when the last collection is older than the interval, or when
    /// `sockets` are wanted (the API) and the last collection (for /metrics) did not keep them, or when
    /// `processes` are wanted too (an API filter names processes) and it did not look up who holds each
    /// socket. The work runs in a task of its own, so a request that gives up (timeout, client gone) does
    /// not abandon a collection that the next request would then start again.
    pub async fn data(self: &Arc<Self>, sockets: bool, processes: bool) -> Arc<Data> {
        let me = self.clone();
        match tokio::spawn(async move { me.current_or_collect(sockets, processes).await }).await {
            Ok(d) => d,
            Err(e) => failed(format!("the collection task failed: {e}")),
        }
    }

    async fn current_or_collect(&self, sockets: bool, processes: bool) -> Arc<Data> {
        let mut current = self.current.lock().await;
        let fits = |d: &&Arc<Data>| {
            d.at.elapsed() < self.interval && (d.kept || !sockets) && (d.attribution.is_some() || !processes)
        };
        if let Some(d) = current.as_ref().filter(fits) {
            return d.clone();
        }
        // The old data goes first: two snapshots of 100k sockets at once would double the peak memory. (The
        // API's latest data stays while a page is being read from it.)
        *current = None;
        self.drop_unread_latest(None);
        let collection = self.collection.clone();
        let data = tokio::task::spawn_blocking(move || {
            collection.lock().unwrap_or_else(PoisonError::into_inner).collect(sockets, processes)
        })
        .await;
        let data = match data {
            Ok(d) => Arc::new(d),
            Err(e) => {
                let d = failed(format!("the collection panicked: {e}"));
                crate::errln!("sockscope: {}", d.error.as_deref().unwrap_or_default());
                d
            }
        };
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = data.error.clone();
        if data.kept && data.error.is_none() {
            self.latest.set(data.clone());
        }
        self.drop_unread_latest(Some(&data));
        *current = Some(data.clone());
        data
    }

    /// Let the API's latest data go unless it is `current` or a page is being read from it: an exporter
    /// nobody asks for JSON keeps no sockets.
    fn drop_unread_latest(&self, current: Option<&Arc<Data>>) {
        if Arc::strong_count(&self.latest) == 1 {
            self.latest.clear_unless(current);
        }
    }

    /// Why the last collection failed, if it did; never waits for one that runs.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An API filter bound for this interval's sockets as the exporter's own filter is
    /// ([`collection::bind`]), to who holds them as the collection looked them up: the collection is not
    /// locked and /proc not looked through. Blocking (workloads are read).
    pub fn bind(&self, expr: &Expr, data: &Data) -> Result<crate::filter::Bound, crate::filter::BindError> {
        if !expr.needs().any() {
            return crate::filter::bind(expr, &crate::filter::Have::new("the API"));
        }
        let roots = (self.proc_root.as_path(), self.state_roots.clone(), self.cgroup_ids);
        collection::bind(expr, data.attribution.as_ref(), &data.namespaces, roots, "the API")
    }
}

/// Data that says only why there is none.
fn failed(msg: String) -> Arc<Data> {
    Arc::new(Data::failed(msg))
}

/// Run the exporter until SIGINT or SIGTERM.
pub fn run(config: ServeConfig) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(4)
        .thread_name("sockscope-serve")
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> anyhow::Result<ExitCode> {
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    crate::errln!(
        "sockscope: serving http://{addr}/metrics (collecting at most every {:?}{})",
        config.interval,
        if config.token.is_some() { ", bearer token required" } else { "" }
    );
    if !addr.ip().is_loopback() && config.token.is_none() {
        crate::errln!(
            "sockscope: note: listening on {} without --token-file: whoever reaches it can read this host's \
             socket table",
            addr.ip()
        );
    }
    let shared = Arc::new(Shared::new(config.collection, config.interval, config.token));
    let table = Table::new(config.limits);
    let timeout = config.request_timeout;
    let mut accept_errors = AcceptErrors::default();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("cannot handle SIGTERM")?;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => {
                    accept_errors.succeeded();
                    c
                }
                Err(e) => {
                    // Out of file descriptors and the like: an idle connection makes room, and the loop waits
                    // (longer each time) instead of spinning; said once a minute, not at every attempt.
                    table.evict_idle();
                    let (line, wait) = accept_errors.failed(&e, tokio::time::Instant::now());
                    if let Some(line) = line {
                        crate::errln!("sockscope: {line}");
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        };
        // Over the limits with nothing to close for it: close it at once rather than queue.
        let Some(slot) = table.admit(peer.ip()) else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(shared.clone(), stream, slot, timeout));
    }
    crate::errln!("sockscope: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Serve one connection until the client is done, it times out, or the table closes it for another.
async fn connection(shared: Arc<Shared>, stream: TcpStream, slot: Slot, timeout: Duration) {
    let conn = slot.conn.clone();
    let limits = slot.limits();
    let service = {
        let conn = conn.clone();
        service_fn(move |req| {
            let (shared, conn) = (shared.clone(), conn.clone());
            async move {
                conn.request_started();
                let r = tokio::time::timeout(timeout, http::handle(shared, req)).await;
                let r = r.unwrap_or_else(|_| http::error(StatusCode::SERVICE_UNAVAILABLE, "the request took too long"));
                conn.response_ready(limits.write);
                Ok::<_, Infallible>(r.map(|body| Tracked::new(body, conn)))
            }
        })
    };
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(Guarded::new(stream, conn.clone(), limits)), service);
    tokio::select! {
        _ = http => {}
        _ = conn.evicted() => {}
        _ = tokio::time::sleep(MAX_CONNECTION_LIFE) => {}
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Query, SourceChoice};

    /// An exporter over the `busy` proc fixture's TCP tables, collecting at every request.
    fn shared() -> Arc<Shared> {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proc/busy");
        let query = Query { tcp: true, udp: false, unix: false, ..Query::default() };
        let settings = CollectionSettings {
            query,
            filter: Expr::True,
            source: SourceChoice::Proc,
            proc_root: fixture,
            services: Services::parse("".as_bytes()),
            caps: Default::default(),
            processes: false,
            netns: Default::default(),
            state_roots: Default::default(),
        };
        Arc::new(Shared::new(settings, Duration::ZERO, None))
    }

    /// The API's pages render from the latest data with sockets; kept for as long as a page is read from it,
    /// and let go at the next collection after (a collection for /metrics alone keeps no sockets).
    #[tokio::test]
    async fn the_apis_data_goes_once_no_page_reads_it() {
        let shared = shared();
        let data = shared.data(true, false).await;
        assert!(data.error.is_none() && data.kept && !data.sockets.is_empty(), "{:?}", data.error);
        let params = api::Params::parse(None).unwrap();
        let page = api::sockets(
            &shared.latest,
            &data,
            crate::model::StateSet::ALL,
            crate::filter::Bound::everything(),
            &params,
        )
        .unwrap();
        drop(data);
        assert!(!shared.data(false, false).await.kept);
        assert!(shared.latest.get().is_some(), "a page is being read from it");
        drop(page);
        assert!(!shared.data(false, false).await.kept);
        assert!(shared.latest.get().is_none(), "nothing reads it any more");
    }

    /// An API filter naming processes binds to its interval's attribution, which the collection made: not
    /// to a /proc scan of its own under the collection's lock (held here throughout).
    #[tokio::test]
    async fn an_api_filter_naming_processes_binds_without_the_collection() {
        let shared = shared();
        assert!(shared.data(true, false).await.attribution.is_none(), "no filter named processes");
        let data = shared.data(true, true).await;
        assert!(data.error.is_none() && data.attribution.is_some(), "{:?}", data.error);
        let parsed = crate::filter::parse("process nosuch", &Services::default(), &crate::filter::NoLookup).unwrap();
        let _busy = shared.collection.lock().unwrap();
        let bound = shared.bind(&parsed.expr, &data).unwrap();
        assert!(data.sockets.iter().all(|s| !bound.matches(s)), "nobody in the fixture is named so");
    }
}
