//! The binary at its edges: usage errors (one line, exit 2), a closed output pipe (exit 0, silent),
//! `--source` choices, and help that teaches.

mod common;

use std::process::{Command, Stdio};

use common::{bin, run};

/// A fake proc root whose `net/tcp` has `rows` ESTABLISHED sockets (enough output to fill a pipe).
fn fake_proc(tag: &str, rows: usize) -> common::TempDir {
    // One directory per test: tests run in parallel and must not read each other's half-written files.
    let dir = common::TempDir::new(&format!("cli-{tag}"));
    std::fs::create_dir_all(dir.join("net")).unwrap();
    let mut tcp = String::from(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
    );
    for i in 0..rows {
        let port = 10000 + (i % 50000);
        tcp.push_str(&format!(
            "{i:4}: 0100007F:{port:04X} 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 20 4 30 10 -1\n",
            100000 + i
        ));
    }
    std::fs::write(dir.join("net/tcp"), tcp).unwrap();
    dir
}

#[test]
fn bad_values_are_one_line_naming_the_value_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--port", "70000"], "70000"),
        (&["--sport", "nosuchservice"], "nosuchservice"),
        (&["--dport", "9000-8000"], "9000-8000"),
        (&["--dport", "::80"], "::80"),
        (&["--state", "establishd"], "establishd"),
        (&["--source", "carrier-pigeon"], "carrier-pigeon"),
        (&["--bogus-flag"], "--bogus-flag"),
        (&["list", "-Y"], "-Y"),
        (&["--json", "--ndjson"], "--ndjson"),
    ];
    for (args, needle) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(err.starts_with("sockscope: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err} should name {needle}");
    }
}

/// Regression: `--port http-alt` exited 2 ("'alt' is neither a port number nor a known service name") while
/// the filter `port :http-alt` worked: the flag split the name at its dash.
#[test]
fn port_flag_takes_a_service_name_with_a_dash() {
    let root = fake_proc("http-alt", 3); // every row's peer port is 8080, http-alt
    let root = root.to_str().unwrap();
    for args in [
        &["-tan", "--source", "proc", "--proc-root", root, "--port", "http-alt"][..],
        &["-tan", "--source", "proc", "--proc-root", root, "port", ":http-alt"][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4, "{args:?}: header and three rows");
    }
}

#[test]
fn closed_pipe_exits_zero_silently() {
    let root = fake_proc("closed-pipe", 20_000);
    let mut child = bin()
        .args(["list", "-tan", "--source", "proc", "--proc-root", root.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before the writer is done
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn pipe_into_head_exits_zero() {
    let root = fake_proc("head", 20_000);
    let script = format!(
        "set -o pipefail; '{}' list -tan --source proc --proc-root '{}' | head -1",
        env!("CARGO_BIN_EXE_sockscope"),
        root.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "exit {:?}, stderr {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(out.stderr.is_empty());
}

#[test]
fn proc_source_reads_the_given_root() {
    let root = fake_proc("three", 3);
    let out = common::run_ok(&["-tanH", "--source", "proc", "--proc-root", root.to_str().unwrap()]);
    assert_eq!(
        out,
        // As ss -H: without the header the columns are as wide as their content.
        "ESTAB 0      0      127.0.0.1:10000 127.0.0.1:8080\n\
         ESTAB 0      0      127.0.0.1:10001 127.0.0.1:8080\n\
         ESTAB 0      0      127.0.0.1:10002 127.0.0.1:8080\n"
    );
    // Missing tables (no tcp6 here) are empty, not errors.
    let json = common::ndjson(&["-tan", "--source", "proc", "--proc-root", root.to_str().unwrap()]);
    assert_eq!(json.len(), 3);
    assert_eq!(json[0]["uid"], 1000);
    assert_eq!(json[0]["cookie"], serde_json::Value::Null);
}

#[test]
fn unreadable_proc_root_fails_with_exit_1() {
    // Regression: a wrong root printed an empty table and exited 0. It is an error naming the path.
    let out = run(&["-tanH", "--source", "proc", "--proc-root", "/nonexistent/proc"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(err, "sockscope: cannot read /nonexistent/proc/net: No such file or directory (os error 2)\n");
    let garbage = common::TempDir::new("garbage");
    std::fs::create_dir_all(garbage.join("net")).unwrap();
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    std::fs::write(garbage.join("net/tcp"), format!("{header}this is not a socket line\n")).unwrap();
    let out = run(&["-tan", "--source", "proc", "--proc-root", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("net/tcp:2"), "names the file and line: {err}");
}

#[test]
fn help_teaches_defaults_and_states() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in
        ["-t, --tcp", "--state <STATE>", "connected sockets only", "synchronized", "--source <SOURCE>", "Examples:"]
    {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
}

#[test]
fn json_output_is_one_array() {
    let out = common::run_ok(&["-ta", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.is_array());
}

/// Every long option in the installed `ss --help` is one of ours and runs: exit 0, except `-Z`/`-z` (without
/// SELinux ss's own error; with it, not supported) and `-K` without a filter (a refusal), exit 2 with the reason.
#[test]
fn every_flag_of_ss_help_is_accepted() {
    common::require(&["ss"]);
    let help = Command::new("ss").arg("--help").output().expect("ss --help");
    let text = String::from_utf8_lossy(&help.stdout).into_owned() + &String::from_utf8_lossy(&help.stderr);
    let flags: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.split('=').next().unwrap_or(w))
        .collect();
    assert!(flags.len() >= 40, "ss --help lists its options: {flags:?}");
    let dir = common::TempDir::new("cli-ssflags");
    std::fs::write(dir.join("filter"), "sport = :1\n").unwrap();
    let own_netns = format!("/proc/{}/ns/net", std::process::id());
    for flag in flags {
        let value = match flag {
            "--family" => Some("inet".to_string()),
            "--query" | "--socket" => Some("tcp".into()),
            "--filter" => Some(dir.join("filter").display().to_string()),
            "--diag" => Some(dir.join("dump").display().to_string()),
            "--net" => Some(own_netns.clone()),
            _ => None,
        };
        let mut cmd = bin();
        cmd.arg(flag).args(value).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        // Names are looked up for loopback peers only (the hosts file): no query leaves the machine.
        if flag == "--resolve" {
            cmd.args(["dst", "127.0.0.0/8"]);
        }
        let mut child = cmd.spawn().expect("sockscope");
        // -E runs until stopped: a second is enough to see it started.
        if flag == "--events" {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let _ = child.kill();
        }
        let out = child.wait_with_output().expect("sockscope");
        let err = String::from_utf8_lossy(&out.stderr);
        let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
        let (code, why) = match flag {
            "--events" => continue,
            "--context" | "--contexts" if selinux => (2, "not supported"),
            "--context" | "--contexts" => (2, "SELinux is not enabled"),
            "--kill" => (2, "needs a filter"),
            _ => (0, ""),
        };
        assert_eq!(out.status.code(), Some(code), "{flag}: {err}");
        assert!(err.contains(why), "{flag}: {err}");
    }
}
