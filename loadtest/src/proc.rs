//! What the server side costs, read from `/proc`: resident memory and CPU time of the
//! processes named with `--pid`, their CPU time including that of their live descendants
//! (PostgreSQL backends under the postmaster, for example), in total and by process name.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};

/// Kernel clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// Resident memory of `pid`, in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse::<u64>().ok())
        .context("no VmRSS line")?;
    Ok(kib * 1024)
}

/// One process's line of `/proc/<pid>/stat`: its parent and its CPU time.
#[derive(Debug, Clone, Copy)]
struct Stat {
    parent: u32,
    /// utime + stime + cutime + cstime, in seconds: the children it has reaped count
    /// too, so a child that exits during a measurement is not lost.
    cpu: f64,
}

fn stat(pid: u32) -> Result<Stat> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stat(&line).with_context(|| format!("bad /proc/{pid}/stat"))
}

fn parse_stat(line: &str) -> Option<Stat> {
    // The command name may hold spaces; fields are counted after its closing parenthesis:
    // state is field 3 of the line, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    let (_, after) = line.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<f64>().ok();
    Some(Stat {
        parent: fields.get(1)?.parse().ok()?,
        cpu: (field(14)? + field(15)? + field(16)? + field(17)?) / CLOCK_TICKS,
    })
}

/// CPU time (user + system, reaped children included) `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    Ok(stat(pid)?.cpu)
}

/// What the named server processes had used at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// CPU seconds of the processes and all their live descendants, by process name
    /// (`/proc/<pid>/comm`; processes of one name are summed, descendants count under the
    /// process named).
    pub cpu_s_by_name: BTreeMap<String, f64>,
    /// Summed resident memory of the named processes (not their children), in bytes.
    pub rss_bytes: u64,
}

impl Sample {
    /// CPU seconds of all the processes and their live descendants.
    pub fn cpu_s(&self) -> f64 {
        self.cpu_s_by_name.values().sum()
    }
}

/// Reads the CPU time of `pids` and their descendants, and the RSS of `pids`.
pub fn sample(pids: &[u32]) -> Result<Sample> {
    let mut rss = 0;
    for &pid in pids {
        rss += rss_bytes(pid)?;
    }
    let every = all_processes();
    let mut by_name: BTreeMap<String, f64> = BTreeMap::new();
    for &pid in pids {
        let cpu = stat(pid)?.cpu
            + descendants(pid, &every)
                .iter()
                .filter_map(|child| every.get(child))
                .map(|child| child.cpu)
                .sum::<f64>();
        *by_name.entry(name(pid)?).or_default() += cpu;
    }
    Ok(Sample {
        cpu_s_by_name: by_name,
        rss_bytes: rss,
    })
}

/// The process's name, as `ps` shows it.
fn name(pid: u32) -> Result<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .with_context(|| format!("reading /proc/{pid}/comm"))?;
    Ok(comm.trim_end().to_owned())
}

/// Every process readable now (processes that end while being read are skipped).
fn all_processes() -> HashMap<u32, Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid).ok()?)))
        .collect()
}

fn descendants(root: u32, every: &HashMap<u32, Stat>) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (&pid, stat) in every {
            if stat.parent == parent && pid != root {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_stat_line_with_spaces_in_the_name_parses() {
        let line =
            "42 (tokio runtime) S 7 42 42 0 -1 4194304 100 0 0 0 250 50 30 20 20 0 9 0 1 2 3";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.parent, 7);
        assert!((stat.cpu - 3.5).abs() < 1e-9, "{}", stat.cpu);
    }

    #[test]
    fn this_process_and_a_child_are_sampled() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let own = std::process::id();
        let every = all_processes();
        assert!(descendants(own, &every).contains(&child.id()));
        let sample = sample(&[own]).unwrap();
        assert!(sample.rss_bytes > 0);
        assert!(sample.cpu_s() >= 0.0);
        let name = name(own).unwrap();
        assert!(!name.is_empty());
        assert_eq!(sample.cpu_s_by_name.keys().collect::<Vec<_>>(), [&name]);
        assert_eq!(sample.cpu_s_by_name[&name], sample.cpu_s());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
