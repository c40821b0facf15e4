//! The JSON API's pages. A response holds at most `limit` items ([`DEFAULT_LIMIT`] unless the query string
//! says, at most [`MAX_LIMIT`]); when there are more, a `Link: <...>; rel="next"` header gives the query for
//! the next page, whose `after` is the last item's cursor. Sockets are served in the order of a key that
//! outlives a collection (cookie, namespace inode, inode: [`Data::key`]), so following the links lists every
//! socket that lives throughout exactly once even when the data is collected again between pages; groups (the
//! aggregates of one interval, busiest first) are paged by position.
//!
//! A page is rendered as the client reads it ([`Body::array`]), each chunk from the [`Latest`] data: its
//! range is fixed (after this key, up to that one) but not the data, so a client that does not read holds a
//! chunk and no interval's data, however many intervals pass (a socket that closes meanwhile is left out).

use std::sync::{Arc, Mutex, PoisonError};

use super::body::{Array, Body, Source};
use super::collection::{Data, Key};
use crate::filter::Bound;
use crate::group::{self, Group};
use crate::model::{Socket, StateSet};
use crate::output::json;
use crate::ports::services::Services;

/// Items in a response unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 10_000;
/// The most items one response holds.
pub const MAX_LIMIT: usize = 100_000;
/// Longest filter accepted in a query string.
pub const MAX_FILTER: usize = 4096;

/// What an API request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The filter, percent-decoded (empty: everything).
    pub filter: String,
    pub limit: usize,
    /// The cursor of the last item the client has.
    pub after: Option<String>,
}

impl Params {
    /// `filter`, `limit` and `after` from a query string; other parameters are ignored.
    pub fn parse(query: Option<&str>) -> Result<Params, String> {
        let mut p = Params { filter: String::new(), limit: DEFAULT_LIMIT, after: None };
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "filter" if v.len() > MAX_FILTER => {
                    return Err(format!("the filter is longer than {MAX_FILTER} bytes"));
                }
                "filter" => p.filter = v.into_owned(),
                "limit" => {
                    p.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("bad limit '{}': a number from 1 to {MAX_LIMIT}", escape(&v)))?
                }
                "after" => p.after = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(p)
    }

    /// The query string of the page after the one ending at `cursor`.
    pub fn next(&self, cursor: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !self.filter.is_empty() {
            q.append_pair("filter", &self.filter);
        }
        q.append_pair("limit", &self.limit.to_string());
        q.append_pair("after", cursor);
        q.finish()
    }
}

/// Client text in an error message, short and without control characters.
fn escape(s: &str) -> String {
    let short: String = s.chars().take(64).collect();
    crate::model::text::escape(&short).into_owned()
}

/// The latest interval's data that has the sockets (a failed collection does not replace it): what the API's
/// pages are rendered from. A page being read holds no interval's data between its chunks, so clients that
/// do not read keep nothing alive but their chunk: at most this data and the one being collected exist.
#[derive(Debug, Default)]
pub struct Latest(Mutex<Option<Arc<Data>>>);

impl Latest {
    pub fn get(&self) -> Option<Arc<Data>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set(&self, data: Arc<Data>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(data);
    }

    /// Forget the data unless it is `keep`.
    pub fn clear_unless(&self, keep: Option<&Arc<Data>>) {
        let mut d = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if d.as_ref().is_some_and(|d| !keep.is_some_and(|k| Arc::ptr_eq(d, k))) {
            *d = None;
        }
    }
}

/// One page: its body and, when more follow, the cursor of its last item.
pub struct Page {
    pub body: Body,
    pub next: Option<String>,
}

/// A place in the API's order of sockets: a key, and a position among the sockets with that key (only
/// sockets without a cookie or an inode, such as TIME-WAIT ones read from /proc, share one).
type Cursor = (Key, usize);

fn cursor_text((key, tie): Cursor) -> String {
    format!("{}.{}.{}.{tie}", key.0, key.1, key.2)
}

fn parse_cursor(text: &str) -> Result<Cursor, String> {
    let f: Vec<u64> = text.split('.').map(|n| n.parse::<u64>()).collect::<Result<_, _>>().unwrap_or_default();
    match f[..] {
        [c, n, i, t] => Ok(((c, n, i), t as usize)),
        _ => Err(format!("bad after '{}': not a cursor this API gave (use its Link header)", escape(text))),
    }
}

/// The position in `data.order` just after `c` (0 for none): the same socket in any interval's data.
fn position_after(data: &Data, c: Option<Cursor>) -> usize {
    let Some((key, tie)) = c else { return 0 };
    let lo = data.order.partition_point(|&i| data.key(i) < key);
    let hi = data.order.partition_point(|&i| data.key(i) <= key);
    (lo + tie + 1).min(hi)
}

/// The cursor of position `pos` in `data.order`.
fn cursor_at(data: &Data, pos: usize) -> Cursor {
    let key = data.key(data.order[pos]);
    (key, pos - data.order.partition_point(|&i| data.key(i) < key))
}

/// The page of sockets after `p.after` (in key order) that are in `states` and match `expr`: at most
/// `p.limit` of `data`'s. The body renders them from the latest data as it is read (a socket closed since is
/// left out, and nothing is listed twice).
pub fn sockets(latest: &Arc<Latest>, data: &Data, states: StateSet, expr: Bound, p: &Params) -> Result<Page, String> {
    let after = p.after.as_deref().map(parse_cursor).transpose()?;
    let (mut found, mut last, mut more) = (0, None, false);
    for pos in position_after(data, after)..data.order.len() {
        let s = &data.sockets[data.order[pos] as usize];
        if states.contains(s.state) && expr.matches(s) {
            if found == p.limit {
                more = true;
                break;
            }
            found += 1;
            last = Some(pos);
        }
    }
    // A full page ends at its last socket, and the next begins after it.
    let to = last.filter(|_| more).map(|pos| cursor_at(data, pos));
    let body = Body::array(SocketPage { latest: latest.clone(), states, expr, at: after, to });
    Ok(Page { body, next: to.map(cursor_text) })
}

/// A page of sockets: those after `at` up to `to` (`None`: to the end) that match.
struct SocketPage {
    latest: Arc<Latest>,
    states: StateSet,
    expr: Bound,
    /// The last socket written (or the page's `after`).
    at: Option<Cursor>,
    to: Option<Cursor>,
}

impl Source for SocketPage {
    fn fill(&mut self, a: &mut Array) -> bool {
        let Some(data) = self.latest.get() else { return false };
        let start = position_after(&data, self.at);
        let end = match self.to {
            Some(to) => position_after(&data, Some(to)),
            None => data.order.len(),
        };
        for pos in start..end {
            let s = &data.sockets[data.order[pos] as usize];
            if self.states.contains(s.state) && self.expr.matches(s) {
                // Writing into a Vec cannot fail.
                let _ = json::write_socket(a.item(), s, &data.names);
                if a.full() {
                    self.at = Some(cursor_at(&data, pos));
                    return pos + 1 < end;
                }
            }
        }
        false
    }
}

/// The groups of the sockets in `states` matching `expr` (the interval's own groups when that is every
/// socket), from position `after` on, at most `limit`.
pub fn groups(
    latest: &Arc<Latest>,
    services: &Arc<Services>,
    data: &Data,
    states: StateSet,
    expr: &Bound,
    p: &Params,
) -> Result<Page, String> {
    let start = match &p.after {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| format!("bad after '{}': not a position this API gave (use its Link header)", escape(text)))?,
    };
    let end = start.saturating_add(p.limit);
    let (groups, total) = if states == StateSet::ALL && expr.is_true() {
        (Groups::Latest(latest.clone()), data.groups.len())
    } else {
        let picked: Vec<&Socket> =
            data.sockets.iter().filter(|s| states.contains(s.state) && expr.matches(s)).collect();
        let mut own = group::group_with(&picked, data.fold.as_ref());
        let total = own.len();
        own.truncate(end);
        (Groups::Own(own), total)
    };
    let next = (end < total).then(|| end.to_string());
    let body = Body::array(GroupPage { groups, next: start, end, services: services.clone() });
    Ok(Page { body, next })
}

enum Groups {
    /// The interval's groups, from the latest data (a group is its position there).
    Latest(Arc<Latest>),
    /// The groups of a filter's sockets.
    Own(Vec<Group>),
}

struct GroupPage {
    groups: Groups,
    next: usize,
    end: usize,
    services: Arc<Services>,
}

impl Source for GroupPage {
    fn fill(&mut self, a: &mut Array) -> bool {
        let data;
        let all: &[Group] = match &self.groups {
            Groups::Latest(latest) => match latest.get() {
                Some(d) => {
                    data = d;
                    &data.groups
                }
                None => return false,
            },
            Groups::Own(g) => g,
        };
        let end = self.end.min(all.len());
        while self.next < end && !a.full() {
            let _ = json::write_group(a.item(), &all[self.next], Some(&self.services));
            self.next += 1;
        }
        self.next < end
    }
}

#[cfg(test)]
mod tests;
