//! The dashboard's filter input: the same ss filter language as the command line (`state established
//! '( sport = :443 )'`, `dport :5432`, ...), through [`crate::filter::parse`].

use std::path::Path;

use crate::filter::{self, FilterError, SystemLookup};
use crate::ports::services::Services;

/// What a filter text selects: states (pushed to the collector) and an expression over records.
pub use crate::filter::Parsed as Selection;

/// Parse a filter typed into the dashboard. An empty text selects everything. `dport ephemeral` reads the
/// range below `proc_root`.
pub fn parse(text: &str, services: &Services, proc_root: &Path) -> Result<Selection, FilterError> {
    filter::parse(text, services, &SystemLookup::new(proc_root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{End, Expr};
    use crate::model::{State, StateSet};
    use crate::ports::PortRange;

    fn svc() -> Services {
        Services::parse("https 443/tcp\n".as_bytes())
    }

    #[test]
    fn accepts_the_ss_language() {
        let s = parse("state established state time-wait sport = :https", &svc(), Path::new("/proc")).unwrap();
        assert_eq!(s.states, Some(StateSet::of(&[State::ESTABLISHED, State::TIME_WAIT])));
        assert_eq!(s.expr, Expr::Port { end: End::Local, range: PortRange::new(443, 443) });
        assert_eq!(parse("  ", &svc(), Path::new("/proc")).unwrap(), Selection::default());
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = parse("sport = :99999", &svc(), Path::new("/proc")).unwrap_err();
        assert_eq!(e.pos, 8, "{e:?}");
        let e = parse("state bogus", &svc(), Path::new("/proc")).unwrap_err();
        assert_eq!(e.pos, 6, "{e:?}");
        assert!(e.msg.contains("bogus"));
    }
}
