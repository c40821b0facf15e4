//! The network sysctls the diagnosis compares with ([`NetLimits`]: somaxconn, the SYN backlog, syncookies,
//! orphans, tcp_mem, TIME-WAIT buckets; the ephemeral range is `ports::classes::HostPorts`) and netfilter's connection tracking table
//! ([`ConntrackStats`]: its size, its limit, the drops in `/proc/net/stat/nf_conntrack`). `/proc/sys/net` and
//! `/proc/net` show the namespace of the thread that reads them, so reading them inside a namespace's worker
//! gives that namespace's values. Pure parsers, thin readers; the proc root is a parameter.

use std::path::Path;

/// The namespace's sysctls (`None`: unreadable or absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetLimits {
    pub somaxconn: Option<u32>,
    pub max_syn_backlog: Option<u32>,
    pub syncookies: Option<u32>,
    pub max_orphans: Option<u64>,
    /// `net.ipv4.tcp_mem`: low, pressure, high (pages).
    pub tcp_mem: Option<[u64; 3]>,
    pub max_tw_buckets: Option<u64>,
}

/// The connection tracking table's size, limit, and statistics summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackStats {
    pub count: u64,
    pub max: u64,
    pub drop: u64,
    pub early_drop: u64,
    pub insert_failed: u64,
}

/// The first number of a sysctl file's text.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.split_whitespace().next()?.parse().ok()
}

/// `net.ipv4.tcp_mem`'s three numbers.
pub fn parse_triple(text: &str) -> Option<[u64; 3]> {
    let v: Vec<u64> = text.split_whitespace().map(|w| w.parse().ok()).collect::<Option<_>>()?;
    v.try_into().ok()
}

/// Small files only (a sysctl is one line).
fn read(path: &Path) -> Option<String> {
    crate::collect::input::read_to_string_capped(path, 4096).ok()
}

/// Read the sysctls below `proc_root` (`/proc`; `/proc/sys/net` shows the reading thread's namespace).
pub fn read_limits(proc_root: &Path) -> NetLimits {
    let sys = proc_root.join("sys/net");
    let get = |rel: &str| read(&sys.join(rel));
    NetLimits {
        somaxconn: get("core/somaxconn").and_then(|t| number(&t)),
        max_syn_backlog: get("ipv4/tcp_max_syn_backlog").and_then(|t| number(&t)),
        syncookies: get("ipv4/tcp_syncookies").and_then(|t| number(&t)),
        max_orphans: get("ipv4/tcp_max_orphans").and_then(|t| number(&t)),
        tcp_mem: get("ipv4/tcp_mem").and_then(|t| parse_triple(&t)),
        max_tw_buckets: get("ipv4/tcp_max_tw_buckets").and_then(|t| number(&t)),
    }
}

/// Sum the per-CPU lines of `/proc/net/stat/nf_conntrack` (hexadecimal, a header line naming the columns)
/// into (drop, early_drop, insert_failed). `None` when a column is missing.
pub fn parse_conntrack_stat(text: &str) -> Option<(u64, u64, u64)> {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next()?.split_whitespace().collect();
    let col = |name: &str| head.iter().position(|h| *h == name);
    let (d, e, i) = (col("drop")?, col("early_drop")?, col("insert_failed")?);
    let mut sum = (0u64, 0u64, 0u64);
    for line in lines {
        let v: Vec<u64> = line.split_whitespace().map(|w| u64::from_str_radix(w, 16).unwrap_or(0)).collect();
        let at = |k: usize| v.get(k).copied().unwrap_or(0);
        sum = (sum.0.saturating_add(at(d)), sum.1.saturating_add(at(e)), sum.2.saturating_add(at(i)));
    }
    Some(sum)
}

/// The conntrack table of the reading thread's namespace: its size from `proc_root/sys`, its statistics from
/// `net_root/net` (`/proc/thread-self` in a namespace's worker, where `/proc/net` would be the process's);
/// `None` without connection tracking.
pub fn read_conntrack(proc_root: &Path, net_root: &Path) -> Option<ConntrackStats> {
    let nf = proc_root.join("sys/net/netfilter");
    let count = number(&read(&nf.join("nf_conntrack_count"))?)?;
    let max = number(&read(&nf.join("nf_conntrack_max"))?)?;
    let stat = crate::collect::input::read_to_string_capped(&net_root.join("net/stat/nf_conntrack"), 1 << 20).ok();
    let (drop, early_drop, insert_failed) = stat.as_deref().and_then(parse_conntrack_stat).unwrap_or((0, 0, 0));
    Some(ConntrackStats { count, max, drop, early_drop, insert_failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysctls_and_the_conntrack_statistics() {
        assert_eq!(parse_triple("287907\t383877\t575814\n"), Some([287907, 383877, 575814]));
        assert_eq!(parse_triple("1 2"), None);
        assert_eq!(number::<u32>("4096\n"), Some(4096));
        let stat = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop \
                    icmp_error  expect_new expect_create expect_delete search_restart\n\
                    00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 0000000a 00000002 00000000  00000000 00000000 00000000 00000000\n\
                    00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000  00000000 00000000 00000000 00000000\n";
        assert_eq!(parse_conntrack_stat(stat), Some((11, 2, 1)));
        assert_eq!(parse_conntrack_stat("entries found\n1 2\n"), None);
    }

    #[test]
    fn reads_a_proc_tree() {
        let dir = std::env::temp_dir().join(format!("sockscope-sysctl-{}", std::process::id()));
        let put = |rel: &str, text: &str| {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("sys/net/core/somaxconn", "64\n");
        put("sys/net/ipv4/tcp_mem", "1 2 3\n");
        let l = read_limits(&dir);
        assert_eq!((l.somaxconn, l.tcp_mem, l.max_orphans), (Some(64), Some([1, 2, 3]), None));
        assert_eq!(read_conntrack(&dir, &dir), None, "no netfilter directory: no tracking");
        put("sys/net/netfilter/nf_conntrack_count", "5\n");
        put("sys/net/netfilter/nf_conntrack_max", "100\n");
        assert_eq!(read_conntrack(&dir, &dir).map(|c| (c.count, c.max)), Some((5, 100)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
