//! Ports as users write them: the one inclusive [`PortRange`] type and the one parser of port values
//! ([`parse`]: `443`, `:443`, `https`, `8000-8100`, `ssh-https`, `http-alt`, `*`), used by the `--port`
//! flags, the filter language, `sockscope services` and the reserved-ports sysctl alike.

use std::fmt;

use serde::Serialize;

use super::services::Services;

/// An inclusive port range; a single port is `low == high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// Every port, 0-65535.
    pub const ALL: PortRange = PortRange { low: 0, high: u16::MAX };

    pub const fn new(low: u16, high: u16) -> PortRange {
        PortRange { low, high }
    }

    /// The one-port range `port-port`.
    pub const fn one(port: u16) -> PortRange {
        PortRange { low: port, high: port }
    }

    pub fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    /// Number of ports in the range (0 when low > high).
    pub fn len(self) -> u32 {
        if self.low > self.high { 0 } else { u32::from(self.high - self.low) + 1 }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn is_single(self) -> bool {
        self.low == self.high
    }

    /// How many ports the two ranges share.
    pub fn overlap(self, other: PortRange) -> u32 {
        PortRange { low: self.low.max(other.low), high: self.high.min(other.high) }.len()
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() { write!(f, "{}", self.low) } else { write!(f, "{}-{}", self.low, self.high) }
    }
}

/// A parsed port value: `*` (any port) or a range (a single port is a one-port range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    Any,
    Range(PortRange),
}

/// What is wrong with a port value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("empty port")]
    Empty,
    #[error("port {0} is out of range (0-65535)")]
    OutOfRange(String),
    #[error("port range {low}-{high} is empty (start above end)")]
    Reversed { low: u16, high: u16 },
    /// Neither a number, nor a range, nor a name `services` knows (always this without `services`).
    #[error("'{0}' is not a port number, a range or a known service name")]
    Unknown(String),
}

/// A port number: decimal digits only, 0-65535.
pub fn number(text: &str) -> Result<u16, PortError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(PortError::Empty);
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::Unknown(t.to_string()));
    }
    t.parse::<u16>().map_err(|_| PortError::OutOfRange(t.to_string()))
}

/// Parse a port value: `[:](NUMBER | NAME | LOW-HIGH | *)`, surrounding blanks ignored. Names (case-insensitive,
/// aliases too) come from `services`; with `None` only numbers are ports. A range's ends may be names
/// (`ssh-https`), and a name may itself contain `-` (`http-alt`): the whole word is tried as a port first, then
/// each `-` as the range separator, as `ss` does.
pub fn parse(text: &str, services: Option<&Services>) -> Result<PortSpec, PortError> {
    let t = text.trim();
    let v = t.strip_prefix(':').unwrap_or(t);
    if v == "*" {
        return Ok(PortSpec::Any);
    }
    if v.is_empty() {
        return Err(PortError::Empty);
    }
    let one = |s: &str| -> Result<Option<u16>, PortError> {
        match number(s) {
            Ok(p) => Ok(Some(p)),
            Err(PortError::Empty) => Ok(None),
            Err(PortError::Unknown(_)) => Ok(services.and_then(|svc| svc.port(s, None))),
            Err(e) => Err(e),
        }
    };
    if let Some(p) = one(v)? {
        return Ok(PortSpec::Range(PortRange::one(p)));
    }
    for (i, _) in v.match_indices('-') {
        if let (Some(low), Some(high)) = (one(&v[..i])?, one(&v[i + 1..])?) {
            if low > high {
                return Err(PortError::Reversed { low, high });
            }
            return Ok(PortSpec::Range(PortRange { low, high }));
        }
    }
    Err(PortError::Unknown(v.to_string()))
}

/// [`parse`], where `*` is not allowed (it is only a filter's "any port"): a range or an error.
pub fn parse_range(text: &str, services: Option<&Services>) -> Result<PortRange, PortError> {
    match parse(text, services)? {
        PortSpec::Range(r) => Ok(r),
        PortSpec::Any => Err(PortError::Unknown("*".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> Services {
        Services::parse("ssh 22/tcp\nhttp 80/tcp www\nhttps 443/tcp\ndomain 53/udp\nhttp-alt 8080/tcp\n".as_bytes())
    }

    #[test]
    fn port_values() {
        let s = services();
        let ok: &[(&str, u16, u16)] = &[
            ("443", 443, 443),
            (":443", 443, 443),
            ("0", 0, 0),
            ("65535", 65535, 65535),
            ("https", 443, 443),
            ("HTTP", 80, 80),
            ("www", 80, 80),
            ("domain", 53, 53),
            ("8000-8100", 8000, 8100),
            ("ssh-https", 22, 443),
            (" 22 ", 22, 22),
            ("5-5", 5, 5),
            // A name with a dash is a name, not a range.
            ("http-alt", 8080, 8080),
            (":http-alt", 8080, 8080),
            ("http-alt-9000", 8080, 9000),
        ];
        for (text, low, high) in ok {
            assert_eq!(parse(text, Some(&s)), Ok(PortSpec::Range(PortRange::new(*low, *high))), "{text}");
        }
        assert_eq!(parse(":*", Some(&s)), Ok(PortSpec::Any));
        let bad: &[(&str, PortError)] = &[
            ("65536", PortError::OutOfRange("65536".into())),
            ("nosuchservice", PortError::Unknown("nosuchservice".into())),
            ("", PortError::Empty),
            (":", PortError::Empty),
            ("8100-8000", PortError::Reversed { low: 8100, high: 8000 }),
            ("80-", PortError::Unknown("80-".into())),
            ("-5", PortError::Unknown("-5".into())),
            ("1e3", PortError::Unknown("1e3".into())),
            // One colon belongs to the syntax; a second one is a typo.
            ("::80", PortError::Unknown(":80".into())),
            ("80-70000", PortError::OutOfRange("70000".into())),
        ];
        for (text, want) in bad {
            assert_eq!(parse(text, Some(&s)).as_ref(), Err(want), "{text}");
        }
        assert_eq!(parse_range("*", Some(&s)), Err(PortError::Unknown("*".into())));
    }

    #[test]
    fn without_names_only_numbers_are_ports() {
        assert_eq!(parse("https", None), Err(PortError::Unknown("https".into())));
        assert_eq!(parse_range("9000-9010", None), Ok(PortRange::new(9000, 9010)));
        assert_eq!(number(" 7 "), Ok(7));
        assert_eq!(number("x"), Err(PortError::Unknown("x".into())));
    }

    #[test]
    fn overlap_and_length() {
        let r = PortRange::new(1000, 1100);
        assert_eq!((r.len(), r.overlap(PortRange::new(0, 1023)), r.overlap(PortRange::new(2000, 3000))), (101, 24, 0));
        assert!(PortRange::new(5, 4).is_empty() && PortRange::one(4).is_single());
        assert_eq!(PortRange::ALL.len(), 65536);
        assert_eq!(r.to_string(), "1000-1100");
    }
}
