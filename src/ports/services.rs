//! Service names for ports: `/etc/services` (parsed here; a missing file just means no names from it), merged
//! with the compiled-in table of [`crate::ports::services_table`] for every (protocol, port) the file does not name.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use serde::Serialize;

use crate::model::Proto;
use crate::ports::services_table::{BUILTIN, Builtin};

/// Where a service name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceSource {
    /// A services file (`/etc/services`).
    File,
    /// The compiled-in table.
    Builtin,
}

impl ServiceSource {
    pub fn name(self) -> &'static str {
        match self {
            ServiceSource::File => "file",
            ServiceSource::Builtin => "builtin",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: Box<str>,
    aliases: Vec<Box<str>>,
    source: ServiceSource,
}

/// One named (protocol, port), as [`Services::service`] and friends return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service<'a> {
    pub proto: Proto,
    pub port: u16,
    /// The primary name (the one `getservbyport` gives).
    pub name: &'a str,
    /// Other names: the file's aliases, then the built-in table's names for the port that differ.
    pub aliases: &'a [Box<str>],
    /// Where the primary name came from.
    pub source: ServiceSource,
    /// A few words on what it is, from the built-in table when it knows the port.
    pub description: Option<&'static str>,
}

/// Port <-> service-name tables for TCP, UDP and SCTP.
#[derive(Debug, Default, Clone)]
pub struct Services {
    by_port: HashMap<(Proto, u16), Entry>,
    by_name: HashMap<(Proto, Box<str>), u16>,
}

const PROTOS: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Sctp];

impl Services {
    /// Load `path` alone (no built-in names). Opened without blocking, refused unless a regular file, lines
    /// capped at [`MAX_LINE`](crate::collect::input::MAX_LINE) bytes: the error says why the file is unusable.
    pub fn load(path: &Path) -> std::io::Result<Services> {
        let file = crate::collect::input::open(path)?;
        let (s, error) = Services::parse_until_error(std::io::BufReader::new(file));
        match error {
            Some(e) => Err(e),
            None => Ok(s),
        }
    }

    /// The system's table: `/etc/services` (nothing from it when it cannot be read), then the built-in table
    /// for what it does not name.
    pub fn system() -> Services {
        Services::load(Path::new("/etc/services")).unwrap_or_default().with_builtin()
    }

    /// The built-in table alone.
    pub fn builtin() -> Services {
        Services::default().with_builtin()
    }

    /// Fill in, from the built-in table, every (protocol, port) this table does not name. For a port it
    /// does name, the built-in names become extra aliases (so `--port rdp` works with a file that only
    /// says `ms-wbt-server`); the file's primary name is kept.
    pub fn with_builtin(mut self) -> Services {
        for b in BUILTIN {
            for proto in builtin_protos(b) {
                let names = std::iter::once(b.name).chain(b.aliases.iter().copied());
                match self.by_port.get_mut(&(proto, b.port)) {
                    Some(e) => {
                        for n in names {
                            if !e.name.eq_ignore_ascii_case(n) && !e.aliases.iter().any(|a| a.eq_ignore_ascii_case(n)) {
                                e.aliases.push(n.into());
                            }
                        }
                    }
                    None => {
                        let aliases = b.aliases.iter().map(|a| (*a).into()).collect();
                        let entry = Entry { name: b.name.into(), aliases, source: ServiceSource::Builtin };
                        self.by_port.insert((proto, b.port), entry);
                    }
                }
                for n in std::iter::once(b.name).chain(b.aliases.iter().copied()) {
                    self.by_name.entry((proto, n.to_ascii_lowercase().into())).or_insert(b.port);
                }
            }
        }
        self
    }

    /// Parse the `/etc/services` format: `name port/proto [aliases...] [# comment]`. Malformed lines are
    /// skipped. The first name given for a port wins, as in `getservbyport`; names of later lines for the same
    /// port become aliases.
    pub fn parse(r: impl BufRead) -> Services {
        Services::parse_until_error(r).0
    }

    /// [`parse`](Self::parse), and the read error that ended it early, if any. Linear in the input: a port
    /// with many aliases checks each new name against a set, not against the list.
    fn parse_until_error(r: impl BufRead) -> (Services, Option<std::io::Error>) {
        let mut s = Services::default();
        let mut seen: HashSet<(Proto, u16, Box<str>)> = HashSet::new();
        for line in crate::collect::input::CappedLines::new(r) {
            let line = match line {
                Ok(l) => l,
                Err(e) => return (s, Some(e)),
            };
            let line = String::from_utf8_lossy(&line);
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_ascii_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else { continue };
            let Some((port, proto)) = port_proto.split_once('/') else { continue };
            let Ok(port) = port.parse::<u16>() else { continue };
            let proto = match proto.to_ascii_lowercase().as_str() {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                "sctp" => Proto::Sctp,
                _ => continue,
            };
            let fresh: Vec<&str> =
                std::iter::once(name).chain(words).filter(|n| seen.insert((proto, port, (*n).into()))).collect();
            let Some((first, rest)) = fresh.split_first() else { continue };
            match s.by_port.get_mut(&(proto, port)) {
                Some(e) => e.aliases.extend(fresh.iter().map(|n| Box::from(*n))),
                None => {
                    let aliases = rest.iter().map(|n| Box::from(*n)).collect();
                    let entry = Entry { name: (*first).into(), aliases, source: ServiceSource::File };
                    s.by_port.insert((proto, port), entry);
                }
            }
            for n in fresh {
                s.by_name.entry((proto, n.to_ascii_lowercase().into())).or_insert(port);
            }
        }
        (s, None)
    }

    /// The service name of `port` for `proto` (`None` when unknown).
    pub fn name(&self, proto: Proto, port: u16) -> Option<&str> {
        self.by_port.get(&(proto, port)).map(|e| &*e.name)
    }

    /// The port of a service name (case-insensitive), trying TCP then UDP when `proto` is `None`.
    pub fn port(&self, name: &str, proto: Option<Proto>) -> Option<u16> {
        let key: Box<str> = name.to_ascii_lowercase().into();
        let protos = match proto {
            Some(p) => [Some(p), None],
            None => [Some(Proto::Tcp), Some(Proto::Udp)],
        };
        protos.into_iter().flatten().find_map(|p| self.by_name.get(&(p, key.clone())).copied())
    }

    /// Everything known about `port` for `proto`.
    pub fn service(&self, proto: Proto, port: u16) -> Option<Service<'_>> {
        let e = self.by_port.get(&(proto, port))?;
        Some(Service {
            proto,
            port,
            name: &e.name,
            aliases: &e.aliases,
            source: e.source,
            description: builtin_entry(proto, port).map(|b| b.description),
        })
    }

    /// The services on `port`, one per protocol that names it (TCP, UDP, SCTP order).
    pub fn for_port(&self, port: u16) -> Vec<Service<'_>> {
        PROTOS.iter().filter_map(|p| self.service(*p, port)).collect()
    }

    /// Every (protocol, port) a name or alias (case-insensitive) stands for, TCP, UDP, SCTP order.
    pub fn lookup(&self, name: &str) -> Vec<Service<'_>> {
        let key: Box<str> = name.to_ascii_lowercase().into();
        PROTOS
            .iter()
            .filter_map(|p| self.by_name.get(&(*p, key.clone())).and_then(|port| self.service(*p, *port)))
            .collect()
    }

    /// Every entry, by port then protocol.
    pub fn all(&self) -> Vec<Service<'_>> {
        let mut keys: Vec<(u16, Proto)> = self.by_port.keys().map(|(p, port)| (*port, *p)).collect();
        keys.sort();
        keys.into_iter().filter_map(|(port, p)| self.service(p, port)).collect()
    }

    /// Number of named (protocol, port) pairs.
    pub fn len(&self) -> usize {
        self.by_port.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_port.is_empty()
    }
}

fn builtin_protos(b: &Builtin) -> impl Iterator<Item = Proto> {
    [(b.tcp, Proto::Tcp), (b.udp, Proto::Udp)].into_iter().filter(|(on, _)| *on).map(|(_, p)| p)
}

/// The built-in entry for (proto, port), if any (the table is sorted by port).
pub fn builtin_entry(proto: Proto, port: u16) -> Option<&'static Builtin> {
    let start = BUILTIN.partition_point(|b| b.port < port);
    BUILTIN[start..].iter().take_while(|b| b.port == port).find(|b| builtin_protos(b).any(|p| p == proto))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# Network services
tcpmux		1/tcp				# TCP port service multiplexer
ssh		22/tcp				# SSH Remote Login Protocol
domain		53/tcp
domain		53/udp
http		80/tcp		www		# WorldWideWeb HTTP
  # indented comment line
bogus line without port
broken		x/tcp
toobig		70000/tcp
noproto		81
weird		99/ipx
https		443/tcp
https		443/udp
webcache	8080/tcp	http-alt	proxy
http-alt2	8080/tcp	altname
sctponly	9899/sctp
";

    #[test]
    fn parses_names_aliases_and_protocols() {
        let s = Services::parse(SAMPLE.as_bytes());
        assert_eq!(s.name(Proto::Tcp, 22), Some("ssh"));
        assert_eq!(s.name(Proto::Udp, 22), None);
        assert_eq!(s.name(Proto::Udp, 53), Some("domain"));
        assert_eq!(s.port("www", None), Some(80));
        assert_eq!(s.port("HTTPS", Some(Proto::Udp)), Some(443));
        assert_eq!(s.port("bogus", None), None);
        assert_eq!(s.port("broken", None), None);
        assert_eq!(s.port("toobig", None), None);
        assert_eq!(s.port("noproto", None), None);
        assert_eq!(s.name(Proto::Tcp, 99), None);
        assert_eq!(s.name(Proto::Sctp, 9899), Some("sctponly"));
        // First name wins; later lines' names become aliases.
        let e = s.service(Proto::Tcp, 8080).unwrap();
        assert_eq!(e.name, "webcache");
        let aliases: Vec<&str> = e.aliases.iter().map(|a| &**a).collect();
        assert_eq!(aliases, ["http-alt", "proxy", "http-alt2", "altname"]);
        assert_eq!(e.source, ServiceSource::File);
        assert_eq!(s.port("altname", None), Some(8080));
        assert_eq!(s.len(), 9);
    }

    #[test]
    fn missing_file_is_empty_and_builtin_fills_in() {
        let e = Services::load(Path::new("/nonexistent/services")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let none = Services::default();
        let s = none.with_builtin();
        assert_eq!(s.name(Proto::Tcp, 22), Some("ssh"));
        assert_eq!(s.name(Proto::Tcp, 6379), Some("redis"));
        assert_eq!(s.name(Proto::Udp, 53), Some("domain"));
        assert_eq!(s.port("postgres", None), Some(5432));
        assert_eq!(s.port("rdp", None), Some(3389));
        assert_eq!(s.service(Proto::Tcp, 443).unwrap().source, ServiceSource::Builtin);
        assert_eq!(s.len(), Services::builtin().len());
    }

    #[test]
    fn many_aliases_of_one_port_parse_in_linear_time() {
        // Regression: each new alias was compared with every earlier one (80k aliases: 10 s). 200k lines of
        // one port, each also repeating a name already seen: every alias kept once, in file order.
        let mut text = String::new();
        for i in 0..200_000 {
            text.push_str(&format!("name{i} 80/tcp name{} # line {i}\n", i / 2));
        }
        let s = Services::parse(text.as_bytes());
        let e = s.service(Proto::Tcp, 80).unwrap();
        assert_eq!(e.name, "name0");
        assert_eq!(e.aliases.len(), 199_999);
        assert!(e.aliases.iter().enumerate().all(|(i, a)| **a == *format!("name{}", i + 1)));
        assert_eq!(s.port("NAME199999", None), Some(80));
    }

    #[test]
    fn an_unusable_file_says_why() {
        let e = Services::load(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = Services::load(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let mut long = vec![b'x'; crate::collect::input::MAX_LINE + 10];
        long.push(b'\n');
        let (_, err) = Services::parse_until_error(&long[..]);
        assert!(err.unwrap().to_string().contains("a line is longer than"));
    }

    #[test]
    fn file_wins_and_builtin_names_become_aliases() {
        let s = Services::parse("websm 9090/tcp\nmyssh 22/tcp\n".as_bytes()).with_builtin();
        assert_eq!(s.name(Proto::Tcp, 9090), Some("websm"));
        assert_eq!(s.port("prometheus", None), Some(9090));
        let e = s.service(Proto::Tcp, 22).unwrap();
        assert_eq!((e.name, e.source), ("myssh", ServiceSource::File));
        assert_eq!(e.aliases.iter().map(|a| &**a).collect::<Vec<_>>(), ["ssh"]);
        assert_eq!(e.description, Some("Secure Shell"));
        // Ports the file does not name come from the table.
        assert_eq!(s.service(Proto::Tcp, 6379).unwrap().source, ServiceSource::Builtin);
    }

    #[test]
    fn name_number_round_trips() {
        for s in [Services::builtin(), Services::system()] {
            for e in s.all() {
                assert_eq!(s.name(e.proto, e.port), Some(e.name));
                // A name may be used for more than one port (the first wins), so check the name leads to a
                // port with that name, and that the lookup finds this port's entry when it is the first.
                let port = s.port(e.name, Some(e.proto)).unwrap();
                assert!(s.lookup(e.name).iter().any(|x| x.port == port && x.proto == e.proto));
            }
            for (name, port) in [("ssh", 22), ("https", 443), ("mysql", 3306), ("memcached", 11211)] {
                assert_eq!(s.port(name, None), Some(port), "{name}");
                assert!(s.for_port(port).iter().any(|e| e.name == name || e.aliases.iter().any(|a| **a == *name)));
            }
        }
    }

    #[test]
    fn lookup_covers_both_protocols() {
        let s = Services::builtin();
        let d: Vec<(Proto, u16)> = s.lookup("DNS").iter().map(|e| (e.proto, e.port)).collect();
        assert_eq!(d, [(Proto::Tcp, 53), (Proto::Udp, 53)]);
        assert!(s.lookup("no-such-service").is_empty());
        assert_eq!(builtin_entry(Proto::Udp, 512).map(|b| b.name), Some("biff"));
        assert_eq!(builtin_entry(Proto::Tcp, 512).map(|b| b.name), Some("exec"));
        assert_eq!(builtin_entry(Proto::Tcp, 4), None);
    }
}
