#!/usr/bin/env bash
# The dependency audit: cargo-deny, offline, checks advisories, bans,
# licenses and sources (deny.toml) against the RustSec snapshot in the
# shared folder beside the repository (../shared/advisory-db), which
# ../shared/tools/advisory-db-setup copies into target/advisory-dbs.
# Installs cargo-deny when it is missing.
set -euo pipefail
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null 2>&1 || cargo install cargo-deny --locked --version 0.20.2

# deny.toml ignores the quick-xml advisories because no XML is ever parsed;
# keep that true.
if grep -rnE '\b(Xml|into_xml|quick_xml)\b' src; then
  echo "src/ parses XML: the quick-xml ignores in deny.toml no longer hold"; exit 1
fi

bash "$shared/tools/advisory-db-setup" target/advisory-dbs >/dev/null
cargo fetch --quiet
cargo deny --offline check advisories bans licenses sources
