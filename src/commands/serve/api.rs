//! The JSON API's pages. A response holds at most `limit` items ([`DEFAULT_LIMIT`] unless the query string
//! says, at most [`MAX_LIMIT`]); when there are more, a `Link: <...>; rel="next"` header gives the query for
//! the next page, whose `after` is the last item's cursor. Sockets are served in the order of a key that
//! outlives a collection (cookie, namespace inode, inode: [`Data::key`]), so following the links lists every
//! socket that lives throughout exactly once even when the data is collected again between pages; groups (the
//! aggregates of one interval, busiest first) are paged by position. A page is rendered as the client reads it
//! ([`Body::array`]).

use std::ops::Range;
use std::sync::Arc;

use super::body::{Body, Items};
use super::collection::{Data, Key};
use crate::filter::Expr;
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

/// One page: its body and, when more follow, the cursor of its last item.
pub struct Page {
    pub body: Body,
    pub next: Option<String>,
}

/// A socket cursor: the key and the position among the sockets with the same key (only sockets without a
/// cookie or an inode, such as TIME-WAIT ones read from /proc, share one).
fn cursor(key: Key, tie: usize) -> String {
    format!("{}.{}.{}.{tie}", key.0, key.1, key.2)
}

fn parse_cursor(text: &str) -> Result<(Key, usize), String> {
    let f: Vec<u64> = text.split('.').map(|n| n.parse::<u64>()).collect::<Result<_, _>>().unwrap_or_default();
    match f[..] {
        [c, n, i, t] => Ok(((c, n, i), t as usize)),
        _ => Err(format!("bad after '{}': not a cursor this API gave (use its Link header)", escape(text))),
    }
}

/// The sockets after `after` (in key order) that are in `states` and match `expr`, at most `limit`.
pub fn sockets(data: &Arc<Data>, states: StateSet, expr: &Expr, p: &Params) -> Result<Page, String> {
    let order = &data.order;
    let start = match &p.after {
        None => 0,
        Some(text) => {
            let (key, tie) = parse_cursor(text)?;
            let lo = order.partition_point(|&i| data.key(i) < key);
            let hi = order.partition_point(|&i| data.key(i) <= key);
            (lo + tie + 1).min(hi)
        }
    };
    let mut idx = Vec::new();
    let mut last = None;
    let mut more = false;
    for (pos, &i) in order.iter().enumerate().skip(start) {
        let s = &data.sockets[i as usize];
        if states.contains(s.state) && expr.matches(s) {
            if idx.len() == p.limit {
                more = true;
                break;
            }
            idx.push(i);
            last = Some(pos);
        }
    }
    let next = last.filter(|_| more).map(|pos| {
        let key = data.key(order[pos]);
        cursor(key, pos - order.partition_point(|&i| data.key(i) < key))
    });
    Ok(Page { body: Body::array(SocketItems { data: data.clone(), idx }), next })
}

struct SocketItems {
    data: Arc<Data>,
    idx: Vec<u32>,
}

impl Items for SocketItems {
    fn count(&self) -> usize {
        self.idx.len()
    }
    fn write(&self, i: usize, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = json::write_socket(out, &self.data.sockets[self.idx[i] as usize], &self.data.names);
    }
}

/// The groups of the sockets in `states` matching `expr` (the interval's own groups when that is every
/// socket), from position `after` on, at most `limit`.
pub fn groups(
    services: &Arc<Services>,
    data: &Arc<Data>,
    states: StateSet,
    expr: &Expr,
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
        (Groups::Interval(data.clone()), data.groups.len())
    } else {
        let picked: Vec<&Socket> =
            data.sockets.iter().filter(|s| states.contains(s.state) && expr.matches(s)).collect();
        let mut own = group::group(&picked);
        let total = own.len();
        own.truncate(end);
        (Groups::Own(own), total)
    };
    let range = start.min(total)..end.min(total);
    let next = (range.end < total).then(|| range.end.to_string());
    Ok(Page { body: Body::array(GroupItems { groups, range, services: services.clone() }), next })
}

enum Groups {
    Interval(Arc<Data>),
    Own(Vec<Group>),
}

impl Groups {
    fn all(&self) -> &[Group] {
        match self {
            Groups::Interval(d) => &d.groups,
            Groups::Own(g) => g,
        }
    }
}

struct GroupItems {
    groups: Groups,
    range: Range<usize>,
    services: Arc<Services>,
}

impl Items for GroupItems {
    fn count(&self) -> usize {
        self.range.len()
    }
    fn write(&self, i: usize, out: &mut Vec<u8>) {
        let g = &self.groups.all()[self.range.start + i];
        let _ = json::write_group(out, g, Some(&self.services));
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
