//! The dashboard's filter input: `port 443 state established`-style words, the same selections as the CLI's
//! `--port/--sport/--dport/--state` flags. Errors carry the byte position of the offending word.

use crate::filter::{self, End, Expr};
use crate::model::StateSet;
use crate::services::Services;

/// What a filter text selects: states (pushed to the collector) and an expression over records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub states: Option<StateSet>,
    pub expr: Expr,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { states: None, expr: Expr::True }
    }
}

/// A bad filter: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub pos: usize,
    pub len: usize,
    pub msg: String,
}

impl InputError {
    /// The filter on one line and a caret line under the offending word.
    pub fn render(&self, input: &str) -> String {
        self.render_with_prompt("", input)
    }

    /// As [`render`](Self::render), with `prompt` printed before the input (the caret shifts with it).
    pub fn render_with_prompt(&self, prompt: &str, input: &str) -> String {
        let pad = prompt.chars().count() + input.get(..self.pos).map_or(self.pos, |p| p.chars().count());
        format!("{prompt}{input}\n{}{}\n{}", " ".repeat(pad), "^".repeat(self.len.max(1)), self.msg)
    }
}

/// Parse `[port|sport|dport P]... [state S]...`. Repeated words of one kind mean "any of"; kinds combine
/// with "and", as the CLI flags do. An empty text selects everything.
pub fn parse(text: &str, services: &Services) -> Result<Selection, InputError> {
    let words: Vec<(usize, &str)> =
        text.split_ascii_whitespace().map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w)).collect();
    let mut ports: [Vec<Expr>; 3] = Default::default();
    let mut states: Option<StateSet> = None;
    let mut i = 0;
    while i < words.len() {
        let (pos, word) = words[i];
        let kw = word.to_ascii_lowercase();
        let slot = match kw.as_str() {
            "port" => Some(0),
            "sport" | "src" => Some(1),
            "dport" | "dst" => Some(2),
            "state" => None,
            _ => {
                return Err(InputError {
                    pos,
                    len: word.len(),
                    msg: format!("expected port, sport, dport or state, found '{word}'"),
                });
            }
        };
        let Some(&(vpos, value)) = words.get(i + 1) else {
            return Err(InputError { pos: pos + word.len(), len: 1, msg: format!("expected a value after '{word}'") });
        };
        let err = |msg: String| InputError { pos: vpos, len: value.len(), msg };
        match slot {
            Some(k) => {
                let range = filter::parse_port_spec(value, services).map_err(err)?;
                let end = [End::Either, End::Local, End::Peer][k];
                ports[k].push(Expr::Port { end, range });
            }
            None => {
                let s = filter::parse_state(value).map_err(err)?;
                states = Some(states.unwrap_or(StateSet::EMPTY).union(s));
            }
        }
        i += 2;
    }
    let expr = ports.into_iter().fold(Expr::True, |acc, any| acc.and(Expr::any_of(any)));
    Ok(Selection { states, expr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::PortRange;
    use crate::model::State;

    fn svc() -> Services {
        Services::parse("https 443/tcp\n".as_bytes())
    }

    #[test]
    fn accepts_the_flag_equivalents() {
        let s = parse("port https state established state time-wait", &svc()).unwrap();
        assert_eq!(s.states, Some(StateSet::of(&[State::ESTABLISHED, State::TIME_WAIT])));
        assert_eq!(s.expr, Expr::Port { end: End::Either, range: PortRange { lo: 443, hi: 443 } });
        assert_eq!(parse("  ", &svc()).unwrap(), Selection::default());
        let s = parse("sport 80 sport 8000-8100 dport 5432", &svc()).unwrap();
        assert!(matches!(s.expr, Expr::And(ref v) if v.len() == 2));
    }

    #[test]
    fn errors_point_at_the_word() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("port 99999", 5, 5, "out of range"),
            ("state  bogus", 7, 5, "unknown state 'bogus'"),
            ("prot 80", 0, 4, "expected port, sport, dport or state"),
            ("port 80 dport", 13, 1, "expected a value after 'dport'"),
        ];
        for (text, pos, len, msg) in cases {
            let e = parse(text, &svc()).unwrap_err();
            assert_eq!((e.pos, e.len), (*pos, *len), "{text}: {e:?}");
            assert!(e.msg.contains(msg), "{text}: {}", e.msg);
        }
        let e = parse("port x", &svc()).unwrap_err();
        assert_eq!(e.render("port x").lines().nth(1), Some("     ^"));
    }
}
