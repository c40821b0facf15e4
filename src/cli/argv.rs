//! ss reads its options anywhere on the command line (getopt permutes): `ss -ta sport = :22 -n` works.
//! [`permute`] moves every option (with its value) before the filter words, using clap's own knowledge of
//! which options take a value; `--` ends the options, as in getopt.

use std::ffi::OsString;

use clap::Command;

/// Reorder `args` (program name first) so that options come before positional words. The commands that take
/// a filter are permuted (a listing, whose first word may be `list`, and `kill`, `watch`, `record`, `top`,
/// `serve`), so `kill --yes sport :22 --state closed` reads as `list` would; any other subcommand leaves the
/// arguments as they are.
pub fn permute(args: Vec<OsString>, cmd: &Command) -> Vec<OsString> {
    let Some((prog, rest)) = args.split_first() else { return args };
    let (sub, rest, cmd) = match rest.first().and_then(|a| a.to_str()) {
        Some(name @ ("list" | "kill" | "watch" | "record" | "top" | "serve" | "doctor")) => {
            match cmd.find_subcommand(name) {
                Some(c) => (Some(rest[0].clone()), &rest[1..], c),
                None => return args,
            }
        }
        Some(w) if cmd.get_subcommands().any(|c| c.get_name() == w) => return args,
        _ => (None, rest, cmd),
    };
    let takes_value = |long: Option<&str>, short: Option<char>| {
        cmd.get_arguments().any(|a| {
            let named = long
                .is_some_and(|l| a.get_long() == Some(l) || a.get_all_aliases().is_some_and(|v| v.contains(&l)))
                || short.is_some_and(|s| a.get_short() == Some(s));
            named && a.get_action().takes_values()
        })
    };
    let (mut opts, mut words) = (Vec::new(), Vec::new());
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let Some(s) = a.to_str() else {
            words.push(a.clone());
            continue;
        };
        if s == "--" {
            words.extend(it.by_ref().cloned());
            break;
        }
        if let Some(long) = s.strip_prefix("--") {
            opts.push(a.clone());
            if !long.contains('=') && takes_value(Some(long), None) {
                opts.extend(it.next().cloned());
            }
        } else if s.len() > 1 && s.starts_with('-') {
            opts.push(a.clone());
            // A cluster like -tnA: the first letter that takes a value takes the rest, or the next word.
            let letters: Vec<char> = s[1..].chars().collect();
            if let Some(i) = letters.iter().position(|c| takes_value(None, Some(*c)))
                && i == letters.len() - 1
            {
                opts.extend(it.next().cloned());
            }
        } else {
            words.push(a.clone());
        }
    }
    let mut out = vec![prog.clone()];
    out.extend(sub);
    out.extend(opts);
    if !words.is_empty() {
        out.push("--".into());
        out.extend(words);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn p(args: &[&str]) -> Vec<String> {
        let v = args.iter().map(OsString::from).collect();
        permute(v, &crate::cli::Cli::command()).into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn options_after_the_filter_move_before_it() {
        assert_eq!(p(&["ss", "-ta", "sport", "=", ":22", "-n"]), ["ss", "-ta", "-n", "--", "sport", "=", ":22"]);
        assert_eq!(
            p(&["ss", "list", "state", "listening", "-A", "inet"]),
            ["ss", "list", "-A", "inet", "--", "state", "listening"]
        );
        assert_eq!(p(&["ss", "-tnA", "unix", "dst", "x"]), ["ss", "-tnA", "unix", "--", "dst", "x"]);
        assert_eq!(p(&["ss", "--query=tcp", "-t"]), ["ss", "--query=tcp", "-t"]);
        assert_eq!(p(&["ss", "services", "http", "-n"]), ["ss", "services", "http", "-n"]);
        assert_eq!(p(&["ss", "-t", "--", "-n"]), ["ss", "-t", "--", "-n"]);
    }

    #[test]
    fn kill_takes_options_after_the_filter() {
        assert_eq!(
            p(&["ss", "kill", "--yes", "sport :1", "--state", "closed"]),
            ["ss", "kill", "--yes", "--state", "closed", "--", "sport :1"]
        );
        assert_eq!(p(&["ss", "watch", "dport", ":5432", "-n"]), ["ss", "watch", "-n", "--", "dport", ":5432"]);
    }
}
