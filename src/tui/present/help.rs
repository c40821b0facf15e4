//! The help overlay's text: every key the dashboard handles and what it does.

/// The help overlay: every key the dashboard handles (names separated by spaces, as a test reads them), and
/// what it does. An indented line is a key of the line above's prompt.
pub const HELP: &[(&str, &str)] = &[
    ("Up Down j k", "move the selection (scroll a socket's detail)"),
    ("PgUp PgDn", "a page up / down"),
    ("g G Home End", "first / last row"),
    ("Enter Right l", "open the group / the socket's detail"),
    ("Esc Left h BS", "back"),
    ("s >", "sort by the next column (header marks it)"),
    ("S <", "sort by the previous column"),
    ("r", "reverse the sort"),
    ("o", "pick the sort column from a list"),
    ("/", "filter in ss syntax, e.g. dport = :443"),
    ("  Enter Esc ^U", "apply / cancel / clear the filter"),
    ("t u x", "show or hide TCP, UDP, UNIX"),
    ("K", "close the group's connections or the socket"),
    ("  y Y", "yes, close them (any other key: nothing closed)"),
    ("e", "event log of the open group"),
    ("p space", "pause (the snapshot freezes)"),
    ("+ = -", "refresh less (+ =) / more (-) often"),
    ("mouse", "wheel scrolls, click selects, header sorts"),
    ("?", "this help"),
    ("q Ctrl-C", "quit"),
];
