//! Traffic counters of a netdev, from `/sys/class/net/<name>/statistics/`: the kernel's own
//! count, so idle means idle whoever sends.

use std::path::Path;

/// Packets received plus sent by `ifname` since the netdev was created.
pub fn packets(ifname: &str) -> std::io::Result<u64> {
    let dir = Path::new("/sys/class/net").join(ifname).join("statistics");
    let read = |name: &str| -> std::io::Result<u64> {
        let text = std::fs::read_to_string(dir.join(name))?;
        text.trim()
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    };
    Ok(read("rx_packets")? + read("tx_packets")?)
}
