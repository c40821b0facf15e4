//! The `sockscope` binary: parse arguments, run, map the outcome to an exit status.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use sockscope::cli::{Cli, Command, Format, ListConfig, TopArgs, UsageError};
use sockscope::collect::cgroup::Namer;
use sockscope::collect::workloads::Workloads;
use sockscope::collect::{netns, process};
use sockscope::output::{Names, Processes, json, table};
use sockscope::{commands, tui};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    let roots = netns::Roots { proc_root: config.proc_root.clone(), ..netns::Roots::default() };
    let mut namer = Namer::new(&config.proc_root, config.state_roots.clone());
    // With -p the /proc/*/fd scan runs beside the socket dump: they share no state and each takes a while.
    let (multi, scan) = std::thread::scope(|s| {
        let want = config.processes || config.filter.needs_processes();
        let scan = want.then(|| s.spawn(|| process::scan(&config.proc_root)));
        let multi = netns::collect(&config.netns, &roots, &mut namer, config.source, &config.query);
        (multi, scan.map(|h| h.join()))
    });
    let multi = multi?;
    let namespaces_read = multi.read();
    let mut snap = multi.snapshot;
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
    let map = scan.as_ref().map(|s| &s.map);
    let workloads = Workloads::load(std::mem::take(&mut snap.namespaces), map, &config.proc_root, &mut namer);
    let filter = if filter.needs_workloads() { filter.resolve_workloads(&workloads, map) } else { filter };
    if !filter.is_true() {
        snap.sockets.retain(|s| filter.matches(s));
    }
    let mut names = Names {
        services: (!config.numeric).then_some(config.services),
        netns_column: config.netns.is_all() && namespaces_read > 1,
        workloads,
        ..Names::default()
    };
    if let Some(scan) = scan.filter(|_| config.processes) {
        if !scan.stats.complete {
            let n = scan.stats.hidden + scan.stats.failed;
            let of = scan.stats.processes;
            // SAFETY: geteuid has no preconditions.
            let why = if unsafe { libc::geteuid() } == 0 {
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
    }
    names.load_interfaces(&snap.sockets);
    if config.resolve {
        names.resolve_hosts(&snap.sockets);
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match config.format {
        Format::Table => table::render(&mut out, &snap.sockets, &names, &config.table)?,
        Format::Json => json::render_array(&mut out, &snap.sockets, &names)?,
        Format::Ndjson => json::render_lines(&mut out, &snap.sockets, &names)?,
    }
    out.flush()?;
    Ok(())
}
