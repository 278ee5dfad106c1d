//! The machine a benchmark ran on, read at run time.

use std::process::Command;

/// What is recorded next to every result.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    /// CPU model name from /proc/cpuinfo.
    pub(crate) cpu: String,
    /// Logical CPUs in /proc/cpuinfo.
    pub(crate) cpus: usize,
    /// MemTotal from /proc/meminfo.
    pub(crate) memory: String,
    /// PRETTY_NAME from /etc/os-release and the kernel release.
    pub(crate) os: String,
    /// `rustc --version`.
    pub(crate) rustc: String,
    /// When, UTC.
    pub(crate) date: String,
}

impl Machine {
    /// Reads everything now; what cannot be read is "unknown".
    pub(crate) fn gather() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| field(line, "model name"))
            .unwrap_or_else(|| "unknown".into());
        let cpus = cpuinfo
            .lines()
            .filter(|line| field(line, "processor").is_some())
            .count();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|line| field(line, "MemTotal"))
            .and_then(|value| value.trim_end_matches(" kB").trim().parse::<u64>().ok())
            .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let name = release
            .lines()
            .find_map(|line| line.strip_prefix("PRETTY_NAME="))
            .map(|value| value.trim_matches('"').to_owned())
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| format!(", Linux {}", k.trim()))
            .unwrap_or_default();
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        let date = time::OffsetDateTime::now_utc()
            .format(&format)
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cpu,
            cpus,
            memory,
            os: format!("{name}{kernel} ({})", std::env::consts::ARCH),
            rustc,
            date,
        }
    }

    /// One line: `AMD EPYC × 2, 23.5 GiB, Debian GNU/Linux 12 …, rustc 1.95.0 …`.
    pub(crate) fn one_line(&self) -> String {
        format!(
            "{} × {} CPUs, {} RAM, {}, {}",
            self.cpu, self.cpus, self.memory, self.os, self.rustc
        )
    }
}

/// The 1-minute load average (other work on the machine skews every figure).
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The 1-minute load average now, warning on stderr when the machine is already busy.
pub(crate) fn load_before_run(what: &str) -> Option<f64> {
    let load = load_average();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(load) = load.filter(|load| *load > cpus as f64 * 0.5) {
        eprintln!(
            "warning: the 1-minute load average is {load:.2} on {cpus} CPUs before the {what} \
             benchmark; other work on the machine will skew the figures"
        );
    }
    load
}

/// `key : value` lines of /proc files.
fn field(line: &str, key: &str) -> Option<String> {
    let (name, value) = line.split_once(':')?;
    (name.trim() == key).then(|| value.trim().to_owned())
}
