//! What a server process costs, read from `/proc/<pid>`: resident memory and CPU time.

use anyhow::{Context, Result};

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

/// CPU time (user + system) `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("bad stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64> {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .context("bad stat field")
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let clock_ticks = 100.0;
    Ok((ticks(11)? + ticks(12)?) / clock_ticks)
}
