//! `sockscope kill` and `list -K`: gather the table, select sockets with the filter (and the guards), confirm,
//! close each with `SOCK_DESTROY` in its own namespace, and report what happened to each.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use std::path::PathBuf;

use crate::collect::cgroup::{Namer, StateRoots};
use crate::collect::close::{self, Outcome, Places};
use crate::collect::process::{self, ScanResult};
use crate::collect::workloads::Workloads;
use crate::collect::{self, Collector, Query, SourceChoice, netns};
use crate::filter::{Expr, Have, bind};
use crate::model::Socket;
use crate::model::netns::Namespaces;
use crate::output::table::{self, TableOptions};
use crate::output::{Names, Processes};
use crate::ports::services::Services;

/// A checked `kill`.
#[derive(Debug)]
pub struct KillConfig {
    pub query: Query,
    pub filter: Expr,
    pub yes: bool,
    pub all: bool,
    pub dry_run: bool,
    pub numeric: bool,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    /// Which namespaces (`-N`, `--all-netns`): each socket is closed in its own.
    pub netns: netns::Choice,
    pub state_roots: StateRoots,
    pub services: Services,
}

/// How the user confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// `--yes` (or `list -K`, as `ss -K`).
    Given,
    /// Ask on the terminal.
    Ask,
}

/// Select, confirm, close. `confirm` is [`Confirm::Given`] for `--yes` and `list -K`.
pub fn run(cfg: KillConfig, confirm: Confirm) -> anyhow::Result<ExitCode> {
    if cfg.filter.is_true() && !cfg.all {
        crate::errln!(
            "sockscope: refusing to close every {} socket: give a filter (`sockscope kill dport :5432`) or --all",
            if cfg.query.states == crate::model::StateSet::CONNECTED_DEFAULT { "connected" } else { "selected" }
        );
        return Ok(ExitCode::from(2));
    }
    let table = gather(&cfg)?;
    let chosen = match select(&cfg, table) {
        Ok(chosen) => chosen,
        Err(stop) => return Ok(stop),
    };
    if let Some(stop) = confirmed(&cfg, confirm, &chosen)? {
        return Ok(stop);
    }
    let outcomes = match close::close(&chosen.sockets, &chosen.places) {
        Ok(o) => o,
        Err(e) => {
            crate::errln!("sockscope: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    report(&chosen, &outcomes)
}

/// The whole table of the tables and states asked for, with what the filter is bound with.
struct Table {
    sockets: Vec<Socket>,
    namespaces: Namespaces,
    places: Places,
    scan: Option<ScanResult>,
    workloads: Workloads,
}

/// The sockets to close, named as they are shown, and where each one's namespace is.
struct Chosen {
    sockets: Vec<Socket>,
    names: Names,
    places: Places,
}

/// Gather: dump the whole table (the guard in [`select`] compares the selection with it, so the dump is not
/// narrowed by the filter's kernel program), and look through `/proc` for the holders.
fn gather(cfg: &KillConfig) -> anyhow::Result<Table> {
    let query = Query { bytecode: None, ..cfg.query.clone() };
    let mut collector = collect::open(cfg.source, &cfg.netns, &cfg.proc_root, cfg.state_roots.clone());
    let snap = collector.collect(&query)?;
    let places = collector.places()?;
    for note in &snap.notes {
        crate::errln!("sockscope: note: {note}");
    }
    let scan = process::scan(&cfg.proc_root).ok();
    let mut namer = Namer::new(&cfg.proc_root, cfg.state_roots.clone());
    let workloads = Workloads::for_filter(
        &snap.namespaces,
        scan.as_ref().map(|s| &s.map),
        cfg.filter.needs().workloads,
        &cfg.proc_root,
        &mut namer,
    );
    Ok(Table { sockets: snap.sockets, namespaces: snap.namespaces, places, scan, workloads })
}

/// Decide: the sockets the filter selects, or why nothing is closed (said on stderr) and the exit status.
fn select(cfg: &KillConfig, table: Table) -> Result<Chosen, ExitCode> {
    let Table { sockets, namespaces, places, scan, workloads } = table;
    let total = sockets.len();
    let mut have = Have::new("kill").workloads(&workloads).cgroup_ids(cfg.query.details);
    if let Some(s) = &scan {
        have = have.holders(&s.map, s.stats.complete);
    }
    let filter = match bind(&cfg.filter, &have) {
        Ok(f) => f,
        Err(e) => {
            crate::errln!("sockscope: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let selected: Vec<Socket> = sockets.into_iter().filter(|s| filter.matches(s)).collect();
    drop(filter);
    if selected.is_empty() {
        crate::errln!("sockscope: no socket matches the filter; nothing to close");
        return Err(ExitCode::SUCCESS);
    }
    if selected.len() == total && total > 1 && !cfg.all {
        crate::errln!("sockscope: the filter selects every one of the {total} sockets: refusing without --all");
        return Err(ExitCode::from(2));
    }
    // Rows read from /proc carry no cookie: SOCK_DESTROY would close whatever socket holds their addresses
    // when the request comes, also one that replaced the socket listed.
    let without_cookie = selected.iter().filter(|s| s.cookie.is_none()).count();
    if without_cookie > 0 {
        crate::errln!(
            "sockscope: refusing to close: {without_cookie} of the {} selected sockets were read from /proc, which \
             gives no socket cookie, so a socket that replaced one since the listing could be closed instead \
             (closing needs the netlink source)",
            selected.len()
        );
        return Err(ExitCode::from(2));
    }
    let mut names = Names {
        services: (!cfg.numeric).then(|| cfg.services.clone()),
        netns_column: cfg.netns.is_all() && namespaces.len() > 1,
        workloads,
        ..Names::default()
    };
    if let Some(s) = scan {
        names.processes = Some(Processes { map: s.map, complete: s.stats.complete });
    }
    crate::collect::names::interfaces(&selected, &mut names.interfaces);
    Ok(Chosen { sockets: selected, names, places })
}

/// Show the sockets chosen (on stderr) for `--dry-run` and before asking; `Some` exit status when nothing
/// is to be closed (a dry run, no terminal to ask on, or a no).
fn confirmed(cfg: &KillConfig, confirm: Confirm, chosen: &Chosen) -> anyhow::Result<Option<ExitCode>> {
    let n = chosen.sockets.len();
    if cfg.dry_run || confirm == Confirm::Ask {
        let opts = TableOptions { header: true, netid: true, extended: true, ..TableOptions::default() };
        let mut err = io::stderr().lock();
        table::render(&mut err, &chosen.sockets, &chosen.names, &opts)?;
        err.flush()?;
    }
    if cfg.dry_run {
        crate::errln!("sockscope: {n} sockets would be closed (--dry-run)");
        return Ok(Some(ExitCode::SUCCESS));
    }
    if confirm == Confirm::Ask {
        if !io::stdin().is_terminal() {
            crate::errln!(
                "sockscope: refusing to close {n} sockets without confirmation: pass --yes (stdin is not a terminal)"
            );
            return Ok(Some(ExitCode::from(2)));
        }
        if !ask(&format!("Close these {n} sockets? [y/N] "))? {
            crate::errln!("sockscope: nothing closed");
            return Ok(Some(ExitCode::from(1)));
        }
    }
    Ok(None)
}

/// Render: one line per socket with what happened to it, a summary on stderr when not all were closed.
fn report(chosen: &Chosen, outcomes: &[Outcome]) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let (mut closed, mut aborted, mut failed) = (0usize, 0usize, 0usize);
    for (s, outcome) in chosen.sockets.iter().zip(outcomes) {
        let mut line = Vec::new();
        describe(&mut line, s, &chosen.names);
        let line = String::from_utf8_lossy(&line);
        match outcome {
            Outcome::Closed => {
                closed += 1;
                writeln!(out, "closed  {line}")?;
            }
            Outcome::Gone => {
                closed += 1;
                writeln!(out, "gone    {line} (closed before we got to it)")?;
            }
            Outcome::Aborted => {
                aborted += 1;
                writeln!(
                    out,
                    "aborted {line} (its process gets ECONNABORTED; a UDP socket bound to its port stays bound \
                     until the process closes it)"
                )?;
            }
            Outcome::Failed(why) => {
                failed += 1;
                writeln!(out, "failed  {line}: {why}")?;
            }
        }
    }
    out.flush()?;
    if failed + aborted > 0 {
        let mut msg = format!("sockscope: {closed} closed");
        if aborted > 0 {
            msg.push_str(&format!(", {aborted} aborted but still bound"));
        }
        if failed > 0 {
            msg.push_str(&format!(", {failed} could not be closed"));
        }
        crate::errln!("{msg}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `tcp ESTAB 127.0.0.1:5000 127.0.0.1:40000 sk:1f users:(...)`.
fn describe(a: &mut Vec<u8>, s: &Socket, names: &Names) {
    a.extend_from_slice(format!("{} {} ", s.proto, s.state.display_name(s.proto)).as_bytes());
    table::endpoint(a, s, names, true);
    a.push(b' ');
    table::endpoint(a, s, names, false);
    if let Some(c) = s.cookie {
        a.extend_from_slice(format!(" sk:{c:x}").as_bytes());
    }
    if let Some(p) = names.process_text(s) {
        a.push(b' ');
        a.extend_from_slice(p.as_bytes());
    }
}

/// Ask on stderr, read one line from stdin: yes only for `y` or `yes`.
fn ask(question: &str) -> io::Result<bool> {
    // Not `eprint!`, which panics when stderr cannot be written: a question that cannot be asked is an error.
    io::stderr().write_all(question.as_bytes())?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}
