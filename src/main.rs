//! The `sockscope` binary: parse arguments, run, map the outcome to an exit status.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use sockscope::cli::{Cli, Command, Format, ListConfig, TopArgs, UsageError};
use sockscope::collect::process;
use sockscope::output::{Names, Processes, json, summary, table};
use sockscope::ports::classes::HostPorts;
use sockscope::{collect, commands, tui};

fn main() -> ExitCode {
    let argv = sockscope::cli::argv::permute(std::env::args_os().collect(), &Cli::command());
    let parsed = Cli::command().try_get_matches_from(argv).and_then(|m| {
        let mut cli = Cli::from_arg_matches(&m)?;
        // ss applies its selection flags in command-line order: keep each one's positions.
        let list_matches = match m.subcommand() {
            Some(("list", sub)) => sub,
            _ => &m,
        };
        let list = match &mut cli.command {
            Some(Command::List(l)) => Some(l),
            None => Some(&mut cli.list),
            _ => None,
        };
        if let Some(l) = list {
            for id in list_matches.ids() {
                if let Some(ix) = list_matches.indices_of(id.as_str()) {
                    l.positions.insert(id.to_string(), ix.collect());
                }
            }
        }
        Ok(cli)
    });
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                // Help into a closed pipe is not an error either.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line names the bad argument or value.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("sockscope: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let args = match cli.command {
        Some(Command::List(a)) => a,
        Some(Command::Top(t)) => return top(&t),
        Some(Command::Services(a)) => return finish(commands::services::run(&a)),
        Some(Command::Audit(a)) => return finish(commands::audit::run(&a)),
        Some(Command::Forwards(a)) => return finish(commands::forwards::run(&a)),
        // Bare `sockscope` on a terminal is the dashboard; with flags, or into a pipe, the listing.
        None if cli.list.is_empty() && io::stdout().is_terminal() && io::stdin().is_terminal() => {
            return top(&cli.list.as_top());
        }
        None => cli.list,
    };
    let config = match args.resolve() {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            eprintln!("sockscope: {msg}");
            return ExitCode::from(2);
        }
    };
    match run_list(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn top(args: &TopArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(UsageError(msg)) => {
            eprintln!("sockscope: {msg}");
            return ExitCode::from(2);
        }
    };
    if !io::stdout().is_terminal() {
        eprintln!("sockscope: the dashboard needs a terminal; use `sockscope list` for a one-shot listing");
        return ExitCode::from(2);
    }
    match tui::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Exit status of a subcommand: its own on success, 0 for a closed output pipe, 1 for an error.
fn finish(r: anyhow::Result<ExitCode>) -> ExitCode {
    match r {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

fn run_list(config: ListConfig) -> anyhow::Result<()> {
    let stdout = io::stdout();
    if config.summary {
        let stat = read_sockstat(&config.proc_root);
        let mut out = stdout.lock();
        match config.format {
            Format::Table => summary::render(&mut out, &stat)?,
            _ => summary::render_json(&mut out, &stat)?,
        }
        out.flush()?;
        if config.summary_only {
            return Ok(());
        }
    }
    if let Some(path) = &config.diag {
        let n = collect::netlink::write_tcp_dump(&config.query, path).map_err(|e| anyhow::anyhow!("{e}"))?;
        if path.as_os_str() != "-" {
            eprintln!("sockscope: note: wrote {n} bytes of TCP sock_diag messages to {}", path.display());
        }
        return Ok(());
    }
    let mut collector = match &config.from_dump {
        Some(path) => Box::new(collect::netlink::dump::DumpCollector::open(path)?) as Box<dyn collect::Collector>,
        None => collect::open(config.source, config.proc_root.clone()),
    };
    // With -p the /proc/*/fd scan runs beside the socket dump: they share no state and each takes a while.
    let (snap, scan) = std::thread::scope(|s| {
        let want = config.processes || config.filter.needs_processes();
        let scan = want.then(|| s.spawn(|| process::scan(&config.proc_root)));
        let snap = collector.collect(&config.query);
        (snap, scan.map(|h| h.join()))
    });
    let mut snap = snap?;
    for note in &snap.notes {
        eprintln!("sockscope: note: {note}");
    }
    let scan = match scan {
        Some(h) => Some(h.map_err(|_| anyhow::anyhow!("the process scan panicked"))??),
        None => None,
    };
    let filter = match &scan {
        Some(scan) if config.filter.needs_processes() => config.filter.resolve_processes(&scan.map),
        _ => config.filter.clone(),
    };
    let types = config.query.types;
    if !filter.is_true() || !types.all() {
        snap.sockets.retain(|s| types.keeps(s) && filter.matches(s));
    }
    let mut names = Names {
        services: (!config.numeric).then_some(config.services),
        numeric: config.numeric,
        ephemeral: HostPorts::read(&config.proc_root).ok().map(|h| (h.ephemeral.low, h.ephemeral.high)),
        ..Names::default()
    };
    if let Some(scan) = scan.filter(|_| config.processes) {
        if !scan.stats.complete {
            let n = scan.stats.hidden + scan.stats.failed;
            let of = scan.stats.processes;
            let why = if sockscope::sys::is_root() {
                "the kernel refused their /proc/PID/fd even to root"
            } else {
                "reading another user's /proc/PID/fd needs root or CAP_SYS_PTRACE"
            };
            eprintln!(
                "sockscope: note: {n} of {of} processes could not be inspected ({why}); \
                 sockets they may hold show users:(hidden,uid=...)"
            );
        }
        names.processes = Some(Processes { map: scan.map, complete: scan.stats.complete });
        names.load_users(&snap.sockets);
        if config.threads {
            names.load_threads(&config.proc_root);
        }
    }
    names.load_interfaces(&snap.sockets);
    names.load_protocols(&snap.sockets);
    if !config.numeric {
        names.load_netlink_owners(&snap.sockets, &config.proc_root);
    }
    if config.cgroups {
        names.load_cgroups(&config.proc_root);
    }
    if config.resolve {
        names.resolve_hosts(&snap.sockets);
    }
    let mut table_opts = config.table;
    if io::stdout().is_terminal() {
        table_opts.screen_width = sockscope::sys::terminal_width();
    }
    let mut out = stdout.lock();
    match config.format {
        Format::Table => table::render(&mut out, &snap.sockets, &names, &table_opts)?,
        Format::Json => json::render_array(&mut out, &snap.sockets, &names)?,
        Format::Ndjson => json::render_lines(&mut out, &snap.sockets, &names)?,
    }
    out.flush()?;
    Ok(())
}

/// The kernel's socket counters for -s; a missing file reads as zeros, as in ss.
fn read_sockstat(proc_root: &std::path::Path) -> sockscope::collect::procfs::sockstat::SockStat {
    let mut s = sockscope::collect::procfs::sockstat::SockStat::default();
    let read = |f: &str| std::fs::read_to_string(proc_root.join("net").join(f)).unwrap_or_default();
    s.parse_sockstat(&read("sockstat"));
    s.parse_sockstat(&read("sockstat6"));
    s.parse_snmp(&read("snmp"));
    s
}
