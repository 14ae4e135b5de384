//! Benchmarks (placeholder until `bench ingest` lands).

use std::path::Path;

pub fn run(_root: &Path, args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("unknown benchmark {:?}; available: ingest", args.first())
}
