//! `sockscope services` over a services-file fixture (comments, aliases, both protocols, malformed lines), with
//! the built-in table filling in, and without any file at all.

mod common;

use std::path::PathBuf;

use serde_json::Value;

const FIXTURE: &str = "\
# /etc/services excerpt
#
ssh		22/tcp				# SSH Remote Login Protocol
domain		53/tcp
domain		53/udp
http		80/tcp		www		# WorldWideWeb HTTP
not a valid line
broken		abc/tcp
https		443/tcp
https		443/udp
mydb		5432/tcp	pg postgres-ish
websm		9090/tcp
";

fn fixture_file() -> PathBuf {
    let p = std::env::temp_dir().join(format!("sockscope-services-{}.txt", std::process::id()));
    std::fs::write(&p, FIXTURE).unwrap();
    p
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["services", "--json"];
    all.extend(args);
    serde_json::from_str(&common::run_ok(&all)).expect("valid JSON")
}

fn names(v: &Value) -> Vec<(String, u64, String, String)> {
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["proto"].as_str().unwrap().to_string(),
                e["port"].as_u64().unwrap(),
                e["name"].as_str().unwrap().to_string(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn file_first_builtin_for_the_rest() {
    let f = fixture_file();
    let file = f.to_str().unwrap();
    let e = |p: &str, port: u64, n: &str, s: &str| (p.to_string(), port, n.to_string(), s.to_string());
    assert_eq!(
        names(&json(&["--services-file", file, "443"])),
        [e("tcp", 443, "https", "file"), e("udp", 443, "https", "file")]
    );
    // The file's name wins; the built-in name still finds the port.
    assert_eq!(names(&json(&["--services-file", file, "5432"])), [e("tcp", 5432, "mydb", "file")]);
    assert_eq!(names(&json(&["--services-file", file, "postgresql"])), [e("tcp", 5432, "mydb", "file")]);
    assert_eq!(names(&json(&["--services-file", file, "prometheus"])), [e("tcp", 9090, "websm", "file")]);
    let pg = json(&["--services-file", file, "pg"]);
    assert_eq!(pg["services"][0]["aliases"], serde_json::json!(["pg", "postgres-ish", "postgresql", "postgres"]));
    // Not in the file: from the table.
    assert_eq!(names(&json(&["--services-file", file, "6379"])), [e("tcp", 6379, "redis", "builtin")]);
    assert_eq!(names(&json(&["--services-file", file, "www"])), [e("tcp", 80, "http", "file")]);
    // Malformed lines name nothing.
    let out = common::run(&["services", "--services-file", file, "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown service name 'broken'"), "{err}");
    let _ = std::fs::remove_file(&f);
}

#[test]
fn without_a_services_file_the_table_answers() {
    let v = json(&["--services-file", "/nonexistent/services", "22"]);
    assert_eq!(names(&v)[0].2, "ssh");
    assert_eq!(v["services"][0]["source"], "builtin");
    assert_eq!(v["services"][0]["class"], "well-known");
    assert_eq!(v["ports"]["well_known"], 1);
    let all = json(&["--services-file", "/nonexistent/services"]);
    assert!(all["services"].as_array().unwrap().len() > 100);
    let text = common::run_ok(&["services", "--services-file", "/nonexistent/services", "mysql"]);
    assert!(text.contains("3306") && text.contains("built-in"), "{text}");
}

#[test]
fn port_classes_and_the_host_range() {
    let root = std::env::temp_dir().join(format!("sockscope-services-proc-{}", std::process::id()));
    std::fs::create_dir_all(root.join("sys/net/ipv4")).unwrap();
    std::fs::write(root.join("sys/net/ipv4/ip_local_port_range"), "40000\t40039\n").unwrap();
    std::fs::write(root.join("sys/net/ipv4/ip_local_reserved_ports"), "40010-40019\n").unwrap();
    let r = root.to_str().unwrap();
    let v = json(&["--proc-root", r, "40000-40100"]);
    assert_eq!(v["host"]["capacity"], 30);
    assert_eq!((v["ports"]["ephemeral"].as_u64(), v["ports"]["reserved"].as_u64()), (Some(40), Some(10)));
    assert_eq!(v["ports"]["registered"], 101);
    let text = common::run_ok(&["services", "--proc-root", r, "40015"]);
    assert!(
        text.contains("Port 40015: registered; inside this host's ephemeral range 40000-40039; reserved"),
        "{text}"
    );
    let text = common::run_ok(&["services", "--proc-root", r, "50000"]);
    assert!(text.contains("Port 50000: dynamic; outside"), "{text}");
    let bad = common::run(&["services", "70000"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&root);
}
