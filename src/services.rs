//! Service names for ports, from `/etc/services` (parsed here; a missing file just means no names).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use crate::model::Proto;

/// Port <-> service-name tables for TCP and UDP.
#[derive(Debug, Default, Clone)]
pub struct Services {
    by_port: HashMap<(Proto, u16), Box<str>>,
    by_name: HashMap<(Proto, Box<str>), u16>,
}

impl Services {
    /// Load `path`; a missing or unreadable file gives an empty table.
    pub fn load(path: &Path) -> Services {
        match std::fs::File::open(path) {
            Ok(f) => Services::parse(std::io::BufReader::new(f)),
            Err(_) => Services::default(),
        }
    }

    /// The system's table, from `/etc/services`.
    pub fn system() -> Services {
        Services::load(Path::new("/etc/services"))
    }

    /// Parse the `/etc/services` format: `name port/proto [aliases...] [# comment]`. Malformed lines are
    /// skipped. The first name given for a port wins, as in `getservbyport`.
    pub fn parse(r: impl BufRead) -> Services {
        let mut s = Services::default();
        for line in r.split(b'\n') {
            let Ok(line) = line else { break };
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
            s.by_port.entry((proto, port)).or_insert_with(|| name.into());
            for n in std::iter::once(name).chain(words) {
                s.by_name.entry((proto, n.to_ascii_lowercase().into())).or_insert(port);
            }
        }
        s
    }

    /// The service name of `port` for `proto` (`None` when unknown).
    pub fn name(&self, proto: Proto, port: u16) -> Option<&str> {
        self.by_port.get(&(proto, port)).map(|n| &**n)
    }

    /// The port of a service name (case-insensitive), trying TCP then UDP when `proto` is `None`.
    pub fn port(&self, name: &str, proto: Option<Proto>) -> Option<u16> {
        let key = name.to_ascii_lowercase();
        let key: Box<str> = key.into();
        let protos = match proto {
            Some(p) => [Some(p), None],
            None => [Some(Proto::Tcp), Some(Proto::Udp)],
        };
        protos.into_iter().flatten().find_map(|p| self.by_name.get(&(p, key.clone())).copied())
    }

    pub fn is_empty(&self) -> bool {
        self.by_port.is_empty()
    }
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
bogus line without port
broken		x/tcp
weird		99/ipx
https		443/tcp
https		443/udp
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
        assert_eq!(s.name(Proto::Tcp, 99), None);
    }

    #[test]
    fn missing_file_is_empty() {
        assert!(Services::load(Path::new("/nonexistent/services")).is_empty());
    }
}
